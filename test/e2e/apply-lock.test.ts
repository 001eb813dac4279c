// The apply lock under contention, as the CLI takes it (dist/src/tuning/journal.js):
// two processes contend for ≥ 200 rounds each while a third keeps taking the lock
// and being killed with SIGKILL at random moments (holding it, or still taking
// it). Whoever holds the lock writes its pid into a marker file and checks that
// no live process wrote one before it: two live holders at once is a failure.
// A killed holder's marker is left behind, which is fine: its writer is dead.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repo } from '../helpers/cli.js';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';

const ROUNDS = 200;
const KILLS = 25;
const work = mkdtempSync(join(tmpdir(), `hvscope-lock-${process.pid}-`));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Takes the lock ROUNDS times (or once and waits, as the victim), checking the marker each time. Uses only lock(), so the same worker runs against older builds. */
const WORKER = `
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
const { JournalStore } = await import(${JSON.stringify(join(repo, 'dist/src/tuning/journal.js'))});
const [stateDir, mode, roundsText] = process.argv.slice(2);
const store = new JournalStore(stateDir);
const marker = join(stateDir, 'holder');
// A killed holder is dead once it is a zombie: the kernel has released its locks, its parent may not have reaped it yet.
const alive = (pid) => { try { return !/^\\d+ \\(.*\\) Z /.test(readFileSync('/proc/' + pid + '/stat', 'utf8')); } catch { return false; } };
const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
/** Claims the marker; returns false when a live process holds it too. */
function claim() {
  for (;;) {
    try {
      const fd = openSync(marker, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch {
      const pid = Number(readFileSync(marker, 'utf8') || 0);
      if (pid && alive(pid)) return false;
      try { unlinkSync(marker); } catch {}
    }
  }
}
let held = 0, busy = 0, both = 0;
if (mode === 'victim') {
  for (;;) { try { store.lock(); break; } catch { pause(1); } }
  if (!claim()) both++;
  process.stdout.write('held ' + both + '\\n');
  setInterval(() => {}, 1 << 30);
} else {
  while (held < Number(roundsText)) {
    let unlock;
    try { unlock = store.lock(); } catch { busy++; pause(1); continue; }
    if (!claim()) both++;
    pause(Math.random() < 0.5 ? 0 : 2);
    // Gone while we held the lock: another holder removed it, so it held the lock too.
    try { unlinkSync(marker); } catch { both++; }
    unlock();
    held++;
  }
  process.stdout.write(JSON.stringify({ held, busy, both }) + '\\n');
}
`;

function run(args: string[]): { child: ReturnType<typeof spawn>; output: Promise<string> } {
  const child = spawn(process.execPath, [join(work, 'worker.mjs'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const output = new Promise<string>((res) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => res(out));
  });
  return { child, output };
}

const noFlock = requireOrSkip(hasCommand('flock'), 'flock(1) (util-linux)');
describe.skipIf(noFlock)('the apply lock: two contenders and a victim killed with SIGKILL', () => {
  it(`never held by two live processes in ${ROUNDS} rounds each, ${KILLS} holders killed; the kernel frees a killed holder's lock`, async () => {
    writeFileSync(join(work, 'worker.mjs'), WORKER);
    const stateDir = join(work, 'state');
    const a = run([stateDir, 'contend', String(ROUNDS)]);
    const b = run([stateDir, 'contend', String(ROUNDS)]);
    let victimsHeld = 0;
    let victimsBoth = 0;
    for (let k = 0; k < KILLS; k++) {
      const v = run([stateDir, 'victim']);
      // Kill it at a random moment: often while it holds the lock, sometimes while it is still taking it.
      const killAfterHeld = Math.random() < 0.7;
      await new Promise<void>((res) => {
        let done = false;
        const kill = () => {
          if (done) return;
          done = true;
          v.child.kill('SIGKILL');
          res();
        };
        v.child.stdout!.on('data', (d: Buffer) => {
          const m = /held (\d+)/.exec(d.toString());
          if (m) {
            victimsHeld++;
            victimsBoth += Number(m[1]);
            if (killAfterHeld) setTimeout(kill, Math.random() * 30);
          }
        });
        if (!killAfterHeld) setTimeout(kill, 50 + Math.random() * 400);
        setTimeout(kill, 20_000);
      });
      await v.output;
    }
    const [ra, rb] = [JSON.parse(await a.output), JSON.parse(await b.output)];
    expect(ra.held).toBe(ROUNDS);
    expect(rb.held).toBe(ROUNDS);
    expect(ra.both + rb.both + victimsBoth).toBe(0);
    // The contenders really contended, and killed holders really held the lock.
    expect(ra.busy + rb.busy).toBeGreaterThan(0);
    expect(victimsHeld).toBeGreaterThan(5);
  }, 240_000);
});
