// The search figure: one slot per measured change in search order (the search path), its
// median ratio to the best at that time with the bootstrap interval as a whisker, coloured
// by verdict; the kept changes (gain per kept knob) are filled and labelled with their gain.
// A refinement's re-measurement (refine.ts) gets its own slot, labelled (rN).
// Drawn in the paper-figure frame (src/render/figures/frame.ts).
import { drawMarker, finishFrame, layoutFrame, round, text, type LegendEntry, type SeriesStyle } from '../../render/figures/frame.js';
import { OKABE_ITO } from '../../render/palette.js';
import type { Decided } from './output.js';
import { changeKey, showValue } from './candidates.js';

const PATH_STYLE: SeriesStyle = { colour: OKABE_ITO[4], marker: 'plus', dash: '' };
const STYLES: Record<string, SeriesStyle> = {
  kept: { colour: OKABE_ITO[2], marker: 'circle', dash: '' },
  worse: { colour: OKABE_ITO[5], marker: 'triangle', dash: '' },
  'no difference': { colour: OKABE_ITO[0], marker: 'diamond', dash: '' },
};

/** The SVG, or null when no change has a measurement to plot. */
export function searchFigure(decided: Decided[], objective: string, title: string): string | null {
  const measured = decided.filter((d) => d.decision.ratio !== undefined && d.decision.ratioInterval !== undefined);
  if (measured.length === 0) return null;
  const styleOf = (d: Decided) => (d.kept ? STYLES.kept : d.decision.verdict === 'worse' ? STYLES.worse : STYLES['no difference']);
  const lows = measured.map((d) => d.decision.ratioInterval![0]);
  const highs = measured.map((d) => d.decision.ratioInterval![1]);
  const legend: LegendEntry[] = [
    { label: 'kept (better)', swatch: 'series', style: STYLES.kept, line: false },
    { label: 'worse', swatch: 'series', style: STYLES.worse, line: false },
    { label: 'no difference', swatch: 'series', style: STYLES['no difference'], line: false },
    { label: 'interval', swatch: 'whisker' },
    { label: 'search path: best / start', swatch: 'series', style: PATH_STYLE, line: true },
  ];
  // The search path: the best's median relative to the start, the product of the kept ratios so far.
  let best = 1;
  const path = measured.map((d) => (best *= d.kept ? d.decision.ratio! : 1));
  const frame = layoutFrame({
    size: '7.16in',
    height: '3.8in',
    title,
    legend,
    x: { kind: 'category', labels: measured.map((d) => `${d.change.path[d.change.path.length - 1]}=${showValue(d.change.value)}${d.change.with ? ` +${d.change.with.length}` : ''}${d.round ? ` (r${d.round})` : ''}`) },
    y: { kind: 'number', label: `${objective}: candidate / best (median)` },
    yRange: [Math.min(0.9, ...lows, ...path) * 0.95, Math.max(1.1, ...highs) * 1.05],
  });
  const { fs } = frame.page;
  const slot = frame.slot!;
  const one = round(frame.yOf(1));
  frame.data.append('line').attr('class', 'unity').attr('x1', frame.plot.left).attr('x2', frame.plot.left + frame.plot.width).attr('y1', one).attr('y2', one);
  const steps = path.map((v, i) => `${i === 0 ? `M${round(slot.centre(0) - slot.width / 2)},${one}L${round(slot.centre(0) - slot.width / 2)},${round(frame.yOf(v))}` : `L${round(slot.centre(i) - slot.width / 2)},${round(frame.yOf(path[i - 1]))}L${round(slot.centre(i) - slot.width / 2)},${round(frame.yOf(v))}`}`);
  const end = round(slot.centre(path.length - 1) + slot.width / 2);
  frame.data.append('path').attr('class', 'search-path').attr('d', `${steps.join('')}L${end},${round(frame.yOf(path[path.length - 1]))}`).attr('stroke', PATH_STYLE.colour);
  measured.forEach((d, i) => {
    const x = round(slot.centre(i));
    const [lo, hi] = d.decision.ratioInterval!;
    const g = frame.data.append('g').attr('class', 'change').attr('data-change', changeKey(d.change)).attr('data-verdict', d.kept ? 'kept' : d.decision.verdict).attr('data-round', d.round ?? 0);
    const w = Math.min(slot.width * 0.2, fs);
    const path = `M${x},${round(frame.yOf(lo))}L${x},${round(frame.yOf(hi))}M${round(x - w / 2)},${round(frame.yOf(lo))}L${round(x + w / 2)},${round(frame.yOf(lo))}M${round(x - w / 2)},${round(frame.yOf(hi))}L${round(x + w / 2)},${round(frame.yOf(hi))}`;
    g.append('path').attr('class', 'whisker').attr('d', path);
    const m = drawMarker(g, styleOf(d), x, frame.yOf(d.decision.ratio!), fs * 0.3);
    text(m.append('title'), `${changeKey(d.change)}: × ${d.decision.ratio!.toFixed(3)} [${lo.toFixed(3)}, ${hi.toFixed(3)}], n ${d.decision.nBase}+${d.decision.nCand}, ${d.kept ? 'kept' : d.decision.verdict}`);
    if (d.kept) text(g.append('text').attr('class', 'gain').attr('x', x).attr('y', round(frame.yOf(lo) + fs * 1.1)).attr('text-anchor', 'middle'), `−${Math.round((1 - d.decision.ratio!) * 100)}%`);
  });
  return finishFrame(frame, '.whisker{fill:none;stroke:#000000;stroke-width:0.6}.unity{stroke:#777777;stroke-width:0.6;stroke-dasharray:3,2}.search-path{fill:none;stroke-width:1}');
}
