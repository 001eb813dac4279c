// The checker must reject what viewers reject, or export tests that use it prove nothing.
import { describe, expect, it } from 'vitest';
import { chromeTraceViolations } from './chrome-trace-rules.js';

const named = [
  { ph: 'M', name: 'process_name', pid: 1, tid: 0, args: { name: 'run' } },
  { ph: 'M', name: 'thread_name', pid: 1, tid: 1, args: { name: 'lane' } },
];

describe('chromeTraceViolations', () => {
  it('accepts nested X events, matched B/E, scoped instants and counters', () => {
    expect(
      chromeTraceViolations({
        traceEvents: [
          ...named,
          { ph: 'X', name: 'outer', ts: 0, dur: 10, pid: 1, tid: 1 },
          { ph: 'X', name: 'inner', ts: 2, dur: 8, pid: 1, tid: 1 },
          { ph: 'X', name: 'next', ts: 10, dur: 0, pid: 1, tid: 1 },
          { ph: 'B', name: 'b', ts: 1, pid: 1, tid: 1 },
          { ph: 'E', ts: 3, pid: 1, tid: 1 },
          { ph: 'i', name: 'mark', s: 't', ts: 4, pid: 1, tid: 1 },
          { ph: 'C', name: 'mem', ts: 4, pid: 1, tid: 1, args: { value: 3 } },
        ],
        displayTimeUnit: 'ms',
      }),
    ).toEqual([]);
  });

  it('reports partial overlap of X events on one thread', () => {
    const v = chromeTraceViolations([
      ...named,
      { ph: 'X', name: 'a', ts: 0, dur: 10, pid: 1, tid: 1 },
      { ph: 'X', name: 'b', ts: 5, dur: 10, pid: 1, tid: 1 },
    ]);
    expect(v).toEqual([expect.stringMatching(/^\[3\]: X event .* partially overlaps \[2\]/)]);
  });

  it('reports negative or missing dur, non-numeric ts, bad scope and bad counters', () => {
    const v = chromeTraceViolations([
      ...named,
      { ph: 'X', name: 'a', ts: 0, dur: -1, pid: 1, tid: 1 },
      { ph: 'X', name: 'b', ts: 0, pid: 1, tid: 1 },
      { ph: 'X', name: 'c', ts: '1', dur: 1, pid: 1, tid: 1 },
      { ph: 'i', name: 'd', ts: 1, s: 'x', pid: 1, tid: 1 },
      { ph: 'C', name: 'e', ts: 1, pid: 1, tid: 1, args: { value: 'high' } },
    ]);
    expect(v.map((x) => x.split(':')[0])).toEqual(['[2].dur', '[3].dur', '[4].ts', '[5].s', '[6].args.value']);
  });

  it('reports E without B and B never ended, per thread', () => {
    const v = chromeTraceViolations([
      ...named,
      { ph: 'M', name: 'thread_name', pid: 1, tid: 2, args: { name: 'other' } },
      { ph: 'B', name: 'a', ts: 0, pid: 1, tid: 1 },
      { ph: 'E', ts: 1, pid: 1, tid: 2 },
    ]);
    expect([...v].sort()).toEqual([expect.stringMatching(/^\[3\]: B never ended on thread 1\/1/), expect.stringMatching(/^\[4\]: E without a matching B on thread 1\/2/)]);
  });

  it('reports processes and threads without names', () => {
    const v = chromeTraceViolations([{ ph: 'X', name: 'a', ts: 0, dur: 1, pid: 4, tid: 5 }]);
    expect(v).toEqual([expect.stringMatching(/process 4 has no process_name/), expect.stringMatching(/thread 4\/5 has no thread_name/)]);
  });

  it('accepts a flow bound to slices, and reports flows without an id, out of order, or with nothing to bind to', () => {
    const slices = [...named, { ph: 'X', name: 'a', ts: 0, dur: 10, pid: 1, tid: 1 }, { ph: 'X', name: 'b', ts: 20, dur: 10, pid: 1, tid: 1 }];
    expect(
      chromeTraceViolations([
        ...slices,
        { ph: 's', name: 'f', cat: 'c', id: 1, ts: 5, pid: 1, tid: 1 },
        { ph: 'f', name: 'f', cat: 'c', id: 1, ts: 20, bp: 'e', pid: 1, tid: 1 },
        { ph: 's', name: 'g', cat: 'c', id: 2, ts: 1, pid: 1, tid: 1 },
        { ph: 'f', name: 'g', cat: 'c', id: 2, ts: 12, pid: 1, tid: 1 }, // binds to the next slice, b
      ]),
    ).toEqual([]);
    const v = chromeTraceViolations([
      ...slices,
      { ph: 's', name: 'f', cat: 'c', ts: 5, pid: 1, tid: 1 },
      { ph: 'f', name: 'h', cat: 'c', id: 3, ts: 5, bp: 'e', pid: 1, tid: 1 },
      { ph: 's', name: 'h', cat: 'c', id: 3, ts: 8, pid: 1, tid: 1 },
      { ph: 's', name: 'k', cat: 'c', id: 4, ts: 15, pid: 1, tid: 1 },
      { ph: 'f', name: 'k', cat: 'c', id: 4, ts: 40, bp: 'e', pid: 1, tid: 1 },
    ]);
    expect(v).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\[4\]\.id: flow event needs an id/),
        expect.stringMatching(/^\[5\]: flow must be one "s", any "t", one "f" in time order, got "fs"/),
        expect.stringMatching(/^\[7\]: flow step at 15000 ns has no slice to bind to/),
        expect.stringMatching(/^\[8\]: flow step at 40000 ns has no slice to bind to/),
      ]),
    );
  });
});
