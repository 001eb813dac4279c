// `lab xen run --via libvirt`: the experiment run in dom0 (by runInXenLab)
// that creates tiny-pv through libvirtd's libxl driver, the path OpenStack Nova
// and OpenVIM took to ClickOS on Xen. It starts virtlogd and libvirtd (the
// host's libvirt-daemon-driver-xen, seen through dom0's view of the host's
// root; stopped when the script ends however it ends, and with the lab VM on
// Ctrl-C), then `virsh -c xen:///system create` of each group's domain XML,
// the groups alternating run by run in a rotating order (stock XML first in
// round 1, then the next group, ...), so slow spells of the shared host hit
// every group alike.
//
// Timing as the xl experiment (experiment.ts): `date +%s%N` around each virsh,
// dom0's ftrace record of exec/fork/exit, xenconsoled's writes and our markers;
// plus kernel uprobe events (tracefs uprobe_events, no tracer process) on
// libvirt's virDomainCreateXML (in virsh and in libvirtd), the libxl driver's
// libxlDomainStartNew, and libxenlight's libxl_domain_create_new and
// libxl_domain_unpause inside libvirtd: the orchestrator's request, the
// toolstack's start and the unpause. The run records use the xl experiment's
// format (xen-experiment.txt, parseXenExperiment); what only libvirt has goes
// to libvirt-experiment.txt (parseLibvirtExperimentText).
import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, fileError } from '../../model/errors.js';
import { parseRecordLine } from './record-line.js';
import { TINY_PV_MARKER } from '../tiny-pv-guest.js';
import { shellQuote } from './dom0-initramfs.js';
import { EXPERIMENT_WORK_DIR, XEN_EXPERIMENT_RESULT, renderDom0Ftrace, renderDom0FtraceEnd, renderReadiness } from './experiment.js';
import { uprobeOffsets } from './uprobe-offset.js';
import { XML_NAME_PLACEHOLDER } from './libvirt-xml.js';

export const LIBVIRT_EXPERIMENT_RESULT = 'libvirt-experiment.txt';
/** libvirt's connection URI for the libxl driver. */
export const XEN_URI = 'xen:///system';

/** Where Debian 12 installs what the probes attach to (dom0 sees the host's files). */
export const LIBVIRT_LIBS = {
  libvirt: '/usr/lib/x86_64-linux-gnu/libvirt.so.0',
  libxlDriver: '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_libxl.so',
  libxenlight: '/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17',
} as const;

export interface LibvirtProbe {
  /** ftrace event name (group hvscope); a return probe is `<event>_ret`. */
  event: string;
  lib: keyof typeof LIBVIRT_LIBS;
  symbol: string;
  /** Also a return probe. */
  ret: boolean;
}

/** The uprobes, in the order a creation passes them. */
export const LIBVIRT_PROBES: readonly LibvirtProbe[] = [
  { event: 'hv_api', lib: 'libvirt', symbol: 'virDomainCreateXML', ret: true },
  { event: 'hv_start', lib: 'libxlDriver', symbol: 'libxlDomainStartNew', ret: true },
  { event: 'hv_create', lib: 'libxenlight', symbol: 'libxl_domain_create_new', ret: true },
  { event: 'hv_unpause', lib: 'libxenlight', symbol: 'libxl_domain_unpause', ret: false },
];

/** uprobe_events lines for the probes whose library and symbol are here; the others are skipped (their events then never appear). */
export function libvirtUprobeLines(libs: Record<keyof typeof LIBVIRT_LIBS, string> = LIBVIRT_LIBS): { lines: string[]; missing: string[] } {
  const lines: string[] = [];
  const missing: string[] = [];
  const byLib = new Map<string, Map<string, number>>();
  for (const p of LIBVIRT_PROBES) {
    let file: string;
    try {
      file = realpathSync(libs[p.lib]);
    } catch {
      missing.push(`${p.symbol} (${libs[p.lib]} not found)`);
      continue;
    }
    if (!byLib.has(file)) byLib.set(file, uprobeOffsets(file, LIBVIRT_PROBES.filter((q) => q.lib === p.lib).map((q) => q.symbol)));
    const off = byLib.get(file)!.get(p.symbol);
    if (off === undefined) {
      missing.push(`${p.symbol} (not exported by ${file})`);
      continue;
    }
    const where = `${file}:0x${off.toString(16)}`;
    lines.push(`p:hvscope/${p.event} ${where}`);
    if (p.ret) lines.push(`r:hvscope/${p.event}_ret ${where}`);
  }
  return { lines, missing };
}

export interface LibvirtGroup {
  /** Label (`stock` or the profile's name). */
  label: string;
  /** Results directory name (DIR/<dir>/run-N...). */
  dir: string;
  /** The domain XML with the NAME placeholder. */
  xml: string;
}

export interface LibvirtExperimentOptions {
  groups: LibvirtGroup[];
  /** Creations per group. */
  runs: number;
  /** uprobe_events lines (libvirtUprobeLines). */
  uprobes: string[];
  marker?: string;
  markerTimeoutS?: number;
  goneTimeoutS?: number;
  /** Seconds to wait for libvirtd's libxl driver to answer (its first call probes the host ≈10 s under TCG). */
  daemonTimeoutS?: number;
}

const HEREDOC = 'HVSCOPE_DOMAIN_XML';
const DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The order of the groups in round r (1-based): rotated by one each round. */
export function roundOrder(groups: number, r: number): number[] {
  return Array.from({ length: groups }, (_, i) => (i + r - 1) % groups);
}

/** The sh script. Exit 0 only when libvirtd answered and every creation, marker and teardown worked. */
export function renderLibvirtExperiment(opts: LibvirtExperimentOptions): string {
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new UserError(`--runs must be a whole number ≥ 1, not ${opts.runs}`);
  if (opts.groups.length === 0) throw new UserError('libvirt experiment: no domain XML to create');
  const dirs = new Set<string>();
  for (const g of opts.groups) {
    if (!DIR_NAME.test(g.dir)) throw new UserError(`libvirt experiment: directory ${JSON.stringify(g.dir)} must be letters, digits, '_', '.', '-'`);
    if (dirs.has(g.dir)) throw new UserError(`--profile ${g.label}: given twice`);
    dirs.add(g.dir);
    if (!g.xml.includes(`<name>${XML_NAME_PLACEHOLDER}</name>`)) throw new UserError(`libvirt experiment: the domain XML of ${g.label} has no <name>${XML_NAME_PLACEHOLDER}</name>`);
    if (g.xml.split('\n').some((l) => l.trim() === HEREDOC)) throw new UserError(`libvirt experiment: the domain XML of ${g.label} holds the line ${HEREDOC}`);
  }
  for (const line of opts.uprobes) if (!/^[pr]:hvscope\/[a-z_]+ \/[^\s'"\\]+:0x[0-9a-f]+$/.test(line)) throw new UserError(`libvirt experiment: bad uprobe line ${JSON.stringify(line)}`);
  const markerTimeout = opts.markerTimeoutS ?? 30;
  const goneTimeout = opts.goneTimeoutS ?? 30;
  const daemonTries = Math.ceil((opts.daemonTimeoutS ?? 90) / 3);
  const parts: string[] = [`#!/bin/sh
set -u
out="$HVSCOPE_LAB_OUT"
res="$out/${XEN_EXPERIMENT_RESULT}"
lv="$out/${LIBVIRT_EXPERIMENT_RESULT}"
work=${EXPERIMENT_WORK_DIR}
mkdir -p "$work"
: >"$res"
: >"$lv"
fail=0
${renderReadiness({ marker: opts.marker ?? TINY_PV_MARKER })}
${renderDom0Ftrace()}# Kernel uprobes on libvirt and libxenlight (no tracer process): written to uprobe_events one by one.
up=0
if [ "$ft" = 1 ] && [ -w "$T/uprobe_events" ]; then
  for def in ${opts.uprobes.map(shellQuote).join(' ')}; do
    ev=\${def%% *}; ev=\${ev#*/}
    if echo "$def" >>"$T/uprobe_events" 2>>"$work/uprobes.err"; then echo "uprobe event=$ev ok=1" >>"$lv"; up=1; else echo "uprobe event=$ev ok=0" >>"$lv"; fi
  done
  [ "$up" = 1 ] && { echo 1 >"$T/events/hvscope/enable" || up=0; }
fi
[ "$up" = 1 ] || { echo "no uprobes in dom0 (tracefs uprobe_events missing or refused): orchestrate has no toolstack-start evidence"; cat "$work/uprobes.err" 2>/dev/null; }
echo "uprobes enabled=$up" >>"$lv"
# libvirt without systemd: virtlogd and libvirtd, stopped by pid when this script ends however it ends.
stop_daemons() {
  for f in "$work/libvirtd.pid" "$work/virtlogd.pid"; do
    pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] && kill "$pid" 2>/dev/null
    n=0; while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$n" -lt 50 ]; do n=$((n + 1)); sleep 0.1; done
    rm -f "$f"
  done
}
trap stop_daemons EXIT
trap 'stop_daemons; exit 130' INT TERM HUP
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
echo "starting libvirtd (libxl driver)"
t0=$(date +%s%N)
ok=0
if /usr/sbin/virtlogd -d -p "$work/virtlogd.pid" && LIBVIRT_LOG_OUTPUTS="3:file:$out/libvirtd.log" /usr/sbin/libvirtd -d -p "$work/libvirtd.pid" 2>"$out/libvirtd.stderr"; then
  n=0
  while [ "$n" -lt ${daemonTries} ]; do
    if virsh -c ${XEN_URI} version >"$out/virsh-version.txt" 2>&1; then ok=1; break; fi
    kill -0 "$(cat "$work/libvirtd.pid" 2>/dev/null)" 2>/dev/null || { echo "libvirtd died"; break; }
    n=$((n + 1)); sleep 3
  done
fi
t1=$(date +%s%N)
echo "libvirtd ready=$ok ns=$((t1 - t0))" >>"$lv"
if [ "$ok" != 1 ]; then
  echo "virsh cannot reach libvirtd's libxl driver:"; cat "$out/virsh-version.txt" "$out/libvirtd.stderr" 2>/dev/null; tail -20 "$out/libvirtd.log" 2>/dev/null
  ${renderDom0FtraceEnd().trim()}
  echo "done fail=1" >>"$res"
  exit 1
fi
echo "libvirtd ready after $(( (t1 - t0) / 1000000 )) ms"
# create_one P R DIR: one timed \`virsh create\` of group P's XML as tpv-pP-rR; waits for the marker,
# then for the guest to power off and libvirt to destroy it (gone from Xen's list).
create_one() {
  p=$1; r=$2; pdir="$out/$3"; dn="tpv-p$1-r$2"
  x="$work/$dn.xml"
  sed "s|<name>${XML_NAME_PLACEHOLDER}</name>|<name>$dn</name>|" "$work/group-$p.xml" >"$x"
  glog=/var/log/xen/console/guest-$dn.log
  mark "create_start p=$p r=$r"
  t0=$(date +%s%N)
  virsh -c ${XEN_URI} create "$x" >"$pdir/run-$r.virsh.log" 2>&1
  rc=$?
  t1=$(date +%s%N)
  mark "create_exit p=$p r=$r"
  cat "$pdir/run-$r.virsh.log"
  mns=-1; gns=-1
  if [ "$rc" = 0 ]; then
    n=0
    while [ "$n" -lt ${markerTimeout * 20} ]; do
      if marker_in "$glog"; then mark "marker p=$p r=$r"; mns=$(( $(date +%s%N) - t0 )); break; fi
      n=$((n + 1)); sleep 0.05
    done
    n=0
    while [ "$n" -lt ${goneTimeout * 10} ]; do
      if ! xl domid "$dn" >/dev/null 2>&1; then mark "gone p=$p r=$r"; gns=$(( $(date +%s%N) - t0 )); break; fi
      n=$((n + 1)); sleep 0.1
    done
    [ "$gns" = -1 ] && virsh -c ${XEN_URI} destroy "$dn" >/dev/null 2>&1
  fi
  echo "run p=$p r=$r domain=$dn running=0 create_exit=$rc create_ns=$((t1 - t0)) marker_ns=$mns gone_ns=$gns ready_ns=$mns destroyed=0" >>"$res"
  cp "$glog" "$pdir/run-$r.console.log" 2>/dev/null
  [ "$rc" = 0 ] && [ "$mns" != -1 ] && [ "$gns" != -1 ] || fail=1
  echo "run $r of $3: virsh create exit $rc, $(( (t1 - t0) / 1000000 )) ms; marker_ns=$mns gone_ns=$gns"
}
`];
  opts.groups.forEach((g, p) => {
    parts.push(`cat >"$work/group-${p}.xml" <<'${HEREDOC}'
${g.xml.endsWith('\n') ? g.xml : `${g.xml}\n`}${HEREDOC}
mkdir -p "$out/${g.dir}"
cp "$work/group-${p}.xml" "$out/${g.dir}/domain.xml"
echo "profile p=${p} dir=${g.dir}" >>"$res"`);
  });
  // One untimed creation first: the first virsh create in a fresh dom0 reads the hotplug scripts and
  // their programs through 9p with cold caches.
  parts.push(`sed "s|<name>${XML_NAME_PLACEHOLDER}</name>|<name>tpv-warmup</name>|" "$work/group-0.xml" >"$work/warmup.xml"
t0=$(date +%s%N)
virsh -c ${XEN_URI} create "$work/warmup.xml" >"$work/warmup.log" 2>&1
rc=$?
t1=$(date +%s%N)
n=0
while [ "$rc" = 0 ] && [ "$n" -lt ${goneTimeout * 10} ] && xl domid tpv-warmup >/dev/null 2>&1; do n=$((n + 1)); sleep 0.1; done
virsh -c ${XEN_URI} destroy tpv-warmup >/dev/null 2>&1
echo "warmup exit=$rc ns=$((t1 - t0))" >>"$res"
echo "warm-up virsh create: exit $rc, $(( (t1 - t0) / 1000000 )) ms"
[ "$rc" = 0 ] || cat "$work/warmup.log"`);
  for (let r = 1; r <= opts.runs; r++)
    for (const p of roundOrder(opts.groups.length, r)) parts.push(`create_one ${p} ${r} ${opts.groups[p].dir}`);
  parts.push(`stop_daemons
cp -r /var/log/libvirt/libxl "$out/libvirt-libxl-logs" 2>/dev/null
${renderDom0FtraceEnd().trim()}
echo "done fail=$fail" >>"$res"
exit $fail
`);
  return parts.join('\n');
}

export interface LibvirtExperimentResult {
  /** Kernel uprobe events in dom0 worked (at least one probe defined). */
  uprobes: boolean;
  /** Probe event → defined. */
  probes: Record<string, boolean>;
  /** libvirtd answered `virsh version` through the libxl driver. */
  daemonReady: boolean;
  /** From virtlogd's start until libvirtd's libxl driver answered. */
  daemonReadyNs?: number;
}

/** Reads libvirt-experiment.txt; UserError naming the file and line on anything malformed. */
export async function parseLibvirtExperiment(outDir: string): Promise<LibvirtExperimentResult> {
  const file = join(outDir, LIBVIRT_EXPERIMENT_RESULT);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(`lab xen run --via libvirt: ${file} is missing (the experiment did not start; see experiment.log)`);
  }
  return parseLibvirtExperimentText(text, file);
}

export function parseLibvirtExperimentText(text: string, file: string): LibvirtExperimentResult {
  const result: LibvirtExperimentResult = { uprobes: false, probes: {}, daemonReady: false };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const { kind, int, str } = parseRecordLine(line, file, i + 1);
    switch (kind) {
      case 'uprobe': {
        result.probes[str('event')] = int('ok') === 1;
        break;
      }
      case 'uprobes':
        result.uprobes = int('enabled') === 1;
        break;
      case 'libvirtd':
        result.daemonReady = int('ready') === 1;
        result.daemonReadyNs = int('ns');
        break;
      default:
        throw fileError(file, i + 1, `unknown record ${JSON.stringify(kind)}`);
    }
  });
  return result;
}
