import { describe, expect, it } from 'vitest';
import { derivePhases, phasesFromMarkers, recordedPhaseMarkers } from './derive.js';
import { RANK } from './markers.js';
import { emptyTrace, PHASE_LANE_ID, type Boundary, type Marker, type Trace } from './trace.js';

const MS = 1e6;
/** A synthetic marker. */
const m = (boundary: Boundary, at: number, rank: number = RANK.exact, name: string = boundary): Marker => ({ boundary, name, source: 'synthetic', rank, at });
const derive = (markers: Marker[], end = 1000 * MS) => phasesFromMarkers(markers, end);
const spans = (markers: Marker[]) => derive(markers).phases.map((p) => [p.phase, p.start.at, p.end.at]);

describe('phasesFromMarkers: the phase chain', () => {
  it('runs each phase from its boundary to the next, the last one to the ready marker', () => {
    expect(spans([m('toolstack-start', 0), m('firmware-start', 10 * MS), m('kernel-start', 30 * MS), m('user-start', 90 * MS), m('ready', 95 * MS), m('vm-end', 99 * MS)])).toEqual([
      ['toolstack', 0, 10 * MS],
      ['firmware', 10 * MS, 30 * MS],
      ['kernel', 30 * MS, 90 * MS],
      ['user', 90 * MS, 95 * MS],
    ]);
  });

  it('takes the best-ranked evidence per boundary, the earliest among equals', () => {
    const markers = [
      m('toolstack-start', 0),
      m('firmware-start', 12 * MS, RANK.bound, 'first output'),
      m('firmware-start', 10 * MS, RANK.hypervisor, 'runstate'),
      m('firmware-start', 11 * MS, RANK.hypervisor, 'later runstate'),
      m('kernel-start', 30 * MS, RANK.console, 'console'),
      m('kernel-start', 25 * MS, RANK.hypervisor, 'hand-over'),
      m('ready', 40 * MS),
    ];
    const { phases } = derive(markers);
    expect(phases.map((p) => [p.phase, p.start.name])).toEqual([
      ['toolstack', 'toolstack-start'],
      ['firmware', 'runstate'],
      ['kernel', 'hand-over'],
    ]);
  });

  it('ignores a marker that would put a phase before the previous one', () => {
    expect(spans([m('toolstack-start', 0), m('firmware-start', 100), m('kernel-start', 50, RANK.exact, 'stray'), m('kernel-start', 300, RANK.console), m('ready', 1000)])).toEqual([
      ['toolstack', 0, 100],
      ['firmware', 100, 300],
      ['kernel', 300, 1000],
    ]);
  });

  it('does not let a better-ranked marker that comes after all evidence of the next boundary leave that one unresolved', () => {
    // QEMU's hand-over, moved from its realtime log onto bpftrace's clock, lands 0.2 ms after tiny's app start
    expect(spans([m('toolstack-start', 0), m('firmware-start', 10), m('kernel-start', 30_200, RANK.hypervisor, 'hand-over'), m('kernel-start', 29_000, RANK.console, 'entry'), m('user-start', 30_000, RANK.console), m('ready', 31_000)])).toEqual([
      ['toolstack', 0, 10],
      ['firmware', 10, 29_000],
      ['kernel', 29_000, 30_000],
      ['user', 30_000, 31_000],
    ]);
  });

  it('drops a sign that only bounds a boundary when it comes after the next boundary\'s evidence (qboot prints nothing; a quiet kernel\'s first line follows the hand-over)', () => {
    const { phases, unresolved } = derive([m('toolstack-start', 0), m('firmware-start', 9600 * MS, RANK.bound, 'first guest output'), m('kernel-start', 394 * MS, RANK.hypervisor, 'last fw_cfg DMA'), m('vm-end', 15000 * MS)]);
    expect(phases.map((p) => [p.phase, p.start.at, p.end.at])).toEqual([['kernel', 394 * MS, 15000 * MS]]);
    expect(unresolved.map((u) => u.phase)).toEqual(['toolstack', 'firmware']);
    for (const u of unresolved) expect(u.reason).toMatch(/first guest output.*only bounds it from above/);
  });

  it('leaves a phase whose end no source saw unresolved, with the reason, rather than stretching it (firmware, then user start, no kernel start)', () => {
    const { phases, unresolved } = derive([m('toolstack-start', 0), m('firmware-start', 100), m('user-start', 4000), m('vm-end', 4500)]);
    expect(phases.map((p) => [p.phase, p.start.at, p.end.at])).toEqual([
      ['toolstack', 0, 100],
      ['user', 4000, 4500],
    ]);
    expect(unresolved).toEqual([
      { phase: 'firmware', start: 100, reason: 'its end is unknown: no usable evidence of the kernel start (firmware hand-over)' },
      { phase: 'kernel', end: 4000, reason: 'its start is unknown: no usable evidence of the kernel start (firmware hand-over)' },
    ]);
  });

  it('never ends the toolstack at the trace end: an interrupted boot with no vCPU start leaves it unresolved', () => {
    const { phases, unresolved } = derive([m('toolstack-start', 0), m('vm-end', 600_833 * MS)], 600_900 * MS);
    expect(phases).toEqual([]);
    expect(unresolved.map((u) => u.phase)).toEqual(['toolstack', 'kernel']);
    expect(unresolved[0].reason).toBe('its end is unknown: no usable evidence of the kernel start (firmware hand-over)');
  });

  it('does not use guest markers timed after the VM ended (console lines stamped on arrival, in one batch)', () => {
    const batch = 9000 * MS;
    const { phases, unresolved } = derive([
      m('toolstack-start', 0),
      m('firmware-start', 80 * MS, RANK.hypervisor),
      m('kernel-start', 190 * MS, RANK.hypervisor, 'hand-over'),
      m('vm-end', 8000 * MS, RANK.hypervisor, 'shutdown'),
      m('kernel-start', batch, RANK.arrival, 'setup line'),
      m('user-start', batch, RANK.arrival, 'init'),
      m('ready', batch, RANK.arrival, 'ready line'),
    ]);
    expect(phases.map((p) => p.phase)).toEqual(['toolstack', 'firmware']);
    expect(unresolved.map((u) => u.phase)).toEqual(['kernel', 'user']);
    expect(unresolved[0].reason).toMatch(/^its end is unknown: no usable evidence of the user-space start \(init\); init \(synthetic\) at 9\.00 s came after the VM ended \(shutdown at 8\.00 s\)/);
  });

  it('never makes a 0 ms phase: a start and end at the same time leave the phase unresolved', () => {
    const { phases, unresolved } = derive([m('toolstack-start', 0), m('kernel-start', 50, RANK.arrival, 'a'), m('user-start', 50, RANK.arrival, 'b'), m('ready', 50, RANK.arrival, 'c')]);
    expect(phases.map((p) => p.phase)).toEqual(['toolstack']);
    expect(unresolved.map((u) => [u.phase, u.start])).toEqual([
      ['kernel', 50],
      ['user', 50],
    ]);
    expect(unresolved[0].reason).toMatch(/fall at the same time: the evidence cannot separate them$/);
  });

  it('ends the last phase at the VM\'s end without a ready marker, and notes a user phase no source saw', () => {
    const { phases } = derive([m('toolstack-start', 0), m('kernel-start', 20), m('vm-end', 90)]);
    expect(phases.map((p) => [p.phase, p.end.name, p.note])).toEqual([
      ['toolstack', 'kernel-start', undefined],
      ['kernel', 'vm-end', 'no source saw the user-space start (init): the phase includes it if the guest has one'],
    ]);
  });

  it('knows Xen\'s chain: devices between toolstack and the unpause, no firmware for a PV guest', () => {
    expect(spans([m('toolstack-start', 0), m('devices-start', 100), m('kernel-start', 300), m('ready', 400)])).toEqual([
      ['toolstack', 0, 100],
      ['devices', 100, 300],
      ['kernel', 300, 400],
    ]);
  });
});

describe('derivePhases', () => {
  const trace = (): Trace => {
    const t = emptyTrace({ source: 'synthetic-derive', clock: 'monotonic' });
    t.lanes.push({ id: 'x', kind: 'process', name: 'x' });
    t.spans.push({ lane: 'x', name: 'work', start: 0, end: 500 });
    t.markers = [m('toolstack-start', 0, RANK.exact, 'exec'), m('kernel-start', 100, RANK.hypervisor, 'hand-over'), m('ready', 400, RANK.console, 'ready line')];
    return t;
  };

  it('writes the phases lane first, its spans with the evidence of both ends, replacing any earlier one', () => {
    const once = derivePhases(trace());
    expect(once.lanes.map((l) => l.id)).toEqual([PHASE_LANE_ID, 'x']);
    const phases = once.spans.filter((s) => s.lane === PHASE_LANE_ID);
    expect(phases[1]).toEqual({
      lane: PHASE_LANE_ID,
      name: 'kernel',
      phase: 'kernel',
      start: 100,
      end: 400,
      args: {
        start_by: 'hand-over',
        start_source: 'synthetic',
        start_rank: '1 hypervisor',
        end_by: 'ready line',
        end_source: 'synthetic',
        end_rank: '2 console',
        note: 'no source saw the user-space start (init): the phase includes it if the guest has one',
      },
    });
    expect(derivePhases(once)).toEqual(once);
  });

  it('gives each phase span the increase of each cumulative counter on the phases lane', () => {
    const t = trace();
    t.counters.push(
      { lane: PHASE_LANE_ID, name: 'requests', at: 10, value: 1 },
      { lane: PHASE_LANE_ID, name: 'requests', at: 20, value: 2 },
      { lane: PHASE_LANE_ID, name: 'requests', at: 150, value: 3 },
    );
    const phases = derivePhases(t).spans.filter((s) => s.lane === PHASE_LANE_ID);
    expect(phases.map((s) => s.args?.requests)).toEqual([2, 1]);
  });

  it('has no phases lane without markers', () => {
    const t = trace();
    t.markers = [];
    const d = derivePhases(t);
    expect(d.lanes.map((l) => l.id)).toEqual(['x']);
    expect(d.unresolvedPhases).toEqual([]);
  });
});

describe('recordedPhaseMarkers', () => {
  it('records each phase start and ends at the next required boundary, so a recorded toolstack-only run keeps its toolstack', () => {
    const markers = recordedPhaseMarkers([{ phase: 'toolstack', at: 0 }, { phase: 'devices', at: 10 }], 50, 'synthetic');
    expect(markers.map((x) => [x.boundary, x.at])).toEqual([
      ['toolstack-start', 0],
      ['devices-start', 10],
      ['kernel-start', 50],
    ]);
    const { phases, unresolved } = derive(markers);
    expect(phases.map((p) => [p.phase, p.start.at, p.end.at])).toEqual([
      ['toolstack', 0, 10],
      ['devices', 10, 50],
    ]);
    expect(unresolved.map((u) => u.phase)).toEqual(['kernel']);
    expect(recordedPhaseMarkers([{ phase: 'user', at: 5 }], 9, 'synthetic').at(-1)?.boundary).toBe('ready');
  });
});
