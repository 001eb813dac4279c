// Engine unit tests with a synthetic target whose knobs are small files in a
// temp dir (real file I/O, real journal and lock; no kernel state involved).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { apply, plan, recoverInterrupted, rollback, status, verify } from './engine.js';
import { JOURNAL_VERSION, JournalStore, type Journal } from './journal.js';
import type { Knob, TargetDefinition, TuneContext } from './knob.js';
import type { LoadedProfile } from './profile.js';

let dir: string;
let store: JournalStore;
let ctx: TuneContext;
/** Called inside every synthetic write, before it happens. */
let beforeWrite: (id: string) => void = () => {};

const path = (name: string) => join(dir, 'files', name);
const read = (name: string) => (existsSync(path(name)) ? readFileSync(path(name), 'utf8') : null);

/** synthetic-files: each key is a file under ctx.root/files; value "FAIL" makes the write throw. */
const syntheticFiles: TargetDefinition = {
  name: 'synthetic-files',
  summary: 'test target',
  sectionSchema: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
  knobs: (section) =>
    Object.entries(section as Record<string, string | null>).map(
      ([key, desired]): Knob => ({
        target: 'synthetic-files',
        id: `synthetic-files/${key}`,
        desired,
        read: async (c) => {
          const p = join(c.root, 'files', key);
          return existsSync(p) ? readFileSync(p, 'utf8') : null;
        },
        write: async (c, value) => {
          beforeWrite(`synthetic-files/${key}`);
          if (value === 'FAIL') throw new Error(`cannot write ${key}`);
          const p = join(c.root, 'files', key);
          if (value === null) {
            if (existsSync(p)) unlinkSync(p);
          } else writeFileSync(p, value);
        },
      }),
    ),
};
const targets = [syntheticFiles];

function profile(name: string, section: Record<string, string | null>): LoadedProfile {
  return { name, summary: '', file: `/synthetic/${name}.yaml`, files: [], variables: {}, sections: { 'synthetic-files': section } };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hvscope-engine-'));
  execaSync('mkdir', ['-p', join(dir, 'files')]);
  writeFileSync(path('a'), 'a0');
  writeFileSync(path('b'), 'b0');
  store = new JournalStore(join(dir, 'state'));
  ctx = { root: dir, options: {} };
  beforeWrite = () => {};
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('engine', () => {
  it('plan and verify read only', async () => {
    const p = profile('p', { a: 'a1', b: 'b0', c: 'c1' });
    const knobs = syntheticFiles.knobs(p.sections['synthetic-files'], ctx);
    const rows = await plan(knobs, ctx);
    expect(rows.map((r) => [r.id, r.current, r.desired, r.change])).toEqual([
      ['synthetic-files/a', 'a0', 'a1', true],
      ['synthetic-files/b', 'b0', 'b0', false],
      ['synthetic-files/c', null, 'c1', true],
    ]);
    expect((await verify(knobs, ctx)).map((r) => r.pass)).toEqual([false, true, false]);
    expect(read('a')).toBe('a0');
    expect(store.read()).toBeNull();
  });

  it('journals the old value durably before each write', async () => {
    const seenInJournal: string[] = [];
    beforeWrite = (id) => {
      const j = JSON.parse(readFileSync(store.journalFile, 'utf8')) as Journal;
      const e = j.entries.find((x) => x.id === id);
      expect(j.state).toBe('applying');
      seenInJournal.push(`${id}=${e?.old}`);
    };
    const r = await apply(profile('p', { a: 'a1', b: 'b0', c: 'c1' }), targets, ctx, store);
    expect(seenInJournal).toEqual(['synthetic-files/a=a0', 'synthetic-files/c=null']);
    expect(r.changed.map((c) => [c.id, c.old, c.new])).toEqual([
      ['synthetic-files/a', 'a0', 'a1'],
      ['synthetic-files/c', null, 'c1'],
    ]);
    expect(r.unchanged).toEqual(['synthetic-files/b']);
    expect(store.read()?.state).toBe('applied');
    expect(store.lockOwner()).toBeNull(); // released (the file stays: a flock file is never unlinked)
  });

  it('a failing write restores everything already changed', async () => {
    await expect(apply(profile('p', { a: 'a1', c: 'c1', b: 'FAIL' }), targets, ctx, store)).rejects.toThrow(
      /apply of p failed: .*cannot write b[\s\S]*restored 2 knobs already changed/,
    );
    expect([read('a'), read('b'), read('c')]).toEqual(['a0', 'b0', null]);
    expect(store.read()?.state).toBe('failed-restored');
  });

  it('rollback restores, and stacked applies roll back to the state before the first', async () => {
    await apply(profile('one', { a: 'a1' }), targets, ctx, store);
    await apply(profile('two', { a: 'a2', b: 'b2' }), targets, ctx, store);
    expect([read('a'), read('b')]).toEqual(['a2', 'b2']);
    expect((await status(store, targets)).applied?.name).toBe('two');
    const r = await rollback(store, targets);
    expect(r.profile).toBe('two');
    expect([read('a'), read('b')]).toEqual(['a0', 'b0']);
    // A second rollback has nothing left to do: not an error.
    const again = await rollback(store, targets);
    expect(again).toMatchObject({ profile: null, restored: [], nothing: expect.stringMatching(/the last apply of two is already rolled-back/) });
    expect([read('a'), read('b')]).toEqual(['a0', 'b0']);
  });

  it('status reports drift since apply', async () => {
    await apply(profile('p', { a: 'a1', b: 'b1' }), targets, ctx, store);
    expect((await status(store, targets)).drift.filter((d) => d.drifted)).toEqual([]);
    writeFileSync(path('b'), 'changed by hand');
    const s = await status(store, targets);
    expect(s.drift.filter((d) => d.drifted)).toEqual([{ id: 'synthetic-files/b', desired: 'b1', seen: 'changed by hand', drifted: true }]);
  });

  it('a held lock stops a second apply; killing its holder frees it; a pid left in the file is no lock', async () => {
    execaSync('mkdir', ['-p', store.stateDir]);
    // Another process holding the flock (util-linux flock(1) on the same file).
    const holder = execa('flock', ['--no-fork', '--exclusive', store.lockFile, 'sleep', '60']);
    await new Promise((r) => setTimeout(r, 300));
    await expect(apply(profile('p', { a: 'a1' }), targets, ctx, store)).rejects.toThrow(/another hvscope apply or rollback is running/);
    expect(read('a')).toBe('a0');
    holder.kill('SIGKILL');
    await holder.catch(() => {});
    await apply(profile('p', { a: 'a1' }), targets, ctx, store);
    expect(read('a')).toBe('a1');
    // A pid of a live process written in the file (what the old pid-file lock left) does not lock anything.
    writeFileSync(store.lockFile, `${process.ppid}\n`);
    await rollback(store, targets);
    expect(read('a')).toBe('a0');
  });

  it('a rollback killed midway is finished by the next command, and reported as a rollback', async () => {
    await apply(profile('one', { a: 'a1' }), targets, ctx, store);
    await apply(profile('two', { a: 'a2', b: 'b2' }), targets, ctx, store);
    // What a kill -9 after the rollback restored b (but not a) leaves behind.
    const j = store.read()!;
    j.state = 'applying';
    j.operation = 'rollback';
    j.pid = Number(execaSync('sh', ['-c', 'echo $$']).stdout);
    store.write(j);
    writeFileSync(path('b'), 'b0');
    const s = await status(store, targets);
    expect(s.recovered).toMatchObject({ interrupted: 'rollback', profile: 'two', message: expect.stringMatching(/^finished an interrupted rollback of two/) });
    expect([read('a'), read('b')]).toEqual(['a0', 'b0']);
    expect(s.state).toBe('rolled-back');
  });

  it('recovers an apply whose process died, and puts the previous journal back in force', async () => {
    await apply(profile('first', { a: 'a1' }), targets, ctx, store);
    const previous = store.read();
    // What a kill -9 after journaling b and writing it (but before finishing) leaves behind.
    writeFileSync(path('b'), 'b9');
    const crashed: Journal = {
      version: JOURNAL_VERSION,
      state: 'applying',
      pid: Number(execaSync('sh', ['-c', 'echo $$']).stdout),
      profile: { name: 'second', file: '/synthetic/second.yaml' },
      sections: { 'synthetic-files': { b: 'b9', c: 'c9' } },
      context: { root: dir, options: {} },
      knobs: [],
      entries: [
        { id: 'synthetic-files/b', target: 'synthetic-files', old: 'b0', desired: 'b9' },
        { id: 'synthetic-files/c', target: 'synthetic-files', old: null, desired: 'c9' }, // journaled, never written
      ],
      startedAt: new Date().toISOString(),
      previous,
    };
    store.write(crashed);
    const r = await recoverInterrupted(store, targets);
    expect(r?.message).toMatch(/recovered an interrupted apply of second .*restored 1 knob to the old state/);
    expect([read('a'), read('b'), read('c')]).toEqual(['a1', 'b0', null]);
    expect(store.read()?.profile.name).toBe('first');
    expect(store.read()?.state).toBe('applied');
    expect(await recoverInterrupted(store, targets)).toBeNull();
  });
});
