// One lab run as a trace: the experiment's timing record for that `xl create`, with the dom0
// ftrace evidence (hotplug scripts, their helpers) added as process spans and markers.
import { TraceBuilder } from '../../model/builder.js';
import { readyVocabulary, type ReadyRule } from '../../model/ready-rule.js';
import type { Trace } from '../../model/trace.js';
import { TINY_PV_MARKER } from '../tiny-pv-guest.js';
import type { FtraceRun } from './dom0-ftrace.js';
import type { XenRunResult } from './experiment-result.js';

export interface RunTraceContext {
  /** The profile's name as given (or `untuned`). */
  profile: string;
  /**
   * The guest's first console output is its marker (tiny-pv, default true): then the
   * guest phase ends at xenconsoled's first write; a Linux guest prints its boot first,
   * so its phase ends at the polled marker.
   */
  firstOutputIsMarker?: boolean;
  /** The marker line waited for (default tiny-pv's); the user's regex for a --guest PATH. */
  marker?: string;
  /**
   * false for a guest without a marker (--guest PATH without --marker): the trace ends
   * when `xl create` returned, with no kernel phase (nothing says when the guest was up).
   */
  kernelMeasured?: boolean;
  recorded: string;
  hypervisor: string;
  /** The user's `--ready console:REGEX` (the marker waited for): its rows replace the built-in ready rows. */
  ready?: ReadyRule;
}

/**
 * The trace of one creation. t0 = `xl create` start. Evidence for the phases
 * (the model derives them): xl create's start (toolstack); with dom0 ftrace the
 * first hotplug script `xl create` ran (devices) and the end of the last one
 * (xl then unpauses: the guest's kernel starts), and xenconsoled's first write
 * of the guest's output (its ready marker when that output is the marker,
 * tiny-pv); always xl create's return (an upper bound of the unpause) and the
 * marker as the lab's poll saw it (an upper bound of ready).
 */
export function xenRunTrace(run: XenRunResult, ft: FtraceRun | undefined, ctx: RunTraceContext): Trace {
  // ftrace times when its markers are there (one clock for everything), else date's.
  const useFt = ft?.createExitNs !== undefined;
  const xlExit = useFt ? ft!.createExitNs! : run.createNs;
  const marker = useFt ? ft!.markerNs : run.markerNs;
  const gone = useFt ? ft!.goneNs : run.goneNs;
  const source = useFt ? 'xen lab (dom0 ftrace)' : 'xen lab (dom0 date)';
  const b = new TraceBuilder({
    source: 'xen-lab',
    hypervisor: ctx.hypervisor,
    profile: ctx.profile,
    command: ['xl', 'create', `${run.domain}.cfg`],
    clock: useFt ? 'monotonic (dom0 ftrace)' : 'realtime (dom0 date +%s%N)',
    recorded: ctx.recorded,
    ...(ctx.ready ? { ready: ctx.ready.text } : {}),
  }, { vocabulary: readyVocabulary(ctx.ready) });
  const xl = b.lane('xl', { kind: 'process', name: 'xl create' });
  b.span(xl, 'xl create', 0, Math.max(0, Math.round(xlExit)), {
    phase: 'toolstack',
    args: { exit: run.createExit, running_domains: run.runningDomains, wall_ns: run.createNs, domain: run.domain, ...(useFt && ft!.xlPid !== undefined ? { pid: ft!.xlPid } : {}) },
  });
  b.event('xl-exec', 0, { source, lane: xl, detail: 'xl create started' });
  b.event('xen-lab-xl-returned', Math.round(xlExit), { source, lane: xl });
  addDom0Evidence(b, run, useFt ? ft : undefined, ctx, { source, marker, gone });
  if (useFt) b.instant(xl, 'execs during xl create', Math.round(xlExit), { args: { count: ft!.execsDuringCreate } });
  return b.build();
}

/**
 * What dom0's ftrace and the lab's polls saw of a creation besides its command
 * (shared by `xl create` and `virsh create` runs): the hotplug scripts and the
 * programs they ran (devices), the end of the last script `create` ran, the
 * guest's first console output (xenconsoled's write), the polled marker and the
 * domain's end. `ft` undefined: no ftrace record (wall times only).
 */
export function addDom0Evidence(
  b: TraceBuilder,
  run: XenRunResult,
  ft: FtraceRun | undefined,
  ctx: RunTraceContext,
  at: { source: string; marker?: number; gone?: number },
): void {
  const useFt = ft !== undefined;
  const { source, marker, gone } = at;
  const scripts = useFt ? ft!.scripts : [];
  if (scripts.length > 0) b.lane('hotplug', { kind: 'process', name: 'hotplug scripts' });
  if (useFt && ft!.helpers.length > 0) b.lane('hotplug-programs', { kind: 'process', name: 'programs the scripts ran' });
  for (const s of scripts) {
    // A script `xl create` ran is xl's child: a process tree for the critical path and diff.
    const args = { pid: s.pid, ...(s.when === 'create' && ft?.xlPid !== undefined ? { ppid: ft.xlPid } : {}), child_execs: s.execs, when: s.when, ...(s.endNs === undefined ? { exit_seen: false } : {}) };
    b.span('hotplug', s.name, Math.round(s.startNs), Math.round(s.endNs ?? s.startNs), { ...(s.when === 'create' ? { phase: 'devices' as const } : {}), args });
    if (s.when === 'create') b.event('xen-hotplug-exec', Math.round(s.startNs), { source, lane: 'hotplug', detail: s.name });
  }
  // What the scripts ran (ip, brctl, logger, xenstore-*): under their script by ppid.
  for (const h of useFt ? ft!.helpers : []) {
    const script = scripts.find((s) => s.pid === h.script);
    b.span('hotplug-programs', h.name, Math.round(h.startNs), Math.round(Math.max(h.startNs, h.endNs ?? script?.endNs ?? h.startNs)), {
      ...(script?.when === 'create' ? { phase: 'devices' as const } : {}),
      args: { pid: h.pid, ...(h.ppid !== undefined ? { ppid: h.ppid } : {}), ...(h.endNs === undefined ? { exit_seen: false } : {}) },
    });
  }
  const guestLane = () => b.lane('guest', { kind: 'guest', name: `guest ${run.domain}` });
  const devicesDone = useFt ? ft!.devicesDoneNs : undefined;
  const output = useFt ? ft!.guestOutputNs : undefined;
  // The scripts' end is the unpause's evidence when the guest's output (or, for a guest that prints its boot
  // first, its marker) followed it; else xl's return bounds the unpause (the recorded runs show the difference).
  const after = (at: number | undefined) => at !== undefined && devicesDone !== undefined && at >= devicesDone;
  const guestFollowed = after(output) || (ctx.firstOutputIsMarker === false && after(marker));
  if (devicesDone !== undefined && guestFollowed) b.event('xen-lab-devices-done', Math.round(devicesDone), { source, lane: 'hotplug' });
  if (devicesDone !== undefined && output !== undefined && output >= devicesDone) {
    const name = 'first console output (xenconsoled write)';
    // The guest's first output is its marker (tiny-pv): the guest is ready there.
    b.instant(guestLane(), name, Math.round(output), ctx.kernelMeasured === false ? {} : { phase: 'kernel' });
    if (ctx.kernelMeasured !== false && ctx.firstOutputIsMarker !== false) b.event('xen-lab-first-output', Math.round(output), { source, lane: 'guest' });
  }
  // No marker (kernelMeasured false): the guest's boot has no end to measure, so its kernel phase stays unresolved.
  if (ctx.kernelMeasured === false && run.readyNs !== undefined) b.instant(guestLane(), 'domain running after xl create (no marker)', Math.round(run.readyNs));
  if (marker !== undefined) {
    b.instant(guestLane(), 'marker seen (console log polled)', Math.round(marker), { args: { line: ctx.marker ?? TINY_PV_MARKER } });
    if (ctx.kernelMeasured !== false) b.event('xen-lab-marker-polled', Math.round(marker), { source, lane: 'guest', detail: ctx.marker ?? TINY_PV_MARKER });
  }
  if (gone !== undefined) b.instant(guestLane(), run.destroyed ? 'domain gone (destroyed by the lab)' : 'domain gone', Math.round(gone));
}
