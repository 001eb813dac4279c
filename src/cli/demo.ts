// hvscope demo: a live, traced boot of the tiny guest when this host allows it
// (root, bpftrace, QEMU, gcc), else the bundled real trace. Says which it did.
// Output: demo-out/timeline.svg and demo-out/trace.json (Perfetto / chrome://tracing).
import type { CAC } from 'cac';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { readRuns, writeTrace } from '../model/io.js';
import type { Run } from '../model/trace.js';
import { buildReport, formatReportText } from '../analysis/report.js';
import { runBoots } from '../lab/boot-series.js';
import { isRoot } from '../tracer/host-checks.js';
import { tracingBlocker } from '../tracer/session.js';
import { packageRoot } from '../tuning/profile.js';
import { writeRendered } from '../render/index.js';
import { command, printJson, progress } from './run-command.js';

/** Package root (found from this module, built or not), so the demo finds its fixture wherever it is started from. */
export const PACKAGE_ROOT = packageRoot();
export const DEMO_FIXTURE = resolve(PACKAGE_ROOT, 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json');

async function onPath(name: string): Promise<boolean> {
  const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', name], { reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}

/** Why a live demo cannot run here (first missing requirement), or null. */
export async function liveDemoBlocker(): Promise<string | null> {
  if (!isRoot()) return 'not root (bpftrace needs root)';
  for (const tool of ['qemu-system-x86_64', 'gcc', 'ld']) if (!(await onPath(tool))) return `${tool} not installed`;
  const blocker = await tracingBlocker();
  return blocker ? blocker.message : null;
}

interface DemoOptions {
  output: string;
  json?: boolean;
  bundled?: boolean;
}

export function register(cli: CAC): void {
  cli
    .command('demo', 'Trace a live boot of the tiny guest (root + bpftrace + QEMU), else render the bundled real trace; writes demo-out/')
    .option('-o, --output <dir>', 'Output directory', { default: 'demo-out' })
    .option('--bundled', 'Use the bundled trace even when a live boot is possible')
    .option('--json', 'Print what was written as JSON')
    .action(
      command(async (opts: DemoOptions) => {
        const outDir = resolve(opts.output);
        const svg = resolve(outDir, 'timeline.svg');
        const chrome = resolve(outDir, 'trace.json');
        let runs: Run[] | undefined;
        let source: 'live' | 'bundled' = 'bundled';
        let why: string;
        let title = 'hvscope demo: QEMU TCG boot of a Debian kernel (recorded)';
        let traceFile = DEMO_FIXTURE;
        const blocker = opts.bundled ? '--bundled given' : await liveDemoBlocker();
        if (blocker === null) {
          progress('live demo: booting the tiny guest under QEMU, traced with bpftrace');
          const scratch = mkdtempSync(join(tmpdir(), 'hvscope-demo-'));
          try {
            const result = await runBoots({ guest: 'tiny', runs: 1, outDir: scratch, mode: 'traced', onProgress: progress });
            const trace = result.runs[0].trace;
            // the scratch directory (QEMU's log) is removed below: keep only inputs that stay
            trace.meta.inputs = trace.meta.inputs?.filter((f) => !f.startsWith(scratch));
            runs = [{ label: 'live tiny boot', trace }];
            traceFile = resolve(outDir, 'run.hvtrace.json');
            writeTrace(traceFile, trace);
            source = 'live';
            why = `live boot of tiny (${result.accel}), traced with bpftrace`;
            title = `hvscope demo: live boot of the tiny unikernel (QEMU ${result.accel}, bpftrace)`;
          } catch (err) {
            why = `live boot failed (${(err as Error).message}); using the bundled trace`;
            progress(why);
          } finally {
            rmSync(scratch, { recursive: true, force: true });
          }
        } else {
          why = `no live boot: ${blocker}; using the bundled trace`;
        }
        if (!runs) {
          progress(`${why!} ${DEMO_FIXTURE} (a real QEMU TCG boot recorded on the dev host; see fixtures/README.md)`);
          runs = readRuns([DEMO_FIXTURE]);
        } else {
          progress(why!);
        }
        writeRendered(svg, runs, 'svg', { title });
        writeRendered(chrome, runs, 'chrome');
        const report = buildReport(runs);
        if (opts.json) printJson({ source, why: why!, trace: traceFile, svg, chrome, report });
        else {
          process.stdout.write(`${source === 'live' ? 'Live boot' : 'Bundled trace'}: ${why!}\n\n`);
          process.stdout.write(formatReportText(report));
          process.stdout.write(`\ntimeline: ${svg}\nPerfetto/chrome://tracing: ${chrome}\n`);
        }
      }),
    );
}
