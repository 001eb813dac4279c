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
    unlock();
    expect(store.lockOwner()).toBeNull();
  });

  it('a lock held by a killed but unreaped (zombie) process is stale', async () => {
    // `sleep 0` exits at once; its parent became `sleep 2`, which never reaps it.
    const parent = execa('sh', ['-c', 'sleep 0 & echo $!; exec sleep 2']);
    const zombie = await new Promise<string>((res) => parent.stdout?.once('data', (b: Buffer) => res(b.toString().trim())));
    await new Promise((r) => setTimeout(r, 200));
    expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toMatch(/\) Z /);
    const store = new JournalStore(dir);
    writeFileSync(store.lockFile, `${zombie}\n`);
    expect(store.lockOwner()).toBeNull();
    store.lock()();
    parent.kill();
    await parent.catch(() => {});
  });
});
