// Every shipped profile with a qemu section renders a command line that THIS QEMU (7.2)
// accepts: started with -S and a QMP socket, it answers qmp_capabilities, reports the
// firmware it loaded (checked against the qemu target's notion of QEMU's defaults) and
// exits 0 on `quit`, with nothing "invalid"/"unsupported" on stderr. Each line then boots
// the real tiny guest (TCG) to its exit device, and the real `linux` guest (Debian 6.1
// kernel + busybox /init, src/lab/linux-guest.ts) several times through runBoots — what
// `hvscope boot --guest linux --profile NAME` runs — to `hvscope-marker ready`, each boot
// within a time limit, with the four phases in order. Several boots, because the failure
// this guards against was a hang (TSC calibration on microvm under TCG, see
// tuning-profiles/qemu-microvm-min.yaml tcg-tsc-khz) that depends on timing.
//
// TCG only: this is the accelerator every CI machine has. (`accel: auto` renders
// `-accel kvm -accel tcg`; the test passes the boot-time choice, tcg, as `hvscope boot` does.)
import { connect, type Socket } from 'node:net';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import { runBoots } from '../../src/lab/boot-series.js';
import { isElf, pvhEntry } from '../../src/lab/pvh-kernel.js';
import { explainHang, READY_MARKER, USER_START_MARKER } from '../../src/lab/linux-guest.js';
import { PHASE_LANE_ID } from '../../src/model/trace.js';
import { hostTscKhz } from '../../src/tuning/targets/host-tsc.js';
import { buildTinyGuest, TINY_DEBUG_EXIT_PORT, TINY_EXIT_OK_STATUS, TINY_SERIAL_LINES, type TinyGuestBuild } from '../../src/lab/tiny-guest.js';
import type { TargetDefinition } from '../../src/tuning/knob.js';
import { listProfiles, loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { bootsThroughPvh, qemuCommandLine, qemuDefault, target as qemuTarget } from '../../src/tuning/targets/qemu.js';
import { target as xenDomain } from '../../src/tuning/targets/xen-domain.js';
import { target as xenHotplug } from '../../src/tuning/targets/xen-hotplug.js';
import { target as xenXlConf } from '../../src/tuning/targets/xen-xl-conf.js';

const QEMU = 'qemu-system-x86_64';
const missing =
  requireOrSkip(hasCommand(QEMU), `${QEMU} (Debian package qemu-system-x86)`) ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld for the tiny guest (Debian packages gcc, binutils)');
// The linux guest is fetched with apt (cached in ~/.cache/hvscope/linux-guest after the first time).
const linuxMissing =
  missing ||
  requireOrSkip(['apt-get', 'apt-cache', 'dpkg-deb', 'tar', 'cpio'].every(hasCommand), 'apt-get, apt-cache, dpkg-deb, tar and cpio for the linux guest (Debian 12)');

/** Boots of the linux guest per profile, and the limit for each (a hang is ended there and fails the test). */
const LINUX_BOOTS = 3;
const LINUX_BOOT_LIMIT_MS = 60_000;

// Every target a shipped profile may name (the registry, plus ours if it does not list them yet).
const targets: TargetDefinition[] = [...new Map([...allTargets, xenXlConf, xenDomain, xenHotplug, qemuTarget].map((t) => [t.name, t])).values()];

const qemuProfiles = listProfiles()
  .map((p) => loadProfile(p.name, targets))
  .filter((p) => p.sections.qemu !== undefined);

/** Minimal QMP client over a unix socket: one command at a time, events skipped. */
class Qmp {
  private buffer = '';
  private waiting: ((msg: Record<string, unknown>) => void)[] = [];
  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        this.waiting.shift()?.(msg);
      }
    });
  }
  /**
   * Connects once QEMU listens. On a busy host QEMU can take seconds to get there, and the
   * socket file exists from bind() on, before listen(): a refused or missing socket is retried.
   */
  static async open(path: string, qemu: ResultPromise, timeoutMs = 20_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (qemu.exitCode !== undefined && qemu.exitCode !== null) throw new Error(`QEMU exited with status ${qemu.exitCode} before its QMP socket took a connection`);
      const socket = connect(path);
      try {
        await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      } catch (err) {
        socket.destroy();
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 25));
        continue;
      }
      const qmp = new Qmp(socket);
      await qmp.next(); // greeting
      return qmp;
    }
  }
  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = this.next();
    this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const msg = await reply;
    if ('error' in msg) throw new Error(`QMP ${command}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }
  close(): void {
    this.socket.destroy();
  }
}

let scratch: string;
let tiny: TinyGuestBuild;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-qemu-profiles-'));
  if (!missing) tiny = await buildTinyGuest(join(scratch, 'tiny-cache'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(missing)('shipped QEMU profiles on this QEMU', () => {
  it('include the baseline and the microvm profile', () => {
    expect(qemuProfiles.map((p) => p.name)).toEqual(expect.arrayContaining(['qemu-default', 'qemu-microvm-min']));
  });

  it('QEMU\'s default machine is the one the qemu target reports', async () => {
    const sock = join(scratch, 'default.qmp');
    const qemu = execa(QEMU, ['-S', '-display', 'none', '-qmp', `unix:${sock},server=on,wait=off`], { reject: false, timeout: 30_000, stdin: 'ignore' });
    try {
      const qmp = await Qmp.open(sock, qemu);
      await qmp.execute('qmp_capabilities');
      const machines = (await qmp.execute('query-machines')) as { name: string; alias?: string; 'is-default'?: boolean }[];
      const def = machines.find((m) => m['is-default']);
      expect(def?.alias ?? def?.name).toBe(qemuDefault('machine', 'pc', null));
      await qmp.execute('quit');
      qmp.close();
    } finally {
      await qemu;
    }
  });

  for (const profile of qemuProfiles) {
    const section = profile.sections.qemu as Record<string, unknown>;

    it(`${profile.name}: QEMU accepts the command line (-S, QMP quit) and loads the expected firmware`, async () => {
      const sock = join(scratch, `${profile.name}.qmp`);
      const [bin, ...args] = qemuCommandLine(section, { accel: 'tcg' });
      const qemu = execa(bin, [...args, '-S', '-qmp', `unix:${sock},server=on,wait=off`], {
        reject: false,
        timeout: 30_000,
        killSignal: 'SIGKILL',
        stdin: 'ignore',
      });
      let roms = '';
      try {
        const qmp = await Qmp.open(sock, qemu);
        await qmp.execute('qmp_capabilities');
        const status = (await qmp.execute('query-status')) as { status: string };
        expect(status.status).toBe('prelaunch');
        roms = String(await qmp.execute('human-monitor-command', { 'command-line': 'info roms' }));
        await qmp.execute('quit');
        qmp.close();
      } catch (err) {
        // A paused QEMU never exits by itself: end it now and report the first failure, with QEMU's stderr.
        qemu.kill('SIGKILL');
        const result = await qemu;
        throw new Error(`${(err as Error).message}\nQEMU stderr: ${String(result.stderr).trim() || '(empty)'}`);
      }
      const result = await qemu;
      expect(result.stderr).not.toMatch(/invalid|unsupported|warning|error/i);
      expect(result.exitCode, result.stderr).toBe(0);
      // The bios knob's "current" value is QEMU's default firmware for this machine.
      const knobs = qemuTarget.knobs(section, { root: '/', options: {} });
      const bios = knobs.find((k) => k.id === 'qemu/bios');
      const machine = knobs.find((k) => k.id === 'qemu/machine')?.desired ?? 'pc';
      const acpi = knobs.find((k) => k.id === 'qemu/acpi')?.desired ?? null;
      const firmware = bios && bios.desired !== 'default' ? bios.desired : qemuDefault('bios', machine, acpi);
      expect(roms).toContain(`name="${firmware}"`);
    });

    it(`${profile.name}: boots the tiny guest to its exit device (TCG)`, async () => {
      // tiny is an ELF with a PVH note: the kernel a kernel-entry: pvh profile boots, too
      const [bin, ...args] = qemuCommandLine(section, { accel: 'tcg', kernel: tiny.kernel, pvhKernel: tiny.kernel });
      const result = await execa(bin, [...args, '-device', `isa-debug-exit,iobase=0x${TINY_DEBUG_EXIT_PORT.toString(16)},iosize=0x02`], {
        reject: false,
        timeout: 30_000,
        killSignal: 'SIGKILL',
        stdin: 'ignore',
      });
      expect(result.timedOut).toBe(false);
      expect(result.exitCode, result.stderr).toBe(TINY_EXIT_OK_STATUS);
      const lines = String(result.stdout).split(/\r?\n/);
      expect(lines).toContain(TINY_SERIAL_LINES.entry);
      expect(lines).toContain(TINY_SERIAL_LINES.done);
    });
  }
});

describe.skipIf(linuxMissing)('shipped QEMU profiles boot the linux guest (TCG)', () => {
  for (const profile of qemuProfiles) {
    it(
      `${profile.name}: ${LINUX_BOOTS} boots each reach ${READY_MARKER} within ${LINUX_BOOT_LIMIT_MS / 1000} s, phases in order`,
      async () => {
        const out = join(scratch, `linux-${profile.name}`);
        // Rootless: QEMU's trace log + the serial console (what every CI machine can record).
        const result = await runBoots({
          guest: 'linux',
          profile: profile.name,
          accel: 'tcg',
          runs: LINUX_BOOTS,
          outDir: out,
          mode: 'rootless',
          timeoutMs: LINUX_BOOT_LIMIT_MS,
        }).catch((err: unknown) => {
          // A boot past the limit: say why when the console shows the known TSC hang, and show the console's end.
          const serials = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith('.serial.txt')).sort() : [];
          const last = serials.at(-1);
          if (!last) throw err;
          const tail = readFileSync(join(out, last), 'utf8').trimEnd().split('\n').slice(-6).join('\n');
          const explained = explainHang(err, join(out, last));
          throw new Error(`${(explained as Error).message}\n--- end of ${last} ---\n${tail}`);
        });
        expect(result.accel).toBe('tcg');
        expect(result.runs).toHaveLength(LINUX_BOOTS);
        // kernel-entry: pvh boots the uncompressed ELF hvscope extracted from the bzImage; QEMU
        // starts an ELF only at its PVH note, so a boot that reached ready went through it.
        const kernel = result.command[result.command.indexOf('-kernel') + 1];
        if (bootsThroughPvh(profile.sections.qemu)) {
          expect(await isElf(kernel), `${kernel} is not an ELF`).toBe(true);
          expect(await pvhEntry(kernel)).toBeGreaterThan(0);
        } else {
          expect(await isElf(kernel)).toBe(false); // the bzImage
        }
        const tscArg = result.command.find((a) => /(^| )tsc_early_khz=/.test(a));
        const quietKernel = /(^| )quiet( |$)/.test(result.command[result.command.indexOf('-append') + 1] ?? '');
        for (const run of result.runs) {
          expect(run.partial).toBe(false);
          expect(run.exitCode).toBe(0); // the guest powered off (ACPI), QEMU exited by itself
          expect(run.trace.meta.profile).toBe(profile.name);
          const phases = run.trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
          expect(phases.map((p) => p.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
          expect(phases[0].start).toBe(0);
          for (let i = 1; i < phases.length; i++) {
            expect(phases[i].start).toBe(phases[i - 1].end);
            expect(phases[i].end).toBeGreaterThan(phases[i].start);
          }
          const at = (name: string) => run.trace.instants.find((i) => i.name === name)?.at;
          const user = phases[3];
          expect(at(USER_START_MARKER)).toBeGreaterThanOrEqual(user.start);
          expect(at(READY_MARKER)).toBe(user.end);
          expect(user.end).toBeLessThan(LINUX_BOOT_LIMIT_MS * 1e6);

          // The TSC rate the guest kernel uses: the one the profile gave it (tcg-tsc-khz), or its own
          // measurement (PIT/HPET/PM timer), which must then agree with the host's figure that
          // tcg-tsc-khz: host reads — the check that reading is right.
          // With `quiet` (console log level 4) the kernel prints no info lines, this one included: the
          // check then rests on the profiles without it (qemu-microvm-fast sets tcg-tsc-khz: host too).
          if (quietKernel) continue;
          const serial = readFileSync(join(out, `${run.label}.serial.txt`), 'utf8');
          // With a PIT (qemu-linux-found keeps qemu-default's) the kernel also measures the processor
          // clock against it ("Detected … MHz processor", a few kHz off) and then prints the TSC rate it
          // uses ("Detected … MHz TSC"); without one it prints the processor line alone, that rate.
          const detected = /tsc: Detected ([0-9]+)\.([0-9]{3}) MHz TSC/.exec(serial) ?? /tsc: Detected ([0-9]+)\.([0-9]{3}) MHz processor/.exec(serial);
          expect(detected, `${run.label}: the guest kernel printed no "tsc: Detected … MHz"`).not.toBeNull();
          const guestKhz = Number(detected![1]) * 1000 + Number(detected![2]);
          if (tscArg) {
            expect(`tsc_early_khz=${guestKhz}`).toBe(/tsc_early_khz=[0-9]+/.exec(tscArg)![0]);
            expect(serial).toMatch(/Calibrating delay loop \(skipped\)/);
          } else {
            expect(Math.abs(guestKhz - hostTscKhz()) / guestKhz).toBeLessThan(0.005);
          }
        }
      },
      LINUX_BOOTS * LINUX_BOOT_LIMIT_MS + 60_000,
    );
  }
});
