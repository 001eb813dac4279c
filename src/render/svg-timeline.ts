// Flame-like SVG timeline: one band per lane (the `phases` strip first), nested spans
// stacked by containment, coloured by phase (Okabe–Ito), a shared time axis for all
// runs (aligned at t0), tooltips on everything, and, unless static, an embedded script
// for click-to-zoom and search (in the manner of FlameGraph SVGs).
// Spans narrower than a pixel are coalesced before any DOM is built (coalesce.ts), so
// the element count depends on the picture, not on the number of spans.
import { D3Node, type D3NodeSelection } from 'd3-node';
import { UserError } from '../model/errors.js';
import { PHASES, traceEnd, type Args, type Instant, type Lane, type Phase, type Run, type Span } from '../model/trace.js';
import { estimateTextWidth, fitLabel, formatDuration, timeAxis } from './axis.js';
import { coalesceInstants, layoutLane, type LaneItem } from './coalesce.js';
import { HIGHLIGHT_COLOUR, phaseClass, phaseCss } from './palette.js';
import { cdata, htmlToXmlMarkup, xmlSafeText } from './svg-sanitize.js';
import { timelineScript, type TimelineScriptConfig } from './timeline-script.js';

export interface TimelineOptions {
  /** Embed the zoom/search script (default view); false = static figure for a paper. */
  interactive: boolean;
  /** '1200' (px, the default when interactive), or physical: '3.5in' (default when static), '7.16in', '252pt'. */
  width?: string;
  title?: string;
  /** Type size in points (default 9 interactive, 8 static; papers want 8–10). */
  fontSizePt?: number;
}

interface Geometry {
  /** Width attribute of the svg element, and the unit used for its height. */
  widthAttr: string;
  heightAttr: (userHeight: number) => string;
  /** Width in user units (px, or pt for physical widths). */
  userWidth: number;
  /** User units per point of type. */
  unitsPerPt: number;
  /** Smallest drawn width, and the coalescing threshold, in user units. */
  pixel: number;
}

const PX_PER_PT = 96 / 72;

/** Parses the width option; physical widths use points as user units. */
export function parseWidth(width: string | undefined, interactive: boolean): Geometry {
  const text = (width ?? (interactive ? '1200' : '3.5in')).trim();
  const m = /^(\d+(?:\.\d+)?)(px|in|pt)?$/.exec(text);
  if (!m) throw new UserError(`width "${width}": expected pixels (e.g. 1200) or a physical width (3.5in, 7.16in, 252pt)`);
  const value = Number(m[1]);
  const unit = m[2] ?? 'px';
  if (unit === 'px') {
    if (value < 200 || value > 100_000) throw new UserError(`width "${width}": pixels must be between 200 and 100000`);
    return { widthAttr: String(value), heightAttr: (h) => String(round(h)), userWidth: value, unitsPerPt: PX_PER_PT, pixel: 1 };
  }
  const pt = unit === 'in' ? value * 72 : value;
  if (pt < 72 || pt > 7200) throw new UserError(`width "${width}": must be between 1in and 100in`);
  // Half a point is ~2 device pixels at 300 dpi: fine enough for print, coarse enough to stay light.
  const heightAttr = unit === 'in' ? (h: number) => `${(h / 72).toFixed(3)}in` : (h: number) => `${round(h)}pt`;
  return { widthAttr: text, heightAttr, userWidth: pt, unitsPerPt: 1, pixel: 0.5 };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

/** Span geometry to a tenth of a unit: invisible at print or screen size, and fewer bytes. */
function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

const MAX_ARGS_IN_TOOLTIP = 16;
const MAX_ARG_CHARS = 200;

function argsLines(args: Args | undefined): string[] {
  if (!args) return [];
  const keys = Object.keys(args);
  const lines = keys.slice(0, MAX_ARGS_IN_TOOLTIP).map((k) => {
    const v = String(args[k]);
    return `${k}: ${v.length > MAX_ARG_CHARS ? `${v.slice(0, MAX_ARG_CHARS)}…` : v}`;
  });
  if (keys.length > MAX_ARGS_IN_TOOLTIP) lines.push(`(${keys.length - MAX_ARGS_IN_TOOLTIP} more args)`);
  return lines;
}

/** Names as shown in tooltips and labels: one line. */
function oneLine(name: string): string {
  return name.replace(/[\r\n]+/g, ' ');
}

// Tooltips are most of the file's bytes, so they are terse. The first line is the
// span's name (the embedded script reads it for labels and search).
function spanTooltip(s: Span): string {
  return [oneLine(s.name), `${formatDuration(s.end - s.start)} from ${formatDuration(s.start)} · phase ${s.phase ?? 'none'}`, ...argsLines(s.args)].join('\n');
}

/** First line "N spans merged …", then one "name ×count" line per top name (the script parses these). */
function blockTooltip(b: Extract<LaneItem, { kind: 'block' }>): string {
  const lines = [
    `${b.count} spans merged · ${formatDuration(b.totalNs)} total in ${formatDuration(b.start)}–${formatDuration(b.end)} · phase ${b.phase ?? 'none'}`,
    ...b.topNames.map((n) => `${oneLine(n.name)} ×${n.count}`),
  ];
  if (b.distinctNames > b.topNames.length) lines.push(`… ${b.distinctNames - b.topNames.length} more names`);
  return lines.join('\n');
}

function instantTooltip(group: Instant[]): string {
  if (group.length === 1) {
    const i = group[0];
    return [oneLine(i.name), `at ${formatDuration(i.at)} · phase ${i.phase ?? 'none'}`, ...argsLines(i.args)].join('\n');
  }
  const shown = group.slice(0, 10).map((i) => `${oneLine(i.name)} at ${formatDuration(i.at)}`);
  if (group.length > 10) shown.push(`… ${group.length - 10} more`);
  return [`${group.length} instants`, ...shown].join('\n');
}

interface LaneGroup {
  lane: Lane;
  spans: Span[];
  instants: Instant[];
}

/** Lanes in drawing order: the phases strip first, then the trace's order; unknown ids last. */
function laneGroups(run: Run): LaneGroup[] {
  const byId = new Map<string, LaneGroup>();
  const ordered = [...run.trace.lanes.filter((l) => l.kind === 'phases'), ...run.trace.lanes.filter((l) => l.kind !== 'phases')];
  for (const lane of ordered) if (!byId.has(lane.id)) byId.set(lane.id, { lane, spans: [], instants: [] });
  const groupOf = (id: string) => {
    let g = byId.get(id);
    if (!g) byId.set(id, (g = { lane: { id, kind: 'process', name: id }, spans: [], instants: [] }));
    return g;
  };
  for (const s of run.trace.spans) groupOf(s.lane).spans.push(s);
  for (const i of run.trace.instants) groupOf(i.lane).instants.push(i);
  return [...byId.values()];
}

function text(sel: D3NodeSelection, value: string): D3NodeSelection {
  return sel.text(xmlSafeText(value));
}

/** Renders runs as one SVG document (a string, well-formed XML). */
export function renderTimelineSvg(runs: Run[], opts: TimelineOptions): string {
  if (runs.length === 0) throw new UserError('nothing to render: no runs given');
  const geo = parseWidth(opts.width, opts.interactive);
  const fontPt = opts.fontSizePt ?? (opts.interactive ? 9 : 8);
  if (!Number.isFinite(fontPt) || fontPt < 4 || fontPt > 72) throw new UserError(`font size ${opts.fontSizePt}: expected 4–72 pt`);
  const fs = fontPt * geo.unitsPerPt;
  const W = geo.userWidth;
  const margin = fs * 0.5;
  const rowH = fs * 1.5;
  const rowGap = Math.max(geo.pixel, fs * 0.12);
  const lanePad = fs * 0.25;
  const laneGap = fs * 0.2;
  const rectHeight = round1(rowH - rowGap);

  const groupsPerRun = runs.map(laneGroups);
  const domainEnd = Math.max(1000, ...runs.map((r) => traceEnd(r.trace)));

  // Lane labels share a left gutter sized to the longest name (within limits).
  let widestLabel = 0;
  for (const groups of groupsPerRun) for (const g of groups) widestLabel = Math.max(widestLabel, estimateTextWidth(g.lane.name, fs));
  const gutter = Math.min(Math.max(widestLabel + fs * 1.5, fs * 4), W * 0.22);
  const plotLeft = margin + gutter;
  const plotRight = W - margin - fs * 2;
  const plotWidth = plotRight - plotLeft;
  if (plotWidth < fs * 4) throw new UserError(`width "${opts.width}" is too narrow for ${fontPt} pt type`);
  const scale = plotWidth / domainEnd;
  const nsPerPixel = geo.pixel / scale;
  const xOf = (ns: number) => round(plotLeft + ns * scale);

  const d3n = new D3Node();
  const svg = d3n.createSVG(null, null, {
    class: 'hvscope-timeline',
    'font-family': 'Helvetica, Arial, sans-serif',
    'font-size': round(fs),
  });
  svg.append('rect').attr('class', 'bg').attr('x', 0).attr('y', 0).attr('width', W).attr('height', '100%');

  let y = margin;
  if (opts.title) {
    y += fs * 1.3;
    text(svg.append('text').attr('class', 'title').attr('x', round(W / 2)).attr('y', round(y)).attr('text-anchor', 'middle'), opts.title);
    y += fs * 0.5;
  }
  let controlsY = 0;
  if (opts.interactive) {
    y += fs * 1.3;
    controlsY = y;
    const controls = svg.append('g').attr('class', 'controls');
    text(controls.append('text').attr('id', 'hv-reset').attr('class', 'btn').attr('x', round(margin)).attr('y', round(y)).attr('opacity', 0), 'Reset zoom');
    text(controls.append('text').attr('id', 'hv-search').attr('class', 'btn').attr('x', round(margin + fs * 7)).attr('y', round(y)), 'Search');
    text(controls.append('text').attr('id', 'hv-clear').attr('class', 'btn').attr('x', round(margin + fs * 11)).attr('y', round(y)).attr('opacity', 0), 'Clear');
    // The hint only where it cannot run into the "Matched" text on the right.
    if (W >= fs * 85) text(controls.append('text').attr('class', 'hint').attr('x', round(margin + fs * 15)).attr('y', round(y)), 'click a span to zoom · Ctrl-F search · Esc resets');
    text(controls.append('text').attr('id', 'hv-matched').attr('x', round(W - margin)).attr('y', round(y)).attr('text-anchor', 'end'), '');
    y += fs * 0.5;
  }

  const backgrounds = svg.append('g').attr('class', 'bands');
  const grid = svg.append('g').attr('id', 'hv-grid');
  const content = svg.append('g').attr('class', 'runs');
  let gridTop = -1;
  let totalSpans = 0;
  const phasesSeen = new Set<Phase | undefined>();
  let anyBlock = false;
  let bandIndex = 0;

  for (let r = 0; r < runs.length; r++) {
    const run = runs[r];
    const runGroup = content.append('g').attr('class', 'run');
    y += fs * 1.4;
    text(runGroup.append('text').attr('class', 'run-label').attr('x', round(margin)).attr('y', round(y)), run.label);
    y += fs * 0.4;
    for (const group of groupsPerRun[r]) {
      const layout = layoutLane(group.spans, nsPerPixel);
      totalSpans += layout.spanCount;
      const laneTop = y;
      if (gridTop < 0) gridTop = laneTop;
      const laneHeight = Math.max(1, layout.rowCount) * rowH + 2 * lanePad;
      backgrounds
        .append('rect')
        .attr('class', bandIndex++ % 2 === 0 ? 'band' : 'band alt')
        .attr('x', round(margin))
        .attr('y', round(laneTop))
        .attr('width', round(W - 2 * margin))
        .attr('height', round(laneHeight));
      const laneG = runGroup.append('g').attr('class', group.lane.kind === 'phases' ? 'lane phases' : 'lane');
      const laneName = estimateTextWidth(group.lane.name, fs) <= gutter - fs * 0.5 ? group.lane.name : fitLabel(group.lane.name, '', gutter - fs * 0.5, fs);
      const laneLabel = text(
        laneG.append('text').attr('class', 'lane-label').attr('x', round(margin + fs * 0.3)).attr('y', round(laneTop + lanePad + rowH * 0.7)),
        laneName,
      );
      if (laneName !== group.lane.name) text(laneLabel.append('title'), group.lane.name);

      for (const item of layout.items) {
        const start = item.kind === 'span' ? item.span.start : item.start;
        const end = item.kind === 'span' ? item.span.end : item.end;
        const phase = item.kind === 'span' ? item.span.phase : item.phase;
        phasesSeen.add(phase);
        const x = round1(plotLeft + start * scale);
        const w = round1(Math.max((end - start) * scale, geo.pixel));
        const rowTop = laneTop + lanePad + item.row * rowH;
        // One rect per item (tooltip inside), and a label after it only where one fits:
        // the fewest nodes, since jsdom's cost and the file size grow with them.
        const rect = laneG
          .append('rect')
          .attr('class', item.kind === 'span' ? `s ${phaseClass(phase)}` : `s b ${phaseClass(phase)}`)
          .attr('x', x)
          .attr('y', round1(rowTop))
          .attr('width', w)
          .attr('height', rectHeight);
        if (opts.interactive) rect.attr('data-s', start).attr('data-e', end);
        let name: string;
        let duration = '';
        if (item.kind === 'span') {
          name = oneLine(item.span.name);
          duration = formatDuration(end - start);
          text(rect.append('title'), spanTooltip(item.span));
        } else {
          anyBlock = true;
          name = `${item.count} spans`;
          text(rect.append('title'), blockTooltip(item));
        }
        const label = fitLabel(name, duration, w - fs * 0.6, fs);
        if (label) text(laneG.append('text').attr('class', `l ${phaseClass(phase)}`).attr('x', round1(x + fs * 0.3)).attr('y', round1(rowTop + rowH * 0.68)), label);
      }

      if (group.instants.length > 0) {
        const marks = laneG.append('g').attr('class', 'instants');
        const size = fs * 0.45;
        for (const ig of coalesceInstants(group.instants, nsPerPixel)) {
          const m = marks
            .append('g')
            .attr('class', 'i')
            .attr('transform', `translate(${xOf(ig.at)},${round(laneTop)})`);
          if (opts.interactive) m.attr('data-t', ig.at);
          text(m.append('title'), instantTooltip(ig.instants));
          // A downward triangle on the band's top edge, and a hairline through the band.
          m.append('path').attr('d', `M0,${round(size)}L${round(-size / 2)},0H${round(size / 2)}Z`);
          m.append('line').attr('x1', 0).attr('x2', 0).attr('y1', round(size)).attr('y2', round(laneHeight));
        }
      }
      y += laneHeight + laneGap;
    }
  }

  // Time axis and grid, shared by all runs.
  if (gridTop < 0) gridTop = y;
  const axisY = y + fs * 0.2;
  const axis = timeAxis(0, domainEnd, plotLeft, plotWidth, fs);
  const axisG = svg.append('g').attr('id', 'hv-axis');
  axisG.append('line').attr('class', 'axis-line').attr('x1', round(plotLeft)).attr('x2', round(plotRight)).attr('y1', round(axisY)).attr('y2', round(axisY));
  const ticksG = axisG.append('g').attr('id', 'hv-ticks');
  for (const t of axis.ticks) {
    const tx = round(t.x);
    ticksG.append('line').attr('x1', tx).attr('x2', tx).attr('y1', round(axisY)).attr('y2', round(axisY + fs * 0.4));
    text(ticksG.append('text').attr('x', tx).attr('y', round(axisY + fs * 1.4)).attr('text-anchor', 'middle'), t.label);
    grid.append('line').attr('x1', tx).attr('x2', tx).attr('y1', round(gridTop)).attr('y2', round(axisY));
  }
  text(
    axisG.append('text').attr('id', 'hv-axis-title').attr('x', round(plotLeft + plotWidth / 2)).attr('y', round(axisY + fs * 2.7)).attr('text-anchor', 'middle'),
    axis.title,
  );

  // Legend: phases present (in phase order), then "no phase" and merged blocks if any.
  let ly = axisY + fs * 4.2;
  let lx = margin;
  const legend = svg.append('g').attr('class', 'legend');
  const entries: { cls: string; label: string }[] = [];
  for (const p of PHASES) if (phasesSeen.has(p)) entries.push({ cls: phaseClass(p), label: p });
  if (phasesSeen.has(undefined)) entries.push({ cls: phaseClass(undefined), label: 'no phase' });
  if (anyBlock) entries.push({ cls: `b ${phaseClass(undefined)}`, label: 'N spans: merged, each < 1 px' });
  for (const e of entries) {
    const w = fs * 1.5 + estimateTextWidth(e.label, fs);
    if (lx + w > W - margin && lx > margin) {
      lx = margin;
      ly += fs * 1.5;
    }
    const item = legend.append('g').attr('class', 'key');
    item.append('rect').attr('class', e.cls).attr('x', round(lx)).attr('y', round(ly - fs * 0.85)).attr('width', round(fs)).attr('height', round(fs));
    text(item.append('text').attr('class', 'key-label').attr('x', round(lx + fs * 1.3)).attr('y', round(ly)), e.label);
    lx += w + fs;
  }
  const height = ly + fs * 0.6 + margin;

  const root = svg.node();
  root.setAttribute('width', geo.widthAttr);
  root.setAttribute('height', geo.heightAttr(height));
  root.setAttribute('viewBox', `0 0 ${round(W)} ${round(height)}`);

  const css = [
    '.bg{fill:#FFFFFF}',
    '.band{fill:#F4F4F4}.band.alt{fill:#EAEAEA}',
    '#hv-grid line{stroke:#D0D0D0;stroke-width:0.5}',
    '.axis-line,#hv-ticks line{stroke:#000000;stroke-width:0.75}',
    '.title{font-weight:bold}.run-label{font-weight:bold}',
    '.lane-label,.key-label,#hv-ticks text,#hv-axis-title{fill:#000000}',
    phaseCss(),
    'rect.s{stroke:#FFFFFF;stroke-width:0.3}',
    'rect.b{fill-opacity:0.55;stroke:#000000;stroke-dasharray:1,1}',
    'text.l{pointer-events:none}',
    '.i path{fill:#000000}.i line{stroke:#000000;stroke-width:0.5;stroke-dasharray:2,1}',
    ...(opts.interactive
      ? [
          'rect.s{cursor:pointer}rect.s:hover{stroke:#000000;stroke-width:1}',
          `rect.s.hl{fill:${HIGHLIGHT_COLOUR};fill-opacity:1}rect.s.hl+text.l{fill:#000000}`,
          '.btn{cursor:pointer;fill:#0072B2;text-decoration:underline}.hint{fill:#777777}',
        ]
      : []),
  ].join('');

  let markup = htmlToXmlMarkup(d3n.svgString());
  // The style and script go in after serialising: jsdom would not escape their text.
  const openTagEnd = markup.indexOf('>') + 1;
  markup = `${markup.slice(0, openTagEnd)}<style type="text/css">${cdata(css)}</style>${markup.slice(openTagEnd)}`;
  if (opts.interactive) {
    const config: TimelineScriptConfig = {
      plotLeft: round(plotLeft),
      plotWidth: round(plotWidth),
      endNs: domainEnd,
      fontSize: round(fs),
      pixel: geo.pixel,
      axisY: round(axisY),
      gridTop: round(gridTop),
      controlsY: round(controlsY),
      totalSpans,
    };
    const close = markup.lastIndexOf('</svg>');
    markup = `${markup.slice(0, close)}<script type="text/ecmascript">${cdata(timelineScript(config))}</script>${markup.slice(close)}`;
  }
  return `<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n${markup}\n`;
}
