// Records a boot of the `linux` guest into a fixture directory: qemu.log,
// serial.txt, run.hvtrace.json (both merged) and recording.json (provenance).
// Usage (after `npm run build`):
//   node dist/src/lab/record-fixture.js pc|microvm DIR [CACHE_DIR]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { phaseSummaryText } from '../analysis/phases.js';
import { UserError } from '../model/errors.js';
import { recordLinuxBoot } from './linux-guest.js';

/** The fixtures are TCG boots (reproducible on any x86 host, KVM or not). */
export function recordFixture(machine: 'pc' | 'microvm', outDir: string, cacheDir?: string) {
  return recordLinuxBoot({ machine, outDir, cacheDir, accel: 'tcg' });
}

async function main(argv: string[]): Promise<void> {
  const [machine, dir, cache] = argv;
  if ((machine !== 'pc' && machine !== 'microvm') || !dir) throw new UserError('usage: record-fixture pc|microvm DIR [CACHE_DIR]');
  const { trace, provenance } = await recordFixture(machine, resolve(dir), cache);
  process.stdout.write(JSON.stringify({ ...provenance, phases: phaseSummaryText(trace) }, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`record-fixture: ${err instanceof UserError ? err.message : (err as Error).stack}\n`);
    process.exitCode = 1;
  });
}
