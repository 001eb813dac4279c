// One real Xen lab cycle: Debian's Xen 4.17 and a PV dom0 booted under QEMU TCG,
// a real `xl create` of the tiny-pv guest with a vif on xenbr0 (xenstored,
// xenconsoled and the vif-bridge hotplug script are the host's xen-utils-4.17,
// run inside dom0), the guest's marker seen in xenconsoled's log, the domain gone,
// the lab powered off. Plus the failure paths: boot timeout, a marker that never
// comes, not root. Each lab needs ~1.3 GB and a core for about a minute.
import { hvscopeBin } from '../helpers/cli.js';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { TINY_PV_CONSOLE_IO_STATUS, TINY_PV_MARKER, buildTinyPvGuest } from '../../src/lab/tiny-pv-guest.js';
import { runInXenLab } from '../../src/lab/xen/run.js';
import { defaultCacheDir } from '../../src/lab/linux-guest.js';
import { XL_CREATE_LOG, TINY_PV_GUEST_LOG, TINY_PV_RESULT, parseTinyPvResult, renderTinyPvExperiment, tinyPvFailure } from '../../src/lab/xen/tiny-pv-experiment.js';
import { UserError } from '../../src/model/errors.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-lab-e2e-'));
});
afterAll(async () => {
  // HVSCOPE_E2E_KEEP=1 keeps the lab's logs for a look after a failure.
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});

const repo = resolve(import.meta.dirname, '../..');
const buildDir = join(repo, 'node_modules/.cache/hvscope-lab-e2e');
const cliEntry = hvscopeBin;
const libraryEntry = join(buildDir, 'test/e2e/xen-lab-entry.js');

/** The lab's private temp directories (the initramfs); none may outlive a lab. */
function labTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith('hvscope-xen-lab-') && !n.startsWith('hvscope-xen-lab-e2e-'));
}

/** What a failed lab leaves in its results directory: logs only. */
const FAILED_LAB_FILES = ['xen-console.log', 'xen-lab-qemu.args.json'];

/** QEMU processes whose command line names this directory (none may outlive a lab). */
function qemusUsing(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `qemu-system-x86_64.*${dir}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe.skipIf(missing)('Xen lab', () => {
  it('boots Xen, creates tiny-pv with a vif, sees its marker, sees it gone, powers off', { timeout: 600_000 }, async () => {
    const guest = await buildTinyPvGuest();
    const outDir = join(scratch, 'ok');
    const progress: string[] = [];
    const consoleLines: string[] = [];
    const result = await runInXenLab({
      script: renderTinyPvExperiment({ kernel: guest.kernel }),
      outDir,
      timeoutMs: 480_000,
      onProgress: (m) => progress.push(m),
      onConsoleLine: (l) => consoleLines.push(l),
    });
    const console = await readFile(result.consoleLog, 'utf8');
    expect(result.exitCode, await readFile(result.experimentLog, 'utf8').catch(() => 'no experiment log')).toBe(0);
    const tiny = await parseTinyPvResult(outDir);
    expect(tiny.xlCreateExit).toBe(0);
    expect(tiny.markerSeen).toBe(true);
    expect(tiny.domainGone).toBe(true);
    // Timings are captured and plausible: xl create takes seconds under TCG, not nothing.
    expect(tiny.xlCreateMs).toBeGreaterThan(100);
    expect(tiny.xlCreateMs).toBeLessThan(120_000);
    expect(tiny.markerMs!).toBeGreaterThanOrEqual(tiny.xlCreateMs * 0.5);
    expect(result.timings.bootMs).toBeGreaterThan(1000);
    expect(result.timings.totalMs).toBeGreaterThanOrEqual(result.timings.bootMs + result.timings.experimentMs);
    const guestConsole = await readFile(join(outDir, TINY_PV_GUEST_LOG), 'utf8');
    expect(guestConsole).toContain(TINY_PV_MARKER);
    expect(guestConsole).toMatch(TINY_PV_CONSOLE_IO_STATUS);
    expect(console).toMatch(/\(XEN\) Xen version 4\.17/);
    expect(result.stages.map((s) => s.name)).toEqual(expect.arrayContaining(['stage xenstored', 'ready', 'experiment exit 0']));
    expect(progress.length).toBeGreaterThan(3);
    // The experiment's output reaches the host live, on the console (xl's own line here).
    expect(consoleLines).toContain(`Parsing config from /run/hvscope-lab/tiny-pv.cfg`);
    expect(qemusUsing(outDir)).toEqual([]);
    expect((await readdir(outDir)).sort()).toEqual(
      ['dom0-logs', 'experiment.log', 'guest-console.log', TINY_PV_RESULT, XL_CREATE_LOG, 'xen-console.log', 'xen-lab-qemu.args.json'].sort(),
    );
  });
});

describe.skipIf(missing)('Xen lab failure paths', () => {
  it('boot timeout: one clear message, QEMU gone, only logs left', { timeout: 120_000 }, async () => {
    const outDir = join(scratch, 'boot-timeout');
    const tempsBefore = labTempDirs();
    const err = await runInXenLab({ script: 'true\n', outDir, timeoutMs: 3000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/^Xen lab: dom0's toolstack was not ready within 3 s; (last console line: .*; )?see .*xen-console\.log$/s);
    expect((err as Error).message.split('\n')).toHaveLength(1);
    expect(qemusUsing(outDir)).toEqual([]);
    expect(labTempDirs()).toEqual(tempsBefore);
    expect((await readdir(outDir)).sort()).toEqual(FAILED_LAB_FILES);
  });

  it('a guest that never prints its marker is reported as such; the lab still powers off', { timeout: 600_000 }, async () => {
    const guest = await buildTinyPvGuest();
    const outDir = join(scratch, 'no-marker');
    const result = await runInXenLab({
      // Wait for a line tiny-pv never prints: the guest runs and powers off, the marker never comes.
      script: renderTinyPvExperiment({ kernel: guest.kernel, marker: 'hvscope-test: a line nobody prints', markerTimeoutS: 3 }),
      outDir,
      timeoutMs: 480_000,
    });
    expect(result.exitCode).not.toBe(0);
    const tiny = await parseTinyPvResult(outDir);
    expect(tiny.xlCreateExit).toBe(0);
    expect(tiny.markerSeen).toBe(false);
    expect(tiny.domainGone).toBe(true);
    expect(tinyPvFailure(result.exitCode, tiny, outDir)).toMatch(/^the guest never printed its marker on its console \(see .*guest-console\.log/);
    expect(qemusUsing(outDir)).toEqual([]);
  });

  it('a missing QEMU is named, nothing left running', { timeout: 60_000 }, async () => {
    const outDir = join(scratch, 'no-qemu');
    const tempsBefore = labTempDirs();
    const err = await runInXenLab({ script: 'true\n', outDir, timeoutMs: 30_000, qemu: 'hvscope-test-no-such-qemu' }).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('Xen lab: hvscope-test-no-such-qemu not found; install the Debian package qemu-system-x86');
    expect(labTempDirs()).toEqual(tempsBefore);
  });

  describe('in a child process (bin/hvscope, and the library compiled with tsc)', () => {
    beforeAll(async () => {
      // Type errors elsewhere (work in progress) still emit JavaScript; only a missing entry is fatal.
      rmSync(buildDir, { recursive: true, force: true });
      const tsc = await execa('node', [join(repo, 'node_modules/typescript/bin/tsc'), '--outDir', buildDir, '--rootDir', repo, '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node', '--esModuleInterop', join(repo, 'test/e2e/xen-lab-entry.ts')], { cwd: repo, reject: false });
      if (!existsSync(libraryEntry)) throw new Error(`cannot compile the lab library entry for this test:\n${tsc.stdout}\n${tsc.stderr}`);
      chmodSync(buildDir, 0o755);
    }, 120_000);

    it('hvscope lab xen run: a full cycle, a one-line summary with the xl create time, exit 0', { timeout: 600_000 }, async () => {
      const outDir = join(scratch, 'cli');
      const r = await execa(process.execPath, [cliEntry, 'lab', 'xen', 'run', '-o', outDir, '--json'], { reject: false, cwd: repo });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^hvscope: tiny-pv: xl create [\d.]+ (?:ms|s) \(exit 0\), marker seen at [\d.]+ (?:ms|s), domain gone$/m);
      const json = JSON.parse(r.stdout) as { lab: { exitCode: number; timings: { bootMs: number } }; tinyPv: { xlCreateMs: number; markerSeen: boolean } };
      expect(json.lab.exitCode).toBe(0);
      expect(json.tinyPv.markerSeen).toBe(true);
      expect(json.tinyPv.xlCreateMs).toBeGreaterThan(100);
      expect(qemusUsing(outDir)).toEqual([]);
    });

    it('not root: one line saying so, exit 1, nothing started', { timeout: 60_000 }, async () => {
      const outDir = join(scratch, 'not-root');
      const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliEntry, 'lab', 'xen', 'run', '-o', outDir], { reject: false, cwd: '/' });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toBe("hvscope: Xen lab: must run as root (dom0 reads the whole host root through 9p and runs the host's toolstack); try sudo");
      expect(existsSync(outDir)).toBe(false);
    });

    it('Ctrl-C while Xen boots: QEMU and temp files gone, exit 130, only logs left', { timeout: 120_000 }, async () => {
      const outDir = join(scratch, 'interrupted');
      const tempsBefore = labTempDirs();
      const child = execa(process.execPath, [cliEntry, 'lab', 'xen', 'run', '-o', outDir], { reject: false, cwd: repo });
      let stderr = '';
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`the lab never started booting:\n${stderr}`)), 60_000);
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('booting Xen')) {
            clearTimeout(timer);
            res();
          }
        });
      });
      await new Promise((r) => setTimeout(r, 3000));
      expect(qemusUsing(outDir)).toHaveLength(1);
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode).toBe(130);
      expect(r.stderr).toMatch(/hvscope: Xen lab: interrupted \(SIGINT\); QEMU stopped/);
      expect(qemusUsing(outDir)).toEqual([]);
      expect(labTempDirs()).toEqual(tempsBefore);
      expect((await readdir(outDir)).sort()).toEqual(FAILED_LAB_FILES);
    });

    it('SIGINT to a program using the library during the experiment: QEMU, temp files and lock gone, dies of SIGINT', { timeout: 180_000 }, async () => {
      const outDir = join(scratch, 'library-interrupted');
      const tempsBefore = labTempDirs();
      const child = execa(process.execPath, [libraryEntry, outDir], { reject: false, cwd: repo });
      let stderr = '';
      await new Promise<void>((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`dom0 never became ready:\n${stderr}`)), 150_000);
        child.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes('progress: dom0 ready')) {
            clearTimeout(timer);
            res();
          }
        });
      });
      expect(qemusUsing(outDir)).toHaveLength(1);
      const lock = join(defaultCacheDir(), 'xen-lab.lock');
      expect(existsSync(lock)).toBe(true);
      child.kill('SIGINT');
      const r = await child;
      expect(r.signal).toBe('SIGINT');
      expect(qemusUsing(outDir)).toEqual([]);
      expect(labTempDirs()).toEqual(tempsBefore);
      expect(existsSync(lock)).toBe(false);
      // Logs only; experiment.log exists when the experiment got as far as starting.
      const left = await readdir(outDir);
      expect(left).toEqual(expect.arrayContaining(FAILED_LAB_FILES));
      expect(left.filter((f) => ![...FAILED_LAB_FILES, 'experiment.log'].includes(f))).toEqual([]);
    });
  });
});
