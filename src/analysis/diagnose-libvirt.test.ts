// The libvirt diagnose rules on a real recording (fixtures/libvirt-tiny: one
// creation of tiny through libvirtd 9.0) and on that recording with the
// evidence taken out (each rule must then stay silent).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../model/io.js';
import type { Trace } from '../model/trace.js';
import { diagnose } from './diagnose.js';
import { LATE_REAP_MIN_NS, QOM_GET_STORM_MIN } from './diagnose-libvirt.js';

const file = new URL('../../fixtures/libvirt-tiny/run-1.hvtrace.json', import.meta.url).pathname;
const trace = readTrace(file);
const ids = (t: Trace) => diagnose([{ label: 'run-1', trace: t }]).map((f) => f.id);
const find = (t: Trace, id: string) => diagnose([{ label: 'run-1', trace: t }]).find((f) => f.id === id);

describe('libvirt diagnose rules on fixtures/libvirt-tiny', () => {
  it('reports the qom-get storm with the count and time the trace holds', () => {
    const qom = trace.spans.filter((s) => s.lane.startsWith('qmp:') && s.name === 'qom-get');
    expect(qom.length).toBeGreaterThanOrEqual(QOM_GET_STORM_MIN);
    const f = find(trace, 'libvirt-qmp-storm')!;
    expect(f.evidence[0].data.qom_get).toBe(qom.length);
    expect(f.evidence[0].data.qmp_commands).toBe(trace.spans.find((s) => s.name === 'QMP traffic')!.args!.commands);
    expect(f.fix.text).toMatch(/newer libvirt/);
  });

  it('reports namespace and cgroup set-up, the per-call connection and the late reaping', () => {
    expect(ids(trace)).toEqual(expect.arrayContaining(['libvirt-namespace-cgroup', 'libvirt-connect-per-call', 'libvirt-late-reap']));
    const reap = find(trace, 'libvirt-late-reap')!;
    expect(reap.evidence[0].data.late_ns as number).toBeGreaterThanOrEqual(LATE_REAP_MIN_NS);
  });

  it('stays silent without the evidence (QMP spans and libvirt functions removed)', () => {
    const bare: Trace = { ...trace, spans: trace.spans.filter((s) => !s.lane.startsWith('qmp:') && s.args?.side === undefined) };
    expect(ids(bare).filter((id) => id.startsWith('libvirt-'))).toEqual([]);
  });
});
