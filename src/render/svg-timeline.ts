// Flame-like SVG timeline: one band per lane (the `phases` strip first, processes nested
// as their process tree), nested spans stacked by containment, coloured by phase
// (Okabe–Ito), a shared time axis for all runs (aligned at t0), tooltips everywhere.
// Two forms from one layout (timeline-layout.ts):
// - static (`--static`, for papers): the drawing alone, fixed width, no script;
// - interactive (default): the same drawing as a fallback for viewers without scripting,
//   plus one compact data block and a script (timeline-script.ts) that take over in a
//   browser: fit to the window, zoom, pan, measure, search, collapse.
// Spans narrower than a pixel are coalesced before anything is written (coalesce.ts),
// so the size of the file depends on the picture, not on the number of spans. No DOM is
// built here: markup is written as text, which keeps rendering linear and start-up fast.
import { UserError } from '../model/errors.js';
import type { Run } from '../model/trace.js';
import { parseWidth } from './geometry.js';
import { HIGHLIGHT_COLOUR, phaseCss } from './palette.js';
import { cdata, escapeXml } from './svg-sanitize.js';
import { timelineData } from './timeline-data.js';
import { layoutTimeline, planTimeline, type SpanHighlight } from './timeline-layout.js';
import { timelineScript } from './timeline-script.js';
import { drawStatic, highlightCss, timelineMetrics } from './timeline-static.js';

export { parseWidth } from './geometry.js';
export type { SpanHighlight } from './timeline-layout.js';

export interface TimelineOptions {
  /** Embed the interactive script (default view); false = static figure for a paper. */
  interactive: boolean;
  /** '1200' (px; interactive files then fit the window), or physical: '3.5in' (default when static), '7.16in', '252pt'. */
  width?: string;
  title?: string;
  /** Type size in points (default 9 interactive, 8 static; papers want 8–10). */
  fontSizePt?: number;
  /** Sets of spans to mark (outline and legend entry), e.g. the critical path. */
  highlights?: SpanHighlight[];
}

const STATIC_CSS = [
  '.bg{fill:#FFFFFF}',
  '.band{fill:#F4F4F4}.band.alt{fill:#EAEAEA}',
  '.grid line,#hv-grid line{stroke:#D0D0D0;stroke-width:0.5}',
  '.axis-line,.ticks line,#hv-ticks line{stroke:#000000;stroke-width:0.75}',
  '.title{font-weight:bold}.run-label{font-weight:bold}',
  '.lane-label,.key-label,.ticks text,#hv-ticks text,.axis-title,#hv-axis-title{fill:#000000}',
  'rect.s{stroke:#FFFFFF;stroke-width:0.3}',
  'rect.b{fill-opacity:0.55;stroke:#000000;stroke-dasharray:1,1}',
  'rect.unres{fill:#FFFFFF;stroke:#000000;stroke-dasharray:2,2}text.unres{fill:#000000;font-style:italic}',
  'text.l{pointer-events:none}',
  '.i path{fill:#000000}.i line{stroke:#000000;stroke-width:0.5;stroke-dasharray:2,1}',
].join('');

const INTERACTIVE_CSS = [
  // No scroll anchoring: the header and panel move with the scroll position, and the browser would
  // otherwise chase them (each move re-anchors, scrolling on to the end of the page).
  'svg{user-select:none;-webkit-user-select:none;overflow-anchor:none}',
  'rect.s{cursor:zoom-in}rect.s:hover{stroke:#000000;stroke-width:1}',
  `.searching rect.s:not(.hit),.searching .i:not(.hit){opacity:0.2}.searching text.l{opacity:0.5}rect.s.hit{stroke:${HIGHLIGHT_COLOUR};stroke-width:1.5}.i.hit path{fill:${HIGHLIGHT_COLOUR}}`,
  '.head-bg{fill:#FFFFFF}',
  '.btn,.toggle,.lane-label,.hl-key,.sel-label{cursor:pointer}.btn{fill:#0072B2;text-decoration:underline}.btn.off{fill:#AAAAAA;text-decoration:none}.hint{fill:#777777}',
  '.toggle{fill:#333333}.lane-label.collapsed{font-style:italic}',
  '.axis-band{fill:#000000;fill-opacity:0.04;cursor:col-resize}',
  '.busy{fill:#777777;fill-opacity:0.45}',
  '#hv-sel{fill:#0072B2;fill-opacity:0.12;stroke:#0072B2;stroke-width:0.5;pointer-events:none}.sel-label{fill:#0072B2;font-weight:bold}',
  '#hv-cursor{stroke:#CC79A7;stroke-width:1.5;pointer-events:none}',
  '.tip-bg{fill:#FFFFF0;stroke:#555555;stroke-width:0.5}.tip-text{fill:#000000}.tip-name{font-weight:bold}#hv-tip{pointer-events:none}',
  '.panel{box-sizing:border-box;height:100%;display:flex;flex-direction:column;font:inherit;border-left:1px solid #CCCCCC;background:#FAFAFA;padding:4px}',
  '#hv-q{font:inherit;width:100%;box-sizing:border-box;margin-bottom:4px}.matched{color:#333333;margin-bottom:4px}',
  '.list{overflow-y:auto;flex:1;user-select:text;-webkit-user-select:text}',
  '.entry{cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:1px 2px}.entry:hover{background:#E8F0FF}',
  '.entry .at{display:inline-block;min-width:5.5em;color:#0072B2}.entry .lane{color:#777777;margin-right:0.5em}',
  '.heading{font-weight:bold;margin-top:6px}.more{color:#777777}',
].join('');

/** Renders runs as one SVG document (a string, well-formed XML). */
export function renderTimelineSvg(runs: Run[], opts: TimelineOptions): string {
  if (runs.length === 0) throw new UserError('nothing to render: no runs given');
  const geo = parseWidth(opts.width, opts.interactive);
  const fontPt = opts.fontSizePt ?? (opts.interactive ? 9 : 8);
  if (!Number.isFinite(fontPt) || fontPt < 4 || fontPt > 72) throw new UserError(`font size ${opts.fontSizePt}: expected 4–72 pt`);
  const fs = fontPt * geo.unitsPerPt;
  const plan = planTimeline(runs);
  const metrics = timelineMetrics(plan, geo, fs);
  if (metrics.plotWidth < fs * 4) throw new UserError(`width "${opts.width}" is too narrow for ${fontPt} pt type`);
  const nsPerPixel = (geo.pixel * plan.endNs) / metrics.plotWidth;
  const layout = layoutTimeline(plan, nsPerPixel, opts.highlights);

  const drawing = drawStatic(layout, geo, metrics, { title: opts.title, tooltips: !opts.interactive });
  const css = STATIC_CSS + phaseCss() + highlightCss(layout, opts.interactive ? 2 : 0.8) + (opts.interactive ? INTERACTIVE_CSS : '');
  const root =
    `<svg xmlns="http://www.w3.org/2000/svg" class="hvscope-timeline" font-family="Helvetica, Arial, sans-serif" font-size="${Math.round(fs * 100) / 100}"` +
    ` width="${geo.widthAttr}" height="${geo.heightAttr(drawing.height)}" viewBox="0 0 ${Math.round(geo.userWidth * 100) / 100} ${Math.round(drawing.height * 100) / 100}">`;
  const parts = [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n',
    root,
    opts.title ? `<title>${escapeXml(opts.title)}</title>` : '',
    `<style type="text/css">${cdata(css)}</style>`,
    '<rect class="bg" x="0" y="0" width="100%" height="100%"/>',
  ];
  if (!opts.interactive) parts.push(drawing.markup);
  else {
    parts.push(`<g id="hv-fallback">${drawing.markup}</g>`);
    const explicitPx = opts.width !== undefined && /^\d+(\.\d+)?(px)?$/.test(opts.width.trim());
    const config = {
      fontSize: Math.round(fs * 100) / 100,
      gutter: Math.round(metrics.gutter * 100) / 100,
      indent: Math.round(metrics.indent * 100) / 100,
      title: opts.title ?? '',
      fixedWidth: explicitPx ? geo.userWidth : null,
      initialWidth: geo.userWidth,
    };
    parts.push(`<script type="text/ecmascript">${cdata(timelineScript(config, timelineData(layout, nsPerPixel)))}</script>`);
  }
  parts.push('</svg>\n');
  return parts.join('');
}
