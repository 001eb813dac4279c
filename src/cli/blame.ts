// hvscope blame TRACE... [--pid N] [--name RE] [--phase P] [--min DUR] [--json]
import type { CAC } from 'cac';
import { parseDuration } from '../analysis/duration.js';
import { blame, blameFilter, formatBlameText } from '../analysis/blame.js';
import { readRuns } from '../model/io.js';
import { command, printJson } from './run-command.js';

interface BlameOptions {
  pid?: string | number;
  name?: string;
  phase?: string;
  min?: string | number;
  json?: boolean;
}

export function register(cli: CAC): void {
  cli
    .command('blame <trace> [...more]', 'Every span, longest first (the phases strip left out), like systemd-analyze blame')
    .option('--pid <pid>', 'Only spans of this process id (its process and thread lanes)')
    .option('--name <regex>', 'Only spans whose name matches (a regular expression, case-insensitive)')
    .option('--phase <phase>', 'Only spans of this phase (orchestrate, toolstack, devices, firmware, kernel, user), or none')
    .option('--min <duration>', 'Only spans at least this long: 5ms, 1.5s, 200us, 2min')
    .option('--json', 'Machine-readable: { runs, filters, count, spans } (times in ns)')
    .example('hvscope blame run.hvtrace.json --min 5ms')
    .example("hvscope blame runs/ --name '^xs_' --phase devices --json")
    .action(
      command(async (first: string, more: string[], opts: BlameOptions) => {
        // Options first: a bad one is reported before any file is read.
        const minNs = opts.min === undefined ? undefined : parseDuration(String(opts.min), '--min');
        const filter = blameFilter({ pid: opts.pid, name: opts.name === undefined ? undefined : String(opts.name), phase: opts.phase, minNs });
        const runs = readRuns([first, ...more]);
        const rows = blame(runs, filter);
        const labels = runs.map((r) => r.label);
        if (opts.json)
          printJson({
            runs: labels,
            filters: { pid: filter.pid ?? null, name: filter.name?.source ?? null, phase: filter.phase ?? null, minNs: filter.minNs ?? null },
            count: rows.length,
            spans: rows,
          });
        else process.stdout.write(formatBlameText(rows, labels));
      }),
    );
}
