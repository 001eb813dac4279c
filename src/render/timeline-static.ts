// The static drawing of a timeline, written as SVG markup (no DOM: string building is
// linear and allocates little, where jsdom cost seconds per million spans): run labels,
// one band per lane with its label indented by process-tree depth, spans coloured by
// phase with a label where one fits, instant markers, a time axis below and a legend.
// It is the whole of `--static`, and the picture an interactive file shows before (or
// without) its script.
import { PHASES } from '../model/trace.js';
import { estimateTextWidth, fitLabel, timeAxis } from './axis.js';
import { coalesceInstants, type LaneItem } from './coalesce.js';
import { round, round1, type Geometry } from './geometry.js';
import { phaseClass } from './palette.js';
import { escapeXml } from './svg-sanitize.js';
import { isUnresolved, type TimelineLayout, type TimelinePlan } from './timeline-layout.js';
import { blockTooltip, instantTooltip, spanLabelParts, spanTooltip } from './timeline-text.js';

export interface StaticOptions {
  title?: string;
  /** <title> tooltips on every span and instant (the static file); off for an interactive file's fallback. */
  tooltips: boolean;
}

/** Sizes derived from the type size, shared with the interactive script. */
export interface TimelineMetrics {
  fs: number;
  margin: number;
  rowH: number;
  rowGap: number;
  lanePad: number;
  laneGap: number;
  /** Indentation per process-tree level in the lane labels. */
  indent: number;
  gutter: number;
  plotLeft: number;
  plotWidth: number;
}

export function timelineMetrics(plan: TimelinePlan, geo: Geometry, fs: number): TimelineMetrics {
  const W = geo.userWidth;
  const margin = fs * 0.5;
  const indent = fs * 0.9;
  // Lane labels share a left gutter sized to the longest name (within limits); a
  // parent's label has a collapse toggle before it.
  let widest = 0;
  for (const run of plan.runs)
    for (const l of run.lanes) widest = Math.max(widest, estimateTextWidth(l.lane.name, fs) + l.depth * indent + (l.hasChildren ? fs * 1.1 : 0));
  const gutter = Math.min(Math.max(widest + fs * 1.5, fs * 4), W * 0.22);
  const plotLeft = margin + gutter;
  const plotWidth = W - margin - fs * 2 - plotLeft;
  return { fs, margin, rowH: fs * 1.5, rowGap: Math.max(geo.pixel, fs * 0.12), lanePad: fs * 0.25, laneGap: fs * 0.2, indent, gutter, plotLeft, plotWidth };
}

/** `<text …>escaped</text>`; attrs are numbers or already-safe strings. */
function textEl(attrs: string, content: string): string {
  return `<text ${attrs}>${escapeXml(content)}</text>`;
}

function itemClass(item: LaneItem, highlightClasses: (item: LaneItem) => string): string {
  if (item.kind === 'block') return `s b ${phaseClass(item.phase)}`;
  const unres = isUnresolved(item.span) ? ' unres' : '';
  return `s ${phaseClass(item.span.phase)}${unres}${highlightClasses(item)}`;
}

export interface StaticDrawing {
  /** Elements to put inside the svg root (no root, no style). */
  markup: string;
  height: number;
}

/** What every part of a static drawing needs: the layout, its geometry and metrics, and the scale. */
interface DrawContext {
  layout: TimelineLayout;
  geo: Geometry;
  m: TimelineMetrics;
  opts: StaticOptions;
  /** User units per ns. */
  scale: number;
  rectHeight: number;
  highlightClasses: (item: LaneItem) => string;
}

/** Draws the layout from y = top. */
export function drawStatic(layout: TimelineLayout, geo: Geometry, m: TimelineMetrics, opts: StaticOptions, top = 0): StaticDrawing {
  const { fs, margin, rowH, plotWidth } = m;
  const W = geo.userWidth;
  const hl = layout.highlights;
  const ctx: DrawContext = {
    layout,
    geo,
    m,
    opts,
    scale: plotWidth / layout.endNs,
    rectHeight: round1(rowH - m.rowGap),
    highlightClasses: (item) => {
      if (item.kind !== 'span' || hl.length === 0) return '';
      let out = '';
      for (const h of hl) if (h.spans.has(item.span)) out += ` hl-${h.id}`;
      return out;
    },
  };
  const body: string[] = [];
  let y = top + margin;
  if (opts.title) {
    y += fs * 1.3;
    body.push(textEl(`class="title" x="${round(W / 2)}" y="${round(y)}" text-anchor="middle"`, opts.title));
    y += fs * 0.5;
  }
  const runs = drawRuns(ctx, body, y);
  // Time axis and grid, shared by all runs.
  const axis = drawTimeAxis(ctx, runs.gridTop < 0 ? runs.y : runs.gridTop, runs.y);
  const legend = drawLegendKeys(legendEntries(layout), axis.axisY + fs * 4.2, W, fs, margin);
  const markup =
    `<g class="bands">${runs.bands.join('')}</g><g class="grid">${axis.grid.join('')}</g><g class="runs">${body.join('')}</g>` +
    `${axis.markup}<g class="legend">${legend.keys.join('')}</g>`;
  return { markup, height: legend.bottom + fs * 0.6 + margin };
}

/** Each run's label and lanes from y; returns the alternating lane bands, where the lanes began and ended. */
function drawRuns(ctx: DrawContext, body: string[], yStart: number): { bands: string[]; gridTop: number; y: number } {
  const { layout, geo, m } = ctx;
  const { fs, margin, rowH, lanePad, laneGap } = m;
  const W = geo.userWidth;
  const bands: string[] = [];
  let y = yStart;
  let gridTop = -1;
  let bandIndex = 0;
  for (const run of layout.runs) {
    body.push('<g class="run">');
    y += fs * 1.4;
    body.push(textEl(`class="run-label" x="${round(margin)}" y="${round(y)}"`, run.label));
    y += fs * 0.4;
    for (const laneIndex of run.lanes) {
      const lane = layout.lanes[laneIndex];
      if (gridTop < 0) gridTop = y;
      const laneHeight = Math.max(1, lane.rowCount) * rowH + 2 * lanePad;
      bands.push(`<rect class="${bandIndex++ % 2 === 0 ? 'band' : 'band alt'}" x="${round(margin)}" y="${round(y)}" width="${round(W - 2 * margin)}" height="${round(laneHeight)}"/>`);
      drawLane(ctx, body, lane, y, laneHeight);
      y += laneHeight + laneGap;
    }
    body.push('</g>');
  }
  return { bands, gridTop, y };
}

/** One lane at laneTop: its label (cut to the gutter, full name as tooltip), items, instants. */
function drawLane(ctx: DrawContext, body: string[], lane: TimelineLayout['lanes'][number], laneTop: number, laneHeight: number): void {
  const { geo, m, opts, scale } = ctx;
  const { fs, rowH, lanePad, plotLeft, gutter } = m;
  body.push(`<g class="${lane.lane.kind === 'phases' ? 'lane phases' : 'lane'}">`);
  const labelX = m.margin + fs * 0.3 + lane.depth * m.indent;
  const room = gutter - fs * 0.5 - lane.depth * m.indent;
  const name = lane.lane.name;
  const shown = estimateTextWidth(name, fs) <= room ? name : fitLabel(name, '', room, fs);
  const labelAttrs = `class="lane-label" x="${round(labelX)}" y="${round(laneTop + lanePad + rowH * 0.7)}"`;
  body.push(shown === name ? textEl(labelAttrs, name) : `<text ${labelAttrs}>${escapeXml(shown)}<title>${escapeXml(name)}</title></text>`);
  for (const item of lane.items) drawItem(ctx, body, item, laneTop + lanePad + item.row * rowH);
  if (lane.instants.length > 0) {
    body.push('<g class="instants">');
    const size = fs * 0.45;
    const marker = `<path d="M0,${round(size)}L${round(-size / 2)},0H${round(size / 2)}Z"/><line x1="0" x2="0" y1="${round(size)}" y2="${round(laneHeight)}"/>`;
    for (const g of coalesceInstants(lane.instants, geo.pixel / scale)) {
      const tip = opts.tooltips ? `<title>${escapeXml(instantTooltip(g.instants))}</title>` : '';
      body.push(`<g class="i" transform="translate(${round(plotLeft + g.at * scale)},${round(laneTop)})">${tip}${marker}</g>`);
    }
    body.push('</g>');
  }
  body.push('</g>');
}

/** A span or merged block: its rect (at least a pixel wide) and, where it fits, its label. */
function drawItem(ctx: DrawContext, out: string[], item: LaneItem, rowTop: number): void {
  const { geo, m, opts, scale } = ctx;
  const { fs, rowH, plotLeft } = m;
  const start = item.kind === 'span' ? item.span.start : item.start;
  const end = item.kind === 'span' ? item.span.end : item.end;
  const x = round1(plotLeft + start * scale);
  const w = round1(Math.max((end - start) * scale, geo.pixel));
  const cls = itemClass(item, ctx.highlightClasses);
  const tip = opts.tooltips ? `<title>${escapeXml(item.kind === 'span' ? spanTooltip(item.span) : blockTooltip(item))}</title>` : '';
  out.push(`<rect class="${cls}" x="${x}" y="${round1(rowTop)}" width="${w}" height="${ctx.rectHeight}"${tip ? `>${tip}</rect>` : '/>'}`);
  const parts = item.kind === 'span' ? spanLabelParts(item.span) : { name: `${item.count} spans`, duration: '' };
  const label = fitLabel(parts.name, parts.duration, w - fs * 0.6, fs);
  const phase = item.kind === 'span' ? item.span.phase : item.phase;
  if (label) out.push(textEl(`class="l ${phaseClass(phase)}" x="${round1(x + fs * 0.3)}" y="${round1(rowTop + rowH * 0.68)}"`, label));
}

/** The time axis below the lanes, and its grid lines from gridTop down to it. */
function drawTimeAxis(ctx: DrawContext, gridTop: number, y: number): { grid: string[]; markup: string; axisY: number } {
  const { fs, plotLeft, plotWidth } = ctx.m;
  const axisY = y + fs * 0.2;
  const axis = timeAxis(0, ctx.layout.endNs, plotLeft, plotWidth, fs);
  const grid: string[] = [];
  const ticks: string[] = [];
  for (const tick of axis.ticks) {
    const tx = round(tick.x);
    ticks.push(`<line x1="${tx}" x2="${tx}" y1="${round(axisY)}" y2="${round(axisY + fs * 0.4)}"/>`);
    ticks.push(textEl(`x="${tx}" y="${round(axisY + fs * 1.4)}" text-anchor="middle"`, tick.label));
    grid.push(`<line x1="${tx}" x2="${tx}" y1="${round(gridTop)}" y2="${round(axisY)}"/>`);
  }
  const markup =
    `<g class="axis"><line class="axis-line" x1="${round(plotLeft)}" x2="${round(plotLeft + plotWidth)}" y1="${round(axisY)}" y2="${round(axisY)}"/>` +
    `<g class="ticks">${ticks.join('')}</g>` +
    textEl(`class="axis-title" x="${round(plotLeft + plotWidth / 2)}" y="${round(axisY + fs * 2.7)}" text-anchor="middle"`, axis.title) +
    '</g>';
  return { grid, markup, axisY };
}

/** Legend keys in rows from baseline `top`, wrapped at the page's width; returns the last row's baseline. */
function drawLegendKeys(legend: LegendEntry[], top: number, W: number, fs: number, margin: number): { keys: string[]; bottom: number } {
  let ly = top;
  let lx = margin;
  const keys: string[] = [];
  for (const e of legend) {
    const w = fs * 1.5 + estimateTextWidth(e.label, fs);
    if (lx + w > W - margin && lx > margin) {
      lx = margin;
      ly += fs * 1.5;
    }
    keys.push(
      `<g class="key"><rect class="${e.cls}" x="${round(lx)}" y="${round(ly - fs * 0.85)}" width="${round(fs)}" height="${round(fs)}"/>` +
        textEl(`class="key-label" x="${round(lx + fs * 1.3)}" y="${round(ly)}"`, e.label) +
        '</g>',
    );
    lx += w + fs;
  }
  return { keys, bottom: ly };
}

export interface LegendEntry {
  cls: string;
  label: string;
}

/** Phases present (in phase order), "no phase", merged blocks, unresolved phases, then highlights. */
export function legendEntries(layout: TimelineLayout): LegendEntry[] {
  const entries: LegendEntry[] = [];
  for (const p of PHASES) if (layout.phasesSeen.has(p)) entries.push({ cls: phaseClass(p), label: p });
  if (layout.phasesSeen.has(undefined)) entries.push({ cls: phaseClass(undefined), label: 'no phase' });
  if (layout.anyBlock) entries.push({ cls: `b ${phaseClass(undefined)}`, label: 'N spans: merged, each < 1 px' });
  if (layout.lanes.some((l) => l.items.some((i) => i.kind === 'span' && isUnresolved(i.span)))) entries.push({ cls: 'unres', label: 'unresolved: no evidence' });
  for (const h of layout.highlights) if (layout.highlightsSeen.has(h.id)) entries.push({ cls: `p-none hl-${h.id}`, label: h.label });
  return entries;
}

/** Style rules for highlights: an outline in the highlight's colour. */
export function highlightCss(layout: TimelineLayout, strokeWidth: number): string {
  return layout.highlights.map((h) => `rect.hl-${h.id}{stroke:${h.colour ?? '#000000'};stroke-width:${strokeWidth}}`).join('');
}
