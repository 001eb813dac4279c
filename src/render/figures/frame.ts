// The plot frame shared by paper figures: physical size with a viewBox, 8–10 pt type,
// a title, a legend above the plot, x and y axes with ticks, grid lines and titles,
// and the serialisation to well-formed XML (no script). Renderers (stacked-bars.ts,
// cdf.ts, scaling.ts) compute their numbers, lay out a frame, then draw into its plot
// area with the frame's scales.
import { D3Node, type D3NodeSelection } from 'd3-node';
import { UserError } from '../../model/errors.js';
import { estimateTextWidth, fitLabel } from '../axis.js';
import { OKABE_ITO, phaseCss } from '../palette.js';
import { cdata, htmlToXmlMarkup, xmlSafeText } from '../svg-sanitize.js';
import { parseWidth } from '../geometry.js';
import { niceAxis, type Axis, type AxisKind } from './figure-axes.js';

/** IEEE one column. */
export const DEFAULT_SIZE = '3.5in';
export const DEFAULT_FONT_PT = 8;
/** Papers want 8–10 pt type once the figure is printed at its size. */
export const MIN_FONT_PT = 8;
export const MAX_FONT_PT = 10;

export interface FrameSize {
  /** Width: '3.5in' (one column), '7.16in' (two columns), '252pt', or pixels ('800'). */
  size?: string;
  /** Height of the whole figure, same forms; default from the width. */
  height?: string;
  /** Type size in points. */
  fontPt?: number;
}

export function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Figure geometry in user units: points for physical sizes, pixels otherwise. */
export interface Page {
  W: number;
  H: number;
  fs: number;
  widthAttr: string;
  heightAttr: string;
}

const HEIGHT_RE = /^(\d+(?:\.\d+)?)(px|in|pt)?$/;

export function pageOf(opts: FrameSize): Page {
  const geo = parseWidth(opts.size ?? DEFAULT_SIZE, false);
  const fontPt = opts.fontPt ?? DEFAULT_FONT_PT;
  if (!(fontPt >= MIN_FONT_PT && fontPt <= MAX_FONT_PT)) throw new UserError(`font ${fontPt} pt: figures for papers use ${MIN_FONT_PT}–${MAX_FONT_PT} pt type`);
  const fs = fontPt * geo.unitsPerPt;
  const W = geo.userWidth;
  // User units per inch: 72 when they are points, 96 when pixels.
  const perInch = 72 * geo.unitsPerPt;
  let H: number;
  if (opts.height !== undefined) {
    const m = HEIGHT_RE.exec(opts.height.trim());
    if (!m) throw new UserError(`height "${opts.height}": expected a physical height (2.2in, 160pt) or pixels`);
    const v = Number(m[1]);
    H = m[2] === 'in' ? v * perInch : m[2] === 'pt' ? v * geo.unitsPerPt : v * (perInch / 96);
  } else H = Math.min(W * 0.68, 2.6 * perInch);
  if (H < fs * 12) throw new UserError(`height ${opts.height ?? ''}: too small for ${fontPt} pt type (at least ${((fs * 12) / perInch).toFixed(2)}in)`);
  if (H > 100 * perInch) throw new UserError(`height "${opts.height}": must be at most 100in`);
  return { W, H, fs, widthAttr: geo.widthAttr, heightAttr: geo.heightAttr(H) };
}

// ---------------------------------------------------------------- series styles

/** Series colours: Okabe–Ito, black first and yellow last (weak on white paper). */
export const SERIES_COLOURS: readonly string[] = [7, 0, 1, 2, 4, 5, 6, 3].map((i) => OKABE_ITO[i]);
/** Dash patterns per series, so lines stay apart in greyscale print. */
const SERIES_DASHES = ['', '4,2', '1,1.5', '6,2,1,2', '2,2', '8,2', '3,1,1,1,1,1', '1,3'];
export const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'cross', 'triangle-down', 'plus', 'star'] as const;
export type Marker = (typeof MARKERS)[number];

export interface SeriesStyle {
  colour: string;
  dash: string;
  marker: Marker;
}

export function seriesStyle(index: number): SeriesStyle {
  const n = SERIES_COLOURS.length;
  return { colour: SERIES_COLOURS[index % n], dash: SERIES_DASHES[index % n], marker: MARKERS[index % n] };
}

/** SVG path of a marker of size `r` (half-width) centred on (x, y). */
export function markerPath(marker: Marker, x: number, y: number, r: number): string {
  const p = (dx: number, dy: number) => `${round(x + dx)},${round(y + dy)}`;
  switch (marker) {
    case 'circle':
      return `M${p(-r, 0)}A${round(r)},${round(r)} 0 1,0 ${p(r, 0)}A${round(r)},${round(r)} 0 1,0 ${p(-r, 0)}Z`;
    case 'square':
      return `M${p(-r * 0.85, -r * 0.85)}H${round(x + r * 0.85)}V${round(y + r * 0.85)}H${round(x - r * 0.85)}Z`;
    case 'triangle':
      return `M${p(0, -r)}L${p(r, r * 0.8)}L${p(-r, r * 0.8)}Z`;
    case 'triangle-down':
      return `M${p(0, r)}L${p(r, -r * 0.8)}L${p(-r, -r * 0.8)}Z`;
    case 'diamond':
      return `M${p(0, -r)}L${p(r, 0)}L${p(0, r)}L${p(-r, 0)}Z`;
    case 'cross':
      return `M${p(-r, -r)}L${p(r, r)}M${p(-r, r)}L${p(r, -r)}`;
    case 'plus':
      return `M${p(-r, 0)}H${round(x + r)}M${p(0, -r)}V${round(y + r)}`;
    case 'star':
      return `M${p(-r, 0)}H${round(x + r)}M${p(-r * 0.6, -r * 0.8)}L${p(r * 0.6, r * 0.8)}M${p(-r * 0.6, r * 0.8)}L${p(r * 0.6, -r * 0.8)}`;
  }
}

/** Open markers (lines only) are stroked, the others filled. */
export function markerIsOpen(marker: Marker): boolean {
  return marker === 'cross' || marker === 'plus' || marker === 'star';
}

// ---------------------------------------------------------------- frame

export type LegendEntry = { label: string } & (
  | { swatch: 'rect'; cls: string }
  | { swatch: 'series'; style: SeriesStyle; line: boolean }
  /** An I-beam, for whiskers. */
  | { swatch: 'whisker' }
);

export type XAxisSpec = AxisKind | { kind: 'category'; labels: string[] };

export interface FrameRequest extends FrameSize {
  title?: string;
  legend: LegendEntry[];
  x: XAxisSpec;
  /** Data range of x (ignored for categories). */
  xRange?: [number, number];
  y: AxisKind;
  yRange: [number, number];
}

export interface Frame {
  d3n: D3Node;
  svg: D3NodeSelection;
  page: Page;
  plot: { left: number; top: number; width: number; height: number };
  xAxis?: Axis;
  yAxis: Axis;
  /** Data → user units. */
  xOf: (v: number) => number;
  yOf: (v: number) => number;
  /** Category slot centre and width, for category x axes. */
  slot?: { width: number; centre: (i: number) => number };
  /** Layer drawn over the grid, under the axes' lines. */
  data: D3NodeSelection;
}

export function text(sel: D3NodeSelection, value: string): D3NodeSelection {
  return sel.text(xmlSafeText(value));
}

interface LegendLayout {
  rows: { x: number; entry: LegendEntry }[][];
  height: number;
}

function layoutLegend(entries: LegendEntry[], W: number, fs: number, margin: number): LegendLayout {
  const rows: { x: number; entry: LegendEntry }[][] = [];
  let row: { x: number; entry: LegendEntry }[] = [];
  let x = margin;
  for (const entry of entries) {
    const swatchW = entry.swatch === 'series' ? fs * 2.2 : fs;
    const w = swatchW + fs * 0.4 + estimateTextWidth(entry.label, fs);
    if (x + w > W - margin && row.length > 0) {
      rows.push(row);
      row = [];
      x = margin;
    }
    row.push({ x, entry });
    x += w + fs;
  }
  if (row.length > 0) rows.push(row);
  return { rows, height: rows.length * fs * 1.35 };
}

/** Longest a turned category label may run before it is cut (with its full text as tooltip). */
function maxCategoryWidth(W: number): number {
  return W * 0.4;
}

/** Whether category labels need turning to fit their slots. */
function categoryRotation(labels: string[], slotWidth: number, fs: number): boolean {
  return labels.some((l) => estimateTextWidth(l, fs) > slotWidth - fs * 0.3);
}

/** Where the plot goes once the axes' labels have room, and how the y axis reads. */
interface PlotFit {
  plot: Frame['plot'];
  yAxis: Axis;
  /** Category labels turned 35° to fit their slots. */
  rotate: boolean;
  /** The y title written above the axis (it is longer than the plot is tall). */
  yTitleAbove: boolean;
}

/**
 * The y labels' width decides the left margin, and the plot's height decides the y ticks:
 * a few passes settle it. A y title longer than the plot is tall goes above the axis,
 * written horizontally, instead of running into the legend.
 */
function fitPlot(req: FrameRequest, page: Page, top: number, margin: number, tickLen: number): PlotFit {
  const { W, H, fs } = page;
  let left = margin + fs * 5;
  let bottom = H - margin - fs * 3;
  let plotTop = top;
  let yAxis = niceAxis(req.y, req.yRange[0], req.yRange[1], bottom - top, fs, true);
  let rotate = false;
  let yTitleAbove = false;
  let plotRight = W - margin - fs;
  for (let pass = 0; pass < 3; pass++) {
    const widestY = Math.max(...yAxis.ticks.map((t) => estimateTextWidth(t.label, fs)), fs);
    left = margin + (yTitleAbove ? 0 : fs * 1.3) + widestY + tickLen + fs * 0.3;
    plotTop = top + (yTitleAbove ? fs * 1.4 : 0);
    plotRight = W - margin - (req.x.kind === 'category' ? 0 : fs);
    let bottomSpace = tickLen + fs * 1.3 + fs * 1.4; // tick labels + axis title
    if (req.x.kind === 'category') {
      const slotWidth = (plotRight - left) / Math.max(1, req.x.labels.length);
      rotate = categoryRotation(req.x.labels, slotWidth, fs);
      const longest = Math.max(...req.x.labels.map((l) => Math.min(estimateTextWidth(l, fs), maxCategoryWidth(W))));
      // Turned 35°: the label's vertical extent is sin(35°) of its length.
      bottomSpace = tickLen + (rotate ? longest * 0.574 + fs * 1.2 : fs * 1.3);
    }
    bottom = H - margin - bottomSpace;
    if (bottom - plotTop < fs * 4) throw new UserError(`figure too small: ${req.size ?? DEFAULT_SIZE} × ${req.height ?? 'default height'} leaves no room for the plot at this type size`);
    yAxis = niceAxis(req.y, req.yRange[0], req.yRange[1], bottom - plotTop, fs, true);
    if (!yTitleAbove && estimateTextWidth(yAxis.title, fs) > bottom - plotTop) yTitleAbove = true;
  }
  const plot = { left, top: plotTop, width: plotRight - left, height: bottom - plotTop };
  if (plot.width < fs * 6) throw new UserError(`figure too narrow (${req.size ?? DEFAULT_SIZE}) for its axis labels at this type size`);
  return { plot, yAxis, rotate, yTitleAbove };
}

/** Data → user units: y (linear or log), x (numeric axis or category slots). */
function scales(req: FrameRequest, fit: PlotFit, fs: number): Pick<Frame, 'xAxis' | 'xOf' | 'yOf' | 'slot'> {
  const { plot, yAxis } = fit;
  const yOf = yAxis.log
    ? (v: number) => {
        const lmin = Math.log10(yAxis.min);
        const f = (Math.log10(Math.max(v, yAxis.min)) - lmin) / (Math.log10(yAxis.max) - lmin);
        return plot.top + plot.height - f * plot.height;
      }
    : (v: number) => plot.top + plot.height - ((v - yAxis.min) / (yAxis.max - yAxis.min)) * plot.height;
  if (req.x.kind === 'category') {
    const width = plot.width / Math.max(1, req.x.labels.length);
    return { xAxis: undefined, yOf, xOf: (v: number) => plot.left + width * (v + 0.5), slot: { width, centre: (i: number) => plot.left + width * (i + 0.5) } };
  }
  const [lo, hi] = req.xRange ?? [0, 1];
  const axis = niceAxis(req.x, lo, hi, plot.width, fs);
  return { xAxis: axis, yOf, xOf: (v: number) => plot.left + ((v - axis.min) / (axis.max - axis.min)) * plot.width, slot: undefined };
}

/**
 * Lays out the frame: title, legend, axes sized to their labels, the plot area in between;
 * draws all of it but the data.
 */
export function layoutFrame(req: FrameRequest): Frame {
  const page = pageOf(req);
  const { W, H, fs } = page;
  const margin = fs * 0.5;
  const tickLen = fs * 0.35;
  const legendLayout = layoutLegend(req.legend, W, fs, margin);
  let top = margin;
  if (req.title) top += fs * 1.5;
  const legendTop = top;
  top += legendLayout.height + (legendLayout.rows.length > 0 ? fs * 0.5 : fs * 0.3);
  const fit = fitPlot(req, page, top, margin, tickLen);
  const { plot, yAxis } = fit;
  const { xAxis, xOf, yOf, slot } = scales(req, fit, fs);

  const d3n = new D3Node();
  const svg = d3n.createSVG(null, null, { class: 'hvscope-figure', 'font-family': 'Helvetica, Arial, sans-serif', 'font-size': round(fs) });
  svg.append('rect').attr('class', 'bg').attr('x', 0).attr('y', 0).attr('width', round(W)).attr('height', round(H));
  if (req.title) text(svg.append('text').attr('class', 'title').attr('x', round(W / 2)).attr('y', round(margin + fs)).attr('text-anchor', 'middle'), req.title);

  // Grid (under the data), then the data layer, then the axes on top.
  const grid = svg.append('g').attr('class', 'grid');
  for (const t of yAxis.ticks) {
    const y = round(yOf(t.value));
    grid.append('line').attr('x1', round(plot.left)).attr('x2', round(plot.left + plot.width)).attr('y1', y).attr('y2', y);
  }
  if (xAxis) for (const t of xAxis.ticks) {
    const x = round(xOf(t.value));
    grid.append('line').attr('x1', x).attr('x2', x).attr('y1', round(plot.top)).attr('y2', round(plot.top + plot.height));
  }
  const data = svg.append('g').attr('class', 'data');
  const axes = svg.append('g').attr('class', 'axes');
  drawYAxis(axes, fit, yOf, { fs, margin, tickLen });
  drawXAxis(axes, req, fit, { xAxis, xOf, slot }, { fs, margin, tickLen, W, H });
  drawLegend(svg, legendLayout, legendTop, fs);
  return { d3n, svg, page, plot, xAxis, yAxis, xOf, yOf, slot, data };
}

type Metrics = { fs: number; margin: number; tickLen: number };

function drawYAxis(axes: D3NodeSelection, fit: PlotFit, yOf: (v: number) => number, { fs, margin, tickLen }: Metrics): void {
  const { plot, yAxis } = fit;
  const g = axes.append('g').attr('class', 'y-axis');
  g.append('line').attr('x1', round(plot.left)).attr('x2', round(plot.left)).attr('y1', round(plot.top)).attr('y2', round(plot.top + plot.height));
  for (const t of yAxis.ticks) {
    const y = round(yOf(t.value));
    g.append('line').attr('x1', round(plot.left - tickLen)).attr('x2', round(plot.left)).attr('y1', y).attr('y2', y);
    text(g.append('text').attr('class', 'tick').attr('x', round(plot.left - tickLen - fs * 0.25)).attr('y', round(y + fs * 0.35)).attr('text-anchor', 'end'), t.label);
  }
  if (fit.yTitleAbove) {
    text(g.append('text').attr('class', 'axis-title').attr('x', round(margin)).attr('y', round(plot.top - fs * 0.8)), yAxis.title);
  } else {
    const x = round(margin + fs * 0.8);
    const y = round(plot.top + plot.height / 2);
    text(g.append('text').attr('class', 'axis-title').attr('x', x).attr('y', y).attr('text-anchor', 'middle').attr('transform', `rotate(-90 ${x} ${y})`), yAxis.title);
  }
}

function drawXAxis(
  axes: D3NodeSelection,
  req: FrameRequest,
  fit: PlotFit,
  { xAxis, xOf, slot }: Pick<Frame, 'xAxis' | 'xOf' | 'slot'>,
  { fs, margin, tickLen, W, H }: Metrics & { W: number; H: number },
): void {
  const { plot } = fit;
  const g = axes.append('g').attr('class', 'x-axis');
  const baseY = plot.top + plot.height;
  g.append('line').attr('x1', round(plot.left)).attr('x2', round(plot.left + plot.width)).attr('y1', round(baseY)).attr('y2', round(baseY));
  if (req.x.kind === 'category' && slot) {
    req.x.labels.forEach((label, i) => {
      const x = round(slot.centre(i));
      const ty = round(baseY + tickLen + fs);
      const t = g.append('text').attr('class', 'tick category').attr('x', x).attr('y', ty);
      let shown = label;
      if (fit.rotate) {
        t.attr('text-anchor', 'end').attr('transform', `rotate(-35 ${x} ${ty})`);
        shown = estimateTextWidth(label, fs) <= maxCategoryWidth(W) ? label : fitLabel(label, '', maxCategoryWidth(W), fs);
      } else t.attr('text-anchor', 'middle');
      text(t, shown);
      if (shown !== label) text(t.append('title'), label);
    });
  } else if (xAxis) {
    for (const t of xAxis.ticks) {
      const x = round(xOf(t.value));
      g.append('line').attr('x1', x).attr('x2', x).attr('y1', round(baseY)).attr('y2', round(baseY + tickLen));
      text(g.append('text').attr('class', 'tick').attr('x', x).attr('y', round(baseY + tickLen + fs)).attr('text-anchor', 'middle'), t.label);
    }
    text(g.append('text').attr('class', 'axis-title').attr('x', round(plot.left + plot.width / 2)).attr('y', round(H - margin - fs * 0.25)).attr('text-anchor', 'middle'), xAxis.title);
  }
}

/** Legend: one or more rows above the plot. */
function drawLegend(svg: D3NodeSelection, layout: LegendLayout, legendTop: number, fs: number): void {
  const legend = svg.append('g').attr('class', 'legend');
  layout.rows.forEach((row, r) => {
    const baseline = legendTop + fs * (r * 1.35 + 1);
    for (const { x, entry } of row) {
      const key = legend.append('g').attr('class', 'key');
      const labelX = drawLegendSwatch(key, entry, x, baseline, fs);
      text(key.append('text').attr('class', 'key-label').attr('x', round(labelX)).attr('y', round(baseline)), entry.label);
    }
  });
}

/** The entry's swatch (box, whisker, or line with marker) at x; returns where its label starts. */
function drawLegendSwatch(key: D3NodeSelection, entry: LegendEntry, x: number, baseline: number, fs: number): number {
  if (entry.swatch === 'rect') {
    key.append('rect').attr('class', entry.cls).attr('x', round(x)).attr('y', round(baseline - fs * 0.8)).attr('width', round(fs)).attr('height', round(fs * 0.8));
    return x + fs * 1.4;
  }
  if (entry.swatch === 'whisker') {
    const cx = round(x + fs * 0.5);
    const cap = fs * 0.3;
    const w = key.append('g').attr('class', 'whisker');
    w.append('line').attr('x1', cx).attr('x2', cx).attr('y1', round(baseline - fs * 0.85)).attr('y2', round(baseline + fs * 0.05));
    for (const y of [baseline - fs * 0.85, baseline + fs * 0.05]) w.append('line').attr('x1', round(cx - cap)).attr('x2', round(cx + cap)).attr('y1', round(y)).attr('y2', round(y));
    return x + fs * 1.4;
  }
  const midY = baseline - fs * 0.35;
  if (entry.line)
    key.append('line').attr('x1', round(x)).attr('x2', round(x + fs * 2.2)).attr('y1', round(midY)).attr('y2', round(midY)).attr('stroke', entry.style.colour).attr('stroke-width', 1).attr('stroke-dasharray', entry.style.dash || 'none');
  drawMarker(key, entry.style, x + fs * 1.1, midY, fs * 0.3);
  return x + fs * 2.6;
}

export function drawMarker(parent: D3NodeSelection, style: SeriesStyle, x: number, y: number, r: number): D3NodeSelection {
  const open = markerIsOpen(style.marker);
  return parent
    .append('path')
    .attr('class', 'marker')
    .attr('d', markerPath(style.marker, x, y, r))
    .attr('fill', open ? 'none' : style.colour)
    .attr('stroke', style.colour)
    .attr('stroke-width', open ? 0.9 : 0.4);
}

/** Serialises the frame: XML declaration, style in CDATA, physical size and viewBox; no script. */
export function finishFrame(frame: Frame, extraCss = ''): string {
  const root = frame.svg.node();
  root.setAttribute('width', frame.page.widthAttr);
  root.setAttribute('height', frame.page.heightAttr);
  root.setAttribute('viewBox', `0 0 ${round(frame.page.W)} ${round(frame.page.H)}`);
  const css = [
    '.bg{fill:#FFFFFF}',
    'text{fill:#000000}.title{font-weight:bold}',
    '.grid line{stroke:#DDDDDD;stroke-width:0.4}',
    '.axes line{stroke:#000000;stroke-width:0.6}',
    phaseCss(),
    extraCss,
  ].join('');
  let markup = htmlToXmlMarkup(frame.d3n.svgString());
  const openTagEnd = markup.indexOf('>') + 1;
  markup = `${markup.slice(0, openTagEnd)}<style type="text/css">${cdata(css)}</style>${markup.slice(openTagEnd)}`;
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n${markup}\n`;
}
