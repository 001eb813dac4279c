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
// results share; parseXenExperiment (experiment-result.ts) reads them back, xenRunTrace
// (experiment-trace.ts) builds traces, with dom0's ftrace cut per run (dom0-ftrace.ts).
import { UserError } from '../../model/errors.js';
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
