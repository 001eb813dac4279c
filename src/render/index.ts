// The output-format registry: the one place runs become output (render, demo, trace,
// boot and the lab all come through here). Each format is a row: how to render it and
// the file suffix it gets by default.
import { writeFileAtomic } from '../model/io.js';
import type { Run } from '../model/trace.js';
import { exportChrome } from './chrome.js';
import { exportCsv } from './csv.js';
import { exportJson } from './json.js';
import { exportSpeedscope } from './speedscope.js';
import { renderTimelineSvg, type SpanHighlight } from './svg-timeline.js';
import { exportText } from './text.js';

export const RENDER_FORMATS = ['svg', 'chrome', 'speedscope', 'csv', 'json', 'text'] as const;
export type RenderFormat = (typeof RENDER_FORMATS)[number];

export interface RenderOptions {
  /** SVG: the print version (no script, physical width by default). */
  static?: boolean;
  width?: string;
  title?: string;
  /** SVG: sets of spans to mark, e.g. the critical path (see SpanHighlight). */
  highlights?: SpanHighlight[];
}

interface FormatRow {
  render(runs: Run[], opts: RenderOptions): string;
  /** Default output suffix after the trace's name; null: stdout. */
  suffix: string | null;
}

const FORMATS: Record<RenderFormat, FormatRow> = {
  svg: {
    render: (runs, o) => renderTimelineSvg(runs, { interactive: !o.static, width: o.width, title: o.title, highlights: o.highlights }),
    suffix: '.svg',
  },
  chrome: { render: (runs) => JSON.stringify(exportChrome(runs)) + '\n', suffix: '.chrome.json' },
  speedscope: { render: (runs) => JSON.stringify(exportSpeedscope(runs)) + '\n', suffix: '.speedscope.json' },
  csv: { render: (runs) => exportCsv(runs), suffix: null },
  json: { render: (runs) => exportJson(runs), suffix: null },
  text: { render: (runs) => exportText(runs), suffix: null },
};

export function isRenderFormat(value: string): value is RenderFormat {
  return (RENDER_FORMATS as readonly string[]).includes(value);
}

/** Renders runs in one format, as text. */
export function renderRuns(runs: Run[], format: RenderFormat, opts: RenderOptions = {}): string {
  return FORMATS[format].render(runs, opts);
}

/** Renders runs into a file, atomically. */
export function writeRendered(file: string, runs: Run[], format: RenderFormat, opts: RenderOptions = {}): void {
  writeFileAtomic(file, renderRuns(runs, format, opts));
}

/** Default output suffix of a format (null: it goes to stdout by default). */
export function defaultSuffix(format: RenderFormat): string | null {
  return FORMATS[format].suffix;
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
