import { describe, expect, it } from 'vitest';
import { readRunSet } from '../model/run-sets.js';
import { emptyTrace, type Phase, type Run, type Span } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import { diffRunSets, representativeRun, type DiffResult } from './diff.js';
import { formatDiffText } from './diff-text.js';

const LAB = 'fixtures/xen-lab-stock-vs-unikernel';
const phase = (d: DiffResult, p: string) => d.phases.find((x) => x.phase === p)!;

describe('diff of real recordings', () => {
  const stock = readRunSet(`${LAB}:xen-stock`);
  const tuned = readRunSet(`${LAB}:xen-unikernel`);
  const lab = diffRunSets(stock, tuned);

  it('Xen lab, xen-stock vs xen-unikernel: the devices phase shrinks, and the hotplug script change explains it', () => {
    const devices = phase(lab, 'devices');
    expect(devices.comparison?.verdict).toBe('lower');
    expect(devices.comparison!.difference_ns).toBeLessThan(-3e9);
    const names = devices.spans.map((s) => `${s.name}:${s.status}`);
    expect(names).toContain('vif-bridge:gone');
    const helpers = devices.spans.filter((s) => s.category === 'process' && s.name !== 'vif-bridge');
    expect(helpers.length).toBeGreaterThan(0); // logger, ip, … that vif-bridge ran and vif-bridge-fast does not
    expect([...devices.spans, ...devices.appeared].some((s) => s.name === 'vif-bridge-fast' && s.status === 'new')).toBe(true);
    expect(phase(lab, 'toolstack').comparison?.verdict).toBe('no difference');
    const text = formatDiffText(lab);
    expect(text).toMatch(/devices .* B lower/);
    expect(text).toMatch(/process +vif-bridge .* gone in B/);
    expect(text).toMatch(/new in B: vif-bridge-fast \(process/);
  });

  it('tiny boots, qemu-default vs qemu-microvm-min (alternating): firmware shorter on microvm', () => {
    const d = diffRunSets(readRunSet('fixtures/qemu-tiny-default-vs-microvm:qemu-default'), readRunSet('fixtures/qemu-tiny-default-vs-microvm:qemu-microvm-min'));
    expect(phase(d, 'firmware').comparison?.verdict).toBe('lower');
    expect(phase(d, 'firmware').spans[0].name).toBe('qemu-system-x86_64');
  });

  it('two sets of one profile (tiny A/A, alternating): no phase differs', () => {
    const d = diffRunSets(readRunSet('fixtures/qemu-tiny-aa:qemu-microvm-min'), readRunSet('fixtures/qemu-tiny-aa:qemu-microvm-min-2'));
    expect(d.phases.length).toBeGreaterThanOrEqual(4);
    for (const p of d.phases) expect(p.comparison?.verdict, p.phase).toBe('no difference');
    expect(formatDiffText(d)).not.toMatch(/B (higher|lower)/);
  });

  it('is reproducible: the same seed gives the same intervals, another seed others', () => {
    expect(diffRunSets(stock, tuned)).toEqual(lab);
    const other = diffRunSets(stock, tuned, { seed: 2 });
    expect(other.phases.map((p) => p.comparison?.interval_ns)).not.toEqual(lab.phases.map((p) => p.comparison?.interval_ns));
    expect(other.phases.map((p) => p.comparison?.p)).toEqual(lab.phases.map((p) => p.comparison?.p));
  });
});

/** Synthetic runs: a phases strip and a process with a helper whose name carries its pid. */
function syntheticRun(label: string, phases: { phase: Phase; at: number }[], end: number, helperMs: number, pid: number): Run {
  const trace = emptyTrace({ source: 'synthetic', clock: 'synthetic (diff.test.ts)', host: 'synthetic-host' });
  trace.lanes.push({ id: `pid:${pid}`, kind: 'process', name: `helper [${pid}]`, pid });
  const helper: Span = { lane: `pid:${pid}`, name: `helper [${pid}]`, start: 1e6, end: 1e6 + helperMs * 1e6, args: { pid } };
  trace.spans = [helper];
  return { label, trace: setSyntheticPhases(trace, phases.map((p) => ({ ...p, at: p.at * 1e6 })), end * 1e6) };
}

describe('diff of synthetic runs', () => {
  it('leaves a phase a run did not resolve out of its statistics (never as 0) and matches names across pids', () => {
    const a = [1, 2, 3, 4].map((i) => syntheticRun(`a${i}`, [{ phase: 'toolstack', at: 0 }, { phase: 'devices', at: 10 + i }], 100, 5 + i, 100 + i));
    const b = [1, 2, 3, 4].map((i) => syntheticRun(`b${i}`, [{ phase: 'toolstack', at: 0 }, { phase: 'devices', at: 50 + i }], 140, 45 + i, 200 + i));
    // One run of B never saw the devices boundary: only toolstack, to its end.
    b[3] = syntheticRun('b4', [{ phase: 'toolstack', at: 0 }], 60, 48, 204);
    const d = diffRunSets({ label: 'A', runs: a }, { label: 'B', runs: b });
    const devices = phase(d, 'devices');
    expect(devices.a.n).toBe(4);
    expect(devices.b.n).toBe(3);
    expect(devices.comparison?.verdict).toBe('too few runs'); // 4 vs 3: smallest p 2/35 > 0.05
    const toolstack = phase(d, 'toolstack');
    expect(toolstack.comparison?.verdict).toBe('higher');
    expect(toolstack.spans[0]).toMatchObject({ category: 'process', name: 'helper [N]', status: 'changed' });
    expect(toolstack.spans[0].delta_self_ns).toBeGreaterThan(30e6);
  });

  it('warns when A and B were recorded on different hosts', () => {
    const a = [1, 2].map((i) => syntheticRun(`a${i}`, [{ phase: 'toolstack', at: 0 }], 10, 1, i));
    const b = [1, 2].map((i) => syntheticRun(`b${i}`, [{ phase: 'toolstack', at: 0 }], 10, 1, i));
    for (const r of b) r.trace.meta.host = 'other-host';
    expect(diffRunSets({ label: 'A', runs: a }, { label: 'B', runs: b }).warnings[0]).toMatch(/different hosts/);
  });

  it('picks the run closest to the median total as the representative', () => {
    const runs = [30, 10, 20, 90].map((end, i) => syntheticRun(`r${i}`, [{ phase: 'toolstack', at: 0 }], end, 1, i));
    expect(representativeRun(runs).label).toBe('r0'); // median 25: 20 and 30 tie, the first wins
  });
});
