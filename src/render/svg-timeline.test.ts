import { D3Node } from 'd3-node';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { readTrace } from '../model/io.js';
import { emptyTrace, type Run, type Span, type Trace } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { formatDuration } from './axis.js';
import { PHASE_COLOURS } from './palette.js';
import { xmlSafeText } from './svg-sanitize.js';
import { renderTimelineSvg } from './svg-timeline.js';
import { parseSvg as parse, noXmllint } from '../../test/helpers/svg.js';

const MS = 1e6;
// A jsdom window, to run the embedded script against the rendered SVG.
const window = new D3Node().window;

async function xmllint(svg: string): Promise<void> {
  await execa('xmllint', ['--noout', '-'], { input: svg });
}

/** A synthetic QEMU-like boot: phases strip (listed last on purpose), a process, two threads, instants. */
function syntheticBoot(scale = 1, name = 'synthetic-boot'): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic', recorded: name });
  const end = 245 * MS * scale;
  t.lanes.push(
    { id: 'qemu', kind: 'process', name: 'qemu-system-x86', pid: 100 },
    { id: 'vcpu0', kind: 'thread', name: 'vcpu0', pid: 100, tid: 101, parent: 'qemu' },
    { id: 'main', kind: 'thread', name: 'main', pid: 100, tid: 100, parent: 'qemu' },
  );
  setSyntheticPhases(
    t,
    [
      { phase: 'toolstack', at: 0 },
      { phase: 'firmware', at: 34 * MS * scale },
      { phase: 'kernel', at: 43 * MS * scale },
      { phase: 'user', at: 122 * MS * scale },
    ],
    end,
  );
  t.lanes.push(t.lanes.shift()!);
  t.spans.push({ lane: 'qemu', name: 'qemu_init', phase: 'toolstack', start: 0, end: 34 * MS * scale, args: { machine: 'pc', accel: 'tcg' } });
  t.spans.push({ lane: 'qemu', name: 'kvm_create_vm', phase: 'toolstack', start: 2 * MS * scale, end: 5 * MS * scale });
  t.spans.push({ lane: 'vcpu0', name: 'guest kernel', phase: 'kernel', start: 43 * MS * scale, end: 122 * MS * scale });
  t.spans.push({ lane: 'main', name: 'unphased work', start: 50 * MS * scale, end: 60 * MS * scale });
  t.instants.push({ lane: 'vcpu0', name: 'linux_start_kernel', phase: 'kernel', at: 43 * MS * scale, args: { port: '0xf4', code: 6 } });
  return t;
}

const oneRun = (trace: Trace, label = 'synthetic-run'): Run[] => [{ label, trace }];

/** Span and merged-block rects (class "s"), in document order. */
function spanGroups(doc: Document | Element): Element[] {
  return [...doc.getElementsByTagName('rect')].filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('s'));
}
function titleOf(el: Element): string {
  return [...el.children].find((c) => c.nodeName === 'title')?.textContent ?? '';
}
function rectOf(el: Element): Element {
  return el;
}
/** A span's label is the text right after its rect. */
function labelOf(el: Element): string | undefined {
  const next = el.nextElementSibling;
  return next?.nodeName === 'text' && next.getAttribute('class')?.startsWith('l ') ? (next.textContent ?? undefined) : undefined;
}
/** Spans a rect stands for: 1, or the N of a merged block's "N spans merged" tooltip. */
function countOf(el: Element): number {
  const m = /^(\d+) spans merged/.exec(titleOf(el));
  return m ? Number(m[1]) : 1;
}
function spanNamed(doc: Document, name: string): Element {
  const g = spanGroups(doc).find((e) => titleOf(e).split('\n')[0] === name);
  if (!g) throw new Error(`no span ${name}`);
  return g;
}

describe('renderTimelineSvg: document', () => {
  it('is well-formed XML (interactive and static), checked by a real XML parser', async () => {
    const interactive = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true, title: 'synthetic boot' });
    const paper = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false });
    expect(parse(interactive).documentElement.nodeName).toBe('svg');
    expect(parse(paper).documentElement.nodeName).toBe('svg');
  });

  it.skipIf(noXmllint)('passes xmllint --noout', async () => {
    await xmllint(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true, title: 'synthetic boot' }));
    await xmllint(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false }));
    await xmllint(renderTimelineSvg(oneRun(hostileTrace()), { interactive: true, title: 'a < b & "c"' }));
  });

  it('is deterministic for the same input', () => {
    const runs = [...oneRun(syntheticBoot(), 'a'), ...oneRun(syntheticBoot(2), 'b')];
    const first = renderTimelineSvg(runs, { interactive: true });
    expect(renderTimelineSvg(runs, { interactive: true })).toBe(first);
    expect(first).not.toMatch(/20\d\d-\d\d-\d\d/); // no dates
  });

  it('interactive by default: embeds the script in CDATA and carries times for zooming', () => {
    const svg = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true });
    const doc = parse(svg);
    expect(doc.getElementsByTagName('script')).toHaveLength(1);
    expect(svg).toContain('<script type="text/ecmascript"><![CDATA[');
    expect(doc.documentElement.getAttribute('width')).toBe('1200');
    expect(doc.documentElement.getAttribute('viewBox')).toMatch(/^0 0 1200 [\d.]+$/);
    const kernel = spanNamed(doc, 'guest kernel');
    expect(kernel.getAttribute('data-s')).toBe(String(43 * MS));
    expect(kernel.getAttribute('data-e')).toBe(String(122 * MS));
  });

  it('static: no script, physical width with a viewBox, paper type sizes', () => {
    for (const [width, fontSizePt] of [
      ['3.5in', 8],
      ['7.16in', 10],
    ] as const) {
      const svg = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false, width, fontSizePt });
      const doc = parse(svg);
      const root = doc.documentElement;
      expect(doc.getElementsByTagName('script')).toHaveLength(0);
      expect(svg).not.toContain('data-s=');
      expect(root.getAttribute('width')).toBe(width);
      expect(root.getAttribute('height')).toMatch(/^[\d.]+in$/);
      const [, , vbW, vbH] = root.getAttribute('viewBox')!.split(' ').map(Number);
      expect(vbW).toBeCloseTo(parseFloat(width) * 72, 5); // user units are points
      expect(vbH / 72).toBeCloseTo(parseFloat(root.getAttribute('height')!), 2);
      expect(Number(root.getAttribute('font-size'))).toBe(fontSizePt);
    }
    expect(parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false })).documentElement.getAttribute('width')).toBe('3.5in');
  });

  it('rejects widths and type sizes it cannot honour with a UserError', () => {
    expect(() => renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false, width: '3.5cm' })).toThrow(UserError);
    expect(() => renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true, width: '-5' })).toThrow(UserError);
    expect(() => renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true, fontSizePt: 0 })).toThrow(UserError);
    expect(() => renderTimelineSvg([], { interactive: true })).toThrow(UserError);
  });
});

describe('renderTimelineSvg: content', () => {
  it('draws the phases strip first, then lanes in trace order', () => {
    const doc = parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true }));
    const laneLabels = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'lane-label').map((t) => t.textContent);
    expect(laneLabels).toEqual(['phases', 'qemu-system-x86', 'vcpu0', 'main']);
    // In a narrow paper column a long lane name is cut, and its tooltip keeps the full name.
    const narrow = parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false, width: '3.5in' }));
    const cut = [...narrow.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'lane-label')[1];
    expect(cut.firstChild?.textContent).toMatch(/^qemu-sys.*…$/);
    expect(titleOf(cut)).toBe('qemu-system-x86');
    const firstLane = [...doc.getElementsByTagName('g')].find((g) => (g.getAttribute('class') ?? '').startsWith('lane'));
    expect(firstLane?.getAttribute('class')).toBe('lane phases');
  });

  it('stacks a nested span below its parent', () => {
    const doc = parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false }));
    const parentY = Number(rectOf(spanNamed(doc, 'qemu_init')).getAttribute('y'));
    const childY = Number(rectOf(spanNamed(doc, 'kvm_create_vm')).getAttribute('y'));
    expect(childY).toBeGreaterThan(parentY);
  });

  it('colours by phase with the Okabe–Ito palette, grey without a phase, and has a legend of the phases present', () => {
    const svg = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false });
    const doc = parse(svg);
    expect(spanNamed(doc, 'guest kernel').getAttribute('class')).toContain('p-kernel');
    expect(spanNamed(doc, 'unphased work').getAttribute('class')).toContain('p-none');
    const css = doc.getElementsByTagName('style')[0].textContent ?? '';
    expect(css).toContain(`rect.p-kernel{fill:${PHASE_COLOURS.kernel}}`);
    expect(css).toContain('rect.p-none{fill:#BBBBBB}');
    const legend = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'key-label').map((t) => t.textContent);
    expect(legend).toEqual(['toolstack', 'firmware', 'kernel', 'user', 'no phase']);
  });

  it('labels spans with their duration where it fits, and puts a tooltip on every span and instant', () => {
    const doc = parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true }));
    expect(labelOf(spanNamed(doc, 'guest kernel'))).toBe(`guest kernel ${formatDuration(79 * MS)}`);
    const spans = spanGroups(doc);
    expect(spans).toHaveLength(syntheticBoot().spans.length);
    for (const g of spans) expect(titleOf(g)).toMatch(/^.+\n.+ from .+ · phase \w+/);
    const init = titleOf(spanNamed(doc, 'qemu_init'));
    expect(init).toContain('phase toolstack');
    expect(init).toContain(`${formatDuration(34 * MS)} from 0 ns`);
    expect(init).toContain('machine: pc');
    expect(titleOf(spanNamed(doc, 'guest kernel'))).toContain(`from ${formatDuration(43 * MS)}`);
    const instants = [...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'i');
    expect(instants).toHaveLength(1);
    expect(titleOf(instants[0])).toContain('linux_start_kernel');
    expect(titleOf(instants[0])).toContain('code: 6');
  });

  it('picks the axis unit from the data: µs-long and minutes-long traces', () => {
    const axisTitle = (trace: Trace) =>
      [...parse(renderTimelineSvg(oneRun(trace), { interactive: false })).getElementsByTagName('text')].find((t) => t.getAttribute('id') === 'hv-axis-title')?.textContent;
    expect(axisTitle(syntheticBoot(0.00002))).toBe('time (µs)');
    expect(axisTitle(syntheticBoot())).toBe('time (ms)');
    expect(axisTitle(syntheticBoot(10))).toBe('time (s)');
    expect(axisTitle(syntheticBoot(2000))).toBe('time (min)');
  });

  it('groups several runs under one shared axis, aligned at t0', () => {
    const runs: Run[] = [
      { label: 'synthetic-a', trace: syntheticBoot(1) },
      { label: 'synthetic-b', trace: syntheticBoot(2) },
      { label: 'synthetic-c', trace: syntheticBoot(0.5) },
    ];
    const doc = parse(renderTimelineSvg(runs, { interactive: true }));
    const runGroups = [...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'run');
    expect(runGroups.map((g) => [...g.children].find((c) => c.getAttribute('class') === 'run-label')?.textContent)).toEqual([
      'synthetic-a',
      'synthetic-b',
      'synthetic-c',
    ]);
    expect([...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('id') === 'hv-axis')).toHaveLength(1);
    // The same span starting at t0 in each run starts at the same x; a run twice as long ends twice as far.
    const initRects = runGroups.map((g) => rectOf(spanGroups(g).find((s) => titleOf(s).startsWith('qemu_init'))!));
    const xs = initRects.map((r) => Number(r.getAttribute('x')));
    expect(new Set(xs).size).toBe(1);
    const widths = initRects.map((r) => Number(r.getAttribute('width')));
    expect(widths[1] / widths[0]).toBeCloseTo(2, 1);
  });
});

function hostileTrace(): Trace {
  const t = syntheticBoot();
  const evil = `<script>alert("x")</script> & ]]> '\u0001\u0008 \u00a0 \uD800 </svg>`;
  t.lanes[0].name = `lane ${evil}`;
  t.spans.push({ lane: 'qemu', name: evil, start: 200 * MS, end: 240 * MS, args: { [evil]: evil, '&amp;': '<>' } });
  t.instants.push({ lane: 'qemu', name: evil, at: 210 * MS });
  return t;
}

describe('renderTimelineSvg: hostile trace text', () => {
  it('escapes names, lane names and args so they stay text', () => {
    for (const interactive of [true, false]) {
      const svg = renderTimelineSvg(oneRun(hostileTrace()), { interactive, title: '<b>&"title"' });
      const doc = parse(svg);
      expect(doc.getElementsByTagName('script')).toHaveLength(interactive ? 1 : 0);
      const evil = hostileTrace().spans.at(-1)!.name;
      const g = spanNamed(doc, xmlSafeText(evil));
      expect(titleOf(g)).toContain(`${xmlSafeText(evil)}: ${xmlSafeText(evil)}`);
      expect(titleOf(g)).toContain('&amp;: <>');
      expect([...doc.getElementsByTagName('text')].some((t) => t.getAttribute('class') === 'title' && t.textContent === '<b>&"title"')).toBe(true);
    }
  });
});

/** A synthetic lane dense with sub-pixel spans, inside a few wide parents. */
function syntheticDense(count: number): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  t.lanes.push({ id: 'worker', kind: 'thread', name: 'synthetic-worker' });
  const spans: Span[] = [];
  for (let p = 0; p < 10; p++) spans.push({ lane: 'worker', name: `parent${p}`, phase: 'devices', start: p * 100 * MS, end: p * 100 * MS + 90 * MS });
  for (let i = 0; i < count; i++) {
    const p = i % 10;
    const k = Math.floor(i / 10);
    const start = p * 100 * MS + k * Math.floor((90 * MS) / (count / 10));
    spans.push({ lane: 'worker', name: `tiny${i % 4}`, start, end: start + 1000 });
  }
  t.spans = spans;
  return t;
}

describe('renderTimelineSvg: coalescing keeps it light', () => {
  it('renders 200k spans into a few thousand elements, counting every span in the merged blocks', () => {
    const count = 200_000;
    const started = Date.now();
    const svg = renderTimelineSvg(oneRun(syntheticDense(count)), { interactive: true });
    const elapsed = Date.now() - started;
    expect(svg.length).toBeLessThan(2_000_000);
    expect(elapsed).toBeLessThan(20_000);
    const doc = parse(svg);
    const groups = spanGroups(doc);
    expect(groups.length).toBeLessThan(5_000);
    let represented = 0;
    for (const g of groups) represented += countOf(g);
    expect(represented).toBe(count + 10);
    const block = groups.find((g) => countOf(g) > 1)!;
    expect(block.getAttribute('class')).toContain('b');
    expect(titleOf(block)).toMatch(/^\d+ spans merged · .+ total in .+–.+ · phase none\ntiny\d ×\d+\n/);
  });
});

describe('renderTimelineSvg: the embedded script', () => {
  function load(runs: Run[]) {
    const doc = parse(renderTimelineSvg(runs, { interactive: true }));
    const script = doc.getElementsByTagName('script')[0].textContent ?? '';
    let answer: string | null = null;
    const fakeWindow = { prompt: () => answer };
    new Function('document', 'window', script)(doc, fakeWindow);
    const svgEl = doc.documentElement as unknown as { hvscope: { view(): [number, number] } };
    const tickLabels = () =>
      [...doc.getElementsByTagName('g')]
        .find((g) => g.getAttribute('id') === 'hv-ticks')!
        .getElementsByTagName('text');
    return {
      doc,
      api: svgEl.hvscope,
      setPrompt: (a: string | null) => (answer = a),
      ticks: () => [...tickLabels()].map((t) => t.textContent),
      axisTitle: () => [...doc.getElementsByTagName('text')].find((t) => t.getAttribute('id') === 'hv-axis-title')!.textContent,
      click: (el: Element) => el.dispatchEvent(new window.MouseEvent('click', { bubbles: true })),
      byId: (id: string) => [...doc.getElementsByTagName('*')].find((e) => e.getAttribute('id') === id)!,
    };
  }

  it('zooms the axis and every band to a clicked span, and resets', () => {
    const page = load([
      { label: 'synthetic-a', trace: syntheticBoot() },
      { label: 'synthetic-b', trace: syntheticBoot() },
    ]);
    const before = page.ticks();
    const kernel = spanNamed(page.doc, 'kvm_create_vm');
    const initRects = spanGroups(page.doc).filter((g) => titleOf(g).startsWith('qemu_init')).map(rectOf);
    const initWidthBefore = Number(initRects[0].getAttribute('width'));
    expect(page.byId('hv-reset').getAttribute('opacity')).toBe('0');

    page.click(rectOf(kernel));
    expect(page.api.view()).toEqual([2 * MS, 5 * MS]);
    const zoomedRect = rectOf(kernel);
    const axisLine = [...page.doc.getElementsByTagName('line')].find((l) => l.getAttribute('class') === 'axis-line')!;
    expect(Number(zoomedRect.getAttribute('x'))).toBeCloseTo(Number(axisLine.getAttribute('x1')), 1);
    expect(Number(zoomedRect.getAttribute('x')) + Number(zoomedRect.getAttribute('width'))).toBeCloseTo(Number(axisLine.getAttribute('x2')), 1);
    // Both runs rescale: the parent covering the window now fills the plot in each.
    for (const r of initRects) expect(Number(r.getAttribute('width'))).toBeGreaterThan(initWidthBefore * 5);
    expect(page.ticks()).not.toEqual(before);
    expect(page.ticks()[0]).toBe('2.0'); // ticks start at the window, in ms
    expect(page.byId('hv-reset').getAttribute('opacity')).toBe('1');
    // The phase strip's spans outside the window are hidden.
    expect(spanNamed(page.doc, 'user').getAttribute('display')).toBe('none');

    page.click(page.byId('hv-reset'));
    expect(page.api.view()).toEqual([0, 245 * MS]);
    expect(page.ticks()).toEqual(before);
    expect(page.axisTitle()).toBe('time (ms)');
  });

  it('searches span names, highlights matches and reports how many', () => {
    const page = load(oneRun(syntheticDense(2_000)));
    page.setPrompt('^tiny[12]$');
    page.click(page.byId('hv-search'));
    const highlighted = spanGroups(page.doc).filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('hl'));
    expect(highlighted.length).toBeGreaterThan(0);
    const matched = page.byId('hv-matched').textContent ?? '';
    const m = /^Matched: (\d+) of (\d+) spans \(([\d.]+)%\)$/.exec(matched);
    expect(m, matched).not.toBeNull();
    // tiny1 and tiny2 are half the tiny spans; the merged blocks list all 4 names, so the count is exact.
    const expected = [...Array(2000).keys()].filter((i) => i % 4 === 1 || i % 4 === 2).length;
    expect(Number(m![1])).toBe(expected);
    expect(Number(m![2])).toBe(2010);
    expect(Number(m![3])).toBeCloseTo((100 * expected) / 2010, 1);
    page.click(page.byId('hv-clear'));
    expect(spanGroups(page.doc).some((g) => (g.getAttribute('class') ?? '').includes('hl'))).toBe(false);
    expect(page.byId('hv-matched').textContent).toBe('');
  });
});

const FIXTURE = fileURLToPath(new URL('../../fixtures/qemu-tcg-pc-linux/run.hvtrace.json', import.meta.url));
describe('renderTimelineSvg: recorded fixture', () => {
  it.skipIf(!existsSync(FIXTURE))('renders the recorded QEMU TCG Linux boot as well-formed SVG with its phases', async () => {
    const trace = readTrace(FIXTURE);
    const svg = renderTimelineSvg([{ label: 'qemu-tcg-pc-linux', trace }], { interactive: true });
    const doc = parse(svg);
    const phases = trace.spans.filter((s) => s.lane === 'phases').map((s) => s.name);
    for (const p of phases) expect(spanGroups(doc).some((g) => titleOf(g).split('\n')[0] === p)).toBe(true);
    if (!noXmllint) await xmllint(svg);
  });
});
