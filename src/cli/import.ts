// hvscope import FILE... [--from FORMAT] [-o run.hvtrace.json]
import type { CAC } from 'cac';
import { basename, dirname, join } from 'node:path';
import { serializeTrace, TRACE_SUFFIX } from '../model/io.js';
import { usageError } from '../model/errors.js';
import { nearest } from '../model/suggest.js';
import { formatNames, importFileAs } from '../sources/index.js';
import { mergeTraces } from '../sources/merge.js';
import { command, printJson, progress, writeOutput } from './run-command.js';
import { phaseSummary, phaseSummaryText } from '../analysis/phases.js';

/** `serial:console.txt` names its own format; a plain path takes --from, else the format is detected from its content. */
export function splitFormatPrefix(arg: string, defaultFormat: string | undefined): { file: string; format: string | undefined } {
  const m = /^([a-z-]+):(.+)$/.exec(arg);
  if (m && formatNames().includes(m[1])) return { format: m[1], file: m[2] };
  return { format: defaultFormat, file: arg };
}

export function register(cli: CAC): void {
  cli
    .command('import <file> [...more]', 'Import a QEMU trace log, serial capture, bpftrace output or Chrome trace into a .hvtrace.json')
    .option('--from <format>', `Input format: ${formatNames().join('|')} (default: detected from the content, and said)`)
    .option('-o, --output <file>', `Output trace; "-" for stdout (default: FILE with ${TRACE_SUFFIX}, beside it)`)
    .option('--json', 'Print a summary of the imported trace as JSON')
    .example('hvscope import qemu.log -o run.hvtrace.json   # the format is detected from the content, and said')
    .example('hvscope import console.txt --from serial -o run.hvtrace.json')
    .example('hvscope import qemu.log serial:console.txt --from qemu-log -o run.hvtrace.json   # merge a run recorded two ways')
    .action(
      command(async (file: string, more: string[], opts: { from?: string; output?: string; json?: boolean }) => {
        if (opts.from !== undefined && !formatNames().includes(String(opts.from))) {
          const near = nearest(String(opts.from), formatNames());
          throw usageError(`--from ${opts.from}: unknown format${near ? ` (did you mean ${near}?)` : ''}; one of ${formatNames().join(', ')}`);
        }
        const inputs = [file, ...more].map((a) => splitFormatPrefix(a, opts.from === undefined ? undefined : String(opts.from)));
        const imported = inputs.map(({ file: f, format }) => {
          const r = importFileAs(f, format);
          if (r.detected) progress(`${f}: read as ${r.format} (detected from ${r.detected}; --from FORMAT says otherwise)`);
          return { ...r, file: f };
        });
        const traces = imported.map((r) => r.trace);
        const trace = traces.length === 1 ? traces[0] : mergeTraces(traces);
        const out = opts.output ?? join(dirname(inputs[0].file), basename(inputs[0].file).replace(/\.[^.]*$/, '') + TRACE_SUFFIX);
        if (out === '-' && opts.json) throw usageError('-o - and --json would both write to stdout; give one of them');
        if (!writeOutput(out, serializeTrace(trace))) return;
        const summary = {
          output: out,
          inputs: imported.map((i) => `${i.format}:${i.file}`),
          detected: Object.fromEntries(imported.filter((i) => i.detected).map((i) => [i.file, i.format])),
          lanes: trace.lanes.length,
          spans: trace.spans.length,
          instants: trace.instants.length,
          counters: trace.counters.length,
          markers: trace.markers.length,
          phases: phaseSummary(trace),
        };
        if (opts.json) printJson(summary);
        else {
          progress(`wrote ${out} (${summary.spans} spans, ${summary.instants} instants, ${summary.markers} markers, ${summary.lanes} lanes)`);
          progress(`phases: ${phaseSummaryText(trace)}`);
        }
      }),
    );
}
