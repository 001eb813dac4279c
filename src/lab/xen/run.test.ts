// The one-lab-at-a-time lock and the --accel kvm check (a whole lab is tested in
// test/e2e/xen-lab.test.ts). The KVM check runs QEMU for real: on a host whose
// /dev/kvm cannot run guests (this dev host) it tests the error path.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../../test/helpers/requirements.js';
import { UserError } from '../../model/errors.js';
import { accelWorks } from '../../tracer/accel-probe.js';
import { acquireLabLock, requireLabAccel } from './run.js';

const noQemu = requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-lab-lock-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('acquireLabLock', () => {
  it('holds our pid until released; a second lab is refused meanwhile', () => {
    const lock = join(scratch, 'cache', 'xen-lab.lock');
    const release = acquireLabLock(lock);
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    expect(() => acquireLabLock(lock)).toThrow(UserError);
    expect(() => acquireLabLock(lock)).toThrow(`Xen lab: another lab is running (pid ${process.pid}, lock ${lock}); run one at a time`);
    release();
    expect(existsSync(lock)).toBe(false);
    acquireLabLock(lock)();
  });

  it('takes over a lock whose process is gone', () => {
    const lock = join(scratch, 'stale.lock');
    const deadPid = Number(execFileSync('sh', ['-c', 'sh -c "echo \\$\\$"'], { encoding: 'utf8' }).trim());
    writeFileSync(lock, `${deadPid}\n`);
    const release = acquireLabLock(lock);
    expect(readFileSync(lock, 'utf8').trim()).toBe(String(process.pid));
    release();
  });
});

describe('requireLabAccel', () => {
  it('tcg needs no check', async () => {
    await expect(requireLabAccel('tcg', 'hvscope-test-no-such-qemu')).resolves.toBeUndefined();
  });

  it.skipIf(noQemu)('kvm: passes where a test guest boots under KVM, else one line saying why and to use --accel tcg', { timeout: 30_000 }, async () => {
    const probe = await accelWorks('kvm');
    const result = await requireLabAccel('kvm').then(
      () => undefined,
      (e: unknown) => e,
    );
    if (probe.ok) {
      expect(result).toBeUndefined();
      return;
    }
    expect(result).toBeInstanceOf(UserError);
    const message = (result as Error).message;
    expect(message).toMatch(/^--accel kvm: KVM does not run guests on this host \(.+\); use --accel tcg$/);
    expect(message).not.toContain('\n');
    console.warn(`requireLabAccel on this host: ${message}`);
  });

  it('kvm with a QEMU that is not there: refused, not booted', async () => {
    await expect(requireLabAccel('kvm', 'hvscope-test-no-such-qemu')).rejects.toThrow(/^--accel kvm: KVM does not run guests on this host \(.*\); use --accel tcg$/);
  });
});
