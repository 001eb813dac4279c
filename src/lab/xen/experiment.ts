// The Xen lab's measurement experiment (run in dom0 by runInXenLab): for each
// tuning profile in order, `hvscope tune apply PROFILE` (real /etc/xen/xl.conf,
// hotplug script, bridge, and the guest's xl config where the profile has a
// xen-domain section), then N creations of the tiny-pv guest (`xl create`, wait
// for its console marker, wait until it powered itself off and is gone), or in
// scaling mode K creations left running (guest cmdline `hvscope.stay`), then
// `hvscope tune rollback`. A user's --guest PATH is linked into the work directory
// (its name reaches the script only shell-quoted), judged ready by its --marker regex
// (a data file, grep -E -f) or, without one, by running once `xl create` returned,
// and destroyed once ready (it may never power itself off).
//
// Timing: `date +%s%N` around each `xl create` (xl's wall time, the number the
// ratio is computed from), plus, when dom0's tracefs is there, a kernel ftrace
// record (clock mono) of exec/fork/exit events and our own trace_marker writes:
// that gives the hotplug scripts (devices phase) without any tracer to start.
// The script writes `KIND key=value ...` lines to xen-experiment.txt in the
// results share; parseXenExperiment reads them back, xenRunTraces builds traces.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError, fileError } from '../../model/errors.js';
import { parseRecordLine } from './record-line.js';
import { TraceBuilder } from '../../model/builder.js';
import { readyVocabulary, type ReadyRule } from '../../model/ready-rule.js';
import type { Trace } from '../../model/trace.js';
import { TINY_PV_MARKER, TINY_PV_MEMORY_MB } from '../tiny-pv-guest.js';
import { LAB_BRIDGE, shellQuote } from './dom0-initramfs.js';
import { renderXlDomainConfig } from './tiny-pv-experiment.js';

export const XEN_EXPERIMENT_RESULT = 'xen-experiment.txt';
export const DOM0_FTRACE = 'dom0-ftrace.txt';
/** Guest kernel command line word that keeps tiny-pv up after its marker (guests/tiny-pv/README.md). */
export const TINY_PV_STAY = 'hvscope.stay';
/** Label of the run group when no profile is applied. */
export const UNTUNED = 'untuned';
/** Most domains a scaling run may keep up: 8 MiB each, Xen has ~480 MiB left beside dom0's 512. */
export const MAX_LAB_DOMAINS = 40;

export interface ExperimentProfile {
  /** A shipped profile name or a path dom0 can read (dom0's root is the host's). */
  name: string;
  /** Directory name for its results (DIR/<dir>/run-N...). */
  dir: string;
  /** Whether the profile has a xen-domain section (then tune gets --domain-config). */
  domainSection: boolean;
}

export interface XenExperimentOptions {
  /** Guest kernel as dom0 sees it (the host's path). */
  kernel: string;
  /** Profiles in order; empty = no tuning, one group named `untuned`. */
  profiles: ExperimentProfile[];
  /** Creations per profile (create, marker, gone). Ignored with `domains`. */
  runs: number;
  /** Scaling mode: K creations per profile, each left running. */
  domains?: number;
  /** argv prefix running hvscope in dom0, e.g. ['node', '/work/main/bin/hvscope']; needed with profiles. */
  hvscope?: string[];
  memoryMb?: number;
  /** Initramfs for the guest (xl `ramdisk`), e.g. the linux guest's. */
  ramdisk?: string;
  /** Guest kernel command line (xl `extra`). */
  extra?: string;
  /** The console line that says the guest is up, a fixed string (default tiny-pv's). */
  marker?: string;
  /**
   * Instead of `marker`: dom0 path of a file holding the user's --marker, an extended
   * regex read by `grep -E -f` (data, never pasted into this script; \r is stripped
   * from the console log first, so `$` anchors work).
   */
  markerRegexFile?: string;
  /** No marker: ready = the domain exists once `xl create` returned; the guest's boot is not measured. */
  noMarker?: boolean;
  /**
   * A guest that may stay up (the user's --guest PATH): after its marker (or once running)
   * it is destroyed instead of waited for, and its gone time is when the destroy finished.
   */
  destroyAfterReady?: boolean;
  /**
   * kernel and ramdisk are arbitrary dom0 paths (the user's): the script symlinks them into
   * its work directory and the xl config names the links, so no user text reaches xl's parser.
   */
  linkGuestFiles?: boolean;
  /** Seconds to wait for the marker after `xl create` returned. */
  markerTimeoutS?: number;
  /** Seconds to wait for a powered-off domain to be gone. */
  goneTimeoutS?: number;
  /**
   * One untimed creation first (default true): the first `xl create` in a fresh dom0
   * reads xl, libxl, bash and the hotplug scripts through 9p with cold caches and took
   * ~2 s longer; without a warm-up that penalty lands on the first profile's first run.
   */
  warmup?: boolean;
}

const DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The experiment's scratch directory in dom0 (tmpfs). */
export const EXPERIMENT_WORK_DIR = '/run/hvscope-lab/experiment';
/** Links to a --guest PATH's kernel and ramdisk in EXPERIMENT_WORK_DIR, named by the xl config. */
export const GUEST_KERNEL_LINK = 'guest-kernel';
export const GUEST_RAMDISK_LINK = 'guest-ramdisk';

/** Shell lines defining how readiness is judged: $ready_by, $teardown and marker_in LOG. */
export function renderReadiness(opts: Pick<XenExperimentOptions, 'marker' | 'markerRegexFile' | 'noMarker' | 'destroyAfterReady'>): string {
  const teardown = `teardown=${opts.destroyAfterReady ? 'destroy' : 'wait'}`;
  if (opts.noMarker) return `ready_by=running
${teardown}
marker_in() { return 1; }`;
  if (opts.markerRegexFile !== undefined)
    return `ready_by=marker
${teardown}
marker_file=${shellQuote(opts.markerRegexFile)}
# The user's --marker, an extended regex, read from a file: never part of this script.
marker_in() { [ -f "$1" ] && tr -d '\\r' <"$1" | grep -qE -f "$marker_file"; }`;
  return `ready_by=marker
${teardown}
marker=${shellQuote(opts.marker ?? TINY_PV_MARKER)}
marker_in() { grep -qF -- "$marker" "$1" 2>/dev/null; }`;
}

/** Shell lines linking the user's kernel (and ramdisk) into the work directory; exit 1 when dom0 cannot read them. */
export function renderGuestLinks(kernel: string, ramdisk?: string): string {
  const lines = [`guest_kernel=${shellQuote(kernel)}`, `ln -sfn -- "$guest_kernel" "$work/${GUEST_KERNEL_LINK}"`];
  const check = [`[ -r "$work/${GUEST_KERNEL_LINK}" ] || { echo "dom0 cannot read the guest kernel $guest_kernel"; echo "done fail=1" >>"$res"; exit 1; }`];
  if (ramdisk !== undefined) {
    lines.push(`guest_ramdisk=${shellQuote(ramdisk)}`, `ln -sfn -- "$guest_ramdisk" "$work/${GUEST_RAMDISK_LINK}"`);
    check.push(`[ -r "$work/${GUEST_RAMDISK_LINK}" ] || { echo "dom0 cannot read the guest ramdisk $guest_ramdisk"; echo "done fail=1" >>"$res"; exit 1; }`);
  }
  return [...lines, ...check].join('\n') + '\n';
}

function wholeAtLeast(value: number, min: number, what: string): number {
  if (!Number.isInteger(value) || value < min) throw new UserError(`${what} must be a whole number ≥ ${min}, not ${value}`);
  return value;
}

/**
 * Shell lines starting dom0's kernel ftrace record ($ft=1 when it runs, and
 * $T the tracefs mount) and defining mark(); $res must name the result file.
 * The record ends with renderDom0FtraceEnd().
 */
export function renderDom0Ftrace(): string {
  return `# Kernel ftrace (no tracer process to start): exec/fork/exit of every process and
# our own markers, on CLOCK_MONOTONIC. Optional: without tracefs, wall times only.
T=/sys/kernel/tracing
ft=0
[ -e "$T/trace_marker" ] || mount -t tracefs nodev "$T" 2>/dev/null
if [ -w "$T/trace_marker" ] && echo 0 >"$T/tracing_on" && echo mono >"$T/trace_clock" && echo 8192 >"$T/buffer_size_kb" && : >"$T/trace" &&
  echo 1 >"$T/events/sched/sched_process_exec/enable" && echo 1 >"$T/events/sched/sched_process_exit/enable" &&
  echo 1 >"$T/events/sched/sched_process_fork/enable"; then ft=1; fi
# xenconsoled's writes: when a guest's console output reached dom0 (its first line is the marker).
cpid=$(cat /run/xenconsoled.pid 2>/dev/null)
if [ "$ft" = 1 ] && [ -n "$cpid" ] && [ -e "$T/events/syscalls/sys_enter_write/filter" ]; then
  echo "common_pid == $cpid" >"$T/events/syscalls/sys_enter_write/filter" && echo 1 >"$T/events/syscalls/sys_enter_write/enable"
fi
[ "$ft" = 1 ] && echo 1 >"$T/tracing_on"
echo "ftrace enabled=$ft" >>"$res"
mark() { [ "$ft" = 1 ] && echo "hvscope: $*" >"$T/trace_marker"; return 0; }
`;
}

/** Shell lines stopping the record and copying it to the results share. */
export function renderDom0FtraceEnd(): string {
  return `if [ "$ft" = 1 ]; then echo 0 >"$T/tracing_on"; cat "$T/trace" >"$out/${DOM0_FTRACE}"; fi\n`;
}

/** The sh script. Exit 0 only when every apply, creation, marker, teardown and rollback worked. */
export function renderXenExperiment(opts: XenExperimentOptions): string {
  const runs = wholeAtLeast(opts.runs, 1, '--runs');
  const domains = opts.domains === undefined ? undefined : wholeAtLeast(opts.domains, 1, '--domains');
  if (domains !== undefined && domains > MAX_LAB_DOMAINS) throw new UserError(`--domains: at most ${MAX_LAB_DOMAINS} in the lab (8 MiB each beside dom0), not ${domains}`);
  const markerTimeout = wholeAtLeast(opts.markerTimeoutS ?? 30, 1, 'marker timeout (s)');
  const goneTimeout = wholeAtLeast(opts.goneTimeoutS ?? 30, 1, 'gone timeout (s)');
  if (opts.profiles.length > 0 && (!opts.hvscope || opts.hvscope.length === 0)) throw new UserError('xen experiment: profiles need the hvscope command to run in dom0');
  const dirs = new Set<string>();
  for (const p of opts.profiles) {
    if (!DIR_NAME.test(p.dir)) throw new UserError(`xen experiment: profile directory ${JSON.stringify(p.dir)} must be letters, digits, '_', '.', '-'`);
    if (dirs.has(p.dir)) throw new UserError(`--profile ${p.name}: given twice`);
    dirs.add(p.dir);
  }
  if (opts.noMarker && (opts.markerRegexFile !== undefined || opts.marker !== undefined)) throw new UserError('xen experiment: noMarker excludes marker and markerRegexFile');
  if (opts.markerRegexFile !== undefined && opts.marker !== undefined) throw new UserError('xen experiment: give marker or markerRegexFile, not both');
  if (domains !== undefined && (opts.noMarker || opts.destroyAfterReady || opts.linkGuestFiles)) throw new UserError('--domains: only the tiny-pv guest can stay up (hvscope.stay); use --guest tiny-pv');
  const kernelInXl = opts.linkGuestFiles ? `${EXPERIMENT_WORK_DIR}/${GUEST_KERNEL_LINK}` : opts.kernel;
  const ramdiskInXl = opts.ramdisk === undefined ? undefined : opts.linkGuestFiles ? `${EXPERIMENT_WORK_DIR}/${GUEST_RAMDISK_LINK}` : opts.ramdisk;
  let config = renderXlDomainConfig({ name: 'tiny-pv', kernel: kernelInXl, memoryMb: opts.memoryMb ?? TINY_PV_MEMORY_MB, bridge: LAB_BRIDGE });
  const xlQuoted = (v: string, key: string) => {
    if (!/^[\x20-\x7e]*$/.test(v) || /["\\]/.test(v)) throw new UserError(`xl config: ${key} must be printable ASCII without quotes or backslashes: ${JSON.stringify(v)}`);
    return `"${v}"`;
  };
  if (ramdiskInXl !== undefined) config += `ramdisk = ${xlQuoted(ramdiskInXl, 'ramdisk')}\n`;
  if (opts.extra !== undefined) config += `extra = ${xlQuoted(opts.extra, 'extra')}\n`;
  if (domains !== undefined && (opts.ramdisk !== undefined || opts.extra !== undefined)) throw new UserError('--domains: only the tiny-pv guest can stay up (hvscope.stay); use --guest tiny-pv');
  const hvscope = (opts.hvscope ?? []).map(shellQuote).join(' ');
  const parts: string[] = [];
  parts.push(`#!/bin/sh
set -u
out="$HVSCOPE_LAB_OUT"
res="$out/${XEN_EXPERIMENT_RESULT}"
work=${EXPERIMENT_WORK_DIR}
mkdir -p "$work"
: >"$res"
fail=0
${renderReadiness(opts)}
${opts.linkGuestFiles ? renderGuestLinks(opts.kernel, opts.ramdisk) : ''}${renderDom0Ftrace()}# create_one P R NAME RUNNING STAY: one timed \`xl create\` of $cfg as NAME; waits for the
# marker (or, with ready_by=running, checks the domain exists), and unless STAY=1 (guest
# stays up) for the domain to power off and be gone (teardown=wait) or destroys it (destroy).
create_one() {
  p=$1; r=$2; dn=$3; running=$4; stay=$5
  rcfg="$work/$dn.cfg"
  sed "s/^name = .*/name = \\"$dn\\"/" "$cfg" >"$rcfg"
  [ "$stay" = 1 ] && echo 'cmdline = "${TINY_PV_STAY}"' >>"$rcfg"
  glog=/var/log/xen/console/guest-$dn.log
  mark "create_start p=$p r=$r"
  t0=$(date +%s%N)
  xl create "$rcfg" >"$pdir/run-$r.xl.log" 2>&1
  rc=$?
  t1=$(date +%s%N)
  mark "create_exit p=$p r=$r"
  cat "$pdir/run-$r.xl.log"
  mns=-1; gns=-1; rns=-1; destroyed=0
  if [ "$rc" = 0 ]; then
    if [ "$ready_by" = running ]; then
      if xl domid "$dn" >/dev/null 2>&1; then mark "ready p=$p r=$r"; rns=$(( $(date +%s%N) - t0 )); fi
    else
      n=0
      while [ "$n" -lt ${markerTimeout * 20} ]; do
        if marker_in "$glog"; then mark "marker p=$p r=$r"; mns=$(( $(date +%s%N) - t0 )); rns=$mns; break; fi
        n=$((n + 1)); sleep 0.05
      done
    fi
    if [ "$stay" != 1 ] && [ "$teardown" = destroy ]; then
      xl destroy "$dn" >/dev/null 2>&1 && destroyed=1
    fi
    if [ "$stay" != 1 ]; then
      n=0
      while [ "$n" -lt ${goneTimeout * 10} ]; do
        if ! xl domid "$dn" >/dev/null 2>&1; then mark "gone p=$p r=$r"; gns=$(( $(date +%s%N) - t0 )); break; fi
        n=$((n + 1)); sleep 0.1
      done
      [ "$gns" = -1 ] && xl destroy "$dn"
    fi
  fi
  echo "run p=$p r=$r domain=$dn running=$running create_exit=$rc create_ns=$((t1 - t0)) marker_ns=$mns gone_ns=$gns ready_ns=$rns destroyed=$destroyed" >>"$res"
  cp "$glog" "$pdir/run-$r.console.log" 2>/dev/null
  [ "$rc" = 0 ] && [ "$rns" != -1 ] && { [ "$stay" = 1 ] || [ "$gns" != -1 ]; } || fail=1
  echo "run $r of profile $p: xl create exit $rc, $(( (t1 - t0) / 1000000 )) ms; marker_ns=$mns gone_ns=$gns"
}
`);
  if (opts.warmup !== false) {
    parts.push(`# ---- warm-up: one untimed creation (cold 9p caches), gone before the first profile ----
cfg="$work/warmup.cfg"
cat >"$cfg" <<'HVSCOPE_XL_CONFIG'
${config}HVSCOPE_XL_CONFIG
sed -i 's/^name = .*/name = "tpv-warmup"/' "$cfg"
t0=$(date +%s%N)
xl create "$cfg" >"$work/warmup.log" 2>&1
rc=$?
t1=$(date +%s%N)
n=0
# A guest that may stay up is destroyed at once: the warm-up is for dom0's caches, not the guest.
[ "$teardown" = destroy ] && xl destroy tpv-warmup >/dev/null 2>&1
while [ "$rc" = 0 ] && [ "$n" -lt ${goneTimeout * 10} ] && xl domid tpv-warmup >/dev/null 2>&1; do n=$((n + 1)); sleep 0.1; done
xl destroy tpv-warmup >/dev/null 2>&1
echo "warmup exit=$rc ns=$((t1 - t0))" >>"$res"
echo "warm-up xl create: exit $rc, $(( (t1 - t0) / 1000000 )) ms"
`);
  }
  const groups: { name: string | null; dir: string; domainSection: boolean }[] =
    opts.profiles.length > 0 ? opts.profiles : [{ name: null, dir: UNTUNED, domainSection: false }];
  groups.forEach((g, p) => {
    const domainArgs = g.domainSection ? ' --domain-config "$cfg"' : '';
    parts.push(`# ---- profile ${p}: ${g.name ?? '(none)'} ----
pdir="$out/${g.dir}"
mkdir -p "$pdir"
cfg="$work/profile-${p}.cfg"
cat >"$cfg" <<'HVSCOPE_XL_CONFIG'
${config}HVSCOPE_XL_CONFIG
echo "profile p=${p} dir=${g.dir}" >>"$res"
applied=0`);
    if (g.name !== null) {
      parts.push(`echo "applying ${g.dir}"
t0=$(date +%s%N)
${hvscope} tune apply ${shellQuote(g.name)}${domainArgs} >"$pdir/tune-apply.log" 2>&1
rc=$?
t1=$(date +%s%N)
cat "$pdir/tune-apply.log"
echo "tune_apply p=${p} exit=$rc ns=$((t1 - t0))" >>"$res"
[ "$rc" = 0 ] && applied=1 || fail=1`);
    } else parts.push('applied=1');
    parts.push(`cp /etc/xen/xl.conf "$pdir/xl.conf" 2>/dev/null
cp "$cfg" "$pdir/domain.cfg"
if [ "$applied" = 1 ]; then`);
    if (domains !== undefined) {
      const names = Array.from({ length: domains }, (_, i) => `tpv-p${p}-k${i + 1}`);
      names.forEach((dn, i) => parts.push(`  create_one ${p} ${i + 1} ${dn} ${i} 1`));
      parts.push(`  echo "domains p=${p} listed=$(( $(xl list | wc -l) - 2 ))" >>"$res"`);
      parts.push(`  for dn in ${names.join(' ')}; do xl destroy "$dn" 2>/dev/null; done`);
    } else {
      for (let r = 1; r <= runs; r++) parts.push(`  create_one ${p} ${r} tpv-p${p}-r${r} 0 0`);
    }
    parts.push('fi');
    if (g.name !== null) {
      parts.push(`if [ "$applied" = 1 ]; then
  ${hvscope} tune rollback >"$pdir/tune-rollback.log" 2>&1
  rc=$?
  cat "$pdir/tune-rollback.log"
  echo "tune_rollback p=${p} exit=$rc" >>"$res"
  [ "$rc" = 0 ] || fail=1
fi`);
    }
    parts.push('');
  });
  parts.push(`${renderDom0FtraceEnd()}echo "done fail=$fail" >>"$res"
exit $fail
`);
  return parts.join('\n');
}

export interface XenRunResult {
  /** Profile index (order given). */
  profile: number;
  /** 1-based creation number within the profile. */
  run: number;
  domain: string;
  /** Domains of this profile already running when it was created (scaling mode), else 0. */
  runningDomains: number;
  createExit: number;
  /** Wall time of `xl create` in dom0 (date +%s%N around it). */
  createNs: number;
  /** From `xl create` start until the marker was seen in the guest's console log; undefined when never. */
  markerNs?: number;
  goneNs?: number;
  /** When the guest counted as ready: its marker, or (no marker) the domain seen running after `xl create`. */
  readyNs?: number;
  /** The experiment destroyed the domain (a --guest PATH that may stay up) rather than it powering off. */
  destroyed?: boolean;
}

export interface XenProfileResult {
  index: number;
  dir: string;
  tuneApply?: { exit: number; ns: number };
  tuneRollback?: { exit: number };
  /** Domains `xl list` showed after the last creation (scaling mode). */
  listedDomains?: number;
}

export interface XenExperimentResult {
  ftrace: boolean;
  /** The untimed warm-up creation, when there was one. */
  warmup?: { exit: number; ns: number };
  profiles: XenProfileResult[];
  runs: XenRunResult[];
  /** The script got to its end (`done` line). */
  finished: boolean;
  failed: boolean;
}

/** Reads xen-experiment.txt; UserError naming the file and line on anything malformed. */
export async function parseXenExperiment(outDir: string): Promise<XenExperimentResult> {
  const file = join(outDir, XEN_EXPERIMENT_RESULT);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`xen experiment: ${file} is missing (the experiment did not start; see experiment.log)`);
  }
  return parseXenExperimentText(text, file);
}

export function parseXenExperimentText(text: string, file: string): XenExperimentResult {
  const result: XenExperimentResult = { ftrace: false, profiles: [], runs: [], finished: false, failed: false };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const { kind, get, int, str } = parseRecordLine(line, file, i + 1);
    const profile = (): XenProfileResult => {
      const p = result.profiles.find((x) => x.index === int('p'));
      if (!p) throw fileError(file, i + 1, `${kind}: profile ${int('p')} was not announced before`);
      return p;
    };
    switch (kind) {
      case 'ftrace':
        result.ftrace = int('enabled') === 1;
        break;
      case 'warmup':
        result.warmup = { exit: int('exit'), ns: int('ns') };
        break;
      case 'profile':
        result.profiles.push({ index: int('p'), dir: str('dir') });
        break;
      case 'tune_apply':
        profile().tuneApply = { exit: int('exit'), ns: int('ns') };
        break;
      case 'tune_rollback':
        profile().tuneRollback = { exit: int('exit') };
        break;
      case 'domains':
        profile().listedDomains = int('listed');
        break;
      case 'run': {
        profile();
        const marker = int('marker_ns');
        const gone = int('gone_ns');
        // ready_ns/destroyed came later: older records lack them (ready = the marker there).
        const ready = get('ready_ns') !== undefined ? int('ready_ns') : -1;
        const destroyed = get('destroyed') !== undefined ? int('destroyed') === 1 : false;
        result.runs.push({
          profile: int('p'),
          run: int('r'),
          domain: str('domain'),
          runningDomains: int('running'),
          createExit: int('create_exit'),
          createNs: int('create_ns'),
          ...(marker >= 0 ? { markerNs: marker } : {}),
          ...(gone >= 0 ? { goneNs: gone } : {}),
          ...(ready >= 0 ? { readyNs: ready } : {}),
          ...(destroyed ? { destroyed } : {}),
        });
        break;
      }
      case 'done':
        result.finished = true;
        result.failed = int('fail') !== 0;
        break;
      default:
        throw fileError(file, i + 1, `unknown record ${JSON.stringify(kind)}`);
    }
  });
  return result;
}

/** One event of dom0's ftrace text (`trace` file, clock mono). */
export interface FtraceEvent {
  comm: string;
  pid: number;
  /** ns on CLOCK_MONOTONIC (µs resolution). */
  ns: number;
  event: string;
  body: string;
}

// Syscall events print as `sys_write(fd: 5, ...)`, the others as `name: fields`.
const FTRACE_LINE = /^\s*(.+)-(\d+)\s+\[\d+\]\s+(?:\S+\s+)?(\d+)\.(\d{6}):\s+([a-z_0-9]+)(?::\s?(.*)|(\(.*))$/;

/** Parses ftrace's text output; comment and unrecognised lines are skipped. */
export function parseFtrace(text: string): FtraceEvent[] {
  const events: FtraceEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = FTRACE_LINE.exec(line);
    if (!m) continue;
    events.push({ comm: m[1].trim(), pid: Number(m[2]), ns: Number(m[3]) * 1e9 + Number(m[4]) * 1e3, event: m[5], body: (m[6] ?? m[7]).trim() });
  }
  return events;
}

export function fields(body: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of body.matchAll(/([a-z_]+)=(\S+)/g)) map.set(m[1], m[2]);
  return map;
}

/** What ftrace saw of one creation, ns relative to its create_start marker. */
export interface FtraceRun {
  createExitNs?: number;
  markerNs?: number;
  goneNs?: number;
  /**
   * Hotplug scripts (/etc/xen/scripts/*) exec'd after create start, with their descendants'
   * execs; `create` when `xl create` itself ran it, `teardown` when xl's daemon did (domain gone).
   */
  scripts: { name: string; pid: number; startNs: number; endNs?: number; execs: number; when: 'create' | 'teardown' }[];
  /** When the last hotplug script `xl create` ran had exited (xl then unpauses the domain). */
  devicesDoneNs?: number;
  /** xenconsoled's first write of guest output after that: the guest's first console line reached dom0. */
  guestOutputNs?: number;
  /** exec events between create start and xl's exit. */
  execsDuringCreate: number;
  /** pid of the `xl create` process, when its exec was seen. */
  xlPid?: number;
  /**
   * Every program the hotplug scripts' processes exec'd (ip, brctl, logger, xenstore-*, …):
   * exec → next exec of the pid or its exit; ppid: the nearest ancestor that exec'd (the script
   * or another program), skipping the subshells the script forked without an exec.
   */
  helpers: { name: string; pid: number; ppid?: number; startNs: number; endNs?: number; script: number }[];
}

/**
 * Splits the ftrace record into creations by our markers (`hvscope: create_start p=P r=R`).
 * `creator`: the program the marker's shell ran to create the domain (default xl: a hotplug
 * script is the creation's when xl forked it); null when another daemon runs the scripts
 * (libvirtd): then a script is the creation's when it started before `cutoffNs(key)` (ns from
 * create start, e.g. the unpause: a guest that powers off at once has its teardown scripts
 * run before the command's return is marked), else before the create_exit marker.
 */
export function ftraceRuns(events: FtraceEvent[], opts: { creator?: RegExp | null; cutoffNs?: (key: string) => number | undefined } = {}): Map<string, FtraceRun> {
  const creator = opts.creator === undefined ? /\/xl$/ : opts.creator;
  const runs = new Map<string, FtraceRun>();
  const starts: { key: string; index: number; ns: number }[] = [];
  events.forEach((e, index) => {
    const m = e.event === 'tracing_mark_write' ? /^hvscope: create_start p=(\d+) r=(\d+)/.exec(e.body) : null;
    if (m) starts.push({ key: `${m[1]}/${m[2]}`, index, ns: e.ns });
  });
  starts.forEach((s, si) => {
    const end = si + 1 < starts.length ? starts[si + 1].index : events.length;
    const slice = events.slice(s.index + 1, end);
    const run: FtraceRun = { scripts: [], execsDuringCreate: 0, helpers: [] };
    const [p, r] = s.key.split('/');
    const markerAt = (name: string) => slice.find((e) => e.event === 'tracing_mark_write' && e.body.startsWith(`hvscope: ${name} p=${p} r=${r}`));
    const rel = (e: FtraceEvent | undefined) => (e ? e.ns - s.ns : undefined);
    run.createExitNs = rel(markerAt('create_exit'));
    run.markerNs = rel(markerAt('marker'));
    run.goneNs = rel(markerAt('gone'));
    // Process tree: each script's descendants (fork parent → child) within this slice.
    const children = new Map<number, number[]>();
    for (const e of slice) {
      if (e.event !== 'sched_process_fork') continue;
      const f = fields(e.body);
      const parent = Number(f.get('pid') ?? e.pid);
      const child = Number(f.get('child_pid'));
      if (Number.isInteger(child)) children.set(parent, [...(children.get(parent) ?? []), child]);
    }
    const descendants = (pid: number): Set<number> => {
      const seen = new Set<number>([pid]);
      const todo = [pid];
      while (todo.length) for (const c of children.get(todo.pop()!) ?? []) if (!seen.has(c)) (seen.add(c), todo.push(c));
      return seen;
    };
    // The `xl create` process: the marker writer's child that exec'd xl.
    const shellPid = events[s.index].pid;
    const shellChildren = new Set(children.get(shellPid) ?? []);
    const xlExec = creator === null ? undefined : slice.find((e) => e.event === 'sched_process_exec' && creator.test(fields(e.body).get('filename') ?? '') && shellChildren.has(Number(fields(e.body).get('pid') ?? e.pid)));
    const xlPid = xlExec ? Number(fields(xlExec.body).get('pid') ?? xlExec.pid) : undefined;
    const parentOf = new Map<number, number>();
    for (const [parent, kids] of children) for (const k of kids) parentOf.set(k, parent);
    for (const e of slice) {
      if (e.event !== 'sched_process_exec') continue;
      const f = fields(e.body);
      const filename = f.get('filename') ?? '';
      const pid = Number(f.get('pid') ?? e.pid);
      if (run.createExitNs === undefined || e.ns - s.ns <= run.createExitNs) run.execsDuringCreate++;
      if (!filename.startsWith('/etc/xen/scripts/')) continue;
      const exit = slice.find((x) => x.event === 'sched_process_exit' && x.ns >= e.ns && Number(fields(x.body).get('pid') ?? x.pid) === pid);
      const tree = descendants(pid);
      const execs = slice.filter((x) => x.event === 'sched_process_exec' && x !== e && tree.has(Number(fields(x.body).get('pid') ?? x.pid))).length;
      const cutoff = opts.cutoffNs?.(s.key) ?? run.createExitNs;
      const byXl = xlPid !== undefined ? parentOf.get(pid) === xlPid : cutoff === undefined || e.ns - s.ns <= cutoff;
      run.scripts.push({ name: filename.slice('/etc/xen/scripts/'.length), pid, startNs: e.ns - s.ns, endNs: exit ? exit.ns - s.ns : undefined, execs, when: byXl ? 'create' : 'teardown' });
      run.helpers.push(...helperRuns(slice, tree, pid, e, parentOf).map((h) => ({ ...h, startNs: h.startNs - s.ns, endNs: h.endNs === undefined ? undefined : h.endNs - s.ns })));
    }
    if (xlPid !== undefined) run.xlPid = xlPid;
    const created = run.scripts.filter((x) => x.when === 'create');
    if (created.length > 0 && created.every((x) => x.endNs !== undefined)) {
      run.devicesDoneNs = Math.max(...created.map((x) => x.endNs!));
      // xenconsoled's writes: 16-byte headers go to xenstored's socket, 4 bytes to the event
      // channel device; the first other write after the devices are up is the guest's output.
      const writes = slice.filter((e) => e.event === 'sys_write').map((e) => ({ ns: e.ns, fd: /fd: (\w+)/.exec(e.body)?.[1], count: parseInt(/count: (\w+)/.exec(e.body)?.[1] ?? '0', 16) }));
      const xenstoreFds = new Set(writes.filter((w) => w.count === 0x10).map((w) => w.fd));
      const output = writes.find((w) => w.ns - s.ns >= run.devicesDoneNs! && w.count > 4 && !xenstoreFds.has(w.fd));
      if (output) run.guestOutputNs = output.ns - s.ns;
    }
    runs.set(s.key, run);
  });
  return runs;
}

/** The programs a hotplug script's process tree exec'd (the script's own exec excluded), ns as in the slice. */
function helperRuns(slice: FtraceEvent[], tree: Set<number>, script: number, scriptExec: FtraceEvent, parentOf: Map<number, number>): FtraceRun['helpers'] {
  const pidOf = (e: FtraceEvent) => Number(fields(e.body).get('pid') ?? e.pid);
  const execd = new Set(slice.filter((e) => e.event === 'sched_process_exec').map(pidOf));
  const tracedParent = (pid: number): number | undefined => {
    let p = parentOf.get(pid);
    for (let depth = 0; p !== undefined && depth < 64 && !execd.has(p); depth++) p = parentOf.get(p);
    return p;
  };
  const helpers: FtraceRun['helpers'] = [];
  slice.forEach((e, i) => {
    if (e.event !== 'sched_process_exec' || e === scriptExec) return;
    const pid = pidOf(e);
    if (!tree.has(pid)) return;
    // Until the pid's next exec (it replaced itself) or its exit.
    const end = slice.slice(i + 1).find((x) => (x.event === 'sched_process_exit' || x.event === 'sched_process_exec') && pidOf(x) === pid);
    const filename = fields(e.body).get('filename') ?? e.comm;
    helpers.push({ name: filename.slice(filename.lastIndexOf('/') + 1), pid, ppid: tracedParent(pid), startNs: e.ns, endNs: end?.ns, script });
  });
  return helpers;
}

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
