// Diagnose rules on the Xen toolstack and networking, from the exec probe set's process
// spans and the XenStore counters: hotplug scripts, XenStore traffic, autoballoon, bridge forward delay.
import type { Instant, Span, Trace } from '../model/trace.js';
import { BRIDGE_FORWARD_DELAY_NS, BRIDGE_SILENCE_MIN_NS, HOTPLUG_MIN_SHARE_OF_DEVICES, HOTPLUG_MIN_SHARE_OF_TOTAL, XENSTORE_MIN_SHARE, ms, pct, phaseOf, severityFor, share } from './diagnose-facts.js';
import type { Rule } from './diagnose-types.js';

// ---------------------------------------------------------------------------------------------
// Xen toolstack and networking (process spans from the exec probe set)

export function processSpans(trace: Trace): Span[] {
  const processLanes = new Set(trace.lanes.filter((l) => l.kind === 'process').map((l) => l.id));
  return trace.spans.filter((s) => processLanes.has(s.lane) && typeof s.args?.pid === 'number');
}

/** Total time covered by a set of intervals (overlaps counted once). */
export function unionDuration(intervals: { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const i of sorted) {
    if (i.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.start;
      curEnd = i.end;
    } else curEnd = Math.max(curEnd, i.end);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/**
 * A hotplug script run: an exec of a file under .../xen/scripts/ (bpftrace exec probes; the
 * script's forked subshells have no file: they are its children), or a span on the `hotplug`
 * lane of `hvscope lab xen run` traces (dom0 ftrace; src/lab/xen/experiment.ts).
 */
export const HOTPLUG_SCRIPT = (s: Span) =>
  typeof s.args?.file === 'string' ? /\/xen\/scripts\/[^/]+$/.test(s.args.file) : s.lane === 'hotplug';
export const FIREWALL_TOOL = /^(iptables|ip6tables|arptables|ebtables)(-legacy|-nft|-restore|-save)?$/;

/** Intervals cut to a window (those outside it dropped). */
export function clip(intervals: { start: number; end: number }[], from: number, to: number): { start: number; end: number }[] {
  return intervals.map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) })).filter((i) => i.end > i.start);
}

/** "vif-bridge online" from a script's argv ("/bin/bash /etc/xen/scripts/vif-bridge online type_if=vif"). */
export function scriptAction(s: Span): string {
  const argv = typeof s.args?.argv === 'string' ? s.args.argv.split(' ') : [];
  const at = argv.findIndex((w) => w.endsWith(`/${s.name}`));
  const action = at >= 0 ? argv[at + 1] : undefined;
  if (action && /^[a-z]+$/.test(action)) return `${s.name} ${action}`;
  return typeof s.args?.when === 'string' ? `${s.name} (${s.args.when})` : s.name;
}

/** A script run that takes a device down (argv action offline/remove, or the lab's when=teardown): not creation work. */
export const TEARDOWN = (s: Span) => s.args?.when === 'teardown' || /^\S+ (offline|remove)$/.test(scriptAction(s));

export const xenHotplug: Rule = {
  id: 'xen-hotplug-scripts',
  category: 'boot',
  summary: `Xen hotplug scripts (vif-bridge …) busy ≥ ${pct(HOTPLUG_MIN_SHARE_OF_DEVICES)} of the devices phase (≥ ${pct(HOTPLUG_MIN_SHARE_OF_TOTAL)} of the boot without one)`,
  scope: 'run',
  check(run) {
    const procs = processSpans(run.trace);
    const scripts = procs.filter(HOTPLUG_SCRIPT);
    if (scripts.length === 0) return null;
    // Children of the scripts, through args.ppid (the exec probe set records fork parents).
    const scriptPids = new Set(scripts.map((s) => s.args!.pid as number));
    const descendants: Span[] = [];
    let grew = true;
    while (grew) {
      grew = false;
      for (const s of procs) {
        const pid = s.args!.pid as number;
        if (!scriptPids.has(pid) && typeof s.args?.ppid === 'number' && scriptPids.has(s.args.ppid)) {
          scriptPids.add(pid);
          descendants.push(s);
          grew = true;
        }
      }
    }
    // Only the time inside the window counts: a script can outlive it (vif-bridge offline when the domain is destroyed).
    const devices = phaseOf(run, 'devices');
    const window = devices ?? (run.phases.length > 0 ? { start: Math.min(...run.phases.map((p) => p.start)), end: Math.max(...run.phases.map((p) => p.end)) } : undefined);
    const windowNs = devices ? devices.duration : run.total;
    const creating = scripts.filter((s) => !TEARDOWN(s));
    const busy = window ? unionDuration(clip(creating, window.start, window.end)) : unionDuration(creating);
    const fraction = share(busy, windowNs);
    if (fraction < (devices ? HOTPLUG_MIN_SHARE_OF_DEVICES : HOTPLUG_MIN_SHARE_OF_TOTAL)) return null;
    const inWindow = window ? creating.filter((s) => s.end > window.start && s.start < window.end) : creating;
    const outside = scripts.filter((s) => !inWindow.includes(s));
    const firewall = descendants.filter((s) => FIREWALL_TOOL.test(s.name));
    const names = [...new Set(scripts.map((s) => s.name))];
    const lines = [
      `hotplug scripts busy for ${ms(busy)}, ${pct(fraction)} of the ${devices ? `devices phase (${ms(devices.duration)})` : `${ms(run.total)} boot (no devices phase in this trace)`}`,
      ...inWindow.map((s) => `${scriptAction(s)}: ${ms(s.start)} → ${ms(s.end)} (${ms(s.end - s.start)})`),
    ];
    if (outside.length > 0) lines.push(`not counted (teardown, or outside the ${devices ? 'devices phase' : 'boot'}): ${outside.map((s) => `${scriptAction(s)} at ${ms(s.start)}`).join(', ')}`);
    const childExecs = inWindow.reduce((n, s) => n + (typeof s.args?.child_execs === 'number' ? s.args.child_execs : 0), 0);
    if (descendants.length === 0 && childExecs > 0) lines.push(`${childExecs} programs exec'd by the scripts`);
    if (descendants.length > 0)
      lines.push(
        `${descendants.length} child process${descendants.length === 1 ? '' : 'es'} of the scripts${firewall.length > 0 ? `, ${firewall.length} of them ${[...new Set(firewall.map((s) => s.name))].join('/')} (${ms(unionDuration(firewall))})` : ''}`,
      );
    const allFast = inWindow.every((s) => s.name === 'vif-bridge-fast');
    return {
      // Already the fast script: still worth knowing, but no shipped profile goes further.
      severity: allFast ? 'info' : 'warn',
      title: allFast ? 'The fast vif hotplug script still takes most of the device set-up' : 'Xen hotplug scripts take most of the device set-up',
      evidence: {
        lines,
        data: {
          scripts: names,
          script_runs: inWindow.map(scriptAction),
          duration_ns: busy,
          share: fraction,
          of: devices ? 'devices' : 'total',
          children: descendants.length,
          child_execs: childExecs,
          firewall_children: firewall.length,
          firewall_ns: unionDuration(firewall),
        },
      },
      why:
        "Xen's vif-bridge is a bash script that sources helper libraries and reads XenStore through forked tools; upstream it also runs handle_iptable under a global claim_lock \"iptables\" (Debian's package disables that part). jitsu's fast-vif-bridge only does ip link + bridge attach, and LightVM replaced the scripts with a C daemon (xendevd).",
      source: 'docs/references.md#xen-hotplug; docs/references.md#lightvm',
      fix: allFast
        ? {
            text: 'The scripts are already hvscope\'s vif-bridge-fast (one ip link call); what remains is starting a script per vif from xl. LightVM\'s xendevd (a C daemon on udev events) or pre-created vifs take that off the creation path too.',
          }
        : { text: 'Attach vifs with the fast script (ip link set dev VIF master BRIDGE up): profile xen-fast-hotplug.', profile: 'xen-fast-hotplug', flags: ['vif.default.script="vif-bridge-fast"'] },
      impact_ns: busy,
    };
  },
};

/** XenStore requests as the xen probe set records them: spans named xs_<op> (libxenstore entry → return). */
export const XS_REQUEST = /^xs_[a-z_]+$/;
export const XS_TOOL = /^xenstore-[a-z]+$/;

/** Domain creations in the trace: libxl_domain_create_new calls (xen probes), else `xl create` processes. */
export function xenCreations(trace: Trace): number {
  const libxl = trace.spans.filter((s) => s.name === 'libxl_domain_create_new').length;
  if (libxl > 0) return libxl;
  return processSpans(trace).filter((s) => s.name === 'xl' && typeof s.args?.argv === 'string' && /\bcreate\b/.test(s.args.argv)).length;
}

export const xenstoreOperations: Rule = {
  id: 'xenstore-operations',
  category: 'boot',
  summary: `XenStore requests (xs_* spans of the xen probes, xenstore-* tool runs) busy ≥ ${pct(XENSTORE_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    // Only the boot's window counts (teardown after the guest is up is not on the creation path).
    const from = run.phases.length > 0 ? Math.min(...run.phases.map((p) => p.start)) : -Infinity;
    const to = run.phases.length > 0 ? Math.max(...run.phases.map((p) => p.end)) : Infinity;
    const inBoot = (s: Span) => s.start < to && s.end >= from;
    const requests = run.trace.spans.filter((s) => XS_REQUEST.test(s.name) && inBoot(s));
    const tools = processSpans(run.trace).filter((s) => XS_TOOL.test(s.name) && inBoot(s));
    if (requests.length === 0 && tools.length === 0) return null;
    // A xenstore-* tool's own requests are xs_* spans too when the probes saw them: time counted once.
    const union = unionDuration(clip([...requests, ...tools], from, to));
    const fraction = share(union, run.total);
    if (fraction < XENSTORE_MIN_SHARE) return null;
    const creations = xenCreations(run.trace);
    const byOp = new Map<string, number>();
    for (const s of requests) byOp.set(s.name, (byOp.get(s.name) ?? 0) + 1);
    const byTool = new Map<string, number>();
    for (const s of tools) byTool.set(s.name, (byTool.get(s.name) ?? 0) + 1);
    const lines = [`XenStore busy for ${ms(union)}, ${pct(fraction)} of the ${ms(run.total)} boot`];
    if (requests.length > 0) lines.push(`${requests.length} requests: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ×${c}`).join(', ')}`);
    if (tools.length > 0) lines.push(`${tools.length} XenStore tool runs (fork + exec each): ${[...byTool].map(([n, c]) => `${n} ×${c}`).join(', ')}`);
    if (creations > 0 && requests.length > 0) lines.push(`${creations} domain creation${creations === 1 ? '' : 's'}: ${(requests.length / creations).toFixed(1)} requests per creation`);
    return {
      severity: severityFor(fraction),
      title: 'XenStore requests take a large share of domain creation',
      evidence: {
        lines,
        data: { requests: requests.length, tool_runs: tools.length, duration_ns: union, share: fraction, total_ns: run.total, creations },
      },
      why:
        'LightVM found that, once the guest is small, XenStore interaction and device creation dominate Xen domain creation, and that stock Xen slows as more domains run; every request is a round trip to xenstored, and each xenstore-* tool run (from the bash hotplug scripts) adds a fork and exec.',
      source: 'docs/references.md#lightvm',
      fix: {
        text: "Take the bash hotplug scripts (the xenstore-* callers) off the creation path with the fast vif script, and keep the domain description minimal (fewer devices, fewer XenStore entries); LightVM's noxs removes XenStore from creation altogether.",
        profile: 'xen-fast-hotplug',
      },
      impact_ns: union,
    };
  },
};

/** dom0's balloon target in XenStore: written by libxl_set_memory_target(0) when xl balloons dom0 down (autoballoon). */
export const DOM0_MEMORY_TARGET = /^\/local\/domain\/0\/memory\/target$/;

export const xenAutoballoon: Rule = {
  id: 'xen-autoballoon',
  category: 'boot',
  summary: 'xl ballooned dom0 down before creating the domain (XenStore write of /local/domain/0/memory/target)',
  scope: 'run',
  check(run) {
    const writes = run.trace.spans.filter((s) => s.name === 'xs_write' && typeof s.args?.path === 'string' && DOM0_MEMORY_TARGET.test(s.args.path));
    if (writes.length === 0) return null;
    const first = writes[0];
    // xl frees memory before it asks libxl to create the domain: the wait ends at the create call.
    const create = run.trace.spans.filter((s) => s.name === 'libxl_domain_create_new' && s.start >= first.start).sort((a, b) => a.start - b.start)[0];
    const waited = create ? create.start - first.start : undefined;
    const lines = [`${writes.length} write${writes.length === 1 ? '' : 's'} of dom0's memory target (${String(first.args!.path)}), the first at ${ms(first.start)}`];
    if (waited !== undefined) lines.push(`${ms(waited)} from that write to libxl_domain_create_new (${pct(share(waited, run.total))} of the ${ms(run.total)} boot)`);
    return {
      severity: waited !== undefined ? severityFor(share(waited, run.total)) : 'info',
      title: 'dom0 was ballooned down to make room for the new domain (autoballoon)',
      evidence: { lines, data: { writes: writes.length, first_write_ns: first.start, wait_ns: waited ?? null, total_ns: run.total } },
      why: 'With autoballoon on (or auto with dom0 owning all memory), xl shrinks dom0 and waits for the memory to be freed before every creation; a dom0 sized at boot (dom0_mem=) leaves free memory there up front.',
      source: 'xl.conf(5) autoballoon, docs/references.md#xl-conf; tuning-profiles/xen-unikernel.yaml',
      fix: { text: 'Give dom0 a fixed size on the Xen command line and turn autoballoon off (profile xen-unikernel).', profile: 'xen-unikernel', flags: ['autoballoon="off"', 'dom0_mem=SIZE,max:SIZE'] },
      impact_ns: waited ?? 0,
    };
  },
};

export const bridgeForwardDelay: Rule = {
  id: 'bridge-forward-delay',
  category: 'boot',
  summary: `a silence ≥ ${ms(BRIDGE_SILENCE_MIN_NS)} right after a bridge port attach (forward_delay ${ms(BRIDGE_FORWARD_DELAY_NS)}, 2× with STP)`,
  scope: 'run',
  check(run) {
    const attaches = run.trace.instants.filter((i) => /^bridge attach\b/.test(i.name));
    if (attaches.length === 0) return null;
    const times: { at: number; what: string }[] = [];
    const phaseLanes = new Set(run.trace.lanes.filter((l) => l.kind === 'phases').map((l) => l.id));
    for (const i of run.trace.instants) if (!phaseLanes.has(i.lane)) times.push({ at: i.at, what: `"${i.name}"` });
    for (const s of run.trace.spans) {
      if (phaseLanes.has(s.lane)) continue;
      times.push({ at: s.start, what: `start of ${s.name}` }, { at: s.end, what: `end of ${s.name}` });
    }
    times.sort((a, b) => a.at - b.at);
    let best: { attach: Instant; gap: number; after: { at: number; what: string } } | undefined;
    for (const attach of attaches) {
      // The largest silence that starts at the attach or at an event within one forward delay of it.
      const horizon = attach.at + 2 * BRIDGE_FORWARD_DELAY_NS + 5e9;
      const window = times.filter((t) => t.at >= attach.at && t.at <= horizon);
      for (let k = 0; k < window.length; k++) {
        const next = times.find((t) => t.at > window[k].at);
        if (!next || window[k].at - attach.at > BRIDGE_FORWARD_DELAY_NS) continue;
        const gap = next.at - window[k].at;
        if (!best || gap > best.gap) best = { attach, gap, after: next };
      }
    }
    if (!best || best.gap < BRIDGE_SILENCE_MIN_NS) return null;
    const multiple = best.gap / BRIDGE_FORWARD_DELAY_NS;
    return {
      severity: 'warn',
      title: 'A new bridge port waited out the bridge\'s forward delay',
      evidence: {
        lines: [
          `"${best.attach.name}" at ${ms(best.attach.at)}`,
          `then nothing for ${ms(best.gap)} (≈ ${multiple.toFixed(2)} × the default 15 s forward_delay) until ${best.after.what} at ${ms(best.after.at)}`,
        ],
        data: { attach: best.attach.name, attach_ns: best.attach.at, silence_ns: best.gap, forward_delay_multiple: multiple },
      },
      why: 'A port added to a Linux bridge forwards only after forward_delay in learning (and listening, with STP on: 2 × 15 s by default); until then the guest\'s first packets go nowhere.',
      source: 'docs/references.md#linux-bridge; tuning-profiles/bridge-fast.yaml',
      fix: { text: 'Turn STP off and set forward_delay to 0 on the VM bridge (profile bridge-fast).', profile: 'bridge-fast', flags: ['ip link set dev BRIDGE type bridge stp_state 0 forward_delay 0'] },
      impact_ns: best.gap,
    };
  },
};
