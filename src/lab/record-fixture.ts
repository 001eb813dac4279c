// Records a boot of the `linux` guest into a fixture directory: qemu.log,
// serial.txt, run.hvtrace.json (both merged) and recording.json (provenance).
// Usage (after `npm run build`):
//   node dist/src/lab/record-fixture.js pc|microvm DIR [CACHE_DIR]
import { writeFileSync } from 'node:fs';
import { loadavg, release } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import type { Trace } from '../model/trace.js';
import { LINUX_GUEST_APPEND, defaultCacheDir, prepareLinuxGuest } from './linux-guest.js';
import { importRecording, qemuVersion, recordQemuBoot } from './qemu-record.js';

export interface FixtureProvenance {
  recordedAt: string;
  hostKernel: string;
  qemu: string;
  kernelPackage: string;
  busyboxPackage?: string;
  machine: string;
  accel: string;
  command: string[];
  execClockUs: number;
  /** 1-minute load average when the boot started: TCG timings depend on it. */
  hostLoad1m: number;
}

export async function recordFixture(machine: 'pc' | 'microvm', outDir: string, cacheDir = defaultCacheDir()): Promise<{ trace: Trace; provenance: FixtureProvenance }> {
  const guest = await prepareLinuxGuest(cacheDir);
  const qemu = await qemuVersion();
  const recordedAt = new Date().toISOString();
  const hostLoad1m = Number(loadavg()[0].toFixed(2));
  const rec = await recordQemuBoot({ machine, kernel: guest.kernel, initrd: guest.initrd, append: LINUX_GUEST_APPEND, outDir, accel: 'tcg' });
  const provenance: FixtureProvenance = {
    recordedAt,
    hostKernel: release(),
    qemu,
    kernelPackage: guest.kernelPackage,
    busyboxPackage: guest.busyboxPackage,
    machine,
    accel: 'tcg',
    command: rec.command,
    execClockUs: rec.execClockUs,
    hostLoad1m,
  };
  const trace = importRecording(rec, {
    hypervisor: `${qemu.replace(/^QEMU emulator version /, 'qemu ')} tcg`,
    recorded: `${recordedAt}: hvscope record-fixture, linux guest (${guest.kernelPackage}, ${guest.busyboxPackage ?? 'busybox'}), -M ${machine} -accel tcg`,
    inputs: [rec.qemuLog, rec.serial].map((p) => relative(process.cwd(), p)),
  });
  writeTrace(join(outDir, 'run.hvtrace.json'), trace);
  writeFileSync(join(outDir, 'recording.json'), JSON.stringify(provenance, null, 2) + '\n');
  return { trace, provenance };
}

async function main(argv: string[]): Promise<void> {
  const [machine, dir, cache] = argv;
  if ((machine !== 'pc' && machine !== 'microvm') || !dir) throw new UserError('usage: record-fixture pc|microvm DIR [CACHE_DIR]');
  const { trace, provenance } = await recordFixture(machine, resolve(dir), cache);
  const phases = trace.spans.filter((s) => s.lane === 'phases').map((s) => `${s.name} ${((s.end - s.start) / 1e6).toFixed(1)} ms`);
  process.stdout.write(JSON.stringify({ ...provenance, phases }, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`record-fixture: ${err instanceof UserError ? err.message : (err as Error).stack}\n`);
    process.exitCode = 1;
  });
}
