// The traced `xl create` experiment for the Xen lab (runInXenLab): inside dom0,
// the real command users run on a real Xen host,
//   hvscope trace --probes xen,exec,net -o xl-create.hvtrace.json -- xl create tiny-pv.cfg
// plus, optionally, two recordings for the probe example and the xl-log importer:
//   raw:   bpftrace -f json probes/xen.bt PID around a held `xl create` (NDJSON as is)
//   xlLog: `xl -vvv create` with each stderr line stamped on CLOCK_MONOTONIC when
//          read by a small node stamper (xl's own -T stamps have 1 s resolution)
// Each creation uses its own domain name and waits for the guest (tiny-pv
// powers itself off; on_poweroff=destroy) to be gone before the next one.
// Results land in $HVSCOPE_LAB_OUT under the names exported below;
// traced-create-result.txt holds `key=integer` lines (exit codes).
import { join } from 'node:path';
import { UserError } from '../../model/errors.js';
import { TINY_PV_MEMORY_MB } from '../tiny-pv-guest.js';
import { LAB_BRIDGE, shellQuote } from './dom0-initramfs.js';
import { readKeyIntegerFile, renderXlDomainConfig } from './tiny-pv-experiment.js';

export const TRACED_CREATE_FILES = {
  result: 'traced-create-result.txt',
  /** The xl config `hvscope trace` ran `xl create` on. */
  config: 'tiny-pv.cfg',
  trace: 'xl-create.hvtrace.json',
  /** hvscope trace's stderr (progress, phases) and xl's output. */
  traceLog: 'hvscope-trace.log',
  rawBpftrace: 'xen-bpftrace.ndjson',
  rawBpftraceLog: 'xen-bpftrace.log',
  xlLog: 'xl-vvv-create.log',
  guestConsole: 'guest-console-traced.log',
} as const;

export interface TracedCreateOptions {
  /** tiny-pv.elf as dom0 sees it (dom0's root is the host's). */
  kernel: string;
  /**
   * argv prefix that runs the hvscope CLI inside dom0, e.g.
   * ['node', '/work/main/bin/hvscope'] (host paths: dom0 sees the host's root).
   */
  hvscope: string[];
  /** probes/ directory as dom0 sees it (for the raw bpftrace recording). */
  probesDir: string;
  /** Probe sets for hvscope trace (default xen,exec,net). */
  probes?: string[];
  /** Also record raw bpftrace output of probes/xen.bt alone. */
  raw?: boolean;
  /** Also record a monotonic-stamped `xl -vvv create`. */
  xlLog?: boolean;
  /** Seconds to wait for each domain to be gone after its creation. */
  goneTimeoutS?: number;
}

/** Stamps each stdin line with CLOCK_MONOTONIC seconds (9 digits) when read; touches $1 when ready. */
const STAMPER_JS = `const fs=require('fs');fs.writeFileSync(process.argv[1],'');let p='';const out=(l)=>{const t=process.hrtime.bigint();process.stdout.write((t/1000000000n)+'.'+String(t%1000000000n).padStart(9,'0')+' '+l+'\\n')};process.stdin.on('data',(c)=>{p+=c.toString('latin1');const ls=p.split('\\n');p=ls.pop();ls.forEach(out)});process.stdin.on('end',()=>{if(p)out(p)})`;

/** The sh script (run in dom0 by runInXenLab). Exit 0 when every requested creation worked. */
export function renderTracedCreateExperiment(opts: TracedCreateOptions): string {
  if (opts.hvscope.length === 0) throw new UserError('traced create: the hvscope command is empty');
  const goneTimeout = opts.goneTimeoutS ?? 30;
  if (!Number.isInteger(goneTimeout) || goneTimeout < 1) throw new UserError('traced create: gone timeout must be whole seconds ≥ 1');
  const probes = (opts.probes ?? ['xen', 'exec', 'net']).join(',');
  if (!/^[a-z,]+$/.test(probes)) throw new UserError(`traced create: bad probe set list ${JSON.stringify(probes)}`);
  const config = (name: string) => renderXlDomainConfig({ name, kernel: opts.kernel, memoryMb: TINY_PV_MEMORY_MB, bridge: LAB_BRIDGE });
  const f = TRACED_CREATE_FILES;
  const hvscope = opts.hvscope.map(shellQuote).join(' ');
  const parts: string[] = [];
  parts.push(`#!/bin/sh
set -u
out="$HVSCOPE_LAB_OUT"
res="$out/${f.result}"
work=/run/hvscope-lab/traced-create
mkdir -p "$work"
: >"$res"
# wait_gone NAME: the guest powers itself off; xl's daemon destroys it.
wait_gone() {
  end=$(( $(date +%s) + ${goneTimeout} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    xl domid "$1" >/dev/null 2>&1 || return 0
    sleep 0.2
  done
  echo "domain $1 still there after ${goneTimeout} s: destroying it"
  xl destroy "$1"
  return 1
}
`);
  if (opts.raw) {
    parts.push(`# ---- raw: bpftrace -f json probes/xen.bt around a held xl create ----
cat >"$work/raw.cfg" <<'HVSCOPE_XL_CONFIG'
${config('tiny-pv-raw')}HVSCOPE_XL_CONFIG
mkfifo "$work/gate"
sh -c 'read _ <"$0"; exec "$@"' "$work/gate" xl create "$work/raw.cfg" >"$work/raw-xl.log" 2>&1 &
held=$!
BPFTRACE_PERF_RB_PAGES=1024 bpftrace -f json ${shellQuote(join(opts.probesDir, 'xen.bt'))} "$held" >"$out/${f.rawBpftrace}" 2>"$out/${f.rawBpftraceLog}" &
bp=$!
t_bp=$(date +%s%N)
n=0
until grep -q hv_begin "$out/${f.rawBpftrace}" 2>/dev/null; do
  n=$((n + 1)); [ "$n" -gt 600 ] && break
  kill -0 "$bp" 2>/dev/null || break
  sleep 0.1
done
echo go >"$work/gate"
echo "raw bpftrace attached after $(( ($(date +%s%N) - t_bp) / 1000000 )) ms"
wait "$held"
echo "raw_xl_create_exit=$?" >>"$res"
n=0
until grep -q hv_exit "$out/${f.rawBpftrace}" 2>/dev/null; do
  n=$((n + 1)); [ "$n" -gt 100 ] && break
  sleep 0.1
done
sleep 1
kill -INT "$bp" 2>/dev/null
wait "$bp"
echo "raw_bpftrace_exit=$?" >>"$res"
cat "$work/raw-xl.log"
wait_gone tiny-pv-raw
`);
  }
  parts.push(`# ---- the deliverable: hvscope trace -- xl create ----
cat >"$out/${f.config}" <<'HVSCOPE_XL_CONFIG'
${config('tiny-pv')}HVSCOPE_XL_CONFIG
# bpftrace compiles and attaches ~80 probes under TCG in 15-73 s (cold caches,
# loaded host): give it two minutes instead of the tracer's default 30 s.
${hvscope} trace --probes ${probes} --attach-timeout 120 -o "$out/${f.trace}" -- xl create "$out/${f.config}" >"$out/${f.traceLog}" 2>&1
rc=$?
cat "$out/${f.traceLog}"
echo "trace_exit=$rc" >>"$res"
wait_gone tiny-pv
echo "traced_gone=$?" >>"$res"
cp /var/log/xen/console/guest-tiny-pv.log "$out/${f.guestConsole}" 2>/dev/null
`);
  if (opts.xlLog) {
    parts.push(`# ---- xl -vvv create, each line stamped (CLOCK_MONOTONIC) as the stamper reads it ----
cat >"$work/vvv.cfg" <<'HVSCOPE_XL_CONFIG'
${config('tiny-pv-vvv')}HVSCOPE_XL_CONFIG
mkfifo "$work/xl-stderr"
{ echo "# hvscope-xl-log 1 clock=monotonic"; node -e ${shellQuote(STAMPER_JS)} "$work/stamper-ready" <"$work/xl-stderr"; } >"$out/${f.xlLog}" &
stamper=$!
exec 3>"$work/xl-stderr"
n=0
until [ -e "$work/stamper-ready" ]; do n=$((n + 1)); [ "$n" -gt 600 ] && break; sleep 0.1; done
xl -vvv create "$work/vvv.cfg" 2>&3
echo "xl_vvv_exit=$?" >>"$res"
exec 3>&-
wait "$stamper"
wait_gone tiny-pv-vvv
`);
  }
  parts.push(`cat "$res"
grep -qv '=0$' "$res" && exit 1
exit 0
`);
  return parts.join('\n');
}

/** traced-create-result.txt as a map; UserError naming the file and line on anything unexpected. */
export async function parseTracedCreateResult(outDir: string): Promise<Map<string, number>> {
  const file = join(outDir, TRACED_CREATE_FILES.result);
  return readKeyIntegerFile(file, `traced create: ${file} is missing (the experiment did not start; see experiment.log)`);
}
