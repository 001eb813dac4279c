// hvscope render TRACE... [-o FILE] [--format svg|chrome|speedscope|csv|json|text] [--static]
import type { CAC } from 'cac';
import { basename } from 'node:path';
import { readRuns, TRACE_SUFFIX } from '../model/io.js';
import { usageError } from '../model/errors.js';
import { nearest } from '../model/suggest.js';
import type { Run, Span } from '../model/trace.js';
import { RENDER_FORMATS, defaultSuffix, formatFromOutput, isRenderFormat, renderRuns } from '../render/index.js';
import type { SpanHighlight } from '../render/timeline-layout.js';
import { command, progress, writeOutput } from './run-command.js';

/** Every run's critical path as one highlight (loaded only when asked for). */
async function criticalPathHighlight(runs: Run[]): Promise<SpanHighlight> {
  const { criticalPathSpans } = await import('../analysis/critical-path.js');
  const spans = new Set<Span>();
  for (const run of runs) for (const s of criticalPathSpans(run.trace)) spans.add(s);
  return { id: 'critical-path', label: 'critical path', spans };
}

/** Where render writes without -o: NAME + the format's suffix in the current directory, or stdout (`-`). */
export function defaultRenderOutput(firstInput: string, format: string): string {
  const suffix = isRenderFormat(format) ? defaultSuffix(format) : null;
  return suffix ? basename(firstInput).replace(TRACE_SUFFIX, '') + suffix : '-';
}

export function register(cli: CAC): void {
  cli
    .command('render <trace> [...more]', 'Draw traces as a flame-like SVG timeline, or export them (Chrome/Perfetto, speedscope, CSV, JSON, text)')
    .option(
      '-o, --output <file>',
      `Output file; "-" for stdout (default: in the current directory, NAME${defaultSuffix('svg')}, NAME${defaultSuffix('chrome')} or NAME${defaultSuffix('speedscope')}, NAME being the first trace's file name without ${TRACE_SUFFIX} or its directory's name; stdout for csv, json and text)`,
    )
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
        if (!isRenderFormat(format)) {
          const near = nearest(String(opts.format), [...RENDER_FORMATS]);
          throw usageError(`--format ${opts.format}: unknown${near ? ` (did you mean ${near}?)` : ''}; one of ${RENDER_FORMATS.join(', ')}`);
        }
        if (opts.static && format !== 'svg') throw usageError('--static applies to --format svg only');
        if (opts.criticalPath && format !== 'svg') throw usageError('--critical-path applies to --format svg only');
        const runs = readRuns([first, ...more]);
        const text = renderRuns(runs, format, {
          static: opts.static,
          width: opts.width === undefined ? undefined : String(opts.width),
          title: opts.title,
          highlights: opts.criticalPath ? [await criticalPathHighlight(runs)] : undefined,
        });
        const output = opts.output ?? defaultRenderOutput(first, format);
        if (writeOutput(output, text)) progress(`wrote ${output} (${format}, ${runs.length} run${runs.length === 1 ? '' : 's'})`);
      }),
    );
}
