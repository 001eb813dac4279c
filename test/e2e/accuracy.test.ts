// End-to-end accuracy (issue 10): a Linux guest we did not build for hvscope
// (stock Debian kernel, `quiet`) whose /init prints numbered markers separated
// by known sleeps (src/lab/accuracy-guest.ts), booted under QEMU TCG on each
// machine type. Traced by bpftrace (`hvscope trace --probes qemu,exec`) and,
// separately, recorded rootless (QEMU's trace log + the serial console stamped
// on arrival, src/lab/boot-rootless.ts):
//  - the gap between two markers as measured matches the guest's own gap within
//    30 ms: its kernel's timestamps of the two prints, i.e. the sleep plus what
//    the guest spent around it (forking busybox's sleep under TCG took 60–120 ms
//    on this host, so the nominal sleep is only a lower bound);
//  - the kernel phase is present and starts within 50 ms of the hand-over in
//    QEMU's own trace log (the last fw_cfg_select of the kernel's items).
// Parameters (environment): HVSCOPE_ACCURACY_KERNEL (bzImage; default: the
// linux guest's Debian kernel), HVSCOPE_ACCURACY_INITRD (a busybox initramfs to
// take busybox from; default: the linux guest's), HVSCOPE_ACCURACY_SLEEPS (ms,
// default 700,1300,500), HVSCOPE_ACCURACY_MACHINES (default pc,microvm).
// Needs root and bpftrace for the traced half; in CI a missing one fails.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { importQemuLog } from '../../src/sources/qemu-log.js';
import { accuracyInitrd, accuracyMarks, DEFAULT_ACCURACY_SLEEPS_MS, parseSleeps } from '../../src/lab/accuracy-guest.js';
import { prepareLinuxGuest } from '../../src/lab/linux-guest.js';
import { recordRootless } from '../../src/lab/boot-rootless.js';
import { hostTscKhz } from '../../src/tuning/targets/host-tsc.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { buildCli, hvscope, scratchDir } from './trace-cli.js';

const GAP_TOLERANCE_MS = 30;
const HANDOVER_TOLERANCE_MS = 50;
const BOOT_TIMEOUT_MS = 150_000;
const sleeps = process.env.HVSCOPE_ACCURACY_SLEEPS ? parseSleeps(process.env.HVSCOPE_ACCURACY_SLEEPS) : DEFAULT_ACCURACY_SLEEPS_MS;
const machines = (process.env.HVSCOPE_ACCURACY_MACHINES ?? 'pc,microvm').split(',').map((m) => m.trim());

const skipQemu = requireOrSkip(hasCommand('qemu-system-x86_64') && hasCommand('cpio'), 'qemu-system-x86_64 and cpio');
const skipTraced = skipQemu || requireOrSkip(isRoot && hasCommand('bpftrace'), 'root and bpftrace (traced half)');

let work = '';
let kernel = '';
let initrd = '';
let append = '';
beforeAll(async () => {
  if (skipQemu) return;
  await buildCli();
  work = scratchDir('hvscope-accuracy-e2e-');
  const guest = process.env.HVSCOPE_ACCURACY_KERNEL && process.env.HVSCOPE_ACCURACY_INITRD ? undefined : await prepareLinuxGuest();
  kernel = process.env.HVSCOPE_ACCURACY_KERNEL ?? guest!.kernel;
  initrd = await accuracyInitrd(process.env.HVSCOPE_ACCURACY_INITRD ?? guest!.initrd, sleeps);
  // Under TCG the guest's TSC is the host's: told its rate, the guest's clock (and so its sleeps)
  // need no calibration against a timer that a loaded host delays (microvm has none to calibrate with).
  append = `console=ttyS0 panic=-1 io_delay=none quiet tsc_early_khz=${hostTscKhz()} tsc=reliable`;
}, 600_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function qemuCommand(machine: string, log: string): string[] {
  return [
    'qemu-system-x86_64', '-M', machine, '-accel', 'tcg', '-m', '256', '-smp', '1', '-nographic', '-nodefaults', '-no-user-config', '-no-reboot',
    '-serial', 'stdio', '-kernel', kernel, '-initrd', initrd, '-append', append,
    '-msg', 'timestamp=on', '-D', log, '-trace', 'fw_cfg_select', '-trace', 'runstate_set',
  ];
}

/** Realtime − monotonic clock (ns), read when Date.now() ticks (bpftrace's nsecs and process.hrtime are CLOCK_MONOTONIC). */
function realtimeMinusMonotonicNs(): number {
  const start = Date.now();
  let now = start;
  while (now === start) now = Date.now();
  return now * 1e6 - Number(process.hrtime.bigint());
}

/** The hand-over in QEMU's own log, as realtime ns. */
function logHandoverNs(log: string): number {
  const t = importQemuLog(readFileSync(log, 'utf8'), log);
  const m = t.markers.find((x) => x.boundary === 'kernel-start' && x.source === 'qemu-log');
  expect(m, 'QEMU trace log: no fw_cfg hand-over').toBeDefined();
  return t.meta.t0ClockUs! * 1000 + m!.at;
}

function consoleLines(trace: Trace): { name: string; at: number }[] {
  return trace.instants.filter((i) => trace.lanes.find((l) => l.id === i.lane)?.kind === 'guest');
}

const report: string[] = [];
/** Checks the markers' gaps; returns the errors (ms) for the report. */
function checkGaps(what: string, trace: Trace): void {
  const marks = accuracyMarks(consoleLines(trace));
  expect(marks.map((m) => m.n), `${what}: markers seen`).toEqual(sleeps.map((_, i) => i).concat(sleeps.length));
  marks.slice(1).forEach((m, i) => {
    const measured = (m.at - marks[i].at) / 1e6;
    const guest = (m.guestNs - marks[i].guestNs) / 1e6;
    report.push(`${what} gap ${i}: sleep ${sleeps[i]} ms, guest ${guest.toFixed(1)} ms, measured ${measured.toFixed(1)} ms (error vs guest ${(measured - guest).toFixed(1)}, vs sleep ${(measured - sleeps[i]).toFixed(1)})`);
    expect(Math.abs(measured - guest), `${what} gap ${i}: measured ${measured.toFixed(1)} ms, the guest's own ${guest.toFixed(1)} ms`).toBeLessThanOrEqual(GAP_TOLERANCE_MS);
    // the guest did sleep; what it spent besides (forking busybox under TCG: 60–120 ms seen) is its own
    expect(guest, `${what} gap ${i}: the guest's own gap`).toBeGreaterThanOrEqual(sleeps[i]);
  });
}

function kernelPhase(trace: Trace) {
  const k = trace.spans.find((s) => s.lane === PHASE_LANE_ID && s.phase === 'kernel');
  expect(k, `kernel phase missing; unresolved: ${JSON.stringify(trace.unresolvedPhases)}`).toBeDefined();
  return k!;
}

afterAll(() => {
  if (report.length > 0) console.log(`accuracy:\n  ${report.join('\n  ')}`);
});

for (const machine of machines) {
  describe(`accuracy on ${machine} (quiet Debian kernel, markers after sleeps of ${sleeps.join(', ')} ms)`, () => {
    it.skipIf(skipTraced)('traced by bpftrace: gaps within 30 ms, kernel phase within 50 ms of QEMU\'s hand-over', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
      const dir = scratchDir(`hvscope-accuracy-${machine}-`);
      const out = join(dir, 'trace.hvtrace.json');
      const log = join(dir, 'qemu.log');
      const offset = realtimeMinusMonotonicNs();
      const r = await hvscope(['trace', '--probes', 'qemu,exec', '-o', out, '--', ...qemuCommand(machine, log)], { timeoutMs: BOOT_TIMEOUT_MS });
      expect(r.exitCode, String(r.stderr).slice(-2000)).toBe(0);
      const trace = readTrace(out);
      checkGaps(`${machine} traced`, trace);
      const k = kernelPhase(trace);
      const kernelStartRealNs = trace.meta.t0ClockUs! * 1000 + k.start + offset;
      const diffMs = (kernelStartRealNs - logHandoverNs(log)) / 1e6;
      report.push(`${machine} traced: kernel start by ${String(k.args?._start_by ?? k.args?.start_by)}, ${diffMs.toFixed(1)} ms from the hand-over in QEMU's log`);
      expect(Math.abs(diffMs)).toBeLessThanOrEqual(HANDOVER_TOLERANCE_MS);
      rmSync(dir, { recursive: true, force: true });
    });

    it.skipIf(skipQemu)('recorded rootless (QEMU trace log + serial stamped on arrival): gaps within 30 ms, kernel phase at the hand-over', { timeout: BOOT_TIMEOUT_MS + 60_000 }, async () => {
      const dir = scratchDir(`hvscope-accuracy-rootless-${machine}-`);
      const log = join(dir, 'qemu.log');
      const r = await recordRootless(qemuCommand(machine, log), log, join(dir, 'serial.txt'), BOOT_TIMEOUT_MS);
      expect(r.exitCode, r.stderrTail.join('\n')).toBe(0);
      checkGaps(`${machine} rootless`, r.trace);
      const k = kernelPhase(r.trace);
      const diffMs = (r.trace.meta.t0ClockUs! * 1000 + k.start - logHandoverNs(log)) / 1e6;
      report.push(`${machine} rootless: kernel start by ${String(k.args?._start_by ?? k.args?.start_by)}, ${diffMs.toFixed(1)} ms from the hand-over in QEMU's log`);
      expect(Math.abs(diffMs)).toBeLessThanOrEqual(HANDOVER_TOLERANCE_MS);
      rmSync(dir, { recursive: true, force: true });
    });
  });
}
