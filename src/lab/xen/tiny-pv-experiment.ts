// The experiment the lab runs for the tiny-pv guest: write its xl config, time a
// real `xl create`, wait for the guest's marker in xenconsoled's log, wait for
// the domain to power itself off and disappear. The script writes `key=value`
// lines to tiny-pv-result.txt in the results share; parseTinyPvResult reads them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../model/errors.js';
import { TINY_PV_MARKER, TINY_PV_MEMORY_MB } from '../tiny-pv-guest.js';
import { LAB_BRIDGE, shellQuote } from './dom0-initramfs.js';

export const TINY_PV_RESULT = 'tiny-pv-result.txt';
export const TINY_PV_GUEST_LOG = 'guest-console.log';
export const XL_CREATE_LOG = 'xl-create.log';

export interface XlDomainConfig {
  name: string;
  kernel: string;
  memoryMb: number;
  /** Bridge for one vif, or none. */
  bridge?: string;
}

/** A value xl's config parser reads back unchanged inside double quotes. */
function xlString(value: string, key: string): string {
  if (!/^[\x20-\x7e]*$/.test(value) || /["\\]/.test(value))
    throw new UserError(`xl config: ${key} must be printable ASCII without quotes or backslashes: ${JSON.stringify(value)}`);
  return `"${value}"`;
}

/** A PV domain config for `xl create`; the domain is destroyed when it powers off. */
export function renderXlDomainConfig(cfg: XlDomainConfig): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(cfg.name)) throw new UserError(`xl config: domain name ${JSON.stringify(cfg.name)} must be 1–64 letters, digits, '_', '.', '-'`);
  if (!Number.isInteger(cfg.memoryMb) || cfg.memoryMb < 1) throw new UserError(`xl config: memory must be a positive whole number of MiB, not ${cfg.memoryMb}`);
  const lines = [
    `name = ${xlString(cfg.name, 'name')}`,
    'type = "pv"',
    `kernel = ${xlString(cfg.kernel, 'kernel')}`,
    `memory = ${cfg.memoryMb}`,
    'vcpus = 1',
  ];
  if (cfg.bridge !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(cfg.bridge)) throw new UserError(`xl config: bridge ${JSON.stringify(cfg.bridge)} is not an interface name`);
    lines.push(`vif = [ "bridge=${cfg.bridge}" ]`);
  }
  lines.push('on_poweroff = "destroy"', 'on_reboot = "destroy"', 'on_crash = "destroy"');
  return lines.join('\n') + '\n';
}

export interface TinyPvExperimentOptions {
  /** tiny-pv.elf as dom0 sees it (the host's path: dom0's root is the host's). */
  kernel: string;
  name?: string;
  /** Seconds to wait for the marker after `xl create` returned. */
  markerTimeoutS?: number;
  /** Seconds to wait for the domain to be gone after the marker. */
  goneTimeoutS?: number;
  /** The line to wait for (default: the one tiny-pv prints). */
  marker?: string;
  bridge?: string;
}

/** The sh script (run in dom0 by runInXenLab). Exit 0 only when create, marker and teardown all worked. */
export function renderTinyPvExperiment(opts: TinyPvExperimentOptions): string {
  const name = opts.name ?? 'tiny-pv';
  const config = renderXlDomainConfig({ name, kernel: opts.kernel, memoryMb: TINY_PV_MEMORY_MB, bridge: opts.bridge ?? LAB_BRIDGE });
  const markerTimeout = opts.markerTimeoutS ?? 30;
  const goneTimeout = opts.goneTimeoutS ?? 30;
  if (!Number.isInteger(markerTimeout) || markerTimeout < 1 || !Number.isInteger(goneTimeout) || goneTimeout < 1)
    throw new UserError('tiny-pv experiment: timeouts must be whole seconds ≥ 1');
  return `#!/bin/sh
set -u
out="$HVSCOPE_LAB_OUT"
res="$out/${TINY_PV_RESULT}"
name=${shellQuote(name)}
marker=${shellQuote(opts.marker ?? TINY_PV_MARKER)}
cfg=/run/hvscope-lab/$name.cfg
log=/var/log/xen/console/guest-$name.log
cat >"$cfg" <<'HVSCOPE_XL_CONFIG'
${config}HVSCOPE_XL_CONFIG
: >"$res"
t0=$(date +%s%N)
xl create "$cfg" >"$out/${XL_CREATE_LOG}" 2>&1
rc=$?
t1=$(date +%s%N)
echo "xl_create_exit=$rc" >>"$res"
echo "xl_create_ns=$((t1 - t0))" >>"$res"
cat "$out/${XL_CREATE_LOG}"
if [ "$rc" -ne 0 ]; then echo "xl create failed with status $rc"; exit 2; fi
seen=0
end=$(( $(date +%s) + ${markerTimeout} ))
while [ "$(date +%s)" -lt "$end" ]; do
  if grep -qF -- "$marker" "$log" 2>/dev/null; then seen=1; break; fi
  sleep 0.1
done
t2=$(date +%s%N)
echo "marker_seen=$seen" >>"$res"
[ "$seen" = 1 ] && echo "marker_ns=$((t2 - t0))" >>"$res"
gone=0
end=$(( $(date +%s) + ${goneTimeout} ))
while [ "$(date +%s)" -lt "$end" ]; do
  if ! xl domid "$name" >/dev/null 2>&1; then gone=1; break; fi
  sleep 0.1
done
t3=$(date +%s%N)
echo "domain_gone=$gone" >>"$res"
[ "$gone" = 1 ] && echo "gone_ns=$((t3 - t0))" >>"$res"
[ "$gone" = 1 ] || xl destroy "$name"
cp "$log" "$out/${TINY_PV_GUEST_LOG}" 2>/dev/null
echo "tiny-pv: marker_seen=$seen domain_gone=$gone"
[ "$seen" = 1 ] && [ "$gone" = 1 ]
`;
}

export interface TinyPvResult {
  xlCreateExit: number;
  /** Wall time of `xl create` in dom0. */
  xlCreateMs: number;
  markerSeen: boolean;
  /** From `xl create` start until the marker was seen in the guest's console log (polled every 0.1 s). */
  markerMs?: number;
  domainGone: boolean;
  goneMs?: number;
}

/**
 * Reads a results file of `key=integer` lines that an experiment script wrote in dom0;
 * `missing` is the message when the file is not there. UserError naming file and line otherwise.
 */
export async function readKeyIntegerFile(file: string, missing: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UserError(missing);
  }
  const values = new Map<string, number>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^([a-z_]+)=(-?\d+)$/.exec(line.trim());
    if (!m) throw new UserError(`${file}:${i + 1}: expected key=integer, got ${JSON.stringify(line)}`);
    values.set(m[1], Number(m[2]));
  });
  return values;
}

/** Reads tiny-pv-result.txt; UserError naming the file and line on anything unexpected. */
export async function parseTinyPvResult(outDir: string): Promise<TinyPvResult> {
  const file = join(outDir, TINY_PV_RESULT);
  const values = await readKeyIntegerFile(
    file,
    `tiny-pv experiment: ${file} is missing (the experiment did not get as far as xl create; see experiment.log)`,
  );
  const need = (key: string) => {
    const v = values.get(key);
    if (v === undefined) throw new UserError(`${file}: no ${key} (the experiment stopped early; see experiment.log)`);
    return v;
  };
  const ms = (key: string) => (values.has(key) ? values.get(key)! / 1e6 : undefined);
  return {
    xlCreateExit: need('xl_create_exit'),
    xlCreateMs: need('xl_create_ns') / 1e6,
    markerSeen: values.get('marker_seen') === 1,
    markerMs: ms('marker_ns'),
    domainGone: values.get('domain_gone') === 1,
    goneMs: ms('gone_ns'),
  };
}

/**
 * Why a tiny-pv lab run failed, in one sentence, or undefined when it worked
 * (xl create succeeded, the marker was seen, the domain was gone afterwards).
 */
export function tinyPvFailure(experimentExit: number, result: TinyPvResult | undefined, outDir: string): string | undefined {
  if (!result) return `the experiment left no ${TINY_PV_RESULT} (exit ${experimentExit}; see ${join(outDir, 'experiment.log')})`;
  if (result.xlCreateExit !== 0) return `xl create failed with status ${result.xlCreateExit} (see ${join(outDir, XL_CREATE_LOG)})`;
  if (!result.markerSeen) return `the guest never printed its marker on its console (see ${join(outDir, TINY_PV_GUEST_LOG)} and ${join(outDir, 'dom0-logs')})`;
  if (!result.domainGone) return 'the domain was still there after the guest powered off (it was destroyed)';
  if (experimentExit !== 0) return `the experiment exited with status ${experimentExit} (see ${join(outDir, 'experiment.log')})`;
  return undefined;
}
