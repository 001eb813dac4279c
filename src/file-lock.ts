// An exclusive lock the kernel releases when its holder dies: flock(2) on an
// open file. Node has no flock(), so the lock is taken by util-linux's
// flock(1) (Essential in Debian, in every Linux distribution) on a descriptor
// of ours that it inherits: flock locks belong to the open file description,
// which we share, so the lock stays after flock(1) exits and is released when
// we close the descriptor or die, however we die (kill -9 included). No stale
// lock to judge, no pid to trust, no native addon to build.
//
// The file is never unlinked (unlinking a flock file lets two holders lock two
// different files); the holder writes its pid into it for messages only.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';

export interface HeldLock {
  readonly file: string;
  /** Releases the lock (idempotent). */
  release(): void;
}

export type LockAttempt = { held: HeldLock } | { busy: true; holderPid: number | null };

export class LockError extends Error {}

/** Runs `flock -n -x` on our descriptor `fd`: true when we now hold the lock, false when another holds it. */
function flockNonBlocking(fd: number, file: string): boolean {
  const r = spawnSync('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new LockError(code === 'ENOENT' ? 'flock(1) is missing; it comes with util-linux (Debian: apt-get install util-linux)' : `flock(1) on ${file}: ${r.error.message}`);
  }
  if (r.status === 0) return true;
  if (r.status === 1) return false;
  throw new LockError(`flock(1) on ${file} failed: ${String(r.stderr).trim() || `status ${r.status ?? r.signal}`}`);
}

/** The pid the holder wrote, when readable. */
export function lockHolderPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Whether `fd` is still the file at `file` (it was not replaced between our open and our lock). */
function stillAtPath(fd: number, file: string): boolean {
  try {
    const now = statSync(file);
    const ours = fstatSync(fd);
    return now.ino === ours.ino && now.dev === ours.dev;
  } catch {
    return false;
  }
}

/** Tries once to take the lock on `file` (created 0600 when missing); never waits. */
export function tryLock(file: string): LockAttempt {
  for (let attempt = 0; attempt < 5; attempt++) {
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    let handedOver = false;
    try {
      if (!flockNonBlocking(fd, file)) return { busy: true, holderPid: lockHolderPid(file) };
      if (!stillAtPath(fd, file)) continue;
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      handedOver = true;
      let released = false;
      return {
        held: {
          file,
          release() {
            if (released) return;
            released = true;
            try {
              ftruncateSync(fd, 0);
            } catch {
              // the lock goes with the descriptor anyway
            }
            closeSync(fd);
          },
        },
      };
    } finally {
      // Not handed over (busy, replaced, an error): closing drops any lock we took.
      if (!handedOver) closeSync(fd);
    }
  }
  throw new LockError(`cannot lock ${file}: it keeps being replaced`);
}

/**
 * Whether some process holds a flock on `file` now, read from /proc/locks
 * without touching the lock (so asking never makes a real contender fail).
 */
export function isLocked(file: string): boolean {
  let st: { dev: bigint; ino: bigint };
  let locks: string;
  try {
    st = statSync(file, { bigint: true });
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    return false;
  }
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  return locks.split('\n').some((l) => /\bFLOCK\b/.test(l) && !l.includes('->') && l.split(/\s+/).includes(id));
}
