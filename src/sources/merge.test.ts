import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { readTrace, validateTrace } from '../model/io.js';
import { PHASE_LANE_ID, emptyTrace, type Trace } from '../model/trace.js';
import { bootPhaseSpans, mergeTraces } from './merge.js';
import { importQemuLog } from './qemu-log.js';
import { importSerial } from './serial.js';

const FIXTURES = ['fixtures/qemu-tcg-pc-linux', 'fixtures/qemu-tcg-microvm-linux'];

function phases(trace: Trace) {
  return trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
}

function load(dir: string): { log: Trace; serial: Trace } {
  return {
    log: importQemuLog(readFileSync(`${dir}/qemu.log`, 'utf8'), `${dir}/qemu.log`),
    serial: importSerial(readFileSync(`${dir}/serial.txt`, 'utf8'), `${dir}/serial.txt`),
  };
}

describe.each(FIXTURES)('mergeTraces on the recorded boot %s', (dir) => {
  const { log, serial } = load(dir);
  const merged = mergeTraces([log, serial]);

  it('aligns both on the exec time: every event keeps its absolute realtime', () => {
    validateTrace(JSON.parse(JSON.stringify(merged)), 'merged');
    expect(merged.meta.t0ClockUs).toBe(serial.meta.t0ClockUs);
    expect(merged.meta.t0ClockUs!).toBeLessThan(log.meta.t0ClockUs!);
    const absolute = (t: Trace, at: number) => t.meta.t0ClockUs! * 1000 + at;
    const running = log.instants.find((i) => i.name === 'run state → running')!;
    const runningMerged = merged.instants.find((i) => i.name === 'run state → running')!;
    expect(absolute(merged, runningMerged.at)).toBe(absolute(log, running.at));
    const ready = serial.instants.find((i) => i.args?.marker === 'ready')!;
    const readyMerged = merged.instants.find((i) => i.lane === 'guest-console' && i.name === ready.name)!;
    expect(absolute(merged, readyMerged.at)).toBe(absolute(serial, ready.at));
  });

  it('has toolstack → firmware → kernel → user, contiguous, from QEMU exec to the ready marker', () => {
    const p = phases(merged);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    expect(p[0].start).toBe(0);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    for (const s of p) expect(s.end).toBeGreaterThan(s.start);
    const running = merged.instants.find((i) => i.name === 'run state → running')!;
    expect(p[1].start).toBe(running.at);
    // Firmware ends at the first kernel console line (it beats the inferred fw_cfg handover).
    const kernelLine = merged.instants.find((i) => i.lane === 'guest-console' && i.args?.marker === 'kernel-start')!;
    expect(p[2].start).toBe(kernelLine.at);
    const ready = merged.instants.find((i) => i.args?.marker === 'ready')!;
    expect(p[3].end).toBe(ready.at);
    // QEMU start-up is tens of ms, a Linux boot under TCG seconds, busybox /init well under one.
    expect((p[0].end - p[0].start) / 1e6).toBeLessThan(2000);
    expect((p[2].end - p[2].start) / 1e6).toBeGreaterThan(500);
    expect((p[3].end - p[3].start) / 1e6).toBeLessThan(5000);
  });

  it('keeps the lanes of both inputs', () => {
    const ids = merged.lanes.map((l) => l.id);
    expect(ids[0]).toBe(PHASE_LANE_ID);
    expect(ids).toEqual(expect.arrayContaining(['qemu', 'qemu/vm', 'guest-console']));
    expect(merged.lanes.filter((l) => l.kind === 'phases')).toHaveLength(1);
  });

  it('matches the committed run.hvtrace.json (same importers, same raw files)', () => {
    const committed = readTrace(`${dir}/run.hvtrace.json`);
    expect(phases(committed)).toEqual(phases(merged));
    const plain = (t: Trace) => JSON.parse(JSON.stringify({ lanes: t.lanes, spans: t.spans, instants: t.instants }));
    expect(plain(committed)).toEqual(plain(merged));
    expect(committed.meta).toMatchObject({ source: 'merged', clock: 'realtime', t0ClockUs: merged.meta.t0ClockUs });
  });
});

describe('mergeTraces (synthetic traces)', () => {
  const mk = (t0ClockUs: number | undefined, clock = 'realtime') => {
    const t = emptyTrace({ source: 'synthetic', clock, ...(t0ClockUs !== undefined ? { t0ClockUs } : {}), inputs: [`synthetic-${t0ClockUs}`] });
    t.lanes = [{ id: 'lane', kind: 'guest', name: 'lane' }];
    return t;
  };

  it('lets a port marker in one trace beat a console line in the other', () => {
    const log = mk(1000);
    log.instants = [
      { lane: 'lane', name: 'running', at: 0, args: { marker: 'vcpu-run', via: 'runstate_set', rank: 1 } },
      { lane: 'lane', name: 'port 0xf4: linux_start_user', at: 5_000_000, args: { marker: 'user-start', via: 'port 0xf4', rank: 0 } },
    ];
    const serial = mk(990);
    serial.instants = [
      { lane: 'lane', name: 'Linux version', at: 2_000_000, args: { marker: 'kernel-start', via: 'serial console', rank: 2 } },
      { lane: 'lane', name: 'Run /init', at: 5_500_000, args: { marker: 'user-start', via: 'serial console', rank: 2 } },
    ];
    const merged = mergeTraces([log, serial]);
    expect(merged.meta.t0ClockUs).toBe(990);
    expect(merged.lanes.map((l) => l.id)).toEqual(['phases', 'lane', 'lane#2']);
    expect(phases(merged).map((s) => [s.name, s.start])).toEqual([
      ['toolstack', 0],
      ['firmware', 10_000],
      ['kernel', 2_000_000],
      ['user', 5_010_000],
    ]);
  });

  it('refuses traces that cannot be aligned', () => {
    expect(() => mergeTraces([mk(1), mk(undefined)])).toThrow(UserError);
    expect(() => mergeTraces([mk(1), mk(undefined)])).toThrow(/synthetic-undefined has no clock reference/);
    expect(() => mergeTraces([mk(1), mk(2, 'monotonic')])).toThrow(/uses clock "monotonic"/);
    expect(() => mergeTraces([])).toThrow(/no traces/);
  });

  it('leaves a gap rather than stretching firmware over a kernel whose entry is unknown', () => {
    const spans = bootPhaseSpans(
      [
        { lane: 'l', name: 'run', at: 100, args: { marker: 'vcpu-run', rank: 1 } },
        { lane: 'l', name: 'init', at: 4000, args: { marker: 'user-start', rank: 0 } },
        { lane: 'l', name: 'off', at: 4500, args: { marker: 'end', rank: 1 } },
      ],
      5000,
    );
    expect(spans.map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 100],
      ['user', 4000, 4500],
    ]);
  });

  it('ignores a marker that would put a phase before the previous one', () => {
    const spans = bootPhaseSpans(
      [
        { lane: 'l', name: 'run', at: 100, args: { marker: 'vcpu-run', rank: 1 } },
        { lane: 'l', name: 'stray', at: 50, args: { marker: 'kernel-start', rank: 0 } },
        { lane: 'l', name: 'kernel', at: 300, args: { marker: 'kernel-start', rank: 2 } },
      ],
      1000,
    );
    expect(spans.map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 100],
      ['firmware', 100, 300],
      ['kernel', 300, 1000],
    ]);
  });
});
