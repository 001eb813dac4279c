import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { MS, syntheticRun } from '../../../test/helpers/synthetic-figure-runs.js';
import { buildReport } from '../../analysis/report.js';
import { UserError } from '../../model/errors.js';
import { PHASES, emptyTrace, type Phase, type Run } from '../../model/trace.js';
import { PHASE_COLOURS } from '../palette.js';
import { renderStackedBars, stackedBarsData } from './stacked-bars.js';
import type { RunGroup } from './values.js';
import { parseSvg as parse, noXmllint } from '../../../test/helpers/svg.js';

// Stock: 5 runs, with devices; tuned: 4 runs (even count: median between two), one without devices.
const stock: Run[] = [
  syntheticRun('stock-1', { toolstack: 80, devices: 300, kernel: 40, user: 5 }),
  syntheticRun('stock-2', { toolstack: 95, devices: 280, kernel: 42, user: 6 }, { offsetMs: 3 }),
  syntheticRun('stock-3', { toolstack: 70, devices: 420, kernel: 39, user: 5 }),
  syntheticRun('stock-4', { toolstack: 88, devices: 310, kernel: 41, user: 7 }),
  syntheticRun('stock-5', { toolstack: 90, devices: 900, kernel: 44, user: 5 }),
];
const tuned: Run[] = [
  syntheticRun('tuned-1', { toolstack: 30, devices: 20, kernel: 40, user: 5 }),
  syntheticRun('tuned-2', { toolstack: 35, devices: 25, kernel: 38, user: 4 }),
  syntheticRun('tuned-3', { toolstack: 33, kernel: 41, user: 6 }),
  syntheticRun('tuned-4', { toolstack: 31, devices: 22, kernel: 39, user: 5 }),
];
// Listed "zz" first on purpose: bars follow the spec's order, not the alphabet.
const groups: RunGroup[] = [
  { label: 'zz-stock', runs: stock },
  { label: 'aa-tuned', runs: tuned },
];

/** Independent of the code under test: durations straight from the phases lane. */
function laneDurations(runs: Run[], phase: Phase): number[] {
  return runs.flatMap((r) => r.trace.spans.filter((s) => s.lane === 'phases' && s.name === phase).map((s) => s.end - s.start));
}
function medianByHand(values: number[]): number {
  const x = [...values].sort((a, b) => a - b);
  const mid = Math.floor(x.length / 2);
  return x.length % 2 ? x[mid] : (x[mid - 1] + x[mid]) / 2;
}
function totalsByHand(runs: Run[]): number[] {
  return runs.map((r) => {
    const ph = r.trace.spans.filter((s) => s.lane === 'phases');
    return Math.max(...ph.map((s) => s.end)) - Math.min(...ph.map((s) => s.start));
  });
}

describe('stackedBarsData', () => {
  const bars = stackedBarsData(groups);

  it('one bar per group, in the order given', () => {
    expect(bars.map((b) => b.label)).toEqual(['zz-stock', 'aa-tuned']);
    expect(bars[0].runs).toEqual(stock.map((r) => r.label));
  });

  it('each segment is the median of that phase over the runs that have it, as hvscope report says', () => {
    for (const [i, g] of groups.entries()) {
      const report = buildReport(g.runs);
      for (const phase of PHASES) {
        const values = laneDurations(g.runs, phase);
        const seg = bars[i].segments.find((s) => s.phase === phase);
        if (values.length === 0) {
          expect(seg).toBeUndefined();
          continue;
        }
        expect(seg, `${g.label} ${phase}`).toBeDefined();
        expect(seg!.median_ns).toBe(Math.round(medianByHand(values)));
        expect(seg!.n).toBe(values.length);
        expect(seg!.median_ns).toBe(report.summary!.phases.find((p) => p.phase === phase)!.median_ns);
      }
    }
    // The tuned devices median comes from the 3 runs that have it.
    expect(bars[1].segments.find((s) => s.phase === 'devices')).toMatchObject({ n: 3, median_ns: 22 * MS });
  });

  it('segments stack in phase order from 0 and the stack is their sum', () => {
    for (const bar of bars) {
      let at = 0;
      expect(bar.segments.map((s) => s.phase)).toEqual(PHASES.filter((p) => bar.segments.some((s) => s.phase === p)));
      for (const s of bar.segments) {
        expect(s.from_ns).toBe(at);
        expect(s.to_ns).toBe(at + s.median_ns);
        at = s.to_ns;
      }
      expect(bar.stack_ns).toBe(at);
    }
  });

  it('whiskers: min–max (default) or p10–p90 of the runs totals, or none', () => {
    const totals = totalsByHand(stock).sort((a, b) => a - b);
    expect(bars[0].whisker).toEqual({ low_ns: totals[0], high_ns: totals[totals.length - 1] });
    expect(bars[0].total.median_ns).toBe(medianByHand(totals));
    // p10 / p90 by linear interpolation between ranks (numpy's default), 5 values: rank 0.4 and 3.6.
    const p10 = totals[0] + 0.4 * (totals[1] - totals[0]);
    const p90 = totals[3] + 0.6 * (totals[4] - totals[3]);
    const pct = stackedBarsData(groups, { whiskers: 'p10-p90' });
    expect(pct[0].whisker!.low_ns).toBe(Math.round(p10));
    expect(pct[0].whisker!.high_ns).toBe(Math.round(p90));
    expect(stackedBarsData(groups, { whiskers: 'none' })[0].whisker).toBeNull();
  });

  it('a phases filter keeps only those phases', () => {
    const only = stackedBarsData(groups, { phases: ['user', 'devices'] });
    expect(only[0].segments.map((s) => s.phase)).toEqual(['devices', 'user']);
  });

  it('a single run: its own durations, whisker collapsed', () => {
    const [bar] = stackedBarsData([{ label: 'one', runs: [stock[0]] }]);
    expect(bar.segments.map((s) => s.median_ns)).toEqual([80 * MS, 300 * MS, 40 * MS, 5 * MS]);
    expect(bar.whisker).toEqual({ low_ns: 425 * MS, high_ns: 425 * MS });
  });

  it('a group whose runs have no phases is a user error naming the group', () => {
    const bare: Run = { label: 'synthetic-bare', trace: emptyTrace({ source: 'synthetic', clock: 'monotonic' }) };
    expect(() => stackedBarsData([{ label: 'empty-group', runs: [bare] }])).toThrow(UserError);
    expect(() => stackedBarsData([{ label: 'empty-group', runs: [bare] }])).toThrow(/empty-group.*no phases/);
  });
});

describe('renderStackedBars', () => {
  const bars = stackedBarsData(groups);
  const svg = renderStackedBars(bars, { title: 'synthetic stock vs tuned', size: '3.5in' });
  const doc = parse(svg);
  const segs = [...doc.getElementsByTagName('rect')].filter((r) => (r.getAttribute('class') ?? '').startsWith('seg '));

  it('is well-formed, physical size with viewBox, no script, deterministic', () => {
    const root = doc.documentElement;
    expect(root.getAttribute('width')).toBe('3.5in');
    expect(root.getAttribute('viewBox')!.split(' ').map(Number).slice(0, 3)).toEqual([0, 0, 252]);
    expect(doc.getElementsByTagName('script')).toHaveLength(0);
    expect(svg).not.toMatch(/\son[a-z]+=/i);
    expect(renderStackedBars(stackedBarsData(groups), { title: 'synthetic stock vs tuned', size: '3.5in' })).toBe(svg);
  });

  it('type is 8–10 pt (user units are points at physical sizes)', () => {
    const size = Number(doc.documentElement.getAttribute('font-size'));
    expect(size).toBeGreaterThanOrEqual(8);
    expect(size).toBeLessThanOrEqual(10);
    expect(svg).not.toMatch(/font-size:\s*[0-7](\.\d+)?px/);
  });

  it.skipIf(noXmllint)('passes xmllint --noout', async () => {
    await execa('xmllint', ['--noout', '-'], { input: svg });
    await execa('xmllint', ['--noout', '-'], { input: renderStackedBars(bars, { title: 'a < b & "c" \u0001', size: '7.16in', fontPt: 10 }) });
  });

  it('one rect per segment, in group then phase order, heights proportional to the medians', () => {
    const expected = bars.flatMap((b) => b.segments.map((s) => ({ phase: s.phase, median: s.median_ns })));
    expect(segs.map((r) => r.getAttribute('data-phase'))).toEqual(expected.map((e) => e.phase));
    expect(segs.map((r) => Number(r.getAttribute('data-median-ns')))).toEqual(expected.map((e) => e.median));
    const perNs = Number(segs[1].getAttribute('height')) / expected[1].median;
    for (const [i, r] of segs.entries()) expect(Number(r.getAttribute('height'))).toBeCloseTo(expected[i].median * perNs, 0);
    // Bars left to right in spec order.
    const xOf = (label: string) => Number(segs.find((r) => r.parentElement!.getElementsByTagName('title')[0].textContent!.startsWith(label))!.getAttribute('x'));
    expect(xOf('zz-stock')).toBeLessThan(xOf('aa-tuned'));
  });

  it('colours phases as the timeline does (palette.ts), with a legend entry per phase shown', () => {
    for (const r of segs) expect(r.getAttribute('class')).toContain(`p-${r.getAttribute('data-phase')}`);
    for (const phase of ['toolstack', 'devices', 'kernel', 'user'] as const) expect(svg).toContain(`rect.p-${phase}{fill:${PHASE_COLOURS[phase]}}`);
    const legend = [...doc.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'legend')!;
    const labels = [...legend.getElementsByTagName('text')].map((t) => t.textContent);
    expect(labels).toEqual(['toolstack', 'devices', 'kernel', 'user', 'min–max of total']);
  });

  it('draws each whisker between its low and high total', () => {
    const whiskers = [...doc.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'whisker' && g.hasAttribute('data-low-ns'));
    expect(whiskers.map((w) => [Number(w.getAttribute('data-low-ns')), Number(w.getAttribute('data-high-ns'))])).toEqual(bars.map((b) => [b.whisker!.low_ns, b.whisker!.high_ns]));
    // The vertical line spans low → high on the same scale as the bars (y grows downwards).
    const v = whiskers[0].getElementsByTagName('line')[0];
    const len = Number(v.getAttribute('y1')) - Number(v.getAttribute('y2'));
    const perNs = Number(segs[1].getAttribute('height')) / bars[0].segments[1].median_ns;
    expect(len).toBeCloseTo((bars[0].whisker!.high_ns - bars[0].whisker!.low_ns) * perNs, 0);
    const none = parse(renderStackedBars(stackedBarsData(groups, { whiskers: 'none' }), { whiskers: 'none' }));
    expect([...none.getElementsByTagName('g')].filter((g) => g.getAttribute('class') === 'whisker')).toHaveLength(0);
  });

  it('rejects type sizes outside 8–10 pt and sizes too small', () => {
    expect(() => renderStackedBars(bars, { fontPt: 6 })).toThrow(/8–10 pt/);
    expect(() => renderStackedBars(bars, { size: '1in', height: '0.5in' })).toThrow(UserError);
  });

  it('many long group names: labels turned, a too-long one cut with its full name as tooltip, y title kept clear of the legend', () => {
    const names = ['synthetic-xen-stock', 'synthetic-xen-unikernel', 'synthetic-xen-unikernel-with-oxenstored-and-no-hotplug', 'synthetic-no-hotplug', 'synthetic-fast-vif-bridge', 'synthetic-all-knobs'];
    const many = names.map((label, i) => ({ label, runs: [syntheticRun(`${label}-1`, { toolstack: 50 + i, devices: 300 - 40 * i, kernel: 40 })] }));
    const d = parse(renderStackedBars(stackedBarsData(many), { title: 'synthetic six profiles' }));
    const cats = [...d.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'tick category');
    expect(cats).toHaveLength(6);
    for (const c of cats) expect(c.getAttribute('transform')).toMatch(/^rotate\(-35 /);
    const cut = cats[2];
    expect(cut.childNodes[0].textContent).toMatch(/…$/);
    expect(cut.getElementsByTagName('title')[0].textContent).toBe(names[2]);
    const yTitle = [...d.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'y-axis')!.getElementsByTagName('text');
    const title = [...yTitle].find((t) => t.getAttribute('class') === 'axis-title')!;
    // The plot is shorter than the title: it is written horizontally above the axis, below the legend.
    expect(title.getAttribute('transform')).toBeNull();
    const legend = [...d.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'legend')!;
    const legendBottom = Math.max(...[...legend.getElementsByTagName('text')].map((t) => Number(t.getAttribute('y'))));
    expect(Number(title.getAttribute('y'))).toBeGreaterThan(legendBottom);
  });
});
