// The apply journal and lock. Every old value is journaled (and fsynced) BEFORE
// the knob is written, so an apply killed at any point can be undone by the
// next command: it finds state 'applying' with no live owner and restores.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { isLocked, lockHolderPid, tryLock, type LockAttempt } from '../file-lock.js';
import { dirname, join, resolve } from 'node:path';
import { UserError } from '../model/errors.js';
import type { KnobValue } from './knob.js';

export const JOURNAL_VERSION = 1;
/** Journals kept under STATE_DIR/history. */
export const HISTORY_KEEP = 20;

/** One knob of an applied profile, as the journal keeps it. */
export interface JournalKnob {
  id: string;
  target: string;
  desired: KnobValue;
  why?: string;
}

/** A knob about to be (or already) written: its value before apply. */
export interface JournalEntry {
  id: string;
  target: string;
  old: KnobValue;
  desired: KnobValue;
}

export type JournalState =
  /** Writes under way; if found with no live owner, the apply crashed: restore. */
  | 'applying'
  /** All knobs written and verified. */
  | 'applied'
  /** Apply failed and every change was undone. */
  | 'failed-restored'
  /** A crashed apply was undone by a later command. */
  | 'recovered'
  /** `tune rollback` restored the old values. */
  | 'rolled-back'
  /** Undo itself failed for some knobs: needs a human; entries are kept. */
  | 'restore-failed';

export interface Journal {
  version: number;
  state: JournalState;
  pid: number;
  profile: { name: string; file: string };
  /** The fully merged, variable-expanded target sections: knobs are rebuilt from these, not from the (maybe edited) file. */
  sections: Record<string, unknown>;
  context: { root: string; netns?: string; options: Record<string, string | undefined> };
  knobs: JournalKnob[];
  /** In write order; restore goes in reverse. */
  entries: JournalEntry[];
  startedAt: string;
  finishedAt?: string;
  /** Temp files a write was about to create (journaled first): removed when an interrupted apply or rollback is recovered. */
  temps?: string[];
  /** What state 'applying' is doing: an apply (undo it when interrupted) or a rollback (finish it). Absent: apply. */
  operation?: 'apply' | 'rollback';
  note?: string;
  /**
   * The journal that was in force ('applied') when this apply started. An
   * interrupted or failed apply puts it back; rollback restores this apply's
   * entries and then each previous one's, back to the state before the first.
   */
  previous?: Journal | null;
}

/** --state-dir, else /var/lib/hvscope under --root (so a test root keeps its own journal). */
export function resolveStateDir(opts: { stateDir?: string; root?: string }): string {
  if (opts.stateDir) return resolve(opts.stateDir);
  return join(resolve(opts.root ?? '/'), 'var/lib/hvscope');
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** Writes a file atomically and durably: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomicSync(path: string, data: string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${path.slice(dir.length + 1)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}

export class JournalStore {
  readonly journalFile: string;
  readonly lockFile: string;
  constructor(readonly stateDir: string) {
    this.journalFile = join(stateDir, 'journal.json');
    this.lockFile = join(stateDir, 'apply.lock');
  }

  read(): Journal | null {
    let text: string;
    try {
      text = readFileSync(this.journalFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UserError(`cannot read journal ${this.journalFile}: ${(err as Error).message}`);
    }
    try {
      const j = JSON.parse(text) as Journal;
      if (j.version !== JOURNAL_VERSION) throw new Error(`version ${j.version}, expected ${JOURNAL_VERSION}`);
      return j;
    } catch (err) {
      throw new UserError(`${this.journalFile}: not a valid hvscope journal (${(err as Error).message})`);
    }
  }

  /** Persists the journal durably; called before every knob write. */
  write(journal: Journal): void {
    try {
      writeFileAtomicSync(this.journalFile, JSON.stringify(journal, null, 2) + '\n', 0o600);
    } catch (err) {
      throw new UserError(`cannot write journal ${this.journalFile}: ${(err as Error).message}`);
    }
  }

  /**
   * Keeps a copy of the current journal under history/ before a new apply
   * replaces it (a copy, so journal.json never goes missing in between).
   */
  archive(): void {
    const j = this.read();
    if (!j) return;
    const name = `journal-${j.startedAt.replace(/[:.]/g, '-')}-${j.state}.json`;
    try {
      const history = join(this.stateDir, 'history');
      writeFileAtomicSync(join(history, name), JSON.stringify(j, null, 2) + '\n', 0o600);
      // Keep the newest HISTORY_KEEP (names sort by start time).
      const old = readdirSync(history).filter((f) => f.startsWith('journal-')).sort();
      for (const f of old.slice(0, Math.max(0, old.length - HISTORY_KEEP))) unlinkSync(join(history, f));
    } catch (err) {
      throw new UserError(`cannot archive journal ${this.journalFile}: ${(err as Error).message}`);
    }
  }

  /**
   * PID of the process holding the lock now, or null when nobody does. Asks
   * the kernel (/proc/locks) without touching the lock; the pid is the one the
   * holder wrote (0 when it has not yet).
   */
  lockOwner(): number | null {
    if (!isLocked(this.lockFile)) return null;
    return lockHolderPid(this.lockFile) ?? 0;
  }

  /** One attempt at the apply lock (src/file-lock.ts): a flock(2) the kernel drops when we exit or are killed. */
  private attemptLock(): LockAttempt {
    try {
      mkdirSync(this.stateDir, { recursive: true });
    } catch (err) {
      throw new UserError(`cannot create state directory ${this.stateDir}: ${(err as Error).message}`);
    }
    try {
      return tryLock(this.lockFile);
    } catch (err) {
      throw new UserError(`cannot take lock ${this.lockFile}: ${(err as Error).message}`);
    }
  }

  /**
   * Takes the apply lock, or fails at once with a clear message while another
   * process holds it. A crashed apply never leaves a lock behind.
   */
  lock(): () => void {
    const attempt = this.attemptLock();
    if ('busy' in attempt)
      throw new UserError(`another hvscope apply or rollback is running (${attempt.holderPid ? `pid ${attempt.holderPid}, ` : ''}lock ${this.lockFile}); try again when it has finished`);
    return () => attempt.held.release();
  }

  /** Takes the lock when free; null while another process holds it (it is running, not crashed). */
  tryLock(): (() => void) | null {
    const attempt = this.attemptLock();
    return 'busy' in attempt ? null : () => attempt.held.release();
  }
}
