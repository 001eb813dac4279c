// The diff SVG (`hvscope diff A B -o diff.svg`): on one time axis,
// 1. the phase medians of A and of B laid end to end, with each phase's Δ and verdict;
// 2. the run of A and the run of B whose totals are closest to their set's median, as
//    timelines (phases strip, then lanes), the spans diff named as changed outlined: solid
//    where the span's self time grew in B, dashed where it shrank.
// Axis, palette and lane layout (nesting rows, coalescing of sub-pixel spans) are the
// timeline's own (axis.ts, palette.ts, coalesce.ts). Static: no script.
import type { DiffResult, SpanDiff } from '../analysis/diff.js';
import { signedDuration } from '../analysis/diff-text.js';
import { buildSpanTree } from '../analysis/span-tree.js';
import { keyId, spanKey } from '../analysis/span-keys.js';
import { PHASES, PHASE_LANE_ID, traceEnd, type Phase, type Run, type Span } from '../model/trace.js';
import { formatDuration } from '../model/duration.js';
import { estimateTextWidth, fitLabel, timeAxis } from './axis.js';
import { layoutLane } from './coalesce.js';
import { phaseClass, phaseCss } from './palette.js';
import { cdata, escapeXml } from './svg-sanitize.js';

export interface DiffSvgInput {
  diff: DiffResult;
  /** The representative run of A and of B (closest to the median total). */
  runA: Run;
  runB: Run;
  width?: number;
  /** Lanes drawn per run at most (lanes with changed spans first). */
  maxLanes?: number;
}

const FS = 11;
const ROW = FS * 1.5;
const r1 = (v: number) => Math.round(v * 10) / 10;

/**
 * Changed keys with the direction of their self time's change, from the phases whose difference the
 * text explains too (not those that do not differ): over the whole run when listed there, else in the
 * first phase that lists them.
 */
function changedKeys(diff: DiffResult): Map<string, { grew: boolean; note: string }> {
  const keys = new Map<string, { grew: boolean; note: string }>();
  const explained = diff.phases.filter((p) => p.comparison && p.comparison.verdict !== 'no difference');
  const total = explained.find((p) => p.phase === 'total');
  for (const p of [...(total ? [total] : []), ...explained.filter((x) => x.phase !== 'total')]) {
    for (const s of p.spans) {
      const id = keyId(s);
      const note = spanNote(p.phase, s);
      const known = keys.get(id);
      if (known) known.note += `\n${note}`;
      else keys.set(id, { grew: s.delta_self_ns > 0, note });
    }
  }
  return keys;
}

function spanNote(phase: string, s: SpanDiff): string {
  const verdict = s.self && (s.self.verdict === 'higher' || s.self.verdict === 'lower') ? `, differs (p ${s.self.p.toPrecision(2)})` : s.self ? `, not distinguishable from noise (p ${s.self.p.toPrecision(2)})` : '';
  return `${phase}: self time ${signedDuration(s.delta_self_ns)} in B (median ${formatDuration(s.a.median_self_ns)} → ${formatDuration(s.b.median_self_ns)})${verdict}`;
}

interface Ctx {
  out: string[];
  y: number;
  left: number;
  width: number;
  scale: number;
  nsPerPx: number;
}

function rect(ctx: Ctx, cls: string, start: number, end: number, y: number, h: number, title: string, label = ''): void {
  const x = ctx.left + start * ctx.scale;
  const w = Math.max(1, (end - start) * ctx.scale);
  ctx.out.push(`<rect class="${cls}" x="${r1(x)}" y="${r1(y)}" width="${r1(w)}" height="${r1(h)}"><title>${escapeXml(title)}</title></rect>`);
  const fitted = label ? fitLabel(label, '', w - FS * 0.5, FS) : '';
  if (fitted) ctx.out.push(`<text class="l ${cls.split(' ').find((c) => c.startsWith('p-')) ?? ''}" x="${r1(x + FS * 0.25)}" y="${r1(y + h * 0.72)}">${escapeXml(fitted)}</text>`);
}

function textAt(ctx: Ctx, cls: string, x: number, y: number, value: string, anchor = 'start'): void {
  ctx.out.push(`<text class="${cls}" x="${r1(x)}" y="${r1(y)}"${anchor !== 'start' ? ` text-anchor="${anchor}"` : ''}>${escapeXml(value)}</text>`);
}

/** Phase medians end to end: one bar per set. */
function drawMedians(ctx: Ctx, diff: DiffResult): void {
  const phases = diff.phases.filter((p) => p.phase !== 'total');
  for (const side of ['a', 'b'] as const) {
    textAt(ctx, 'lane-label', FS * 0.5, ctx.y + ROW * 0.75, `${side.toUpperCase()} median`);
    let at = 0;
    for (const p of phases) {
      const m = p[side].median_ns;
      if (m === null) continue;
      const c = p.comparison;
      const delta = side === 'b' && c ? ` · Δ ${signedDuration(c.difference_ns)} (${c.verdict}, p ${c.p.toPrecision(2)})` : '';
      rect(ctx, `s ${phaseClass(p.phase as Phase)}`, at, at + m, ctx.y, ROW - 2, `${p.phase}: median ${formatDuration(m)} over ${p[side].n} runs${delta}`, `${p.phase} ${formatDuration(m)}`);
      at += m;
    }
    ctx.y += ROW + 2;
  }
  // The differences called, in one line (phases can be too narrow to label).
  const called = diff.phases.filter((p) => p.comparison && (p.comparison.verdict === 'higher' || p.comparison.verdict === 'lower'));
  const pct = `${Math.round(diff.method.confidence * 1000) / 10} %`;
  const line = called.length > 0 ? `Δ (B − A) distinguishable from noise at ${pct}: ${called.map((p) => `${p.phase} ${signedDuration(p.comparison!.difference_ns)}`).join(', ')}` : `no phase differs at ${pct}`;
  textAt(ctx, 'delta', ctx.left, ctx.y + FS, line);
  ctx.y += ROW;
}

/** Lanes of a run worth drawing: those with changed spans first, then by busy time; at most `max`. */
function lanesToDraw(run: Run, changed: Map<string, unknown>, keyOf: Map<Span, string>, max: number): { id: string; name: string; spans: Span[] }[] {
  const lanes = run.trace.lanes.filter((l) => l.id !== PHASE_LANE_ID && l.kind !== 'phases');
  const spansOf = new Map<string, Span[]>();
  for (const s of run.trace.spans) if (s.lane !== PHASE_LANE_ID) spansOf.set(s.lane, [...(spansOf.get(s.lane) ?? []), s]);
  const scored = lanes
    .map((l, order) => {
      const spans = spansOf.get(l.id) ?? [];
      const hasChanged = spans.some((s) => changed.has(keyOf.get(s) ?? ''));
      const busy = spans.reduce((sum, s) => sum + s.end - s.start, 0);
      return { id: l.id, name: l.name, spans, hasChanged, busy, order };
    })
    .filter((l) => l.spans.length > 0);
  const chosen = [...scored].sort((a, b) => Number(b.hasChanged) - Number(a.hasChanged) || b.busy - a.busy).slice(0, max);
  return chosen.sort((a, b) => a.order - b.order);
}

function drawRun(ctx: Ctx, title: string, run: Run, changed: Map<string, { grew: boolean; note: string }>, maxLanes: number): number {
  ctx.y += FS * 0.6;
  textAt(ctx, 'run-label', FS * 0.5, ctx.y + FS, title);
  ctx.y += FS * 1.4;
  const keyOf = new Map<Span, string>();
  for (const node of buildSpanTree(run.trace).nodes) keyOf.set(node.span, keyId(spanKey(node)));
  const phases = run.trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
  // diff measured spans inside the phases only: a span of a changed key outside them (teardown) is not marked.
  const phasesEnd = phases.length > 0 ? Math.max(...phases.map((p) => p.end)) : Infinity;
  const phasesStart = phases.length > 0 ? Math.min(...phases.map((p) => p.start)) : -Infinity;
  const lanes = [{ id: PHASE_LANE_ID, name: 'phases', spans: phases }, ...lanesToDraw(run, changed, keyOf, maxLanes)];
  const shownLanes = lanes.length - 1;
  let marked = 0;
  for (const lane of lanes) {
    if (lane.spans.length === 0) continue;
    const layout = layoutLane(lane.spans, ctx.nsPerPx);
    const top = ctx.y;
    const height = Math.max(1, layout.rowCount) * ROW;
    ctx.out.push(`<rect class="band" x="${r1(FS * 0.3)}" y="${r1(top)}" width="${r1(ctx.left + ctx.width - FS * 0.3)}" height="${r1(height)}"/>`);
    const name = estimateTextWidth(lane.name, FS) <= ctx.left - FS ? lane.name : fitLabel(lane.name, '', ctx.left - FS, FS);
    textAt(ctx, 'lane-label', FS * 0.5, top + ROW * 0.72, name);
    for (const item of layout.items) {
      const y = top + item.row * ROW;
      if (item.kind === 'block') {
        rect(ctx, `s b ${phaseClass(item.phase)}`, item.start, item.end, y, ROW - 2, `${item.count} spans merged (each < 1 px): ${item.topNames.map((n) => `${n.name} ×${n.count}`).join(', ')}`);
        continue;
      }
      const s = item.span;
      const change = s.start < phasesEnd && s.end > phasesStart ? changed.get(keyOf.get(s) ?? '') : undefined;
      if (change) marked++;
      const cls = `s ${phaseClass(s.phase)}${change ? (change.grew ? ' up' : ' down') : ''}`;
      rect(ctx, cls, s.start, s.end, y, ROW - 2, `${s.name}\n${formatDuration(s.end - s.start)} from ${formatDuration(s.start)}${change ? `\nchanged: ${change.note}` : ''}`, s.name);
    }
    ctx.y += height + 2;
  }
  const withSpans = new Set(run.trace.spans.map((s) => s.lane));
  const hidden = run.trace.lanes.filter((l) => l.kind !== 'phases' && l.id !== PHASE_LANE_ID && withSpans.has(l.id)).length - shownLanes;
  if (hidden > 0) {
    textAt(ctx, 'note', FS * 0.5, ctx.y + FS, `${hidden} more lane${hidden === 1 ? '' : 's'} not drawn (no changed spans, least busy)`);
    ctx.y += FS * 1.4;
  }
  return marked;
}

export function renderDiffSvg(input: DiffSvgInput): string {
  const { diff, runA, runB } = input;
  const W = input.width ?? 1200;
  const maxLanes = input.maxLanes ?? 24;
  const phases = diff.phases.filter((p) => p.phase !== 'total');
  const medianEnd = (side: 'a' | 'b') => phases.reduce((sum, p) => sum + (p[side].median_ns ?? 0), 0);
  const end = Math.max(1000, traceEnd(runA.trace), traceEnd(runB.trace), medianEnd('a'), medianEnd('b'));
  const laneNames = [...runA.trace.lanes, ...runB.trace.lanes].map((l) => l.name);
  const left = Math.min(W * 0.22, Math.max(FS * 8, ...laneNames.map((n) => estimateTextWidth(n, FS) + FS)));
  const width = W - left - FS * 2;
  const ctx: Ctx = { out: [], y: FS * 0.5, left, width, scale: width / end, nsPerPx: end / width };
  const changed = changedKeys(diff);

  const title = `diff: A = ${diff.a.label} (${diff.a.runs.length} runs) vs B = ${diff.b.label} (${diff.b.runs.length} runs)`;
  textAt(ctx, 'title', W / 2, ctx.y + FS * 1.2, title, 'middle');
  ctx.y += FS * 2.4;
  const gridTop = ctx.y;
  drawMedians(ctx, diff);
  drawRun(ctx, `A: ${runA.label} (the run of A closest to its median total)`, runA, changed, maxLanes);
  drawRun(ctx, `B: ${runB.label} (the run of B closest to its median total)`, runB, changed, maxLanes);

  const axisY = ctx.y + FS * 0.4;
  const axis = timeAxis(0, end, left, width, FS);
  const grid: string[] = [];
  grid.push(`<line class="axis" x1="${r1(left)}" x2="${r1(left + width)}" y1="${r1(axisY)}" y2="${r1(axisY)}"/>`);
  for (const t of axis.ticks) {
    grid.push(`<line class="grid" x1="${r1(t.x)}" x2="${r1(t.x)}" y1="${r1(gridTop)}" y2="${r1(axisY)}"/>`);
    grid.push(`<text class="tick" x="${r1(t.x)}" y="${r1(axisY + FS * 1.3)}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  grid.push(`<text class="tick" x="${r1(left + width / 2)}" y="${r1(axisY + FS * 2.6)}" text-anchor="middle">${escapeXml(axis.title)}</text>`);
  let y = axisY + FS * 4;
  const legend: { cls: string; label: string }[] = [
    ...PHASES.filter((p) => phases.some((x) => x.phase === p)).map((p) => ({ cls: `s ${phaseClass(p)}`, label: p })),
    { cls: 's p-none up', label: 'changed: more self time in B' },
    { cls: 's p-none down', label: 'changed: less self time in B' },
    { cls: 's b p-none', label: 'N spans merged, each < 1 px' },
  ];
  let x = FS * 0.5;
  for (const entry of legend) {
    const w = FS * 1.6 + estimateTextWidth(entry.label, FS);
    if (x + w > W - FS) {
      x = FS * 0.5;
      y += FS * 1.5;
    }
    grid.push(`<rect class="${entry.cls}" x="${r1(x)}" y="${r1(y - FS * 0.8)}" width="${FS}" height="${FS}"/>`, `<text class="key" x="${r1(x + FS * 1.3)}" y="${r1(y)}">${escapeXml(entry.label)}</text>`);
    x += w + FS;
  }
  const H = y + FS;
  const css = [
    '.bg{fill:#FFFFFF}.band{fill:#F4F4F4}',
    '.grid{stroke:#D0D0D0;stroke-width:0.5}.axis{stroke:#000000;stroke-width:0.75}',
    '.title,.run-label{font-weight:bold}.note{fill:#555555}.delta{fill:#000000;font-weight:bold}',
    phaseCss(),
    'rect.s{stroke:#FFFFFF;stroke-width:0.3}rect.b{fill-opacity:0.55;stroke:#000000;stroke-dasharray:1,1}',
    'rect.s.up{stroke:#000000;stroke-width:2}rect.s.down{stroke:#000000;stroke-width:2;stroke-dasharray:4,2}',
    'text.l{pointer-events:none}',
  ].join('');
  return [
    '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" class="hvscope-diff" width="${W}" height="${r1(H)}" viewBox="0 0 ${W} ${r1(H)}" font-family="Helvetica, Arial, sans-serif" font-size="${FS}">`,
    `<style type="text/css">${cdata(css)}</style>`,
    `<rect class="bg" x="0" y="0" width="${W}" height="${r1(H)}"/>`,
    ...grid.filter((g) => g.includes('class="grid"')),
    ...ctx.out,
    ...grid.filter((g) => !g.includes('class="grid"')),
    '</svg>',
    '',
  ].join('\n');
}
