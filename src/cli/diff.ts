// hvscope diff A B [--json] [-o diff.svg] [--confidence C] [--seed N] [--resamples R] [--top K]
import type { CAC } from 'cac';
import { diffRunSets, representativeRun } from '../analysis/diff.js';
import { formatDiffText } from '../analysis/diff-text.js';
import { usageError } from '../model/errors.js';
import { writeFileAtomic } from '../model/io.js';
import { readRunSet } from '../model/run-sets.js';
import { renderDiffSvg } from '../render/svg-diff.js';
import { command, printJson, progress } from './run-command.js';

interface DiffCliOptions {
  json?: boolean;
  output?: string;
  confidence?: string | number;
  seed?: string | number;
  resamples?: string | number;
  top?: string | number;
}

function numberOption(value: string | number | undefined, flag: string, check: (n: number) => boolean, expected: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value === 'boolean' || String(value).trim() === '' || !Number.isFinite(n) || !check(n)) throw usageError(`${flag} ${String(value)}: expected ${expected}`);
  return n;
}

export function register(cli: CAC): void {
  cli
    .command('diff <a> <b>', 'Compare two sets of runs phase by phase (median Δ, bootstrap interval, rank-sum test) and name the spans that explain each change. A and B: a trace, a directory of runs, or DIR:PROFILE of a `lab xen run` / `boot` output with several profiles (docs/analysis.md)')
    .option('--json', 'Machine-readable diff (durations in ns)')
    .option('-o, --output <file>', 'Also draw the diff as SVG: both sets\' phase medians and their median runs on one time axis, changed spans outlined; "-" for stdout')
    .option('--confidence <c>', 'Confidence for intervals and for calling a difference (default 0.95)')
    .option('--seed <n>', 'Seed of the bootstrap resampling (default 1; same seed, same intervals)')
    .option('--resamples <n>', 'Bootstrap resamples (default 10000)')
    .option('--top <k>', 'Spans listed per phase (default 5)')
    .example('hvscope diff stock/ tuned/          # two directories of runs')
    .example('hvscope diff lab-out:xen-stock lab-out:xen-unikernel -o diff.svg   # two profiles of one lab output')
    .example('hvscope diff before.hvtrace.json after.hvtrace.json --json')
    .action(
      command(async (a: string, b: string, opts: DiffCliOptions) => {
        const confidence = numberOption(opts.confidence, '--confidence', (n) => n > 0 && n < 1, 'a number between 0 and 1, e.g. 0.95');
        const seed = numberOption(opts.seed, '--seed', (n) => Number.isSafeInteger(n) && n >= 0, 'a whole number ≥ 0');
        const resamples = numberOption(opts.resamples, '--resamples', (n) => Number.isSafeInteger(n) && n >= 100 && n <= 1_000_000, 'a whole number from 100 to 1000000');
        const top = numberOption(opts.top, '--top', (n) => Number.isSafeInteger(n) && n >= 1 && n <= 1000, 'a whole number from 1 to 1000');
        if (opts.output !== undefined && (typeof opts.output !== 'string' || opts.output === '')) throw usageError('-o/--output: give the SVG file to write');
        if (opts.output === '-' && opts.json) throw usageError('--json and -o - both write to stdout; give -o a file name');
        const setA = readRunSet(String(a));
        const setB = readRunSet(String(b));
        const diff = diffRunSets(setA, setB, { confidence, seed, resamples, top });
        if (opts.output !== undefined) {
          const svg = renderDiffSvg({ diff, runA: representativeRun(setA.runs), runB: representativeRun(setB.runs) });
          if (opts.output === '-') process.stdout.write(svg);
          else {
            writeFileAtomic(opts.output, svg);
            progress(`wrote ${opts.output}`);
          }
        }
        if (opts.output === '-') return;
        if (opts.json) printJson(diff);
        else process.stdout.write(formatDiffText(diff));
      }),
    );
}
