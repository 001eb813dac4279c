import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { readTrace, validateTrace } from '../model/io.js';
import { RANK } from '../model/markers.js';
import { PHASE_LANE_ID, emptyTrace, type Marker, type Trace } from '../model/trace.js';
import { importBpftrace } from './bpftrace/index.js';
import { mergeTraces } from './merge.js';
import { importQemuLog } from './qemu-log.js';
import { importSerial } from './serial.js';

const FIXTURES = ['fixtures/qemu-tcg-pc-linux', 'fixtures/qemu-tcg-microvm-linux'];

function phases(trace: Trace) {
  return trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
}
const shape = (t: Trace) => ({
  phases: phases(t).map((s) => [s.name, s.start, s.end, s.args?.start_by, s.args?.end_by]),
  unresolved: t.unresolvedPhases.map((u) => u.phase),
});

function load(dir: string): { log: Trace; serial: Trace } {
  return {
    log: importQemuLog(readFileSync(`${dir}/qemu.log`, 'utf8'), `${dir}/qemu.log`),
    serial: importSerial(readFileSync(`${dir}/serial.txt`, 'utf8'), `${dir}/serial.txt`),
  };
}

/** The JSON lines of the first recording of a probes/ example file (a real bpftrace -f json output). */
function firstRecording(example: string): string {
  const lines = readFileSync(`probes/${example}`, 'utf8').split('\n');
  const start = lines.findIndex((l) => l.startsWith('{'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('{'));
  return lines.slice(start, end < 0 ? undefined : end).join('\n') + '\n';
}

describe.each(FIXTURES)('mergeTraces on the recorded boot %s', (dir) => {
  const { log, serial } = load(dir);
  const merged = mergeTraces([log, serial]);

  it('aligns both on the exec time: every event and marker keeps its absolute realtime', () => {
    validateTrace(JSON.parse(JSON.stringify(merged)), 'merged');
    expect(merged.meta.t0ClockUs).toBe(serial.meta.t0ClockUs);
    expect(merged.meta.t0ClockUs!).toBeLessThan(log.meta.t0ClockUs!);
    const absolute = (t: Trace, at: number) => t.meta.t0ClockUs! * 1000 + at;
    const running = log.instants.find((i) => i.name === 'run state → running')!;
    const runningMerged = merged.instants.find((i) => i.name === 'run state → running')!;
    expect(absolute(merged, runningMerged.at)).toBe(absolute(log, running.at));
    const ready = serial.markers.find((m) => m.boundary === 'ready')!;
    const readyMerged = merged.markers.find((m) => m.boundary === 'ready')!;
    expect(absolute(merged, readyMerged.at)).toBe(absolute(serial, ready.at));
    expect(merged.markers).toHaveLength(log.markers.length + serial.markers.length);
  });

  it('has toolstack → firmware → kernel → user, contiguous, from QEMU exec to the ready marker', () => {
    const p = phases(merged);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    expect(p[0].start).toBe(0);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    for (const s of p) expect(s.end).toBeGreaterThan(s.start);
    const running = merged.instants.find((i) => i.name === 'run state → running')!;
    expect(p[1].start).toBe(running.at);
    // The firmware's hand-over in QEMU's log (rank hypervisor) beats the kernel's first console line, stamped on arrival.
    const handover = merged.instants.find((i) => i.name.startsWith('firmware hands over to the kernel'))!;
    const kernelLine = merged.markers.find((m) => m.boundary === 'kernel-start' && m.source === 'serial')!;
    expect(p[2].start).toBe(handover.at);
    expect(handover.at).toBeLessThan(kernelLine.at);
    const ready = merged.markers.find((m) => m.boundary === 'ready')!;
    expect(p[3].end).toBe(ready.at);
    // QEMU start-up is tens of ms, a Linux boot under TCG seconds, busybox /init well under one.
    expect((p[0].end - p[0].start) / 1e6).toBeLessThan(2000);
    expect((p[2].end - p[2].start) / 1e6).toBeGreaterThan(500);
    expect((p[3].end - p[3].start) / 1e6).toBeLessThan(5000);
    expect(merged.unresolvedPhases).toEqual([]);
  });

  it('says what set each boundary', () => {
    expect(phases(merged).map((s) => [s.name, s.args?.start_by, s.args?.start_source])).toEqual([
      ['toolstack', 'QEMU spawned (recorder)', 'serial'],
      ['firmware', 'QEMU run state → running', 'qemu-log'],
      ['kernel', "firmware's last fw_cfg read of the kernel (hand-over)", 'qemu-log'],
      ['user', 'Linux runs init', 'serial'],
    ]);
    expect(phases(merged)[3].args).toMatchObject({ end_by: 'hvscope-marker ready', end_source: 'serial', end_rank: '3 arrival' });
  });

  it('gives every boundary the better of the two single sources\' evidence', () => {
    const onMergedClock = (t: Trace, at: number) => at + Math.round((t.meta.t0ClockUs! - merged.meta.t0ClockUs!) * 1000);
    for (const s of phases(merged)) {
      const candidates = [log, serial].flatMap((t) => phases(t).filter((x) => x.name === s.name).map((x) => ({ at: onMergedClock(t, x.start), rank: parseInt(String(x.args?.start_rank), 10) })));
      const best = candidates.sort((a, b) => a.rank - b.rank || a.at - b.at)[0];
      // toolstack: the log alone starts it at its first event, which the serial capture's exec beats
      if (best) expect([s.name, s.start]).toEqual([s.name, best.at]);
    }
  });

  it('keeps the lanes of both inputs', () => {
    const ids = merged.lanes.map((l) => l.id);
    expect(ids[0]).toBe(PHASE_LANE_ID);
    expect(ids).toEqual(expect.arrayContaining(['qemu', 'qemu/vm', 'guest-console']));
    expect(merged.lanes.filter((l) => l.kind === 'phases')).toHaveLength(1);
  });

  it('reads the committed version-1 run.hvtrace.json with the phases a fresh merge derives (re-derived from its marker instants)', () => {
    const committed = readTrace(`${dir}/run.hvtrace.json`);
    expect(committed.version).toBe(2);
    expect(phases(committed).map((s) => [s.name, s.start, s.end])).toEqual(phases(merged).map((s) => [s.name, s.start, s.end]));
    expect(committed.unresolvedPhases).toEqual([]);
    expect(committed.meta).toMatchObject({ source: 'merged', clock: 'realtime', t0ClockUs: merged.meta.t0ClockUs });
  });
});

describe('mergeTraces keeps bpftrace phases (probes/qemu_example.txt, a TCG Linux boot)', () => {
  const single = importBpftrace(firstRecording('qemu_example.txt'), 'qemu_example.txt');

  it('one input: the same phases, boundaries and evidence (the phases used to shrink to toolstack 0.8 ms)', () => {
    expect(phases(single).map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    expect(shape(mergeTraces([single]))).toEqual(shape(single));
  });

  it('two inputs of one run, as `hvscope import a b --from bpftrace` gets them: the same phases as the better one', () => {
    const text = firstRecording('qemu_example.txt').split('\n');
    // The exec/exit events (exec set) and the rest (qemu set's KVM, port and console events), as two files.
    const isProcess = (l: string) => /"data": "(exec|exec_args|exit|fork)\\t/.test(l);
    const processes = importBpftrace(text.filter((l) => !l.includes('"printf"') || isProcess(l)).join('\n'), 'exec-part.json');
    const guest = importBpftrace(text.filter((l) => !l.includes('"printf"') || !isProcess(l)).join('\n'), 'qemu-part.json');
    const merged = mergeTraces([processes, guest]);
    expect(shape(merged)).toEqual(shape(single));
    expect(shape(mergeTraces([guest, processes]))).toEqual(shape(single));
    // Alone, the console part has no toolstack start (QEMU's exec is in the other file).
    expect(phases(guest).map((s) => s.name)).not.toContain('toolstack');
  });

  it('the same run twice: the same phases', () => {
    expect(shape(mergeTraces([single, single]))).toEqual(shape(single));
  });
});

describe('mergeTraces (synthetic traces)', () => {
  const mk = (t0ClockUs: number | undefined, clock = 'realtime') => {
    const t = emptyTrace({ source: 'synthetic', clock, ...(t0ClockUs !== undefined ? { t0ClockUs } : {}), inputs: [`synthetic-${t0ClockUs}`] });
    t.lanes = [{ id: 'lane', kind: 'guest', name: 'lane' }];
    return t;
  };
  const marker = (boundary: Marker['boundary'], name: string, rank: number, at: number): Marker => ({ boundary, name, source: 'synthetic', rank, at, lane: 'lane' });

  it('lets a port marker in one trace beat a console line in the other', () => {
    const log = mk(1000);
    log.markers = [marker('firmware-start', 'running', RANK.hypervisor, 0), marker('user-start', 'port 0xf4 = 7', RANK.exact, 5_000_000)];
    const serial = mk(990);
    serial.markers = [
      marker('toolstack-start', 'spawned', RANK.exact, 0),
      marker('kernel-start', 'Linux version', RANK.arrival, 2_000_000),
      marker('user-start', 'Run /init', RANK.arrival, 5_500_000),
      marker('vm-end', 'off', RANK.exact, 6_000_000),
    ];
    const merged = mergeTraces([log, serial]);
    expect(merged.meta.t0ClockUs).toBe(990);
    expect(merged.lanes.map((l) => l.id)).toEqual(['phases', 'lane', 'lane#2']);
    expect(merged.markers.find((m) => m.name === 'running')?.lane).toBe('lane');
    expect(merged.markers.find((m) => m.name === 'spawned')?.lane).toBe('lane#2');
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
});
