// hvscope demo: renders the bundled real trace (a live boot arrives with the tracing issue).
import type { CAC } from 'cac';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRuns, writeFileAtomic } from '../model/io.js';
import { buildReport, formatReportText } from '../analysis/report.js';
import { renderRuns } from './render.js';
import { command, printJson, progress } from './run-command.js';

/** Package root, so the demo finds its fixture wherever it is started from. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEMO_FIXTURE = resolve(PACKAGE_ROOT, 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json');

export function register(cli: CAC): void {
  cli
    .command('demo', 'Render a bundled real QEMU boot trace to demo-out/ (timeline.svg, trace.json for Perfetto)')
    .option('-o, --output <dir>', 'Output directory', { default: 'demo-out' })
    .option('--json', 'Print what was written as JSON')
    .action(
      command(async (opts: { output: string; json?: boolean }) => {
        const outDir = resolve(opts.output);
        progress(`rendering the bundled trace ${DEMO_FIXTURE} (a real QEMU TCG boot recorded on the dev host; see fixtures/README.md)`);
        const runs = readRuns([DEMO_FIXTURE]);
        const svg = resolve(outDir, 'timeline.svg');
        const chrome = resolve(outDir, 'trace.json');
        writeFileAtomic(svg, renderRuns(runs, 'svg', { title: 'hvscope demo: QEMU TCG boot of a Debian kernel (recorded)' }));
        writeFileAtomic(chrome, renderRuns(runs, 'chrome'));
        const report = buildReport(runs);
        if (opts.json) printJson({ source: 'bundled', trace: DEMO_FIXTURE, svg, chrome, report });
        else {
          process.stdout.write(formatReportText(report));
          process.stdout.write(`\ntimeline: ${svg}\nPerfetto/chrome://tracing: ${chrome}\n`);
        }
      }),
    );
}
