// hvscope render TRACE... [-o FILE] [--format svg|chrome|speedscope|csv|json|text] [--static]
import type { CAC } from 'cac';
import { basename } from 'node:path';
import { readRuns, TRACE_SUFFIX } from '../model/io.js';
import { usageError } from '../model/errors.js';
import { nearest } from '../model/suggest.js';
import type { Run } from '../model/trace.js';
import { renderTimelineSvg } from '../render/svg-timeline.js';
import { exportChrome } from '../render/chrome.js';
import { exportSpeedscope } from '../render/speedscope.js';
import { exportCsv } from '../render/csv.js';
import { exportText } from '../render/text.js';
import { exportJson } from '../render/json.js';
import { command, progress, writeOutput } from './run-command.js';

export const RENDER_FORMATS = ['svg', 'chrome', 'speedscope', 'csv', 'json', 'text'] as const;
export type RenderFormat = (typeof RENDER_FORMATS)[number];

export interface RenderOptions {
  static?: boolean;
  width?: string;
  title?: string;
}

/** Renders runs in one format; the single place the CLI (render, demo, boot) turns runs into output. */
export function renderRuns(runs: Run[], format: RenderFormat, opts: RenderOptions = {}): string {
  switch (format) {
    case 'svg':
      return renderTimelineSvg(runs, { interactive: !opts.static, width: opts.width, title: opts.title });
    case 'chrome':
      return JSON.stringify(exportChrome(runs)) + '\n';
    case 'speedscope':
      return JSON.stringify(exportSpeedscope(runs)) + '\n';
    case 'csv':
      return exportCsv(runs);
    case 'json':
      return exportJson(runs);
    case 'text':
      return exportText(runs);
  }
}

/** Infers the format from an output name when --format is not given. */
export function formatFromOutput(output: string | undefined): RenderFormat {
  if (!output || output === '-') return 'svg';
  if (output.endsWith('.svg')) return 'svg';
  if (output.endsWith('.speedscope.json')) return 'speedscope';
  if (output.endsWith('.csv')) return 'csv';
  if (output.endsWith('.txt')) return 'text';
  if (output.endsWith('.json')) return 'chrome';
  return 'svg';
}

const DEFAULT_SUFFIX: Record<RenderFormat, string | null> = {
  svg: '.svg',
  chrome: '.chrome.json',
  speedscope: '.speedscope.json',
  csv: null,
  json: null,
  text: null,
};

/** Where render writes without -o: NAME + the format's suffix in the current directory, or stdout (`-`). */
export function defaultRenderOutput(firstInput: string, format: RenderFormat): string {
  const suffix = DEFAULT_SUFFIX[format];
  return suffix ? basename(firstInput).replace(TRACE_SUFFIX, '') + suffix : '-';
}

export function register(cli: CAC): void {
  cli
    .command('render <trace> [...more]', 'Draw traces as a flame-like SVG timeline, or export them (Chrome/Perfetto, speedscope, CSV, JSON, text)')
    .option(
      '-o, --output <file>',
      `Output file; "-" for stdout (default: in the current directory, NAME${DEFAULT_SUFFIX.svg}, NAME${DEFAULT_SUFFIX.chrome} or NAME${DEFAULT_SUFFIX.speedscope}, NAME being the first trace's file name without ${TRACE_SUFFIX} or its directory's name; stdout for csv, json and text)`,
    )
    .option('--format <format>', `One of ${RENDER_FORMATS.join('|')} (default: from the output name, else svg)`)
    .option('--static', 'SVG without script, sized for a paper column (see --width)')
    .option('--width <width>', 'SVG width: pixels (default 1200) or 3.5in / 7.16in for IEEE one/two columns')
    .option('--title <title>', 'SVG title')
    .example('hvscope render run.hvtrace.json -o run.svg')
    .example('hvscope render runs/ --static --width 3.5in -o fig.svg   # all runs in a directory, one band group each')
    .example('hvscope render run.hvtrace.json --format chrome -o run.json   # open in ui.perfetto.dev')
    .action(
      command(async (first: string, more: string[], opts: { output?: string; format?: string; static?: boolean; width?: string | number; title?: string }) => {
        const format = (opts.format ?? formatFromOutput(opts.output)) as RenderFormat;
        if (!RENDER_FORMATS.includes(format)) {
          const near = nearest(String(opts.format), [...RENDER_FORMATS]);
          throw usageError(`--format ${opts.format}: unknown${near ? ` (did you mean ${near}?)` : ''}; one of ${RENDER_FORMATS.join(', ')}`);
        }
        if (opts.static && format !== 'svg') throw usageError('--static applies to --format svg only');
        const runs = readRuns([first, ...more]);
        const text = renderRuns(runs, format, {
          static: opts.static,
          width: opts.width === undefined ? undefined : String(opts.width),
          title: opts.title,
        });
        const output = opts.output ?? defaultRenderOutput(first, format);
        if (writeOutput(output, text)) progress(`wrote ${output} (${format}, ${runs.length} run${runs.length === 1 ? '' : 's'})`);
      }),
    );
}
