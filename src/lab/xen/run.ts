// runInXenLab: boot Debian's Xen 4.17 with a PV dom0 under QEMU TCG, run one
// experiment script in dom0 with the real toolstack, bring its results back
// through the writable 9p share, and power the lab off. QEMU runs in its own
// process group and is killed with it on every failure path and on Ctrl-C;
// the only things left in the results directory are logs and what the
// experiment wrote there.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { UserError } from '../../model/errors.js';
import { defaultCacheDir } from '../linux-guest.js';
import { requireAccel } from '../../tracer/accel-probe.js';
import { DOM0_LOGS_DIR, EXPERIMENT_LOG, LAB_MARKERS, LAB_MARKER_PREFIX, buildDom0Initramfs, type LabInputFile } from './dom0-initramfs.js';
import { checkHostXenTools, prepareXenLabPackages } from './packages.js';
import { xenLabQemuArgs, type XenLabAccel, type XenLabMachine } from './qemu-xen.js';
import { pidAlive } from '../../tracer/processes.js';

/** The serial console (Xen and dom0) as the host received it. */
export const CONSOLE_LOG = 'xen-console.log';

export interface XenLabOptions {
  /** sh script run in dom0 once xenstored, xenconsoled and xenbr0 are up; $HVSCOPE_LAB_OUT is the results share. */
  script: string;
  /** Host directory for results and logs (created; dom0 writes into it). */
  outDir: string;
  /** Whole lab, from QEMU start to power-off. */
  timeoutMs: number;
  /** From QEMU start until dom0's toolstack is ready (default: timeoutMs). */
  bootTimeoutMs?: number;
  /** Called with one short line per lab step (progress for stderr). */
  onProgress?: (message: string) => void;
  /** Called with every serial console line (Xen, dom0 kernel, the experiment's output), without \r. */
  onConsoleLine?: (line: string) => void;
  /** Package cache (default ~/.cache/hvscope, or $XDG_CACHE_HOME/hvscope). */
  cacheDir?: string;
  /** Machine overrides (accelerator, CPU model, memory, extra Xen arguments). With accel kvm, KVM is checked before booting. */
  machine?: Pick<XenLabMachine, 'accel' | 'cpu' | 'memoryMb' | 'dom0MemoryMb' | 'xenArgs'>;
  /** Input files for the experiment (data it reads, e.g. a marker regex), in /run/hvscope-lab/NAME in dom0. */
  files?: LabInputFile[];
  /** qemu-system-x86_64 to run (default from PATH). */
  qemu?: string;
  /**
   * Abort = interrupt: QEMU is killed and runInXenLab rejects with a UserError.
   * Without it, runInXenLab handles SIGINT/SIGTERM/SIGHUP itself: it kills QEMU,
   * removes its temp files and then dies of the same signal.
   */
  signal?: AbortSignal;
}

export interface XenLabStage {
  /** The marker's text after `hvscope-lab:`, e.g. `stage xenstored`, `ready`. */
  name: string;
  /** Milliseconds since QEMU started. */
  atMs: number;
}

export interface XenLabResult {
  /** The experiment script's exit status. */
  exitCode: number;
  outDir: string;
  consoleLog: string;
  experimentLog: string;
  /** /var/log/xen of dom0 (xen-init-dom0, xl, hotplug, guest consoles under console/). */
  dom0LogsDir: string;
  timings: {
    /** QEMU start → dom0 toolstack ready. */
    bootMs: number;
    /** ready → experiment exit. */
    experimentMs: number;
    /** experiment exit → QEMU gone. */
    shutdownMs: number;
    totalMs: number;
  };
  stages: XenLabStage[];
  /** Debian packages booted, `name version`. */
  packages: string[];
}

/** Seconds QEMU gets to exit by itself after dom0 powered off before it is killed. */
const POWER_OFF_GRACE_MS = 20_000;
/** Console lines that mean the lab is dead and waiting longer is pointless. */
const FATAL_CONSOLE = [/\(XEN\) \*+ Panic on CPU/, /Kernel panic - not syncing/];

/** UserError unless running as root: dom0 reads the whole host root through 9p and runs the host's toolstack. */
export function requireLabRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new UserError('Xen lab: must run as root (dom0 reads the whole host root through 9p and runs the host\'s toolstack); try sudo');
}

/** UserError unless QEMU can use `accel` here (the one check `boot` uses too: src/tracer/host-checks.ts). */
export function requireLabAccel(accel: XenLabAccel, qemu = 'qemu-system-x86_64'): Promise<void> {
  return requireAccel(accel, qemu);
}

export async function runInXenLab(options: XenLabOptions): Promise<XenLabResult> {
  requireLabRoot();
  if (!(options.timeoutMs > 0)) throw new UserError(`Xen lab: timeout must be a positive number of milliseconds, not ${options.timeoutMs}`);
  checkHostXenTools();
  const qemu = options.qemu ?? 'qemu-system-x86_64';
  const accel = options.machine?.accel ?? 'tcg';
  await requireLabAccel(accel, qemu);
  const progress = options.onProgress ?? (() => {});
  const outDir = resolve(options.outDir);
  const cacheDir = options.cacheDir ?? defaultCacheDir();

  const releaseLock = acquireLabLock(join(cacheDir, 'xen-lab.lock'));
  const work = await mkdtemp(join(tmpdir(), 'hvscope-xen-lab-'));
  let qemuProcess: ResultPromise | undefined;
  const killQemu = () => {
    const pid = qemuProcess?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGKILL'); // its whole process group
    } catch {
      // already gone
    }
  };
  // Ctrl-C / kill: end QEMU and the temp files first, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals) => {
    killQemu();
    rmSync(work, { recursive: true, force: true });
    releaseLock();
    removeHandlers();
    process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = options.signal ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const removeHandlers = () => {
    for (const s of signals) process.off(s, onSignal);
    process.off('exit', killQemu);
  };
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', killQemu);

  try {
    progress('preparing Debian packages (Xen 4.17, dom0 kernel, busybox)');
    const packages = await prepareXenLabPackages(cacheDir);
    const initramfs = join(work, 'dom0-initramfs.cpio');
    await writeFile(initramfs, await buildDom0Initramfs({ busybox: packages.busybox, modules: packages.dom0Modules, experimentScript: options.script, files: options.files }));
    await mkdir(outDir, { recursive: true });
    const consoleLog = join(outDir, CONSOLE_LOG);
    const args = xenLabQemuArgs({ ...options.machine, xen: packages.xen, dom0Kernel: packages.dom0Kernel, initramfs, resultsDir: outDir });
    await writeFile(join(outDir, 'xen-lab-qemu.args.json'), JSON.stringify([qemu, ...args], null, 2) + '\n');

    progress(`booting Xen under QEMU (${accel.toUpperCase()})`);
    const started = Date.now();
    const consoleFd = openSync(consoleLog, 'w');
    const stages: XenLabStage[] = [];
    let fatal: string | undefined;
    let lastLine = '';
    let pending = '';
    let wake: () => void = () => {};
    const changed = () => wake();
    try {
      qemuProcess = execa(qemu, args, { detached: true, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, buffer: { stdout: false, stderr: true } });
      qemuProcess.stdout!.on('data', (chunk: Buffer) => {
        writeSync(consoleFd, chunk);
        pending += chunk.toString('latin1');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.replace(/\r/g, '');
          if (line.trim()) lastLine = line;
          options.onConsoleLine?.(line);
          const at = line.indexOf(LAB_MARKER_PREFIX);
          if (at >= 0) {
            const name = line.slice(at + LAB_MARKER_PREFIX.length).trim();
            stages.push({ name, atMs: Date.now() - started });
            progress(`dom0: ${name}`);
            if (name.startsWith('failed')) fatal ??= `dom0 ${name}`;
          } else if (!fatal && FATAL_CONSOLE.some((re) => re.test(line))) {
            fatal = line.trim();
          }
        }
        changed();
      });
      let exited = false;
      const qemuDone = qemuProcess.then((r) => {
        exited = true;
        changed();
        return r;
      });

      const abort = options.signal;
      abort?.addEventListener('abort', changed);
      const waitFor = async (done: () => boolean, deadline: number): Promise<boolean> => {
        while (!done()) {
          if (abort?.aborted) await failure(`interrupted (${String(abort.reason ?? 'abort')}); QEMU stopped`, 130);
          if (exited || fatal !== undefined) return done();
          const left = deadline - Date.now();
          if (left <= 0) return false;
          await new Promise<void>((res) => {
            const timer = setTimeout(res, Math.min(left, 1000));
            wake = () => {
              clearTimeout(timer);
              res();
            };
          });
        }
        return true;
      };
      const hasStage = (name: string | RegExp) => () => stages.some((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));
      const seeLog = `see ${consoleLog}`;
      const failure = async (what: string, exitCode = 1): Promise<never> => {
        killQemu();
        const r = await qemuDone;
        if ((r as { code?: string }).code === 'ENOENT' || /\bENOENT\b/.test(r.message ?? ''))
          throw new UserError(`Xen lab: ${qemu} not found; install the Debian package qemu-system-x86`);
        const qemuSays = String(r.stderr ?? '').trim().split('\n').filter(Boolean).slice(-2).join('; ');
        const last = lastLine ? `; last console line: ${JSON.stringify(lastLine.trim().slice(0, 200))}` : '';
        throw new UserError(`Xen lab: ${what}${qemuSays ? ` (QEMU: ${qemuSays})` : ''}${last}; ${seeLog}`, exitCode);
      };

      const overall = started + options.timeoutMs;
      const bootDeadline = Math.min(overall, started + (options.bootTimeoutMs ?? options.timeoutMs));
      if (!(await waitFor(hasStage(LAB_MARKERS.ready.slice(LAB_MARKER_PREFIX.length + 1)), bootDeadline))) {
        if (fatal) await failure(`dom0 did not come up: ${fatal}`);
        if (exited) await failure('QEMU exited before dom0 was ready');
        await failure(`dom0's toolstack was not ready within ${Math.round((bootDeadline - started) / 1000)} s`);
      }
      const readyAt = Date.now();
      progress('dom0 ready; running the experiment');
      const exitStage = /^experiment exit \d+$/;
      if (!(await waitFor(hasStage(exitStage), overall))) {
        if (fatal) await failure(`the lab failed during the experiment: ${fatal}`);
        if (exited) await failure('QEMU exited before the experiment finished');
        await failure(`the experiment did not finish within the lab timeout of ${Math.round(options.timeoutMs / 1000)} s`);
      }
      const exitCode = Number(stages.find((s) => exitStage.test(s.name))!.name.split(' ').at(-1));
      const experimentDoneAt = Date.now();
      progress(`experiment exited with status ${exitCode}; powering the lab off`);
      // dom0 powers off; Xen then halts (noreboot) or QEMU exits. Either way QEMU goes.
      await waitFor(() => exited, Math.min(overall, experimentDoneAt + POWER_OFF_GRACE_MS) + 1);
      if (!exited) killQemu();
      await qemuDone;
      const endedAt = Date.now();
      return {
        exitCode,
        outDir,
        consoleLog,
        experimentLog: join(outDir, EXPERIMENT_LOG),
        dom0LogsDir: join(outDir, DOM0_LOGS_DIR),
        timings: {
          bootMs: readyAt - started,
          experimentMs: experimentDoneAt - readyAt,
          shutdownMs: endedAt - experimentDoneAt,
          totalMs: endedAt - started,
        },
        stages,
        packages: packages.packages,
      };
    } finally {
      options.signal?.removeEventListener('abort', changed);
      killQemu();
      if (qemuProcess) await qemuProcess.catch(() => undefined);
      closeSync(consoleFd);
    }
  } finally {
    removeHandlers();
    await rm(work, { recursive: true, force: true });
    releaseLock();
  }
}

/**
 * One lab at a time per cache (each needs ~1.3 GB and a whole core under TCG):
 * an exclusive lock file holding our pid; a lock whose pid is gone is stale.
 */
export function acquireLabLock(path: string): () => void {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      let pid = NaN;
      try {
        pid = Number(readFileSync(path, 'utf8').trim());
      } catch {
        // vanished meanwhile: retry
      }
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid))
        throw new UserError(`Xen lab: another lab is running (pid ${pid}, lock ${path}); run one at a time`);
      rmSync(path, { force: true }); // stale
    }
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    rmSync(path, { force: true });
  };
}

