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
import { renderTimelineSvg, type TimelineOptions } from './svg-timeline.js';
import type { TimelineData } from './timeline-data.js';
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
    { id: 'main', kind: 'thread', name: 'main', pid: 100, tid: 100, parent: 'qemu' },
    { id: 'vcpu0', kind: 'thread', name: 'vcpu0', pid: 100, tid: 101, parent: 'qemu' },
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

/** Synthetic exec tree: a toolstack process starts a script (ppid in its exec span), which starts two helpers. */
function syntheticExecTree(): Trace {
  const t = emptyTrace({ source: 'synthetic', clock: 'monotonic' });
  const proc = (pid: number, name: string) => t.lanes.push({ id: `pid:${pid}`, kind: 'process', name: `${name} [${pid}]`, pid });
  proc(10, 'xl');
  proc(12, 'helper-b');
  proc(11, 'hotplug');
  proc(13, 'helper-a');
  const exec = (pid: number, name: string, start: number, end: number, ppid?: number) =>
    t.spans.push({ lane: `pid:${pid}`, name, start, end, args: { pid, ...(ppid !== undefined ? { ppid } : {}) } });
  exec(10, 'xl', 0, 100 * MS);
  exec(11, 'hotplug', 20 * MS, 80 * MS, 10);
  exec(12, 'helper-b', 50 * MS, 60 * MS, 11);
  exec(13, 'helper-a', 30 * MS, 40 * MS, 11);
  return t;
}

const oneRun = (trace: Trace, label = 'synthetic-run'): Run[] => [{ label, trace }];

/** Span and merged-block rects (class "s"), in document order. */
function spanRects(doc: Document | Element): Element[] {
  return [...doc.getElementsByTagName('rect')].filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('s'));
}
function titleOf(el: Element): string {
  return [...el.children].find((c) => c.nodeName === 'title')?.textContent ?? '';
}
/** A span's label is the text right after its rect. */
function labelOf(el: Element): string | undefined {
  const next = el.nextElementSibling;
  return next?.nodeName === 'text' && next.getAttribute('class')?.startsWith('l ') ? (next.textContent ?? undefined) : undefined;
}
function countOf(el: Element): number {
  const m = /^(\d+) spans merged/.exec(titleOf(el));
  return m ? Number(m[1]) : 1;
}
function spanNamed(doc: Document, name: string): Element {
  const g = spanRects(doc).find((e) => titleOf(e).split('\n')[0] === name);
  if (!g) throw new Error(`no span ${name}`);
  return g;
}
function laneLabels(doc: Document | Element): Element[] {
  return [...doc.getElementsByTagName('text')].filter((t) => (t.getAttribute('class') ?? '').split(' ').includes('lane-label'));
}
const staticSvg = (runs: Run[], opts: Partial<TimelineOptions> = {}) => parse(renderTimelineSvg(runs, { interactive: false, width: '1200', ...opts }));

/** The data block of an interactive file, as the script sees it (after XML parsing). */
function dataOf(svg: string): TimelineData {
  const script = parse(svg).getElementsByTagName('script')[0].textContent ?? '';
  const m = /\nvar D = (.*);\n/.exec(script);
  if (!m) throw new Error('no data block');
  return JSON.parse(m[1]) as TimelineData;
}

describe('renderTimelineSvg: document', () => {
  it('is well-formed XML (interactive and static), checked by a real XML parser', () => {
    expect(parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true, title: 'synthetic boot' })).documentElement.nodeName).toBe('svg');
    expect(parse(renderTimelineSvg(oneRun(syntheticBoot()), { interactive: false })).documentElement.nodeName).toBe('svg');
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

  it('interactive: a fallback drawing without tooltips, one data block and the script in CDATA; nothing fetched', () => {
    const svg = renderTimelineSvg(oneRun(syntheticBoot()), { interactive: true });
    const doc = parse(svg);
    expect(doc.getElementsByTagName('script')).toHaveLength(1);
    expect(svg).toContain('<script type="text/ecmascript"><![CDATA[');
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org\/)/); // no network: only namespace URIs
    const fallback = [...doc.getElementsByTagName('g')].find((g) => g.getAttribute('id') === 'hv-fallback')!;
    expect(spanRects(fallback)).toHaveLength(syntheticBoot().spans.length);
    expect(fallback.getElementsByTagName('title')).toHaveLength(0);
    expect(doc.documentElement.getAttribute('width')).toBe('1200');
    const data = dataOf(svg);
    const kernel = data.il.findIndex((_, i) => data.str[data.in[i]] === 'guest kernel');
    expect([data.is[kernel], data.ie[kernel]]).toEqual([43 * MS, 122 * MS]);
    expect(data.phases[data.ip[kernel]]).toBe('kernel');
    expect(data.total).toBe(syntheticBoot().spans.length);
    const init = data.il.findIndex((_, i) => data.str[data.in[i]] === 'qemu_init');
    expect(data.str[data.ia[init]]).toBe('machine: pc\naccel: tcg');
    expect(data.str[data.tn[0]]).toBe('linux_start_kernel');
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
      expect(svg).not.toContain('hv-fallback');
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
  it('draws the phases strip first, then each process with its threads under it, by first activity', () => {
    const doc = staticSvg(oneRun(syntheticBoot()));
    const labels = laneLabels(doc);
    expect(labels.map((t) => t.textContent)).toEqual(['phases', 'qemu-system-x86', 'vcpu0', 'main']);
    const x = labels.map((t) => Number(t.getAttribute('x')));
    expect(x[2]).toBeGreaterThan(x[1]); // threads indented under their process
    expect(x[3]).toBe(x[2]);
    // In a narrow paper column a long lane name is cut, and its tooltip keeps the full name.
    const cut = laneLabels(staticSvg(oneRun(syntheticBoot()), { width: '3.5in' }))[1];
    expect(cut.firstChild?.textContent).toMatch(/^qemu-sys.*…$/);
    expect(titleOf(cut)).toBe('qemu-system-x86');
  });

  it('nests processes by the ppid their exec spans record', () => {
    const doc = staticSvg(oneRun(syntheticExecTree()));
    const labels = laneLabels(doc);
    expect(labels.map((t) => t.textContent)).toEqual(['xl [10]', 'hotplug [11]', 'helper-a [13]', 'helper-b [12]']);
    const x = labels.map((t) => Number(t.getAttribute('x')));
    expect(x[1]).toBeGreaterThan(x[0]);
    expect(x[2]).toBeGreaterThan(x[1]);
    expect(x[3]).toBe(x[2]);
    const data = dataOf(renderTimelineSvg(oneRun(syntheticExecTree()), { interactive: true }));
    expect(data.lanes.map((l) => [l[0], l[2], l[3]])).toEqual([
      ['xl [10]', 0, -1],
      ['hotplug [11]', 1, 0],
      ['helper-a [13]', 2, 1],
      ['helper-b [12]', 2, 1],
    ]);
    // The busy time of each parent's descendants, for the collapsed view: hotplug 20–80 ms covers its helpers.
    expect(data.lanes[0][5]).toEqual([20 * MS, 80 * MS]);
    expect(data.lanes[0][6]).toBe(60 * MS);
    expect(data.lanes[0][7]).toBe(3);
    expect(data.lanes[1][6]).toBe(20 * MS);
  });

  it('stacks a nested span below its parent', () => {
    const doc = staticSvg(oneRun(syntheticBoot()));
    expect(Number(spanNamed(doc, 'kvm_create_vm').getAttribute('y'))).toBeGreaterThan(Number(spanNamed(doc, 'qemu_init').getAttribute('y')));
  });

  it('colours by phase with the Okabe–Ito palette, grey without a phase, and has a legend of the phases present', () => {
    const doc = staticSvg(oneRun(syntheticBoot()));
    expect(spanNamed(doc, 'guest kernel').getAttribute('class')).toContain('p-kernel');
    expect(spanNamed(doc, 'unphased work').getAttribute('class')).toContain('p-none');
    const css = doc.getElementsByTagName('style')[0].textContent ?? '';
    expect(css).toContain(`rect.p-kernel{fill:${PHASE_COLOURS.kernel}}`);
    expect(css).toContain('rect.p-none{fill:#BBBBBB}');
    const legend = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'key-label').map((t) => t.textContent);
    expect(legend).toEqual(['toolstack', 'firmware', 'kernel', 'user', 'no phase']);
  });

  it('labels spans with their duration where it fits; static tooltips on every span and instant show args', () => {
    const doc = staticSvg(oneRun(syntheticBoot()));
    expect(labelOf(spanNamed(doc, 'guest kernel'))).toBe(`guest kernel ${formatDuration(79 * MS)}`);
    const spans = spanRects(doc);
    expect(spans).toHaveLength(syntheticBoot().spans.length);
    for (const g of spans) expect(titleOf(g)).toMatch(/^.+\n.+ from .+ · phase \w+/);
    const init = titleOf(spanNamed(doc, 'qemu_init'));
    expect(init).toContain(`${formatDuration(34 * MS)} from 0 ns · phase toolstack`);
    expect(init).toContain('machine: pc');
    const instants = [...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'i');
    expect(instants).toHaveLength(1);
    expect(titleOf(instants[0])).toContain('linux_start_kernel');
    expect(titleOf(instants[0])).toContain('code: 6');
  });

  it('shows a phase without evidence as unresolved, never as a 0 ms phase', () => {
    const t = syntheticBoot();
    const kernel = t.spans.find((s) => s.lane === 'phases' && s.name === 'kernel')!;
    kernel.args = { unresolved: 'no kernel-start marker', evidence: 'none' };
    const doc = staticSvg(oneRun(t));
    const rect = spanNamed(doc, 'kernel');
    expect(rect.getAttribute('class')).toContain('unres');
    expect(titleOf(rect).split('\n')[1]).toMatch(/^unresolved /);
    expect(titleOf(rect)).toContain('unresolved: no kernel-start marker');
    expect(labelOf(rect)).toBe('kernel unresolved');
    const legend = [...doc.getElementsByTagName('text')].filter((e) => e.getAttribute('class') === 'key-label').map((e) => e.textContent);
    expect(legend).toContain('unresolved: no evidence');
    const data = dataOf(renderTimelineSvg(oneRun(t), { interactive: true }));
    const i = data.il.findIndex((_, k) => data.str[data.in[k]] === 'kernel');
    expect(data.if[i] & 1).toBe(1);
  });

  it('picks the axis unit from the data: µs-long and minutes-long traces', () => {
    const axisTitle = (trace: Trace) => [...staticSvg(oneRun(trace)).getElementsByTagName('text')].find((t) => t.getAttribute('class') === 'axis-title')?.textContent;
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
    const doc = staticSvg(runs);
    const runGroups = [...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'run');
    expect(runGroups.map((g) => [...g.children].find((c) => c.getAttribute('class') === 'run-label')?.textContent)).toEqual(['synthetic-a', 'synthetic-b', 'synthetic-c']);
    expect([...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'axis')).toHaveLength(1);
    const initRects = runGroups.map((g) => spanRects(g).find((s) => titleOf(s).startsWith('qemu_init'))!);
    expect(new Set(initRects.map((r) => r.getAttribute('x'))).size).toBe(1);
    const widths = initRects.map((r) => Number(r.getAttribute('width')));
    expect(widths[1] / widths[0]).toBeCloseTo(2, 1);
  });
});

describe('renderTimelineSvg: highlights', () => {
  it('outlines the given spans, keeps them apart from merged blocks, and adds a legend entry', () => {
    const t = syntheticDense(2_000);
    const tiny = t.spans.find((s) => s.name === 'tiny3')!;
    const parent = t.spans.find((s) => s.name === 'parent2')!;
    const highlights = [{ id: 'critical-path', label: 'critical path', spans: new Set<Span>([tiny, parent]), colour: '#D55E00' }];
    const doc = staticSvg(oneRun(t), { highlights });
    const marked = spanRects(doc).filter((r) => (r.getAttribute('class') ?? '').split(' ').includes('hl-critical-path'));
    expect(marked.map((r) => titleOf(r).split('\n')[0]).sort()).toEqual(['parent2', 'tiny3']); // the sub-pixel one too, not merged
    expect(doc.getElementsByTagName('style')[0].textContent).toContain('rect.hl-critical-path{stroke:#D55E00');
    const legend = [...doc.getElementsByTagName('text')].filter((e) => e.getAttribute('class') === 'key-label').map((e) => e.textContent);
    expect(legend).toContain('critical path');
    const data = dataOf(renderTimelineSvg(oneRun(t), { interactive: true, highlights }));
    expect(data.hl).toEqual([['critical-path', 'critical path']]);
    expect(data.if.filter((f) => f & 2)).toHaveLength(2);
    expect(() => renderTimelineSvg(oneRun(t), { interactive: true, highlights: [{ ...highlights[0], id: 'Bad Id' }] })).toThrow(/highlight id/);
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
  it('escapes names, lane names and args so they stay text, in the drawing and in the data block', () => {
    const evil = hostileTrace().spans.at(-1)!.name;
    for (const interactive of [true, false]) {
      const svg = renderTimelineSvg(oneRun(hostileTrace()), { interactive, title: '<b>&"title"' });
      const doc = parse(svg);
      expect(doc.getElementsByTagName('script')).toHaveLength(interactive ? 1 : 0);
      expect([...doc.getElementsByTagName('text')].some((t) => t.getAttribute('class') === 'title' && t.textContent === '<b>&"title"')).toBe(true);
      if (interactive) {
        const data = dataOf(svg);
        expect(data.str).toContain(evil.replace(/[\r\n]+/g, ' '));
        expect(data.str).toContain(`${evil}: ${evil}\n&amp;: <>`);
      } else {
        const g = spanNamed(doc, xmlSafeText(evil));
        expect(titleOf(g)).toContain(`${xmlSafeText(evil)}: ${xmlSafeText(evil)}`);
        expect(titleOf(g)).toContain('&amp;: <>');
      }
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
  it('renders 200k spans into a few thousand elements and items, counting every span in the merged blocks', () => {
    const count = 200_000;
    const svg = renderTimelineSvg(oneRun(syntheticDense(count)), { interactive: true });
    expect(svg.length).toBeLessThan(1_000_000);
    const data = dataOf(svg);
    expect(data.il.length).toBeLessThan(5_000);
    expect(data.ic.reduce((a, b) => a + b, 0)).toBe(count + 10);
    const block = data.blocks[0];
    expect(block[1]).toBe(data.ic[block[0]] * 1000); // total time of the merged 1 µs spans
    expect(data.str[block[2][0]]).toMatch(/^tiny\d$/);
    const paper = staticSvg(oneRun(syntheticDense(count)));
    const rects = spanRects(paper);
    expect(rects.length).toBeLessThan(5_000);
    expect(rects.reduce((n, r) => n + countOf(r), 0)).toBe(count + 10);
  });
});

describe('the embedded script (in jsdom: no layout, so coordinates are the events\' own)', () => {
  function load(runs: Run[]) {
    const doc = parse(renderTimelineSvg(runs, { interactive: true }));
    const script = doc.getElementsByTagName('script')[0].textContent ?? '';
    new Function('document', 'window', script)(doc, window);
    const svgEl = doc.documentElement as unknown as {
      hvscope: { view(): [number, number]; search(q: string): void; clear(): void; collapsed(i: number): boolean; plot(): { left: number; width: number; headH: number } };
    };
    const byId = (id: string) => [...doc.getElementsByTagName('*')].find((e) => e.getAttribute('id') === id)!;
    const shown = (e: Element) => {
      for (let x: Element | null = e; x; x = x.parentElement) if (x.getAttribute('display') === 'none') return false;
      return true;
    };
    // The script listens for moves and releases on the window (a drag may leave the svg); a
    // document from DOMParser does not bubble to it, so those go to the window directly.
    const mouse = (type: string, target: Element, clientX: number, clientY = 200) =>
      (type === 'mousedown' ? target : window).dispatchEvent(new window.MouseEvent(type, { bubbles: true, clientX, clientY, button: 0 }));
    return {
      doc,
      api: svgEl.hvscope,
      byId,
      shown,
      mouse,
      ticks: () => [...byId('hv-ticks').getElementsByTagName('text')].map((t) => t.textContent),
      lanes: () => laneLabels(doc).filter(shown).map((t) => t.firstChild?.textContent),
    };
  }

  it('replaces the fallback, fits the window, draws every lane with its spans', () => {
    const page = load(oneRun(syntheticBoot()));
    expect(page.byId('hv-fallback')).toBeUndefined();
    expect(page.doc.documentElement.getAttribute('width')).toBe(String(window.innerWidth));
    expect(page.lanes()).toEqual(['phases', 'qemu-system-x86', 'vcpu0', 'main']);
    expect(spanRects(page.doc)).toHaveLength(syntheticBoot().spans.length);
    expect(page.ticks()[0]).toBe('0');
    expect(page.byId('hv-matched').textContent).toBe('8 spans · 1 instants and lines');
  });

  it('zooms to a clicked span, with the wheel around the pointer, and back with Esc', () => {
    const page = load([
      { label: 'synthetic-a', trace: syntheticBoot() },
      { label: 'synthetic-b', trace: syntheticBoot() },
    ]);
    const before = page.ticks();
    const kvm = spanRects(page.doc).find((r) => nameInData(r) === 'kvm_create_vm')!;
    page.mouse('mousedown', kvm, 300);
    page.mouse('mouseup', kvm, 300);
    expect(page.api.view()).toEqual([2 * MS, 5 * MS]);
    expect(page.ticks()[0]).toBe('2.0');
    const plot = page.api.plot();
    const x = Math.round(plot.left + plot.width / 2); // jsdom keeps whole pixels
    const tAt = ([a, b]: [number, number]) => a + ((x - plot.left) / plot.width) * (b - a);
    const wheel = new window.WheelEvent('wheel', { bubbles: true, cancelable: true, clientX: x, clientY: 200, deltaY: 300 });
    const tBefore = tAt(page.api.view());
    kvm.dispatchEvent(wheel);
    const [a, b] = page.api.view();
    expect(b - a).toBeGreaterThan(3 * MS * 1.5); // zoomed out
    expect(tAt([a, b])).toBeCloseTo(tBefore, 0); // around the pointer
    expect(wheel.defaultPrevented).toBe(true);
    page.doc.dispatchEvent(new window.KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    expect(page.api.view()).toEqual([0, 245 * MS]);
    expect(page.ticks()).toEqual(before);
  });

  it('selects a range by dragging on the axis and reads its duration', () => {
    const page = load(oneRun(syntheticBoot()));
    const plot = page.api.plot();
    const band = page.byId('hv-axis-band');
    const [x1, x2] = [0.2, 0.6].map((f) => Math.round(plot.left + plot.width * f));
    const t = (x: number) => ((x - plot.left) / plot.width) * 245 * MS;
    page.mouse('mousedown', band, x1);
    page.mouse('mousemove', band, x2);
    page.mouse('mouseup', band, x2);
    expect(page.byId('hv-sel-label').textContent).toBe(`selected ${formatDuration(t(x2) - t(x1))} (${formatDuration(t(x1))} → ${formatDuration(t(x2))}) · click to zoom`);
    expect(page.api.view()).toEqual([0, 245 * MS]);
  });

  it('searches span names and lines, dims the rest, reports how many, lists matches; Esc clears', () => {
    const page = load(oneRun(syntheticDense(2_000)));
    page.api.search('^tiny[12]$');
    const hits = spanRects(page.doc).filter((g) => (g.getAttribute('class') ?? '').split(' ').includes('hit'));
    expect(hits.length).toBeGreaterThan(0);
    expect(page.doc.documentElement.getAttribute('class')).toContain('searching');
    const m = /^Matched: (\d+) of (\d+) spans \(([\d.]+)%\) · 0 of 0 lines$/.exec(page.byId('hv-matched').textContent ?? '');
    expect(m, page.byId('hv-matched').textContent ?? '').not.toBeNull();
    // tiny1 and tiny2 are half the tiny spans; the merged blocks list all 4 names, so the count is exact.
    expect(Number(m![1])).toBe(1000);
    expect(Number(m![2])).toBe(2010);
    const listed = [...page.byId('hv-list').getElementsByTagName('div')].filter((d) => (d.getAttribute('class') ?? '').startsWith('entry'));
    expect(listed.length).toBeGreaterThan(0);
    page.doc.dispatchEvent(new window.KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    expect(spanRects(page.doc).some((g) => (g.getAttribute('class') ?? '').split(' ').includes('hit'))).toBe(false);
    expect(page.byId('hv-matched').textContent).toBe('2010 spans · 0 instants and lines');
  });

  it('collapses a parent into a busy row and expands it again', () => {
    const page = load(oneRun(syntheticExecTree()));
    expect(page.lanes()).toEqual(['xl [10]', 'hotplug [11]', 'helper-a [13]', 'helper-b [12]']);
    const toggles = [...page.doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'toggle');
    expect(toggles.map((t) => t.textContent)).toEqual(['▾', '▾']);
    toggles[0].dispatchEvent(new window.MouseEvent('click', { bubbles: true }));
    expect(page.lanes()).toEqual(['xl [10]']);
    expect(page.api.collapsed(0)).toBe(true);
    const busy = [...page.doc.getElementsByTagName('rect')].filter((r) => r.getAttribute('class') === 'busy' && page.shown(r));
    expect(busy.map((r) => [r.getAttribute('data-s'), r.getAttribute('data-e')])).toEqual([[String(20 * MS), String(80 * MS)]]);
    toggles[0].dispatchEvent(new window.MouseEvent('click', { bubbles: true }));
    expect(page.lanes()).toHaveLength(4);
  });
});

/** The name of a span rect drawn by the script: its data index looked up in the data block. */
function nameInData(rect: Element): string {
  const script = rect.ownerDocument.getElementsByTagName('script')[0]?.textContent ?? '';
  const data = JSON.parse(/\nvar D = (.*);\n/.exec(script)![1]) as TimelineData;
  const i = Number(rect.getAttribute('data-i'));
  return data.str[data.in[i]];
}

const FIXTURE = fileURLToPath(new URL('../../fixtures/qemu-tcg-pc-linux/run.hvtrace.json', import.meta.url));
describe('renderTimelineSvg: recorded fixture', () => {
  it.skipIf(!existsSync(FIXTURE))('renders the recorded QEMU TCG Linux boot as well-formed SVG with its phases and console lines', async () => {
    const trace = readTrace(FIXTURE);
    const svg = renderTimelineSvg([{ label: 'qemu-tcg-pc-linux', trace }], { interactive: true });
    const data = dataOf(svg);
    for (const p of trace.spans.filter((s) => s.lane === 'phases').map((s) => s.name)) expect(data.in.some((n) => data.str[n] === p)).toBe(true);
    expect(data.tl).toHaveLength(trace.instants.length);
    expect(data.tn.map((n) => data.str[n])).toContain('[    2.422249] Run /init as init process');
    if (!noXmllint) await xmllint(svg);
  });
});
