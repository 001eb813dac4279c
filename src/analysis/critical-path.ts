// The critical path of one run, like `systemd-analyze critical-chain`: from the start of
// the first phase to ready (the end of the last phase), the chain of spans each waited on.
//
// "Waited on" is inferred from what the trace holds (span-tree.ts), walking backwards:
// 1. Start at ready with the spans that have no parent (root processes, lanes without a
//    process). Among those that started before the cursor, the one that ended last at or
//    before it — or is still running at it, at the top level only, e.g. QEMU running the
//    guest at ready — is what the cursor waited on. Ties: the one that started first.
// 2. Its start becomes the cursor: what ended right before it started is what it
//    waited on (a predecessor: exec after exec of one pid, a process after the one
//    before it, a call after the previous call). Repeat until nothing is left before the
//    cursor or the window's start is reached.
// 3. Inside each chosen span, the same walk over its children (nested calls, child
//    processes) from its end back to its start. A child still running when its parent
//    ended (a daemon it forked) was not waited on and is skipped.
// Time of the window that no chosen span covers is a gap: work nothing traced (the guest
// itself, an untraced library), or waiting between steps. Gaps are reported with the
// phases they fall in.
//
// Limits: without wake-up or futex events, "waited on" is a heuristic over time and
// structure: an independent span that just happened to end before the next step started
// is blamed; asynchronous work (libxl's event loop, a QMP reply) only shows as a span
// ending before the next begins; processes whose parent pid was not traced are roots.
import { PHASES, type Phase, type Span, type Trace } from '../model/trace.js';
import { phaseBreakdown, type PhaseExtent } from './phases.js';
import { formatDuration } from '../model/duration.js';
import { alignTable } from './report.js';
import { buildSpanTree, type SpanNode } from './span-tree.js';

export interface ChainLink {
  span: Span;
  /** 0 for the top level; a child's depth is its parent's + 1. */
  depth: number;
  /** The part of the span on the path (ns since t0): its start, and its end or ready, whichever is first. */
  start: number;
  end: number;
  /** Time between this link's end and the next link's start at the same depth (or its container's end). */
  gapAfter: number;
  /** Phase the link's start falls in. */
  phase?: Phase;
}

export interface ChainGap {
  start: number;
  end: number;
  /** Phases the gap overlaps, in order. */
  phases: Phase[];
}

export interface CriticalPath {
  /** Start of the first phase (or of the first span when the run has no phases). */
  start: number;
  /** End of the last phase: ready (or the last span's end). */
  ready: number;
  /** Links in time order, each followed by its own sub-chain (depth first). */
  links: ChainLink[];
  /** Top-level time no link covers. */
  gaps: ChainGap[];
}

type Extent = Pick<PhaseExtent, 'phase' | 'start' | 'end'>;

function phaseAt(phases: Extent[], at: number): Phase | undefined {
  return phases.find((p) => at >= p.start && at < p.end)?.phase ?? phases.find((p) => at === p.end)?.phase;
}

/**
 * Backward walk over candidates within [from, to]: the links of one level, in time order.
 * `open`: the window's end is ready, not the container's own end (spans running at it count).
 * One pass over the candidates by end, latest first: the cursor only moves back, so a
 * candidate that ends after it or starts at or after it never becomes eligible again.
 */
function walkLevel(candidates: SpanNode[], from: number, to: number, open: boolean): { node: SpanNode; start: number; end: number }[] {
  const eligible = candidates.filter((n) => n.span.end > from && n.span.start < to);
  const picked: { node: SpanNode; start: number; end: number }[] = [];
  let cursor = to;
  let first: SpanNode | undefined;
  if (open) {
    // At ready: what is still running then (or ends right then); the one that started first.
    for (const n of eligible) if (n.span.end >= to && (!first || n.span.start < first.span.start)) first = n;
    if (first) {
      picked.push({ node: first, start: Math.max(from, first.span.start), end: to });
      cursor = Math.max(from, first.span.start);
    }
  }
  const byEnd = eligible.filter((n) => n !== first).sort((a, b) => b.span.end - a.span.end || a.span.start - b.span.start);
  for (const n of byEnd) {
    if (cursor <= from || n.span.end <= from) break;
    if (n.span.end > cursor || n.span.start >= cursor) continue;
    picked.push({ node: n, start: Math.max(from, n.span.start), end: n.span.end });
    cursor = Math.max(from, n.span.start);
  }
  return picked.reverse();
}

/** The run's window: the phases' extent, else all spans'. undefined for a trace without spans. */
function pathWindow(trace: Trace, phases: Extent[]): { start: number; ready: number } | undefined {
  if (phases.length > 0) return { start: Math.min(...phases.map((p) => p.start)), ready: Math.max(...phases.map((p) => p.end)) };
  // No phases: the extent of what was traced.
  if (trace.spans.length === 0) return undefined;
  let start = Infinity;
  let ready = -Infinity;
  for (const s of trace.spans) {
    start = Math.min(start, s.start);
    ready = Math.max(ready, s.end);
  }
  return { start, ready };
}

export function criticalPath(trace: Trace): CriticalPath {
  const phases = phaseBreakdown(trace).filter((p) => Number.isFinite(p.duration));
  const tree = buildSpanTree(trace);
  const window = pathWindow(trace, phases);
  if (!window || tree.nodes.length === 0) return { start: window?.start ?? 0, ready: window?.ready ?? 0, links: [], gaps: [] };
  const links: ChainLink[] = [];
  const expand = (candidates: SpanNode[], from: number, to: number, depth: number, open: boolean) => {
    const level = walkLevel(candidates, from, to, open);
    level.forEach((l, i) => {
      const nextStart = i + 1 < level.length ? level[i + 1].start : to;
      links.push({ span: l.node.span, depth, start: l.start, end: l.end, gapAfter: Math.max(0, nextStart - l.end), phase: phaseAt(phases, l.start) });
      // Inside a span cut at ready, its children may be running at ready too.
      const cut = l.end < l.node.span.end;
      expand(l.node.children, l.start, l.end, depth + 1, cut);
    });
  };
  expand(tree.roots, window.start, window.ready, 0, true);
  const gaps: ChainGap[] = [];
  let cursor = window.start;
  for (const l of links.filter((x) => x.depth === 0)) {
    if (l.start > cursor) gaps.push(gapOf(cursor, l.start, phases));
    cursor = Math.max(cursor, l.end);
  }
  if (cursor < window.ready) gaps.push(gapOf(cursor, window.ready, phases));
  return { start: window.start, ready: window.ready, links, gaps };
}

function gapOf(start: number, end: number, phases: Extent[]): ChainGap {
  return { start, end, phases: PHASES.filter((p) => phases.some((x) => x.phase === p && x.start < end && x.end > start)) };
}

/** The spans on the critical path, for a renderer to highlight (identity: the trace's own span objects). */
export function criticalPathSpans(trace: Trace): Set<Span> {
  return new Set(criticalPath(trace).links.map((l) => l.span));
}

/** A link's name as listed: a process with its pid, a span cut at ready marked so. */
function linkName(l: ChainLink): string {
  const pid = l.span.args?.pid;
  const cut = l.end < l.span.end ? ' (running at ready)' : '';
  return `${l.span.name}${typeof pid === 'number' ? ` [${pid}]` : ''}${cut}`;
}

export interface CriticalPathRow {
  depth: number;
  phase?: Phase;
  start: number;
  /** Time on the path (summed over the row's links). */
  time: number;
  name: string;
  /** Links in the row: > 1 when consecutive short siblings are listed as one. */
  count: number;
  /** A top-level gap (nothing traced on the path) rather than spans. */
  gap?: boolean;
}

/** Short siblings in a row are listed as one, named by their most frequent names (by time). */
const MERGED_NAMES_SHOWN = 3;

function mergedRow(links: ChainLink[]): CriticalPathRow {
  const first = links[0];
  if (links.length === 1) return { depth: first.depth, phase: first.phase, start: first.start, time: first.end - first.start, name: linkName(first), count: 1 };
  const byName = new Map<string, { count: number; time: number }>();
  let time = 0;
  for (const l of links) {
    const e = byName.get(l.span.name) ?? { count: 0, time: 0 };
    e.count++;
    e.time += l.end - l.start;
    time += l.end - l.start;
    byName.set(l.span.name, e);
  }
  const names = [...byName].sort((a, b) => b[1].time - a[1].time);
  const shown = names.slice(0, MERGED_NAMES_SHOWN).map(([n, e]) => (e.count > 1 ? `${n} ×${e.count}` : n));
  if (names.length > MERGED_NAMES_SHOWN) shown.push(`${names.length - MERGED_NAMES_SHOWN} more names`);
  return { depth: first.depth, phase: first.phase, start: first.start, time, name: `${links.length} short steps: ${shown.join(', ')}`, count: links.length };
}

function gapRow(g: ChainGap): CriticalPathRow {
  return { depth: 0, phase: g.phases[0], start: g.start, time: g.end - g.start, name: `(nothing traced on the path${g.phases.length ? `: ${g.phases.join(', ')}` : ''})`, count: 1, gap: true };
}

export interface RowOptions {
  /** Deepest level listed (0 = the top level only). */
  maxDepth?: number;
  /** Links shorter than this fraction of the path (default 1 %) are merged with their short neighbours, their own steps hidden. */
  shortFraction?: number;
}

/** Rows for display: top-level gaps in place, consecutive short siblings as one row. */
export function criticalPathRows(path: CriticalPath, opts: RowOptions = {}): CriticalPathRow[] {
  const maxDepth = opts.maxDepth ?? Infinity;
  const short = (opts.shortFraction ?? 0.01) * (path.ready - path.start);
  const rows: CriticalPathRow[] = [];
  const gaps = [...path.gaps];
  let pending: ChainLink[] = [];
  let hideBelow: number | undefined;
  const flush = () => {
    if (pending.length > 0) rows.push(mergedRow(pending));
    pending = [];
  };
  for (const l of path.links) {
    if (l.depth > maxDepth || (hideBelow !== undefined && l.depth > hideBelow)) continue;
    hideBelow = undefined;
    if (l.depth === 0)
      while (gaps.length > 0 && gaps[0].start < l.start) {
        flush();
        rows.push(gapRow(gaps.shift()!));
      }
    if (l.end - l.start < short) {
      if (pending.length > 0 && pending[0].depth !== l.depth) flush();
      pending.push(l);
      hideBelow = l.depth;
    } else {
      flush();
      rows.push(mergedRow([l]));
    }
  }
  flush();
  rows.push(...gaps.map(gapRow));
  return rows;
}

/** systemd-analyze critical-chain's layout: one row per link, "@" its start, "+" its time on the path, indented by depth. */
export function formatCriticalPathText(label: string, path: CriticalPath, opts: RowOptions = {}): string {
  if (path.links.length === 0) return `${label}: no spans to build a critical path from\n`;
  const rows = criticalPathRows(path, opts);
  const table = [['phase', '@start', '+time', 'span']];
  for (const r of rows)
    table.push([r.phase ?? '-', formatDuration(r.start), formatDuration(r.time), `${'  '.repeat(r.depth)}${r.name}`]);
  const onPath = path.links.filter((l) => l.depth === 0).reduce((sum, l) => sum + l.end - l.start, 0);
  const head = `${label}: ready at ${formatDuration(path.ready)}; ${formatDuration(onPath)} of ${formatDuration(path.ready - path.start)} on traced spans`;
  return `${head}\n${alignTable(table, ['l', 'r', 'r', 'l'])}\n`;
}

export interface CriticalPathJson {
  label: string;
  start_ns: number;
  ready_ns: number;
  links: { depth: number; name: string; lane: string; pid?: number; phase?: Phase; start_ns: number; end_ns: number; duration_ns: number; cut_at_ready: boolean; gap_after_ns: number }[];
  gaps: { start_ns: number; end_ns: number; duration_ns: number; phases: Phase[] }[];
}

export function criticalPathJson(label: string, path: CriticalPath): CriticalPathJson {
  return {
    label,
    start_ns: path.start,
    ready_ns: path.ready,
    links: path.links.map((l) => {
      const pid = l.span.args?.pid;
      return {
        depth: l.depth,
        name: l.span.name,
        lane: l.span.lane,
        ...(typeof pid === 'number' ? { pid } : {}),
        ...(l.phase ? { phase: l.phase } : {}),
        start_ns: l.start,
        end_ns: l.end,
        duration_ns: l.end - l.start,
        cut_at_ready: l.end < l.span.end,
        gap_after_ns: l.gapAfter,
      };
    }),
    gaps: path.gaps.map((g) => ({ start_ns: g.start, end_ns: g.end, duration_ns: g.end - g.start, phases: g.phases })),
  };
}
