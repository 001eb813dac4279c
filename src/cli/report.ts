// hvscope report TRACE... [--json]
import type { CAC } from 'cac';
import { readRuns } from '../model/io.js';
import { buildReport, formatReportText } from '../analysis/report.js';
import { command, printJson } from './run-command.js';

export function register(cli: CAC): void {
  cli
    .command('report <trace> [...more]', 'Per-phase durations; with several runs, median, min, max and p90 per phase')
    .option('--json', 'Machine-readable report (durations in ns)')
    .example('hvscope report run.hvtrace.json')
    .example('hvscope report runs/ --json')
    .action(
      command(async (first: string, more: string[], opts: { json?: boolean }) => {
        const report = buildReport(readRuns([first, ...more]));
        if (opts.json) printJson(report);
        else process.stdout.write(formatReportText(report));
      }),
    );
}
