// The baseline for the render benchmark: the obvious d3 rendering, one element per
// span (a group with a tooltip and a rectangle), same row layout, no coalescing.
import { D3Node } from 'd3-node';
import { traceEnd, type Trace } from '../src/model/trace.js';
import { assignRows } from '../src/render/coalesce.js';
import { htmlToXmlMarkup, xmlSafeText } from '../src/render/svg-sanitize.js';

export function renderNaiveSvg(trace: Trace, width = 1200): string {
  const end = Math.max(1, traceEnd(trace));
  const left = 120;
  const scale = (width - left - 20) / end;
  const rowH = 18;
  const d3n = new D3Node();
  const svg = d3n.createSVG(width, 100);
  let y = 10;
  for (const lane of trace.lanes) {
    const { spans, rows, rowCount } = assignRows(trace.spans.filter((s) => s.lane === lane.id));
    const g = svg.append('g');
    g.append('text').attr('x', 4).attr('y', y + 12).text(xmlSafeText(lane.name));
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      const sg = g.append('g');
      sg.append('title').text(xmlSafeText(`${s.name}\n${s.phase ?? 'none'}\n${s.start}\n${s.end - s.start}`));
      sg.append('rect')
        .attr('x', (left + s.start * scale).toFixed(2))
        .attr('y', y + rows[i] * rowH)
        .attr('width', Math.max(0.1, (s.end - s.start) * scale).toFixed(2))
        .attr('height', rowH - 2);
    }
    y += Math.max(1, rowCount) * rowH + 4;
  }
  svg.node().setAttribute('height', String(y));
  return htmlToXmlMarkup(d3n.svgString());
}
