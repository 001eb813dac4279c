// hvscope diagnose TRACE... [--json]
import type { CAC } from 'cac';
import { readRuns } from '../model/io.js';
import { diagnose, formatDiagnosisText } from '../analysis/diagnose.js';
import { buildReport } from '../analysis/report.js';
import { command, printJson } from './run-command.js';

export function register(cli: CAC): void {
  cli
    .command('diagnose <trace> [...more]', 'Explain a slow boot: findings with evidence from the trace, why they matter and the fix')
    .option('--json', 'Machine-readable findings ({ findings, runs }; durations in ns)')
    .example('hvscope diagnose run.hvtrace.json')
    .example('hvscope diagnose runs/ --json')
    .action(
      command(async (first: string, more: string[], opts: { json?: boolean }) => {
        const runs = readRuns([first, ...more]);
        const findings = diagnose(runs);
        // A report, not a check: exit 0 with or without findings.
        if (opts.json) printJson({ findings, runs: buildReport(runs).runs });
        else process.stdout.write(formatDiagnosisText(findings, runs.map((r) => r.label)));
      }),
    );
}
