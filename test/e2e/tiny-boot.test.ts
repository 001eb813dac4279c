// Boots the real tiny guest on QEMU (TCG) on microvm and pc and checks what
// hvscope's sources rely on: the serial lines in order, QEMU exiting by itself
// with the guest-OK status, and the qemu-boot-time writes 6 then 7 to port 0xf4
// in QEMU's trace log.
//
// The trace event is memory_region_ops_write: QEMU 7.2's `cpu_out` event does not
// fire for guest port writes (neither TCG nor KVM route them through cpu_outb()).
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import {
  TINY_EXIT_OK_STATUS,
  TINY_SERIAL_LINES,
  buildTinyGuest,
  tinyQemuArgs,
  type TinyGuestBuild,
  type TinyMachine,
} from '../../src/lab/tiny-guest.js';

const QEMU = 'qemu-system-x86_64';
const missing =
  requireOrSkip(hasCommand(QEMU), `${QEMU} (Debian package qemu-system-x86)`) ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld (Debian packages gcc, binutils)');

// KVM is optional here (the brief's boots are TCG); the KVM case runs only where /dev/kvm is usable.
const kvmUsable = (() => {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

// Kill QEMU if it has not exited by then; a healthy run takes a fraction of a second.
const KILL_AFTER_MS = 20_000;
// "Exits by itself within a few seconds", with room for a loaded 2-core CI machine.
const EXIT_WITHIN_MS = 8_000;

interface BootResult {
  exitCode: number | undefined;
  timedOut: boolean;
  wallMs: number;
  serialLines: string[];
  /** Values written to port 0xf4, in order, from QEMU's trace log. */
  bootTimeCodes: number[];
  pid: number | undefined;
}

let scratch: string;
let build: TinyGuestBuild;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-tiny-e2e-'));
  if (!missing) build = await buildTinyGuest(join(scratch, 'cache'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface BootOptions {
  withDebugExit?: boolean;
  accel?: 'tcg' | 'kvm';
  /** Appended to -M, e.g. microvm's ",isa-serial=off". */
  machineOptions?: string;
}

async function boot(machine: TinyMachine, kernel: string, name: string, options: BootOptions = {}): Promise<BootResult> {
  const { withDebugExit = true, accel = 'tcg', machineOptions = '' } = options;
  const traceLog = join(scratch, `${name}.trace.log`);
  // Without isa-debug-exit the guest falls back to a triple fault: keep only the serial device.
  const devices = withDebugExit ? tinyQemuArgs(machine) : tinyQemuArgs(machine).slice(0, 2);
  const args = [
    '-M', machine + machineOptions, '-accel', accel, '-m', '64',
    '-nodefaults', '-nographic', '-no-reboot',
    '-kernel', kernel,
    ...devices,
    '-trace', 'memory_region_ops_write', '-D', traceLog,
  ];
  const started = performance.now();
  const subprocess = execa(QEMU, args, {
    reject: false,
    timeout: KILL_AFTER_MS,
    killSignal: 'SIGKILL',
    stdin: 'ignore',
    stripFinalNewline: false,
  });
  const result = await subprocess;
  const wallMs = performance.now() - started;
  const trace = await readFile(traceLog, 'utf8').catch(() => '');
  const bootTimeCodes = [...trace.matchAll(/addr 0xf4 value 0x([0-9a-f]+) size 1 name 'io'/g)].map((m) => parseInt(m[1], 16));
  return {
    exitCode: result.exitCode,
    timedOut: result.timedOut,
    wallMs,
    serialLines: String(result.stdout).split(/\r?\n/),
    bootTimeCodes,
    pid: subprocess.pid,
  };
}

function isRunning(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Index of each expected line in order; -1 when missing or out of order. */
function positionsInOrder(lines: string[], expected: string[]): number[] {
  let from = 0;
  return expected.map((want) => {
    const at = lines.indexOf(want, from);
    if (at >= 0) from = at + 1;
    return at;
  });
}

const stageLines = [TINY_SERIAL_LINES.entry, TINY_SERIAL_LINES.appStart, TINY_SERIAL_LINES.done];

describe.skipIf(missing)('tiny boots on QEMU under TCG', () => {
  const cases = [
    { machine: 'microvm', image: 'kernel', protocol: 'tiny: boot protocol pvh start_info magic 0x336ec578 ok' },
    { machine: 'pc', image: 'kernel', protocol: 'tiny: boot protocol pvh start_info magic 0x336ec578 ok' },
    { machine: 'pc', image: 'multibootKernel', protocol: 'tiny: boot protocol multiboot' },
    { machine: 'microvm', image: 'multibootKernel', protocol: 'tiny: boot protocol multiboot' },
  ] as const;

  it.each(cases)('$machine, $image: stages in order, exit status 33, 0xf4 codes 6 then 7', async ({ machine, image, protocol }) => {
    const r = await boot(machine, build[image], `${machine}-${image}`);
    expect(r.timedOut).toBe(false);
    expect(isRunning(r.pid)).toBe(false);
    expect(r.serialLines.filter((l) => l.startsWith('tiny:'))).toContain(protocol);
    expect(positionsInOrder(r.serialLines, stageLines)).not.toContain(-1);
    expect(r.serialLines).toContain('tiny: app result primes<10000=1229');
    expect(r.exitCode).toBe(TINY_EXIT_OK_STATUS);
    expect(r.wallMs).toBeLessThan(EXIT_WITHIN_MS);
    expect(r.bootTimeCodes).toEqual([6, 7]);
  });

  it.each(['microvm', 'pc'] as const)('%s without isa-debug-exit: triple fault ends QEMU (-no-reboot)', async (machine) => {
    const r = await boot(machine, build.kernel, `${machine}-triple-fault`, { withDebugExit: false });
    expect(r.timedOut).toBe(false);
    expect(isRunning(r.pid)).toBe(false);
    expect(positionsInOrder(r.serialLines, [...stageLines, 'tiny: no isa-debug-exit at 0x501, triple fault'])).not.toContain(-1);
    // QEMU's status for a shutdown it was told not to turn into a reset.
    expect(r.exitCode).toBe(0);
    expect(r.wallMs).toBeLessThan(EXIT_WITHIN_MS);
    expect(r.bootTimeCodes).toEqual([6, 7]);
  });

  it.skipIf(!kvmUsable)('microvm under KVM: the same markers reach the trace log', async () => {
    const r = await boot('microvm', build.kernel, 'microvm-kvm', { accel: 'kvm' });
    expect(r.timedOut).toBe(false);
    expect(positionsInOrder(r.serialLines, stageLines)).not.toContain(-1);
    expect(r.exitCode).toBe(TINY_EXIT_OK_STATUS);
    expect(r.bootTimeCodes).toEqual([6, 7]);
  });

  it('microvm minimal (isa-serial, pit, pic, rtc off): no console, still markers and exit status 33', async () => {
    const r = await boot('microvm', build.kernel, 'microvm-minimal', {
      machineOptions: ',isa-serial=off,pit=off,pic=off,rtc=off',
    });
    expect(r.timedOut).toBe(false);
    expect(r.serialLines.filter((l) => l.startsWith('tiny:'))).toEqual([]);
    expect(r.exitCode).toBe(TINY_EXIT_OK_STATUS);
    expect(r.wallMs).toBeLessThan(EXIT_WITHIN_MS);
    expect(r.bootTimeCodes).toEqual([6, 7]);
  });
});
