// hvscope report TRACE... [--json] [--critical-path [--depth N]]
import type { CAC } from 'cac';
import { readRuns } from '../model/io.js';
import { usageError } from '../model/errors.js';
import { buildReport, formatReportText } from '../analysis/report.js';
import { criticalPath, criticalPathJson, formatCriticalPathText } from '../analysis/critical-path.js';
import { command, printJson } from './run-command.js';

interface ReportCliOptions {
  json?: boolean;
  criticalPath?: boolean;
  depth?: string | number;
}

export function register(cli: CAC): void {
  cli
    .command('report <trace> [...more]', 'Per-phase durations; with several runs, median, min, max and p90 per phase; --critical-path: what each run waited on from start to ready')
    .option('--json', 'Machine-readable report (durations in ns)')
    .option('--critical-path', 'Also the chain of spans each run waited on from its first phase to ready, like systemd-analyze critical-chain (docs/analysis.md)')
    .option('--depth <n>', 'With --critical-path: list nested spans down to this depth (0 = top level; default all). Text only')
    .example('hvscope report run.hvtrace.json')
    .example('hvscope report runs/ --json')
    .example('hvscope report run.hvtrace.json --critical-path --depth 2')
    .action(
      command(async (first: string, more: string[], opts: ReportCliOptions) => {
        let depth: number | undefined;
        if (opts.depth !== undefined) {
          if (!opts.criticalPath) throw usageError('--depth: only with --critical-path');
          if (!/^[0-9]+$/.test(String(opts.depth))) throw usageError(`--depth ${String(opts.depth)}: expected a whole number ≥ 0`);
          depth = Number(opts.depth);
        }
        const runs = readRuns([first, ...more]);
        const report = buildReport(runs);
        const paths = opts.criticalPath ? runs.map((r) => ({ label: r.label, path: criticalPath(r.trace) })) : [];
        if (opts.json) {
          printJson(opts.criticalPath ? { ...report, critical_paths: paths.map((p) => criticalPathJson(p.label, p.path)) } : report);
          return;
        }
        process.stdout.write(formatReportText(report));
        for (const p of paths) process.stdout.write(`\n${formatCriticalPathText(`critical path of ${p.label}`, p.path, { maxDepth: depth })}`);
      }),
    );
}
