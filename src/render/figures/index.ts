// Renders every figure of a loaded spec: reads each group's runs, computes the numbers,
// draws the SVG. A mistake in the data (a group without phases, a run without its x) is
// reported against the spec's figure entry, so the user knows which figure to fix.
import { UserError, fileError } from '../../model/errors.js';
import { readRuns } from '../../model/io.js';
import { cdfData, renderCdf, type CdfSeries } from './cdf.js';
import { renderScaling, scalingData, type ScalingSeries, type XSource } from './scaling.js';
import type { FigureEntry, FigureSpec } from './spec.js';
import { renderStackedBars, stackedBarsData, type StackedBar } from './stacked-bars.js';
import type { RunGroup } from './values.js';

export type FigureData =
  | { kind: 'stacked-bars'; whiskers: string; bars: StackedBar[] }
  | { kind: 'cdf'; value: string; series: CdfSeries[] }
  | { kind: 'scaling'; x: XSource & { label: string }; value: string; series: ScalingSeries[] };

export interface RenderedFigure {
  /** Relative to the output directory. */
  output: string;
  title?: string;
  svg: string;
  /** The numbers behind the figure (ns), for checking and for --json. */
  data: FigureData;
}

function readGroups(fig: FigureEntry): RunGroup[] {
  return fig.groups.map((g) => ({ label: g.label, runs: readRuns(g.traces) }));
}

export function renderFigure(fig: FigureEntry, groups: RunGroup[]): RenderedFigure {
  const frame = { size: fig.size, height: fig.height, fontPt: fig.fontPt, title: fig.title };
  const base = { output: fig.output, ...(fig.title ? { title: fig.title } : {}) };
  switch (fig.kind) {
    case 'stacked-bars': {
      const bars = stackedBarsData(groups, { whiskers: fig.whiskers, phases: fig.phases });
      return { ...base, svg: renderStackedBars(bars, { ...frame, whiskers: fig.whiskers, values: fig.values, yLabel: fig.timeLabel }), data: { kind: fig.kind, whiskers: fig.whiskers, bars } };
    }
    case 'cdf': {
      const series = cdfData(groups, fig.value);
      return { ...base, svg: renderCdf(series, { ...frame, fromZero: fig.fromZero, xLabel: fig.timeLabel }), data: { kind: fig.kind, value: fig.value, series } };
    }
    case 'scaling': {
      const series = scalingData(groups, fig.x, fig.value);
      return {
        ...base,
        svg: renderScaling(series, { ...frame, xLabel: fig.xLabel, value: fig.value, line: fig.line, yLabel: fig.timeLabel, logY: fig.logY }),
        data: { kind: fig.kind, x: { ...fig.x, label: fig.xLabel }, value: fig.value, series },
      };
    }
  }
}

/** Renders all figures of the spec, in order. */
export function renderFigureSpec(spec: FigureSpec): RenderedFigure[] {
  return spec.figures.map((fig) => {
    try {
      return renderFigure(fig, readGroups(fig));
    } catch (err) {
      if (err instanceof UserError) throw fileError(spec.file, fig.specLine, `figures.${fig.index} (${fig.output}): ${err.message}`);
      throw err;
    }
  });
}
