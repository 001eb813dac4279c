// The trace of one `lab xen run --via libvirt` creation: tiny-pv created by
// `virsh -c xen:///system create` through libvirtd's libxl driver in dom0, in
// one timeline from virsh's start to the guest's first console line. Evidence
// (the model derives the phases, src/model/derive.ts):
//   - virsh's exec (ftrace sched_process_exec): the orchestrator's request,
//     orchestrate starts;
//   - libxenlight's libxl_domain_create_new entered inside libvirtd (uprobe): the
//     toolstack starts; what lies between is libvirt's own work (the client's
//     connection, the RPC, parsing the XML, libxlDomainStartNew's preparation);
//   - the hotplug scripts libvirtd's libxl forks (devices), the end of the last
//     one, libxl_domain_unpause (uprobe: the guest's kernel starts), virsh's
//     return (an upper bound), xenconsoled's first write of the guest's output
//     (tiny-pv's marker: ready) and the polled marker — as for `xl create`
//     (addDom0Evidence in experiment.ts).
import { TraceBuilder } from '../../model/builder.js';
import type { Trace } from '../../model/trace.js';
import { addDom0Evidence, type RunTraceContext } from './experiment-trace.js';
import { fields, ftraceRuns, type FtraceEvent, type FtraceRun } from './dom0-ftrace.js';
import type { XenRunResult } from './experiment-result.js';

/** A function libvirtd or virsh entered (uprobe) and, when its return probe fired, left; ns from create start. */
export interface ProbedCall {
  startNs: number;
  endNs?: number;
  tid: number;
}

/** What the uprobes and the exec record saw of one creation through libvirt. */
export interface LibvirtFtraceRun {
  /** virsh's exec, its pid and exit. */
  virshExecNs?: number;
  virshPid?: number;
  virshExitNs?: number;
  /** virDomainCreateXML in virsh (the client's API call). */
  client?: ProbedCall;
  /** virDomainCreateXML in libvirtd (the RPC dispatched to the driver). */
  daemon?: ProbedCall;
  /** The libxl driver's libxlDomainStartNew. */
  startNew?: ProbedCall;
  /** libxenlight's libxl_domain_create_new (build the domain, attach its devices, run the hotplug scripts). */
  createNew?: ProbedCall;
  /** libxl_domain_unpause: the guest's vCPU runs. */
  unpauseNs?: number;
}

/** The record split into creations by our create_start markers, as ftraceRuns does; key `P/R`. */
export function libvirtFtraceRuns(events: FtraceEvent[]): Map<string, LibvirtFtraceRun> {
  const runs = new Map<string, LibvirtFtraceRun>();
  const starts: { key: string; index: number; ns: number }[] = [];
  events.forEach((e, index) => {
    const m = e.event === 'tracing_mark_write' ? /^hvscope: create_start p=(\d+) r=(\d+)/.exec(e.body) : null;
    if (m) starts.push({ key: `${m[1]}/${m[2]}`, index, ns: e.ns });
  });
  starts.forEach((s, si) => {
    const slice = events.slice(s.index + 1, si + 1 < starts.length ? starts[si + 1].index : events.length);
    const rel = (ns: number) => ns - s.ns;
    const pidOf = (e: FtraceEvent) => Number(fields(e.body).get('pid') ?? e.pid);
    const run: LibvirtFtraceRun = {};
    const exec = slice.find((e) => e.event === 'sched_process_exec' && /\/virsh$/.test(fields(e.body).get('filename') ?? ''));
    if (exec) {
      run.virshExecNs = rel(exec.ns);
      run.virshPid = pidOf(exec);
      const exit = slice.find((e) => e.event === 'sched_process_exit' && e.ns >= exec.ns && pidOf(e) === run.virshPid);
      if (exit) run.virshExitNs = rel(exit.ns);
    }
    const call = (name: string, which: (e: FtraceEvent) => boolean): ProbedCall | undefined => {
      const i = slice.findIndex((e) => e.event === name && which(e));
      if (i < 0) return undefined;
      const entry = slice[i];
      const ret = slice.slice(i + 1).find((e) => e.event === `${name}_ret` && e.pid === entry.pid);
      return { startNs: rel(entry.ns), tid: entry.pid, ...(ret ? { endNs: rel(ret.ns) } : {}) };
    };
    // virsh's main thread is its pid; every other caller of virDomainCreateXML here is libvirtd.
    const isClient = (e: FtraceEvent) => (run.virshPid !== undefined ? e.pid === run.virshPid : e.comm === 'virsh');
    const set = <K extends keyof LibvirtFtraceRun>(key: K, value: LibvirtFtraceRun[K] | undefined) => {
      if (value !== undefined) run[key] = value;
    };
    set('client', call('hv_api', isClient));
    set('daemon', call('hv_api', (e) => !isClient(e)));
    set('startNew', call('hv_start', () => true));
    set('createNew', call('hv_create', () => true));
    const unpause = slice.find((e) => e.event === 'hv_unpause');
    if (unpause) run.unpauseNs = rel(unpause.ns);
    runs.set(s.key, run);
  });
  return runs;
}

/**
 * Both readings of the record, keyed `P/R`: the hotplug scripts, guest output and our
 * markers (ftraceRuns) and the uprobes. libxl runs a creation's hotplug scripts before it
 * unpauses (libxl_domain_create_new returns after them), so a script started after the
 * unpause (else after virsh's exit) is teardown: tiny-pv powers off at once, and libvirtd
 * may run the offline scripts before the lab's shell marks virsh's return.
 */
export function libvirtRecord(events: FtraceEvent[]): { ft: Map<string, FtraceRun>; lv: Map<string, LibvirtFtraceRun> } {
  const lv = libvirtFtraceRuns(events);
  const ft = ftraceRuns(events, { creator: null, cutoffNs: (key) => lv.get(key)?.unpauseNs ?? lv.get(key)?.virshExitNs });
  return { ft, lv };
}

const r = Math.round;

/**
 * One creation's trace. t0 = the create_start marker (the lab's shell, just before
 * it runs virsh); with ftrace every time is on dom0's CLOCK_MONOTONIC, else on
 * `date +%s%N` around virsh (no phases beyond what the wall times say).
 */
export function libvirtRunTrace(run: XenRunResult, ft: FtraceRun | undefined, lv: LibvirtFtraceRun | undefined, ctx: RunTraceContext): Trace {
  const useFt = ft?.createExitNs !== undefined;
  const virshExit = useFt ? ft!.createExitNs! : run.createNs;
  const source = useFt ? 'xen lab (dom0 ftrace)' : 'xen lab (dom0 date)';
  const b = new TraceBuilder({
    source: 'xen-lab',
    hypervisor: `${ctx.hypervisor} via libvirt (libxl driver)`,
    profile: ctx.profile,
    command: ['virsh', '-c', 'xen:///system', 'create', `${run.domain}.xml`],
    clock: useFt ? 'monotonic (dom0 ftrace)' : 'realtime (dom0 date +%s%N)',
    recorded: ctx.recorded,
  });
  const l = useFt ? lv : undefined;
  const virsh = b.lane('virsh', { kind: 'process', name: 'virsh create (libvirt client)', ...(l?.virshPid !== undefined ? { pid: l.virshPid } : {}) });
  const execAt = l?.virshExecNs ?? 0;
  b.span(virsh, 'virsh create', r(execAt), r(Math.max(execAt, l?.virshExitNs ?? virshExit)), {
    args: { exit: run.createExit, wall_ns: run.createNs, domain: run.domain, ...(l?.virshPid !== undefined ? { pid: l.virshPid } : {}) },
  });
  b.event('libvirt-client-exec', r(execAt), { source, lane: virsh, detail: l?.virshExecNs !== undefined ? 'virsh exec' : 'virsh started (date)' });
  if (l?.client) {
    b.span(virsh, 'connect (virConnectOpen, auth, driver probe)', r(execAt), r(Math.max(execAt, l.client.startNs)), { args: { pid: l.virshPid ?? l.client.tid } });
    b.span(virsh, 'virDomainCreateXML (client)', r(l.client.startNs), r(l.client.endNs ?? l.client.startNs), { args: { tid: l.client.tid, ...(l.client.endNs === undefined ? { return_seen: false } : {}) } });
  }
  b.event('xen-lab-virsh-returned', r(virshExit), { source, lane: virsh });
  const daemonCalls: [string, ProbedCall | undefined][] = [
    ['virDomainCreateXML (libvirtd)', l?.daemon],
    ['libxlDomainStartNew', l?.startNew],
    ['libxl_domain_create_new', l?.createNew],
  ];
  if (daemonCalls.some(([, c]) => c) || l?.unpauseNs !== undefined) {
    const tid = l?.daemon?.tid ?? l?.createNew?.tid;
    const lane = b.lane('libvirtd', { kind: 'thread', name: "libvirtd (libxl driver's worker)", ...(tid !== undefined ? { pid: tid } : {}) });
    for (const [name, c] of daemonCalls) {
      if (!c) continue;
      b.span(lane, name, r(c.startNs), r(c.endNs ?? c.startNs), { args: { tid: c.tid, ...(c.endNs === undefined ? { return_seen: false } : {}) } });
    }
    if (l?.daemon) b.event('libvirt-create', r(l.daemon.startNs), { source: 'dom0 uprobe', lane, detail: 'virDomainCreateXML in libvirtd' });
    if (l?.createNew) b.event('libxl-create-new', r(l.createNew.startNs), { source: 'dom0 uprobe', lane, detail: 'libxl_domain_create_new' });
    if (l?.unpauseNs !== undefined) {
      b.instant(lane, 'libxl_domain_unpause', r(l.unpauseNs));
      b.event('xen-unpause', r(l.unpauseNs), { source: 'dom0 uprobe', lane, detail: 'libxl_domain_unpause in libvirtd' });
    }
  }
  addDom0Evidence(b, run, useFt ? ft : undefined, ctx, { source, marker: useFt ? ft!.markerNs : run.markerNs, gone: useFt ? ft!.goneNs : run.goneNs });
  if (useFt) b.instant(virsh, 'execs during virsh create', r(virshExit), { args: { count: ft!.execsDuringCreate } });
  return b.build();
}
