// Records a fresh boot of the `linux` guest: real apt-get download of the Debian
// kernel and busybox into a scratch cache, real QEMU under TCG (pc machine, which
// has HPET/PM-timer references for the guest's TSC calibration), then imports the
// QEMU log and the serial capture and checks the merged phases.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import { LINUX_GUEST_APPEND, prepareLinuxGuest, recordLinuxBoot, type LinuxGuest } from '../../src/lab/linux-guest.js';
import { recordQemuBoot, SERIAL_FORMAT_HEADER, type RecordResult } from '../../src/lab/qemu-record.js';
import { UserError } from '../../src/model/errors.js';
import { readTrace, validateTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';

const missing =
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get') && hasCommand('apt-cache') && hasCommand('dpkg-deb'), 'apt-get, apt-cache and dpkg-deb (Debian)') ||
  requireOrSkip(hasCommand('cpio'), 'cpio');

/** Command lines of running processes that mention a path: QEMU must be gone after each run. */
async function processesMentioning(path: string): Promise<string[]> {
  const { stdout } = await execa('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((l) => l.includes(path) && !l.startsWith('ps '));
}

describe.skipIf(missing)('recording a linux guest boot under QEMU TCG', () => {
  let scratch: string;
  let guest: LinuxGuest;
  let rec: RecordResult;
  let trace: Trace;
  let recordMs: number;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'hvscope-qemu-record-e2e-'));
    guest = await prepareLinuxGuest(join(scratch, 'cache'));
    const started = performance.now();
    // Same cache: uses the guest just prepared, records, imports, merges, writes run.hvtrace.json.
    const run = await recordLinuxBoot({ machine: 'pc', outDir: join(scratch, 'run'), cacheDir: join(scratch, 'cache'), timeoutMs: 90_000 });
    recordMs = performance.now() - started;
    rec = run.record;
    trace = run.trace;
  }, 300_000);

  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('builds the guest from the newest Debian 6.1 kernel package and reuses the cache', async () => {
    expect(guest.kernelPackage).toMatch(/^linux-image-6\.1\.0-\d+-amd64 6\.1\.\d+/);
    expect(statSync(guest.kernel).size).toBeGreaterThan(1_000_000);
    // gzip magic: the initramfs is a compressed newc cpio
    expect([...readFileSync(guest.initrd).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const before = statSync(guest.initrd).mtimeMs;
    const started = performance.now();
    const again = await prepareLinuxGuest(join(scratch, 'cache'));
    expect(again.kernel).toBe(guest.kernel);
    expect(statSync(guest.initrd).mtimeMs).toBe(before);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('boots to the ready marker and QEMU exits by itself, leaving nothing running', async () => {
    expect(rec.exitCode).toBe(0);
    expect(recordMs).toBeLessThan(60_000);
    const serial = readFileSync(rec.serial, 'utf8');
    expect(serial.split('\n')[0]).toBe(`${SERIAL_FORMAT_HEADER} clock=realtime exec_us=${rec.execClockUs}`);
    expect(serial).toMatch(/^\d+\.\d{6} hvscope-marker user-start$/m);
    expect(serial).toMatch(/^\d+\.\d{6} hvscope-marker ready$/m);
    expect(() => process.kill(rec.pid, 0)).toThrow();
    expect(await processesMentioning(rec.qemuLog)).toEqual([]);
  });

  it('imports and merges into toolstack → firmware → kernel → user on the exec clock', () => {
    validateTrace(JSON.parse(JSON.stringify(trace)), 'merged');
    expect(readTrace(join(scratch, 'run', 'run.hvtrace.json'))).toEqual(JSON.parse(JSON.stringify(trace)));
    expect(trace.meta.hypervisor).toMatch(/^qemu \d+\.\d+.* tcg$/);
    expect(trace.meta.t0ClockUs).toBe(rec.execClockUs);
    expect(trace.meta.command).toEqual(rec.command);
    const p = trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    // The vCPU cannot start before QEMU was spawned, nor long after on any sane host.
    expect(p[0].end).toBeGreaterThan(0);
    expect(p[0].end / 1e6).toBeLessThan(5000);
    expect(trace.instants.filter((i) => i.lane === 'guest-console').length).toBeGreaterThan(50);
  });

  it('kills QEMU and its process group on timeout and says so', async () => {
    const outDir = join(scratch, 'timeout');
    const err = await recordQemuBoot({ machine: 'pc', kernel: guest.kernel, initrd: guest.initrd, append: LINUX_GUEST_APPEND, outDir, timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toMatch(/did not exit within 1500 ms and was killed/);
    expect(existsSync(join(outDir, 'serial.txt'))).toBe(true);
    expect(await processesMentioning(join(outDir, 'qemu.log'))).toEqual([]);
  });
});
