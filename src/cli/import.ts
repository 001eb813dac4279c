// hvscope import FILE... --from FORMAT [-o run.hvtrace.json]
import type { CAC } from 'cac';
import { basename, dirname, join } from 'node:path';
import { writeTrace, TRACE_SUFFIX } from '../model/io.js';
import { UserError } from '../model/errors.js';
import { formatNames, importFile } from '../sources/index.js';
import { mergeTraces } from '../sources/merge.js';
import { command, printJson, progress } from './run-command.js';
import { phaseSummary, phaseSummaryText } from '../analysis/phases.js';

/** `serial:console.txt` names its own format; a plain path takes --from. */
export function splitFormatPrefix(arg: string, defaultFormat: string | undefined): { file: string; format: string } {
  const m = /^([a-z-]+):(.+)$/.exec(arg);
  if (m && formatNames().includes(m[1])) return { format: m[1], file: m[2] };
  if (!defaultFormat) throw new UserError(`${arg}: say which format it is with --from (${formatNames().join('|')}) or a FORMAT:FILE prefix`);
  return { format: defaultFormat, file: arg };
}

export function register(cli: CAC): void {
  cli
    .command('import <file> [...more]', 'Import a QEMU trace log, serial capture, bpftrace output or Chrome trace into a .hvtrace.json')
    .option('--from <format>', `Input format: ${formatNames().join('|')}`)
    .option('-o, --output <file>', `Output trace (default: FILE with ${TRACE_SUFFIX})`)
    .option('--json', 'Print a summary of the imported trace as JSON')
    .example('hvscope import qemu.log --from qemu-log -o run.hvtrace.json')
    .example('hvscope import qemu.log serial:console.txt --from qemu-log -o run.hvtrace.json   # merge a run recorded two ways')
    .action(
      command(async (file: string, more: string[], opts: { from?: string; output?: string; json?: boolean }) => {
        const inputs = [file, ...more].map((a) => splitFormatPrefix(a, opts.from));
        const traces = inputs.map(({ file: f, format }) => importFile(f, format));
        const trace = traces.length === 1 ? traces[0] : mergeTraces(traces);
        const out = opts.output ?? join(dirname(inputs[0].file), basename(inputs[0].file).replace(/\.[^.]*$/, '') + TRACE_SUFFIX);
        writeTrace(out, trace);
        const summary = {
          output: out,
          inputs: inputs.map((i) => `${i.format}:${i.file}`),
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
