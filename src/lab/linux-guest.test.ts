import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { explainHang, pickNewestKernelPackage } from './linux-guest.js';

describe('pickNewestKernelPackage', () => {
  it('takes the highest ABI number of the plain amd64 flavour, not the lexically last', () => {
    // synthetic apt-cache search output, in the unsorted order apt prints it
    const synthetic = [
      'linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)',
      'linux-image-6.1.0-56-amd64-dbg - Debug symbols for linux-image-6.1.0-56-amd64',
      'linux-image-6.1.0-57-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)',
      'linux-image-6.1.0-57-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)',
      'linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs',
      'linux-image-6.1.0-50-amd64 - Linux 6.1 for 64-bit PCs (signed)',
      'linux-image-6.1.0-56-amd64 - Linux 6.1 for 64-bit PCs (signed)',
    ].join('\n');
    expect(pickNewestKernelPackage(synthetic)).toBe('linux-image-6.1.0-56-amd64');
  });

  it('finds nothing when apt knows no such package', () => {
    expect(pickNewestKernelPackage('linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)\n')).toBeUndefined();
    expect(pickNewestKernelPackage('')).toBeUndefined();
  });
});

describe('explainHang', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-linux-guest-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const timeout = new UserError('QEMU did not exit within 60000 ms and was killed; partial recording in /x');

  it('names the TSC-calibration hang when the console shows it', () => {
    const serial = join(dir, 'hung.txt');
    // synthetic capture ending the way the failed microvm boots did
    writeFileSync(serial, '1.000000 [    0.000000] tsc: Marking TSC unstable due to could not calculate TSC khz\n');
    const err = explainHang(timeout, serial) as UserError;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toMatch(/^QEMU did not exit within 60000 ms .*could not calibrate its TSC.*-M pc/);
  });

  it('leaves other timeouts and other errors as they are', () => {
    const serial = join(dir, 'other.txt');
    writeFileSync(serial, '1.000000 Kernel panic - not syncing: VFS\n');
    expect(explainHang(timeout, serial)).toBe(timeout);
    const other = new UserError('QEMU exited with status 1: bad option');
    expect(explainHang(other, serial)).toBe(other);
    expect(explainHang(timeout, join(dir, 'missing.txt'))).toBe(timeout);
  });
});
