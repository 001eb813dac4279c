import { describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { estimateTextWidth } from '../axis.js';
import { OKABE_ITO } from '../palette.js';
import { logTimeAxis, niceAxis, numberTicks } from './figure-axes.js';
import { MARKERS, SERIES_COLOURS, markerPath, pageOf, seriesStyle } from './frame.js';

describe('pageOf', () => {
  it('IEEE one and two columns in points, with physical width and height attributes', () => {
    const one = pageOf({ size: '3.5in' });
    expect(one).toMatchObject({ W: 252, fs: 8, widthAttr: '3.5in' });
    expect(one.heightAttr).toMatch(/^\d+\.\d{3}in$/);
    expect(Number(one.heightAttr.replace('in', '')) * 72).toBeCloseTo(one.H, 1);
    const two = pageOf({ size: '7.16in', height: '2.5in', fontPt: 10 });
    expect(two).toMatchObject({ W: 515.52, H: 180, fs: 10, heightAttr: '2.500in' });
    expect(pageOf({ size: '252pt', height: '150pt' })).toMatchObject({ W: 252, H: 150, heightAttr: '150pt' });
  });

  it('refuses type outside 8–10 pt, unknown units and heights too small for the type', () => {
    expect(() => pageOf({ fontPt: 7 })).toThrow(UserError);
    expect(() => pageOf({ fontPt: 11 })).toThrow(/8–10 pt/);
    expect(() => pageOf({ size: '9cm' })).toThrow(UserError);
    expect(() => pageOf({ height: 'tall' })).toThrow(/height "tall"/);
    expect(() => pageOf({ height: '1in' })).toThrow(/too small/);
  });
});

describe('numberTicks / niceAxis', () => {
  it('1/2/5 steps whose labels do not overlap', () => {
    for (const [lo, hi, len] of [[0, 1, 100], [0, 37, 200], [0, 1000, 150], [3, 4, 300], [0, 0.003, 200]] as const) {
      const a = numberTicks(lo, hi, len, 8, 'x');
      expect(a.ticks.length).toBeGreaterThanOrEqual(2);
      const step = a.ticks[1].value - a.ticks[0].value;
      expect(String(Number((step / 10 ** Math.floor(Math.log10(step) + 1e-9)).toFixed(6)))).toMatch(/^[125]$/);
      const widest = Math.max(...a.ticks.map((t) => estimateTextWidth(t.label, 8)));
      expect((step / (hi - lo)) * len).toBeGreaterThanOrEqual(widest + 8);
      for (const t of a.ticks) expect(t.value).toBeGreaterThanOrEqual(lo - 1e-12);
    }
  });

  it('integer axes never step below 1; percent axes label 0–100', () => {
    const ints = numberTicks(0, 3, 400, 8, 'domains', { integer: true });
    expect(ints.ticks.map((t) => t.label)).toEqual(['0', '1', '2', '3']);
    const pct = numberTicks(0, 1, 150, 8, 'runs', { percent: true });
    expect(pct.title).toBe('runs (%)');
    expect(pct.ticks[0].label).toBe('0');
    expect(pct.ticks.at(-1)!.label).toBe('100');
  });

  it('time axes pick their unit and end on a tick when that keeps the step', () => {
    const a = niceAxis({ kind: 'time', label: 'boot time' }, 0, 9.4e9, 150, 8);
    expect(a.title).toBe('boot time (s)');
    expect(a.max).toBe(a.ticks.at(-1)!.value);
    expect(a.max).toBeGreaterThanOrEqual(9.4e9);
    const ms = niceAxis({ kind: 'time', label: 'boot time' }, 0, 450e6, 150, 8);
    expect(ms.title).toBe('boot time (ms)');
  });
});

describe('logTimeAxis', () => {
  it('a tick per decade, each labelled in its own unit, ends on decades around the data', () => {
    const a = logTimeAxis(4e6, 610e6, 'creation time');
    expect(a).toMatchObject({ min: 1e6, max: 1e9, log: true, title: 'creation time (log scale)' });
    expect(a.ticks.map((t) => t.label)).toEqual(['1 ms', '10 ms', '100 ms', '1 s']);
    expect(logTimeAxis(2300e3, 2300e3, 'x').ticks.map((t) => t.label)).toEqual(['1 ms', '10 ms']);
    expect(() => logTimeAxis(0, 5, 'x')).toThrow(UserError);
  });
});

describe('series styles', () => {
  it('Okabe–Ito colours, distinct colour, dash and marker for eight series', () => {
    expect([...SERIES_COLOURS].sort()).toEqual([...OKABE_ITO].sort());
    const styles = Array.from({ length: 8 }, (_, i) => seriesStyle(i));
    expect(new Set(styles.map((s) => s.colour)).size).toBe(8);
    expect(new Set(styles.map((s) => s.dash)).size).toBe(8);
    expect(new Set(styles.map((s) => s.marker)).size).toBe(8);
    expect(seriesStyle(8)).toEqual(seriesStyle(0));
  });

  it('every marker is a path centred on its point', () => {
    for (const m of MARKERS) {
      // Arc radii (A2,2 0 1,0) are not points: drop them before reading coordinates.
      const d = markerPath(m, 50, 20, 2).replace(/A[\d.]+,[\d.]+ 0 1,0 /g, 'L');
      const nums = [...d.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((x) => [Number(x[1]), Number(x[2])]);
      expect(nums.length).toBeGreaterThan(0);
      for (const [x, y] of nums) {
        expect(Math.abs(x - 50)).toBeLessThanOrEqual(2.01);
        expect(Math.abs(y - 20)).toBeLessThanOrEqual(2.01);
      }
    }
  });
});
