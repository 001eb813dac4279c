import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { chooseTimeUnit, estimateTextWidth, fitLabel, formatDuration, timeAxis } from './axis.js';
import { AXIS_JS } from './timeline-script.js';

const US = 1e3;
const MS = 1e6;
const S = 1e9;
const MIN = 60e9;

describe('chooseTimeUnit / formatDuration', () => {
  it('picks the unit from the size of the value, µs to minutes', () => {
    expect(chooseTimeUnit(800).name).toBe('ns');
    expect(chooseTimeUnit(3.2 * US).name).toBe('µs');
    expect(chooseTimeUnit(245 * MS).name).toBe('ms');
    expect(chooseTimeUnit(1.5 * S).name).toBe('s');
    expect(chooseTimeUnit(90 * S).name).toBe('s'); // under two minutes reads better in seconds
    expect(chooseTimeUnit(45 * MIN).name).toBe('min');
  });

  it('formats durations with three significant digits', () => {
    expect(formatDuration(1.52 * S)).toBe('1.52 s');
    expect(formatDuration(340 * US)).toBe('340 µs');
    expect(formatDuration(12 * MS)).toBe('12.0 ms');
    expect(formatDuration(99.96 * US)).toBe('100 µs');
    expect(formatDuration(350)).toBe('350 ns');
    expect(formatDuration(0)).toBe('0 ns');
    expect(formatDuration(5 * MIN)).toBe('5.00 min');
  });
});

describe('timeAxis', () => {
  const spans = [2 * US, 3.7 * US, 45 * US, 800 * US, 1.2 * MS, 9.9 * MS, 245 * MS, 999 * MS, 1.01 * S, 7.3 * S, 59 * S, 119 * S, 4 * MIN, 37 * MIN, 180 * MIN];
  const widths = [200, 252 - 60, 516 - 80, 1200 - 150, 4000];
  const fonts = [8, 9, 10, 12];

  it('uses 1/2/5 × 10^k steps of the unit, ticks inside the plot, and labels that never overlap', () => {
    for (const span of spans)
      for (const width of widths)
        for (const fs of fonts) {
          const axis = timeAxis(0, span, 50, width, fs);
          const stepInUnit = axis.stepNs / axis.unit.ns;
          const mantissa = stepInUnit / 10 ** Math.floor(Math.log10(stepInUnit) + 1e-9);
          expect([1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `step ${stepInUnit} for span ${span}`).toBe(true);
          expect(axis.ticks.length, `span ${span} width ${width} font ${fs}`).toBeGreaterThanOrEqual(2);
          for (let i = 0; i < axis.ticks.length; i++) {
            const t = axis.ticks[i];
            expect(t.x).toBeGreaterThanOrEqual(50 - 1e-6);
            expect(t.x).toBeLessThanOrEqual(50 + width + 1e-6);
            // The label says where the tick is, in the axis unit.
            expect(Number(t.label) * axis.unit.ns).toBeCloseTo(t.ns, 3);
            if (i > 0) {
              const prev = axis.ticks[i - 1];
              const halfWidths = (estimateTextWidth(prev.label, fs) + estimateTextWidth(t.label, fs)) / 2;
              expect(t.x - prev.x, `labels ${prev.label} and ${t.label} overlap`).toBeGreaterThanOrEqual(halfWidths + fs - 1e-6);
            }
          }
          expect(axis.title).toBe(`time (${axis.unit.name})`);
        }
  });

  it('labels a µs-long trace in µs and a half-hour trace in minutes', () => {
    const short = timeAxis(0, 3.2 * US, 0, 1000, 12);
    expect(short.unit.name).toBe('µs');
    expect(short.ticks.map((t) => t.label)).toContain('1.0');
    const long = timeAxis(0, 30 * MIN, 0, 1000, 12);
    expect(long.unit.name).toBe('min');
    expect(long.ticks.at(-1)!.ns).toBeLessThanOrEqual(30 * MIN);
    expect(long.ticks.map((t) => t.label)).toContain('10');
  });

  it('keeps ticks inside a zoomed window that does not start at zero', () => {
    const axis = timeAxis(1.5 * S, 1.5 * S + 200 * US, 100, 900, 12);
    expect(axis.unit.name).toBe('µs');
    expect(axis.ticks.length).toBeGreaterThanOrEqual(2);
    for (const t of axis.ticks) {
      expect(t.ns).toBeGreaterThanOrEqual(1.5 * S - 1);
      expect(t.ns).toBeLessThanOrEqual(1.5 * S + 200 * US + 1);
    }
  });

  it('does not produce more ticks when the plot gets narrower', () => {
    let previous = Infinity;
    for (const width of [4000, 2000, 1000, 500, 250]) {
      const n = timeAxis(0, 7.3 * S, 0, width, 10).ticks.length;
      expect(n).toBeLessThanOrEqual(previous);
      previous = n;
    }
  });
});

describe('fitLabel', () => {
  it('prefers name and duration, then the name, then a cut name, then nothing', () => {
    const fs = 10;
    expect(fitLabel('kernel', '1.52 s', 1000, fs)).toBe('kernel 1.52 s');
    expect(fitLabel('kernel', '1.52 s', estimateTextWidth('kernel', fs), fs)).toBe('kernel');
    const cut = fitLabel('kernel', '1.52 s', estimateTextWidth('kern', fs), fs);
    expect(cut.endsWith('…')).toBe(true);
    expect(estimateTextWidth(cut, fs)).toBeLessThanOrEqual(estimateTextWidth('kern', fs));
    expect(fitLabel('kernel', '1.52 s', 5, fs)).toBe('');
  });
});

describe('the embedded script twin (AXIS_JS)', () => {
  const js = runInNewContext(`${AXIS_JS}; ({ timeAxis, formatDuration, fitLabel, chooseTimeUnit })`) as {
    timeAxis: typeof timeAxis;
    formatDuration: typeof formatDuration;
    fitLabel: typeof fitLabel;
  };

  it('computes the same axis as axis.ts, so a zoomed view labels time the same way', () => {
    const windows: [number, number][] = [
      [0, 2 * US],
      [0, 245 * MS],
      [0, 37 * MIN],
      [1.5 * S, 1.5 * S + 200 * US],
      [12 * MS, 13.7 * MS],
      [3 * MIN, 3 * MIN + 2 * S],
    ];
    for (const [a, b] of windows)
      for (const width of [192, 1050])
        for (const fs of [8, 12]) {
          // Plain JSON round-trip: the vm context has its own Object prototype.
          expect(JSON.parse(JSON.stringify(js.timeAxis(a, b, 40, width, fs)))).toEqual(JSON.parse(JSON.stringify(timeAxis(a, b, 40, width, fs))));
        }
  });

  it('formats durations and fits labels the same way', () => {
    for (const ns of [0, 7, 999, 1000, 99_949, 99_950, 1.52 * S, 119 * S, 120 * S, 3 * 60 * MIN])
      expect(js.formatDuration(ns)).toBe(formatDuration(ns));
    for (const avail of [0, 10, 30, 60, 200]) expect(js.fitLabel('vcpu0 run', '12.0 ms', avail, 9)).toBe(fitLabel('vcpu0 run', '12.0 ms', avail, 9));
  });
});
