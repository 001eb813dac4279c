// Every shipped profile with a qemu section renders a command line that THIS QEMU (7.2)
// accepts: started with -S and a QMP socket, it answers qmp_capabilities, reports the
// firmware it loaded (checked against the qemu target's notion of QEMU's defaults) and
// exits 0 on `quit`, with nothing "invalid"/"unsupported" on stderr. Each line then boots
// the real tiny guest (TCG) to its exit device.
//
// TCG only: this is the accelerator every CI machine has. (`accel: auto` renders
// `-accel kvm -accel tcg`; the test passes the boot-time choice, tcg, as `hvscope boot` does.)
import { connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import { buildTinyGuest, TINY_DEBUG_EXIT_PORT, TINY_EXIT_OK_STATUS, TINY_SERIAL_LINES, type TinyGuestBuild } from '../../src/lab/tiny-guest.js';
import type { TargetDefinition } from '../../src/tuning/knob.js';
import { listProfiles, loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { qemuCommandLine, qemuDefault, target as qemuTarget } from '../../src/tuning/targets/qemu.js';
import { target as xenDomain } from '../../src/tuning/targets/xen-domain.js';
import { target as xenHotplug } from '../../src/tuning/targets/xen-hotplug.js';
import { target as xenXlConf } from '../../src/tuning/targets/xen-xl-conf.js';

const QEMU = 'qemu-system-x86_64';
const missing =
  requireOrSkip(hasCommand(QEMU), `${QEMU} (Debian package qemu-system-x86)`) ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld for the tiny guest (Debian packages gcc, binutils)');

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
  static async open(path: string, qemu: ResultPromise): Promise<Qmp> {
    for (let i = 0; i < 200 && !existsSync(path); i++) {
      if (qemu.exitCode !== undefined && qemu.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const qmp = new Qmp(socket);
    await qmp.next(); // greeting
    return qmp;
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
      } finally {
        const result = await qemu;
        expect(result.stderr).not.toMatch(/invalid|unsupported|warning|error/i);
        expect(result.exitCode, result.stderr).toBe(0);
      }
      // The bios knob's "current" value is QEMU's default firmware for this machine.
      const knobs = qemuTarget.knobs(section, { root: '/', options: {} });
      const bios = knobs.find((k) => k.id === 'qemu/bios');
      const machine = knobs.find((k) => k.id === 'qemu/machine')?.desired ?? 'pc';
      const acpi = knobs.find((k) => k.id === 'qemu/acpi')?.desired ?? null;
      const firmware = bios && bios.desired !== 'default' ? bios.desired : qemuDefault('bios', machine, acpi);
      expect(roms).toContain(`name="${firmware}"`);
    });

    it(`${profile.name}: boots the tiny guest to its exit device (TCG)`, async () => {
      const [bin, ...args] = qemuCommandLine(section, { accel: 'tcg', kernel: tiny.kernel });
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
