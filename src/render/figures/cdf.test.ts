import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { MS, syntheticRun } from '../../../test/helpers/synthetic-figure-runs.js';
import { UserError } from '../../model/errors.js';
import type { Run } from '../../model/trace.js';
import { cdfData, renderCdf } from './cdf.js';
import { parseSvg as parse, noXmllint } from '../../../test/helpers/svg.js';

// Totals (ms): 300, 120, 210, 120 (a tie), 500; run 6 has no devices phase.
const slow: Run[] = [
  syntheticRun('slow-1', { toolstack: 100, devices: 150, kernel: 50 }),
  syntheticRun('slow-2', { toolstack: 20, devices: 60, kernel: 40 }),
  syntheticRun('slow-3', { toolstack: 60, devices: 100, kernel: 50 }),
  syntheticRun('slow-4', { toolstack: 30, devices: 50, kernel: 40 }),
  syntheticRun('slow-5', { toolstack: 200, devices: 250, kernel: 50 }),
  syntheticRun('slow-6', { toolstack: 40, kernel: 45 }),
];
const fast: Run[] = [syntheticRun('fast-1', { toolstack: 10, kernel: 40 }), syntheticRun('fast-2', { toolstack: 12, kernel: 41 })];

describe('cdfData', () => {
  const [s, f] = cdfData([{ label: 'slow', runs: slow }, { label: 'fast', runs: fast }]);

  it('one series per group, in order; fractions i/n over ascending values, ending at 1', () => {
    expect([s.label, f.label]).toEqual(['slow', 'fast']);
    expect(s.points.map((p) => p.ns)).toEqual([85, 120, 120, 210, 300, 500].map((v) => v * MS));
    expect(s.points.map((p) => p.fraction)).toEqual([1, 2, 3, 4, 5, 6].map((k) => k / 6));
    expect(f.points.map((p) => p.fraction)).toEqual([0.5, 1]);
  });

  it('is monotone in both value and fraction', () => {
    for (const series of [s, f])
      for (let i = 1; i < series.points.length; i++) {
        expect(series.points[i].ns).toBeGreaterThanOrEqual(series.points[i - 1].ns);
        expect(series.points[i].fraction).toBeGreaterThan(series.points[i - 1].fraction);
      }
  });

  it('ties keep the runs order (deterministic)', () => {
    expect(s.points.filter((p) => p.ns === 120 * MS).map((p) => p.run)).toEqual(['synthetic-slow-2', 'synthetic-slow-4']);
  });

  it('a phase: only runs that have it, the others listed', () => {
    const [d] = cdfData([{ label: 'slow', runs: slow }], 'devices');
    expect(d.points.map((p) => p.ns)).toEqual([50, 60, 100, 150, 250].map((v) => v * MS));
    expect(d.points.at(-1)!.fraction).toBe(1);
    expect(d.without).toEqual(['synthetic-slow-6']);
    expect(() => cdfData([{ label: 'fast', runs: fast }], 'devices')).toThrow(UserError);
    expect(() => cdfData([{ label: 'fast', runs: fast }], 'devices')).toThrow(/"fast".*devices/);
  });
});

describe('renderCdf', () => {
  const series = cdfData([{ label: 'slow', runs: slow }, { label: 'fast', runs: fast }]);
  const svg = renderCdf(series, { title: 'synthetic CDF' });
  const doc = parse(svg);

  it('draws a step curve per group whose points rise left to right', () => {
    const paths = [...doc.getElementsByTagName('path')].filter((p) => p.getAttribute('class') === 'cdf');
    expect(paths).toHaveLength(2);
    for (const p of paths) {
      // The path is M x,y then H x V y pairs: x never decreases, y (downwards) never increases.
      const d = p.getAttribute('d')!;
      const xs = [...d.matchAll(/H([\d.]+)/g)].map((m) => Number(m[1]));
      const ys = [...d.matchAll(/V([\d.]+)/g)].map((m) => Number(m[1]));
      for (let i = 1; i < xs.length; i++) expect(xs[i]).toBeGreaterThanOrEqual(xs[i - 1]);
      for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThan(ys[i - 1]);
    }
    const markers = [...doc.getElementsByTagName('path')].filter((p) => p.getAttribute('class') === 'marker' && p.hasAttribute('data-ns'));
    expect(markers.map((m) => Number(m.getAttribute('data-ns')))).toEqual(series.flatMap((s) => s.points.map((p) => p.ns)));
  });

  it('y axis in percent from 0 to 100, x axis a time axis with its unit', () => {
    const ticks = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'tick').map((t) => t.textContent);
    expect(ticks).toContain('0');
    expect(ticks).toContain('100');
    const titles = [...doc.getElementsByTagName('text')].filter((t) => t.getAttribute('class') === 'axis-title').map((t) => t.textContent);
    expect(titles).toEqual(['runs (%)', 'boot time (ms)']);
  });

  it('legend names each group; same style on curve and key', () => {
    const legend = [...doc.getElementsByTagName('g')].find((g) => g.getAttribute('class') === 'legend')!;
    expect([...legend.getElementsByTagName('text')].map((t) => t.textContent)).toEqual(['slow', 'fast']);
    const curveColour = [...doc.getElementsByTagName('path')].filter((p) => p.getAttribute('class') === 'cdf').map((p) => p.getAttribute('stroke'));
    const keyColour = [...legend.getElementsByTagName('line')].map((l) => l.getAttribute('stroke'));
    expect(keyColour).toEqual(curveColour);
    expect(new Set(curveColour).size).toBe(2);
  });

  it('is deterministic and has no script', () => {
    expect(renderCdf(cdfData([{ label: 'slow', runs: slow }, { label: 'fast', runs: fast }]), { title: 'synthetic CDF' })).toBe(svg);
    expect(doc.getElementsByTagName('script')).toHaveLength(0);
  });

  it.skipIf(noXmllint)('passes xmllint --noout', async () => {
    await execa('xmllint', ['--noout', '-'], { input: svg });
  });
});
