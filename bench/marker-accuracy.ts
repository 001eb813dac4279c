// Figure "marker-accuracy": how exactly hvscope times guest console markers.
// The accuracy guest (src/lab/accuracy-guest.ts: the linux guest's Debian
// kernel, `quiet`, an init that prints numbered markers through /dev/kmsg with
// sleeps between them) boots under QEMU TCG, alternately traced by bpftrace
// (`hvscope trace --probes qemu,exec`) and recorded rootless (QEMU's trace log +
// the serial console stamped on arrival, src/lab/boot-rootless.ts). For each
// gap between two markers: |measured gap − the guest's own gap| (its kernel's
// timestamps of the two prints), in ms; per path the median and the max over
// all gaps of all boots, and the same against the nominal sleep (which also
// holds the guest's own overhead around its sleeps).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { median } from '../src/analysis/stats.js';
import { accuracyInitrd, accuracyMarks, DEFAULT_ACCURACY_SLEEPS_MS } from '../src/lab/accuracy-guest.js';
import { recordRootless } from '../src/lab/boot-rootless.js';
import { prepareLinuxGuest } from '../src/lab/linux-guest.js';
import { readTrace } from '../src/model/io.js';
import type { Trace } from '../src/model/trace.js';
import { hostTscKhz } from '../src/tuning/targets/host-tsc.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type Result = { [key: string]: Json };

const BOOT_LIMIT_MS = 120_000;
const round1 = (x: number) => Math.round(x * 10) / 10;
const bin = fileURLToPath(new URL('../../bin/hvscope', import.meta.url));

function gapErrors(trace: Trace, sleeps: readonly number[]): { guest: number[]; sleep: number[] } {
  const lines = trace.instants.filter((i) => trace.lanes.find((l) => l.id === i.lane)?.kind === 'guest');
  const marks = accuracyMarks(lines);
  if (marks.length !== sleeps.length + 1) throw new Error(`saw ${marks.length} of ${sleeps.length + 1} markers`);
  const guest: number[] = [];
  const sleep: number[] = [];
  marks.slice(1).forEach((m, i) => {
    const measured = (m.at - marks[i].at) / 1e6;
    guest.push(Math.abs(measured - (m.guestNs - marks[i].guestNs) / 1e6));
    sleep.push(Math.abs(measured - sleeps[i]));
  });
  return { guest, sleep };
}

const summary = (xs: number[]): Result => (xs.length === 0 ? { n: 0 } : { n: xs.length, median_ms: round1(median(xs)), max_ms: round1(Math.max(...xs)) });

/** Measurement (child process): `rounds` boots per path, alternating, on `machine`. */
export async function markerAccuracy(params: Result): Promise<Result> {
  const rounds = Number(params.rounds ?? 10);
  const machine = String(params.machine ?? 'pc');
  const sleeps = DEFAULT_ACCURACY_SLEEPS_MS;
  const guest = await prepareLinuxGuest();
  const initrd = await accuracyInitrd(guest.initrd, sleeps);
  const append = `console=ttyS0 panic=-1 io_delay=none quiet tsc_early_khz=${hostTscKhz()} tsc=reliable`;
  const work = mkdtempSync(join(tmpdir(), 'hvscope-bench-accuracy-'));
  const errors = { traced: { guest: [] as number[], sleep: [] as number[] }, rootless: { guest: [] as number[], sleep: [] as number[] } };
  const failures: string[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const path of r % 2 === 0 ? (['traced', 'rootless'] as const) : (['rootless', 'traced'] as const)) {
        const log = join(work, `${path}-${r}.log`);
        const command = ['qemu-system-x86_64', '-M', machine, '-accel', 'tcg', '-m', '256', '-smp', '1', '-nographic', '-nodefaults', '-no-user-config', '-no-reboot', '-serial', 'stdio', '-kernel', guest.kernel, '-initrd', initrd, '-append', append, '-msg', 'timestamp=on', '-D', log, '-trace', 'fw_cfg_select', '-trace', 'runstate_set'];
        try {
          let trace: Trace;
          if (path === 'traced') {
            const out = join(work, `traced-${r}.hvtrace.json`);
            const res = await execa(process.execPath, [bin, 'trace', '--probes', 'qemu,exec', '-o', out, '--', ...command], { reject: false, timeout: BOOT_LIMIT_MS, stdin: 'ignore' });
            if (res.exitCode !== 0) throw new Error(String(res.stderr).trim().split('\n').pop() ?? `exit ${res.exitCode}`);
            trace = readTrace(out);
          } else {
            trace = (await recordRootless(command, log, join(work, `serial-${r}.txt`), BOOT_LIMIT_MS)).trace;
          }
          const e = gapErrors(trace, sleeps);
          errors[path].guest.push(...e.guest);
          errors[path].sleep.push(...e.sleep);
          process.stderr.write(`marker-accuracy: round ${r + 1}/${rounds} ${path}: errors vs guest ${e.guest.map(round1).join(', ')} ms\n`);
        } catch (err) {
          failures.push(`${path} round ${r + 1}: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return {
    machine,
    sleeps_ms: [...sleeps],
    rounds,
    traced: { vs_guest: summary(errors.traced.guest), vs_sleep: summary(errors.traced.sleep) },
    rootless: { vs_guest: summary(errors.rootless.guest), vs_sleep: summary(errors.rootless.sleep) },
    ...(failures.length > 0 ? { failures } : {}),
  };
}

export const markerAccuracyFigure = {
  name: 'marker-accuracy',
  async run(ctx: { measure(name: string, params: Result, timeoutMs: number): Promise<{ ok: boolean; result: Result; failure?: string }>; remainingMs(): number }): Promise<Result> {
    const out = await ctx.measure('marker-accuracy', { rounds: 10, machine: 'pc' }, Math.min(900_000, ctx.remainingMs()));
    return { data: 'real (accuracy guest boots on this host, QEMU TCG; traced needs root and bpftrace)', ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
  },
};
