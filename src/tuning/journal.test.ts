import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { HISTORY_KEEP, JOURNAL_VERSION, JournalStore, resolveStateDir, writeFileAtomicSync, type Journal } from './journal.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hvscope-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const journal = (startedAt: string): Journal => ({
  version: JOURNAL_VERSION,
  state: 'applied',
  pid: 1,
  profile: { name: 'p', file: '/p.yaml' },
  sections: {},
  context: { root: '/', options: {} },
  knobs: [],
  entries: [],
  startedAt,
});

describe('journal', () => {
  it('state dir: --state-dir, else var/lib/hvscope under --root', () => {
    expect(resolveStateDir({ stateDir: '/x/y' })).toBe('/x/y');
    expect(resolveStateDir({ root: '/tmp/r' })).toBe('/tmp/r/var/lib/hvscope');
    expect(resolveStateDir({})).toBe('/var/lib/hvscope');
  });

  it('atomic write replaces the file and leaves no temp file', () => {
    const f = join(dir, 'a', 'f.txt');
    writeFileAtomicSync(f, 'one');
    writeFileAtomicSync(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(readdirSync(join(dir, 'a'))).toEqual(['f.txt']);
  });

  it('a corrupt journal is a clear error naming the file', () => {
    const store = new JournalStore(dir);
    writeFileSync(store.journalFile, '{ not json');
    expect(() => store.read()).toThrow(`${store.journalFile}: not a valid hvscope journal`);
  });

  it('archive keeps the newest journals only', () => {
    const store = new JournalStore(dir);
    for (let i = 0; i < HISTORY_KEEP + 3; i++) {
      store.write(journal(`2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z`));
      store.archive();
    }
    const kept = readdirSync(join(dir, 'history')).sort();
    expect(kept).toHaveLength(HISTORY_KEEP);
    expect(kept[0]).toBe('journal-2026-01-01T00-00-03-000Z-applied.json');
  });

  it('the lock is exclusive while held and released by its unlock', () => {
    const store = new JournalStore(dir);
    const unlock = store.lock();
    expect(readFileSync(store.lockFile, 'utf8').trim()).toBe(String(process.pid));
    expect(store.lockOwner()).toBe(process.pid);
    // Even this process cannot take it twice (a second open file description).
    expect(() => store.lock()).toThrow(/another hvscope apply or rollback is running \(pid \d+/);
    expect(store.tryLock()).toBeNull();
    unlock();
    expect(store.lockOwner()).toBeNull();
    store.lock()();
  });

  it('the kernel releases the lock of a holder killed with SIGKILL (nothing stale to judge)', async () => {
    const store = new JournalStore(dir);
    const holder = execa('flock', ['--no-fork', '--exclusive', store.lockFile, 'sleep', '60']);
    await new Promise((r) => setTimeout(r, 300));
    expect(store.lockOwner()).not.toBeNull();
    expect(store.tryLock()).toBeNull();
    holder.kill('SIGKILL');
    await holder.catch(() => {});
    expect(store.lockOwner()).toBeNull();
    writeFileSync(store.lockFile, '1\n'); // a pid left in the file is no lock
    store.lock()();
  });
});
