// The --via libvirt trace: from virsh's exec to the guest's first output, with
// the orchestrate phase ending where libvirtd enters libxl_domain_create_new.
// The ftrace text here is SYNTHETIC, in the kernel's format (trace_clock mono,
// uprobe and uretprobe lines as tracefs prints them), shaped like a creation in
// the lab; test/e2e/xen-libvirt.test.ts checks the same on a real lab run.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { phaseBreakdown } from '../../analysis/phases.js';
import { validateTrace } from '../../model/io.js';
import { ftraceRuns, parseFtrace } from './dom0-ftrace.js';
import { parseXenExperimentText, type XenRunResult } from './experiment-result.js';
import { libvirtFtraceRuns, libvirtRecord, libvirtRunTrace } from './libvirt-trace.js';

const syntheticFtrace = `# tracer: nop
              sh-300     [000] .....   100.000000: tracing_mark_write: hvscope: create_start p=1 r=2
              sh-300     [000] .....   100.000100: sched_process_fork: comm=sh pid=300 child_comm=sh child_pid=301
           virsh-301     [000] .....   100.002000: sched_process_exec: filename=/usr/bin/virsh pid=301 old_pid=301
           virsh-301     [000] .....   100.300000: hv_api: (0x7f51c82ee920)
    rpc-libvirtd-205     [000] .....   100.310000: hv_api: (0x7f0a442ee920)
    rpc-libvirtd-205     [000] .....   100.320000: hv_start: (0x7f0a2c01b860)
    rpc-libvirtd-205     [000] .....   100.400000: hv_create: (0x7f0a2bf32880)
    rpc-libvirtd-205     [000] .....   101.000000: sched_process_fork: comm=rpc-libvirtd pid=205 child_comm=rpc-libvirtd child_pid=310
      vif-bridge-310     [000] .....   101.000500: sched_process_exec: filename=/etc/xen/scripts/vif-bridge pid=310 old_pid=310
      vif-bridge-310     [000] .....   101.100000: sched_process_fork: comm=vif-bridge pid=310 child_comm=vif-bridge child_pid=311
              ip-311     [000] .....   101.100500: sched_process_exec: filename=/usr/sbin/ip pid=311 old_pid=311
              ip-311     [000] .....   101.200000: sched_process_exit: comm=ip pid=311 prio=120
      vif-bridge-310     [000] .....   103.000000: sched_process_exit: comm=vif-bridge pid=310 prio=120
    rpc-libvirtd-205     [000] .....   103.100000: hv_create_ret: (0x7f0a2c01c0a4 <- 0x7f0a2bf32880)
    rpc-libvirtd-205     [000] .....   103.150000: hv_unpause: (0x7f0a2bf7dc40)
     xenconsoled-90      [000] ...1.   103.250000: sys_write(fd: 15, buf: 557ae48e9bf0, count: 45)
    rpc-libvirtd-205     [000] .....   103.300000: hv_start_ret: (0x7f0a2c0204b1 <- 0x7f0a2c01b860)
    rpc-libvirtd-205     [000] .....   103.310000: hv_api_ret: (0x7f0a4459a0b2 <- 0x7f0a442ee920)
           virsh-301     [000] .....   103.320000: hv_api_ret: (0x55d0c6a0f4b5 <- 0x7f51c82ee920)
           virsh-301     [000] .....   103.400000: sched_process_exit: comm=virsh pid=301 prio=120
              sh-300     [000] .....   103.500000: tracing_mark_write: hvscope: create_exit p=1 r=2
              sh-300     [000] .....   104.000000: tracing_mark_write: hvscope: marker p=1 r=2
    rpc-libvirtd-205     [000] .....   104.100000: sched_process_fork: comm=rpc-libvirtd pid=205 child_comm=rpc-libvirtd child_pid=330
      vif-bridge-330     [000] .....   104.100500: sched_process_exec: filename=/etc/xen/scripts/vif-bridge pid=330 old_pid=330
      vif-bridge-330     [000] .....   106.000000: sched_process_exit: comm=vif-bridge pid=330 prio=120
              sh-300     [000] .....   107.000000: tracing_mark_write: hvscope: gone p=1 r=2
`;

const run: XenRunResult = { profile: 1, run: 2, domain: 'tpv-p1-r2', runningDomains: 0, createExit: 0, createNs: 3.49e9, markerNs: 4e9, goneNs: 7e9, readyNs: 4e9 };
const ctx = { profile: 'libvirt-unikernel', recorded: 'synthetic', hypervisor: 'xen 4.17 (PV dom0, nested in QEMU TCG)', firstOutputIsMarker: true };

describe('libvirt creation from dom0 ftrace (synthetic record)', () => {
  const events = parseFtrace(syntheticFtrace);
  const lv = libvirtFtraceRuns(events).get('1/2')!;

  it('tells the client from the daemon and pairs each uprobe with its return', () => {
    expect(lv.virshPid).toBe(301);
    expect(lv.virshExecNs).toBe(2e6);
    expect(lv.virshExitNs).toBe(3.4e9);
    expect(lv.client).toEqual({ startNs: 0.3e9, endNs: 3.32e9, tid: 301 });
    expect(lv.daemon).toEqual({ startNs: 0.31e9, endNs: 3.31e9, tid: 205 });
    expect(lv.startNew).toEqual({ startNs: 0.32e9, endNs: 3.3e9, tid: 205 });
    expect(lv.createNew).toEqual({ startNs: 0.4e9, endNs: 3.1e9, tid: 205 });
    expect(lv.unpauseNs).toBe(3.15e9);
  });

  it('hotplug scripts libvirtd forked before virsh returned are the creation\'s; the later one is teardown', () => {
    const ft = ftraceRuns(events, { creator: null }).get('1/2')!;
    expect(ft.scripts.map((s) => [s.pid, s.when])).toEqual([[310, 'create'], [330, 'teardown']]);
    expect(ft.devicesDoneNs).toBe(3e9);
    expect(ft.guestOutputNs).toBe(3.25e9);
  });

  it('phases: orchestrate from virsh exec to libxl_domain_create_new, then toolstack, devices, kernel to the first output', () => {
    const ft = ftraceRuns(events, { creator: null }).get('1/2')!;
    const trace = libvirtRunTrace(run, ft, lv, ctx);
    validateTrace(trace, 'synthetic');
    const phases = phaseBreakdown(trace);
    expect(phases.map((p) => [p.phase, p.start, p.end])).toEqual([
      ['orchestrate', 2e6, 0.4e9],
      ['toolstack', 0.4e9, 1.0005e9],
      ['devices', 1.0005e9, 3.15e9],
      ['kernel', 3.15e9, 3.25e9],
    ]);
    expect(phases[0].start_evidence?.marker).toBe('virsh exec (libvirt client)');
    expect(phases[0].end_evidence?.marker).toBe('libxl_domain_create_new (in libvirtd)');
    expect(phases[3].start_evidence?.marker).toBe('libxl_domain_unpause');
    expect(trace.meta.command).toEqual(['virsh', '-c', 'xen:///system', 'create', 'tpv-p1-r2.xml']);
    const names = trace.spans.filter((s) => s.lane === 'libvirtd').map((s) => s.name);
    expect(names).toEqual(['virDomainCreateXML (libvirtd)', 'libxlDomainStartNew', 'libxl_domain_create_new']);
  });

  it('without uprobes: orchestrate has no end evidence and says so; the rest still comes from the exec record', () => {
    const ft = ftraceRuns(events, { creator: null }).get('1/2')!;
    const bare = { virshExecNs: lv.virshExecNs, virshPid: lv.virshPid, virshExitNs: lv.virshExitNs };
    const trace = libvirtRunTrace(run, ft, bare, ctx);
    const phases = phaseBreakdown(trace).map((p) => p.phase);
    expect(phases).not.toContain('orchestrate');
    expect(phases).toContain('devices');
    expect(trace.unresolvedPhases.map((u) => u.phase)).toContain('orchestrate');
  });
});

describe('the real lab record (fixtures/libvirt/xen-lab-via-libvirt-2026-12-04)', () => {
  const dir = new URL('../../../fixtures/libvirt/xen-lab-via-libvirt-2026-12-04/', import.meta.url);
  const events = parseFtrace(readFileSync(new URL('dom0-ftrace.txt', dir), 'utf8'));
  const result = parseXenExperimentText(readFileSync(new URL('xen-experiment.txt', dir), 'utf8'), 'xen-experiment.txt');
  const { ft, lv } = libvirtRecord(events);

  it('every uprobe fired in libvirtd, in the order libvirt calls them, inside virsh\'s call', () => {
    for (const key of ['0/1', '1/1']) {
      const l = lv.get(key)!;
      expect(l.client!.startNs).toBeLessThan(l.daemon!.startNs);
      expect(l.daemon!.startNs).toBeLessThan(l.startNew!.startNs);
      expect(l.startNew!.startNs).toBeLessThan(l.createNew!.startNs);
      expect(l.createNew!.endNs!).toBeLessThan(l.unpauseNs!);
      expect(l.unpauseNs!).toBeLessThan(l.client!.endNs!);
      expect(l.daemon!.tid).not.toBe(l.virshPid);
    }
  });

  it('phases in order from virsh exec to the guest\'s first output; the teardown vif-bridge is not the creation\'s', () => {
    for (const run of result.runs) {
      const key = `${run.profile}/${run.run}`;
      expect(ft.get(key)!.scripts.map((s) => s.when)).toEqual(['create', 'teardown']);
      const trace = libvirtRunTrace(run, ft.get(key), lv.get(key), { ...ctx, profile: run.profile === 0 ? 'stock' : 'libvirt-unikernel' });
      const phases = phaseBreakdown(trace);
      expect(phases.map((p) => p.phase)).toEqual(['orchestrate', 'toolstack', 'devices', 'kernel']);
      expect(phases[0].start_evidence?.marker).toBe('virsh exec (libvirt client)');
      expect(phases[1].start_evidence?.marker).toBe('libxl_domain_create_new (in libvirtd)');
      expect(phases[3].start_evidence?.marker).toBe('libxl_domain_unpause');
      expect(phases[3].end_evidence?.marker).toBe('first console output (xenconsoled write of the marker)');
      // Measured (README): orchestrate ≈ 0.65 s, the guest's first output a few ms after the unpause.
      expect(phases[0].duration).toBeGreaterThan(0.6e9);
      expect(phases[0].duration).toBeLessThan(0.7e9);
      expect(phases[3].duration).toBeLessThan(10e6);
    }
  });
});
