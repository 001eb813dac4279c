// hvscope render TRACE... [-o FILE] [--format svg|chrome|speedscope|csv|json|text] [--static]
import type { CAC } from 'cac';
import { basename } from 'node:path';
import { readRuns, writeFileAtomic, TRACE_SUFFIX } from '../model/io.js';
import { UserError } from '../model/errors.js';
import type { Run } from '../model/trace.js';
import { renderTimelineSvg } from '../render/svg-timeline.js';
import { exportChrome } from '../render/chrome.js';
import { exportSpeedscope } from '../render/speedscope.js';
import { exportCsv } from '../render/csv.js';
import { exportText } from '../render/text.js';
import { exportJson } from '../render/json.js';
import { command, progress } from './run-command.js';

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

export function register(cli: CAC): void {
  cli
    .command('render <trace> [...more]', 'Draw traces as a flame-like SVG timeline, or export them (Chrome/Perfetto, speedscope, CSV, JSON, text)')
    .option('-o, --output <file>', 'Output file; "-" for stdout (default: TRACE.svg for svg/chrome/speedscope, stdout for csv/json/text)')
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
        if (!RENDER_FORMATS.includes(format)) throw new UserError(`--format ${opts.format}: unknown; one of ${RENDER_FORMATS.join(', ')}`);
        if (opts.static && format !== 'svg') throw new UserError('--static applies to --format svg only');
        const runs = readRuns([first, ...more]);
        const text = renderRuns(runs, format, {
          static: opts.static,
          width: opts.width === undefined ? undefined : String(opts.width),
          title: opts.title,
        });
        const suffix = DEFAULT_SUFFIX[format];
        const output = opts.output ?? (suffix ? basename(first).replace(TRACE_SUFFIX, '').replace(/\/$/, '') + suffix : '-');
        if (output === '-') process.stdout.write(text);
        else {
          writeFileAtomic(output, text);
          progress(`wrote ${output} (${format}, ${runs.length} run${runs.length === 1 ? '' : 's'})`);
        }
      }),
    );
}
