// `hvscope tune apply` killed with SIGKILL at random moments, as a real CLI
// process, on a temp root holding Debian's xl.conf and a domain config. After
// each kill the next command (here: the engine's status, the real code)
// recovers; the files must then be all-old or all-new — never a mix — and a
// rollback must restore the originals byte for byte. Most kills land while the
// apply is writing (timed from the moment its journal appears); some anywhere
// from the process start (start-up, lock, reads).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rollback, status } from '../../src/tuning/engine.js';
import { JournalStore, resolveStateDir } from '../../src/tuning/journal.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { entry } from './trace-cli.js';

const TRIALS = Number(process.env.TRIALS ?? 50);
/** Trials run two at a time (each on its own root): the CLI's start-up dominates, not the CPU. */
const CONCURRENCY = 2;
const fixtures = resolve(import.meta.dirname, '../../fixtures/xen');
const work = join(tmpdir(), `hvscope-tune-crash-${process.pid}`);
mkdirSync(work, { recursive: true });
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROFILE = `name: crash-profile
summary: file-only knobs (xl.conf, a hotplug script, a domain config) for the crash test
include: [xen-fast-hotplug]
xen-xl-conf:
  autoballoon: { value: "off" }
xen-domain:
  memory: { value: 8 }
  maxmem: { value: 8 }
  vcpus: { value: 1 }
  on_crash: { value: destroy }
  disk: { value: null }
`;
const profileFile = join(work, 'crash-profile.yaml');
writeFileSync(profileFile, PROFILE);

/** A fresh root as Debian ships it. */
function freshRoot(name: string): string {
  const root = join(work, name);
  mkdirSync(join(root, 'etc/xen/scripts'), { recursive: true }); // as Debian's xen-utils-common ships it
  copyFileSync(join(fixtures, 'debian-12-xl.conf'), join(root, 'etc/xen/xl.conf'));
  copyFileSync(join(fixtures, 'debian-12-xlexample.pvlinux'), join(root, 'guest.cfg'));
  return root;
}

/** Everything the profile touches, as text: the files, and every name in their directories (a left-over temp file counts). */
function snapshot(root: string): string {
  const scripts = join(root, 'etc/xen/scripts');
  const listing = readdirSync(scripts).map((f) => `${f}:${readFileSync(join(scripts, f), 'utf8')}`);
  const names = [readdirSync(join(root, 'etc/xen')), readdirSync(root).filter((n) => n !== 'var')];
  return JSON.stringify([readFileSync(join(root, 'etc/xen/xl.conf'), 'utf8'), readFileSync(join(root, 'guest.cfg'), 'utf8'), listing, names]);
}

const args = (root: string) => ['tune', 'apply', profileFile, '--root', root, '--domain-config', join(root, 'guest.cfg')];

/** Runs `tune apply` and SIGKILLs it `afterMs` after its journal appears (or after spawn); resolves whether it finished first and when (ms after spawn) the journal appeared. */
function applyAndKill(root: string, afterMs: number, fromSpawn: boolean): Promise<{ finished: boolean; code: number | null; journalAfterMs?: number }> {
  const journal = join(resolveStateDir({ root }), 'journal.json');
  return new Promise((res) => {
    const child = spawn(process.execPath, [entry, ...args(root)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const kill = () => child.kill('SIGKILL');
    const spawned = Date.now();
    let journalAfterMs: number | undefined;
    if (fromSpawn) setTimeout(kill, afterMs);
    const poll = setInterval(() => {
      if (existsSync(journal)) {
        clearInterval(poll);
        journalAfterMs = Date.now() - spawned;
        if (!fromSpawn) setTimeout(kill, afterMs);
      }
    }, 1);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      if (code !== null && code !== 0) throw new Error(`tune apply failed: ${stderr}`);
      res({ finished: signal === null, code, journalAfterMs });
    });
  });
}

describe('tune apply killed at random moments', () => {
  it(`${TRIALS} kills: after recovery all-old or all-new, and rollback restores the originals exactly`, async () => {
    const old = snapshot(freshRoot('reference-old'));
    // The all-new state and how long an apply takes once its journal exists.
    const ref = freshRoot('reference-new');
    const started = Date.now();
    const reference = await applyAndKill(ref, 60_000, true);
    const applied = snapshot(ref);
    expect(applied).not.toBe(old);
    const total = Date.now() - started;
    const window = Math.max(50, Math.min(1500, total));
    // The writing itself: from the journal's appearance to the end (start-up, which dominates, excluded).
    const writing = Math.max(5, Math.min(window, total - (reference.journalAfterMs ?? 0)));

    const outcomes = { old: 0, new: 0, finished: 0, recovered: 0 };
    const trial = async (t: number) => {
      const root = freshRoot(`trial-${t}`);
      const fromSpawn = t % 6 === 0;
      const r = await applyAndKill(root, Math.random() * (fromSpawn ? window * 1.5 : writing), fromSpawn);
      if (r.finished) outcomes.finished++;
      const store = new JournalStore(resolveStateDir({ root }));
      const s = await status(store, allTargets); // the next command recovers a crashed apply
      if (s.recovered) outcomes.recovered++;
      const after = snapshot(root);
      expect([old, applied], `trial ${t}: a mix of old and new`).toContain(after);
      if (after === applied) outcomes.new++;
      else outcomes.old++;
      await rollback(store, allTargets);
      expect(snapshot(root), `trial ${t}: rollback`).toBe(old);
      rmSync(root, { recursive: true, force: true });
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TRIALS) await trial(next++);
      }),
    );
    // Kills must have interrupted applies midway, not only before or after them. Kills
    // timed from the journal fall within the reference apply's own writing time (journal
    // → exit), so most land midway; a fifth of all trials proves the point.
    expect(outcomes.recovered).toBeGreaterThanOrEqual(TRIALS / 5);
    console.log(`tune-crash: ${JSON.stringify(outcomes)}, window ${window} ms, writing ${writing} ms`);
  }, 300_000);
});
