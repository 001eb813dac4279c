// hvscope render TRACE... [-o FILE] [--format svg|chrome|speedscope|csv|json|text] [--static]
import type { CAC } from 'cac';
import { basename } from 'node:path';
import { readRuns, writeFileAtomic, TRACE_SUFFIX } from '../model/io.js';
import { UserError } from '../model/errors.js';
import type { Run, Span } from '../model/trace.js';
import { RENDER_FORMATS, defaultSuffix, formatFromOutput, isRenderFormat, renderRuns } from '../render/index.js';
import type { SpanHighlight } from '../render/timeline-layout.js';
import { command, progress } from './run-command.js';

/** Every run's critical path as one highlight (loaded only when asked for). */
async function criticalPathHighlight(runs: Run[]): Promise<SpanHighlight> {
  const { criticalPathSpans } = await import('../analysis/critical-path.js');
  const spans = new Set<Span>();
  for (const run of runs) for (const s of criticalPathSpans(run.trace)) spans.add(s);
  return { id: 'critical-path', label: 'critical path', spans };
}

export function register(cli: CAC): void {
  cli
    .command('render <trace> [...more]', 'Draw traces as a flame-like SVG timeline, or export them (Chrome/Perfetto, speedscope, CSV, JSON, text)')
    .option('-o, --output <file>', 'Output file; "-" for stdout (default: TRACE.svg for svg/chrome/speedscope, stdout for csv/json/text)')
    .option('--format <format>', `One of ${RENDER_FORMATS.join('|')} (default: from the output name, else svg)`)
    .option('--static', 'SVG without script, sized for a paper column (see --width); default: interactive (zoom, pan, measure, search, fold processes)')
    .option('--width <width>', 'SVG width: pixels (default: the browser window; 1200 where scripts do not run) or 3.5in / 7.16in for IEEE one/two columns')
    .option('--title <title>', 'SVG title')
    .option('--critical-path', 'SVG: outline each run\'s critical path (the chain of spans it waited on, as report --critical-path lists it)')
    .example('hvscope render run.hvtrace.json -o run.svg')
    .example('hvscope render run.hvtrace.json --critical-path -o run.svg')
    .example('hvscope render runs/ --static --width 3.5in -o fig.svg   # all runs in a directory, one band group each')
    .example('hvscope render run.hvtrace.json --format chrome -o run.json   # open in ui.perfetto.dev')
    .action(
      command(async (first: string, more: string[], opts: { output?: string; format?: string; static?: boolean; width?: string | number; title?: string; criticalPath?: boolean }) => {
        const format = opts.format ?? formatFromOutput(opts.output);
        if (!isRenderFormat(format)) throw new UserError(`--format ${opts.format}: unknown; one of ${RENDER_FORMATS.join(', ')}`);
        if (opts.static && format !== 'svg') throw new UserError('--static applies to --format svg only');
        if (opts.criticalPath && format !== 'svg') throw new UserError('--critical-path applies to --format svg only');
        const runs = readRuns([first, ...more]);
        const text = renderRuns(runs, format, {
          static: opts.static,
          width: opts.width === undefined ? undefined : String(opts.width),
          title: opts.title,
          highlights: opts.criticalPath ? [await criticalPathHighlight(runs)] : undefined,
        });
        const suffix = defaultSuffix(format);
        const output = opts.output ?? (suffix ? basename(first).replace(TRACE_SUFFIX, '').replace(/\/$/, '') + suffix : '-');
        if (output === '-') process.stdout.write(text);
        else {
          writeFileAtomic(output, text);
          progress(`wrote ${output} (${format}, ${runs.length} run${runs.length === 1 ? '' : 's'})`);
        }
      }),
    );
}
