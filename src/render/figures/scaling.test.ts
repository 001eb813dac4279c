import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { MS, syntheticRun } from '../../../test/helpers/synthetic-figure-runs.js';
import { UserError } from '../../model/errors.js';
import type { Run } from '../../model/trace.js';
import { renderScaling, scalingData } from './scaling.js';
import { parseSvg as parse, noXmllint } from '../../../test/helpers/svg.js';

/** Creation time growing with the domains already running; two runs at each of 0, 10, 20. */
function syntheticScaling(prefix: string, base: number, perDomain: number): Run[] {
  const runs: Run[] = [];
  for (const k of [0, 10, 20])
    for (const jitter of [0, 6]) runs.push(syntheticRun(`${prefix}-${k}-${jitter}`, { toolstack: base + perDomain * k + jitter, devices: 10 }, { args: { running_domains: k } }));
  return runs;
}

describe('scalingData', () => {
  const stock = syntheticScaling('stock', 80, 3);
  const [series] = scalingData([{ label: 'stock', runs: stock }], { from: 'arg', key: 'running_domains' });

  it('one point per run at (its arg, its total)', () => {
    expect(series.points.map((p) => [p.x, p.y_ns])).toEqual([
      [0, 90 * MS], [0, 96 * MS], [10, 120 * MS], [10, 126 * MS], [20, 150 * MS], [20, 156 * MS],
    ]);
  });

  it('a median line through each x, ascending', () => {
    expect(series.line).toEqual([
      { x: 0, median_ns: 93 * MS, n: 2 },
      { x: 10, median_ns: 123 * MS, n: 2 },
      { x: 20, median_ns: 153 * MS, n: 2 },
    ]);
  });

  it('y can be a phase', () => {
    const [t] = scalingData([{ label: 'stock', runs: stock }], { from: 'arg', key: 'running_domains' }, 'toolstack');
    expect(t.points[2]).toMatchObject({ x: 10, y_ns: 110 * MS });
  });

  it('x from meta, or from the order of the runs', () => {
    const runs = [0, 1, 2].map((k) => syntheticRun(`meta-${k}`, { toolstack: 10 + k }, { meta: { running_domains: String(k * 5) } }));
    expect(scalingData([{ label: 'm', runs }], { from: 'meta', key: 'running_domains' })[0].points.map((p) => p.x)).toEqual([0, 5, 10]);
    expect(scalingData([{ label: 'm', runs }], { from: 'order' })[0].points.map((p) => p.x)).toEqual([0, 1, 2]);
  });

  it('a run without its x, with a non-number, or with two values is a user error naming group, run and key', () => {
    const bare = [syntheticRun('bare', { toolstack: 10 })];
    expect(() => scalingData([{ label: 'g', runs: bare }], { from: 'arg', key: 'running_domains' })).toThrow(UserError);
    expect(() => scalingData([{ label: 'g', runs: bare }], { from: 'arg', key: 'running_domains' })).toThrow(/group "g", run "synthetic-bare": no span or instant has the arg "running_domains"/);
    const words = [syntheticRun('words', { toolstack: 10 }, { args: { running_domains: 'many' } })];
    expect(() => scalingData([{ label: 'g', runs: words }], { from: 'arg', key: 'running_domains' })).toThrow(/not a number/);
    const two = syntheticRun('two', { toolstack: 10 }, { args: { running_domains: 1 } });
    two.trace.instants.push({ lane: 'vmm', name: 'synthetic-mark', at: 5, args: { running_domains: 2 } });
    expect(() => scalingData([{ label: 'g', runs: [two] }], { from: 'arg', key: 'running_domains' })).toThrow(/several values \(1, 2\)/);
    expect(() => scalingData([{ label: 'g', runs: bare }], { from: 'meta', key: 'running_domains' })).toThrow(/meta.running_domains is missing/);
  });
});

describe('renderScaling', () => {
  const groups = [
    { label: 'stock', runs: syntheticScaling('stock', 80, 3) },
    { label: 'tuned', runs: syntheticScaling('tuned', 20, 0.5) },
  ];
  const series = scalingData(groups, { from: 'arg', key: 'running_domains' });
  const svg = renderScaling(series, { title: 'synthetic scaling', xLabel: 'domains already running', value: 'total', size: '7.16in' });
  const doc = parse(svg);

  it('a marker per run at its x and y, a median line per group', () => {
    const markers = [...doc.getElementsByTagName('path')].filter((p) => p.getAttribute('class') === 'marker' && p.hasAttribute('data-ns'));
    expect(markers.map((m) => [Number(m.getAttribute('data-x')), Number(m.getAttribute('data-ns'))])).toEqual(series.flatMap((s) => s.points.map((p) => [p.x, p.y_ns])));
    const lines = [...doc.getElementsByTagName('path')].filter((p) => p.getAttribute('class') === 'median');
    expect(lines).toHaveLength(2);
    // Stock rises: its median line's y (downwards) falls from left to right.
    const ys = [...lines[0].getAttribute('d')!.matchAll(/[ML][\d.]+,([\d.]+)/g)].map((m) => Number(m[1]));
    expect(ys).toHaveLength(3);
    expect(ys[0]).toBeGreaterThan(ys[1]);
    expect(ys[1]).toBeGreaterThan(ys[2]);
  });

  it('two-column width, axis titles with units, integer x ticks', () => {
    expect(doc.documentElement.getAttribute('width')).toBe('7.16in');
    const titles = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'axis-title').map((t) => t.textContent);
    expect(titles).toEqual(['boot time (ms)', 'domains already running']);
    const xTicks = [...doc.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'x-axis')!.getElementsByTagName('text');
    for (const t of xTicks) if (t.getAttribute('class') === 'tick') expect(t.textContent).toMatch(/^\d+$/);
  });

  it('is deterministic; passes a real XML parser', () => {
    expect(renderScaling(scalingData(groups, { from: 'arg', key: 'running_domains' }), { title: 'synthetic scaling', xLabel: 'domains already running', value: 'total', size: '7.16in' })).toBe(svg);
  });

  it.skipIf(noXmllint)('passes xmllint --noout', async () => {
    await execa('xmllint', ['--noout', '-'], { input: svg });
  });

  it('log y: equal ratios are equal distances', () => {
    const runs = [4, 40, 400].map((ms, k) => syntheticRun(`log-${k}`, { toolstack: ms }, { args: { running_domains: k } }));
    const d = parse(renderScaling(scalingData([{ label: 'log', runs }], { from: 'arg', key: 'running_domains' }), { xLabel: 'domains', value: 'total', logY: true }));
    const ys = [...d.getElementsByTagName('path')].filter((p) => p.hasAttribute('data-ns')).map((p) => Number(/^M[\d.]+,([\d.]+)/.exec(p.getAttribute('d')!)![1]));
    expect(ys).toHaveLength(3);
    expect(ys[0] - ys[1]).toBeCloseTo(ys[1] - ys[2], 0);
    expect(ys[0]).toBeGreaterThan(ys[1]);
    const ticks = [...d.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'y-axis')!.getElementsByTagName('text');
    expect([...ticks].map((t) => t.textContent)).toEqual(['1 ms', '10 ms', '100 ms', '1 s', 'boot time (log scale)']);
  });
});
