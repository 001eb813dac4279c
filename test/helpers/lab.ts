// Xen-lab e2e tests share one machine-wide lab lock (one lab at a time).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCacheDir } from '../../src/lab/linux-guest.js';

export const labLockFile = (): string => join(defaultCacheDir(), 'xen-lab.lock');

/** Another lab (another test file, another engineer) holds the lab lock: wait for it rather than fail. */
export async function waitForLabLock(maxMs: number): Promise<void> {
  const lock = labLockFile();
  const until = Date.now() + maxMs;
  while (existsSync(lock) && Date.now() < until) {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    try {
      process.kill(pid, 0);
    } catch {
      return; // stale: the lab takes it over
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
}
