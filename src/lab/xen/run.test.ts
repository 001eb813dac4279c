// The one-lab-at-a-time lock (a whole lab is tested in test/e2e/xen-lab.test.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { acquireLabLock } from './run.js';

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
