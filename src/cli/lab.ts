// hvscope lab xen run: one Xen-in-QEMU lab cycle with the tiny-pv guest.
// Later work adds --profile (stock vs tuned), --runs, --domains and traces;
// this registers the minimal cycle: boot, `xl create` tiny-pv, marker, gone, off.
import type { CAC } from 'cac';
import { UserError } from '../model/errors.js';
import { buildTinyPvGuest } from '../lab/tiny-pv-guest.js';
import { requireLabRoot, runInXenLab } from '../lab/xen/run.js';
import { parseTinyPvResult, renderTinyPvExperiment, tinyPvFailure } from '../lab/xen/tiny-pv-experiment.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';

interface LabOptions {
  guest: string;
  output: string;
  timeout: string | number;
  json?: boolean;
}

function positiveSeconds(value: string | number, flag: string): number {
  const text = String(value);
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UserError(`${flag} must be a whole number of seconds ≥ 1, got '${text}'`);
  return Number(text);
}

export async function labXenRun(opts: LabOptions): Promise<void> {
  if (opts.guest !== 'tiny-pv') throw new UserError(`--guest: only tiny-pv is supported by the lab so far, got '${opts.guest}'`);
  const timeoutS = positiveSeconds(opts.timeout, '--timeout');
  requireLabRoot();
  const guest = await buildTinyPvGuest();
  const outDir = String(opts.output);
  const { value: lab, signal } = await withInterrupts((abort) =>
    runInXenLab({ script: renderTinyPvExperiment({ kernel: guest.kernel }), outDir, timeoutMs: timeoutS * 1000, onProgress: progress, signal: abort }),
  );
  if (signal) throw new ExitStatus(interruptedExitCode(signal));
  const tiny = await parseTinyPvResult(lab.outDir).catch(() => undefined);
  if (opts.json) printJson({ lab, tinyPv: tiny });
  progress(`lab: boot ${(lab.timings.bootMs / 1000).toFixed(1)} s, experiment ${(lab.timings.experimentMs / 1000).toFixed(1)} s, total ${(lab.timings.totalMs / 1000).toFixed(1)} s; logs in ${lab.outDir}`);
  if (tiny) {
    progress(`tiny-pv: xl create ${tiny.xlCreateMs.toFixed(0)} ms (exit ${tiny.xlCreateExit}), marker ${tiny.markerSeen ? `seen at ${tiny.markerMs!.toFixed(0)} ms` : 'NOT seen'}, domain ${tiny.domainGone ? 'gone' : 'NOT gone'}`);
  }
  const failure = tinyPvFailure(lab.exitCode, tiny, lab.outDir);
  if (failure) throw new UserError(`lab xen run: ${failure}`);
}

export function register(cli: CAC): void {
  cli
    .command('lab <hypervisor> <action>', 'Xen-in-QEMU lab: `lab xen run` boots Xen 4.17 + dom0 under QEMU and times a real `xl create` (root)')
    .option('--guest <guest>', 'Guest to create (tiny-pv)', { default: 'tiny-pv' })
    .option('-o, --output <dir>', 'Output directory (logs, results)', { default: 'lab-out' })
    .option('--timeout <seconds>', 'Give up on the whole lab after this long', { default: 600 })
    .option('--json', 'Print the lab result as JSON on stdout')
    .action(
      command(async (hypervisor: string, action: string, opts: LabOptions) => {
        if (hypervisor !== 'xen' || action !== 'run') throw new UserError(`lab: expected \`lab xen run\`, got \`lab ${hypervisor} ${action}\``);
        await labXenRun(opts);
      }),
    );
}
