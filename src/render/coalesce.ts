// Lane layout and coalescing, before any DOM is built:
// - assignRows stacks a lane's spans by containment (a span inside another goes one
//   row below it; a partial overlap goes to the next free row);
// - coalesceRow merges runs of spans narrower than one pixel (with gaps under a pixel)
//   into one block labelled "N spans", so a million spans become at most a few
//   thousand elements, and the SVG stays a few MB.
import type { Phase, Span } from '../model/trace.js';
import { PHASES } from '../model/trace.js';

export interface RowLayout {
  /** The lane's spans, sorted by start (earlier first), then longer first. */
  spans: Span[];
  /** rows[i] is the row (0 = top) of spans[i]. */
  rows: number[];
  rowCount: number;
}

export function assignRows(laneSpans: readonly Span[]): RowLayout {
  const spans = [...laneSpans].sort((a, b) => a.start - b.start || b.end - a.end);
  const rows = new Array<number>(spans.length);
  // End of the last span placed in each row. Spans in a row never overlap, so the only
  // span of a row that can still be open is its last one.
  const rowEnd: number[] = [];
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    // Innermost open span containing s (sorted by start, so it started at or before s).
    let minRow = 0;
    for (let r = rowEnd.length - 1; r >= 0; r--) {
      if (rowEnd[r] > s.start && rowEnd[r] >= s.end) {
        minRow = r + 1;
        break;
      }
    }
    let row = minRow;
    while (row < rowEnd.length && rowEnd[row] > s.start) row++;
    rowEnd[row] = s.end;
    rows[i] = row;
  }
  return { spans, rows, rowCount: rowEnd.length };
}

export interface SpanItem {
  kind: 'span';
  row: number;
  span: Span;
}

export interface NameTotal {
  name: string;
  count: number;
  totalNs: number;
}

export interface CoalescedBlock {
  kind: 'block';
  row: number;
  start: number;
  end: number;
  /** Spans merged into this block. */
  count: number;
  /** Sum of their durations, ns. */
  totalNs: number;
  /** Phase holding most of the block's time; undefined when unphased spans hold most. */
  phase?: Phase;
  /** Names by total time (largest first), at most TOP_NAMES of them. */
  topNames: NameTotal[];
  distinctNames: number;
}

export type LaneItem = SpanItem | CoalescedBlock;

export const TOP_NAMES = 5;

interface OpenBlock {
  start: number;
  end: number;
  spans: Span[];
}

function closeBlock(block: OpenBlock, row: number): LaneItem {
  if (block.spans.length === 1) return { kind: 'span', row, span: block.spans[0] };
  const byName = new Map<string, NameTotal>();
  const byPhase = new Map<Phase | undefined, number>();
  let totalNs = 0;
  for (const s of block.spans) {
    const d = s.end - s.start;
    totalNs += d;
    let entry = byName.get(s.name);
    if (!entry) byName.set(s.name, (entry = { name: s.name, count: 0, totalNs: 0 }));
    entry.count++;
    entry.totalNs += d;
    byPhase.set(s.phase, (byPhase.get(s.phase) ?? 0) + d);
  }
  // Dominant phase by time; ties go to the earlier phase, then to "no phase".
  let phase: Phase | undefined;
  let best = -1;
  for (const p of [...PHASES, undefined]) {
    const t = byPhase.get(p);
    if (t !== undefined && t > best) {
      best = t;
      phase = p;
    }
  }
  const names = [...byName.values()].sort((a, b) => b.totalNs - a.totalNs || b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    kind: 'block',
    row,
    start: block.start,
    end: block.end,
    count: block.spans.length,
    totalNs,
    phase,
    topNames: names.slice(0, TOP_NAMES),
    distinctNames: names.length,
  };
}

/**
 * Coalesces one row (spans sorted by start, not overlapping): consecutive spans narrower
 * than `nsPerPx` whose gap to the previous one is under a pixel become one block. A lone
 * narrow span stays a span (the renderer draws it one pixel wide). Spans `keep` accepts
 * (highlighted ones) are never merged.
 */
export function coalesceRow(rowSpans: readonly Span[], row: number, nsPerPx: number, keep?: (span: Span) => boolean): LaneItem[] {
  const items: LaneItem[] = [];
  let open: OpenBlock | undefined;
  for (const s of rowSpans) {
    const narrow = s.end - s.start < nsPerPx && !(keep && keep(s));
    if (narrow && open && s.start - open.end < nsPerPx) {
      open.spans.push(s);
      if (s.end > open.end) open.end = s.end;
      continue;
    }
    if (open) items.push(closeBlock(open, row));
    open = undefined;
    if (narrow) open = { start: s.start, end: s.end, spans: [s] };
    else items.push({ kind: 'span', row, span: s });
  }
  if (open) items.push(closeBlock(open, row));
  return items;
}

export interface LaneLayout {
  rowCount: number;
  /** By row, then by start. */
  items: LaneItem[];
  /** Spans in the lane (merged ones included). */
  spanCount: number;
}

/** Rows by containment, then coalescing at the given scale (ns per pixel at the render width). */
export function layoutLane(laneSpans: readonly Span[], nsPerPx: number, keep?: (span: Span) => boolean): LaneLayout {
  const { spans, rows, rowCount } = assignRows(laneSpans);
  const byRow: Span[][] = Array.from({ length: rowCount }, () => []);
  for (let i = 0; i < spans.length; i++) byRow[rows[i]].push(spans[i]);
  const items: LaneItem[] = [];
  for (let r = 0; r < rowCount; r++) for (const item of coalesceRow(byRow[r], r, nsPerPx, keep)) items.push(item);
  return { rowCount, items, spanCount: spans.length };
}

export interface InstantGroup<T extends { at: number }> {
  at: number;
  /** Instants within one pixel of the first, in time order. */
  instants: T[];
}

/** Groups instants (any order) that fall within one pixel of each other into one marker. */
export function coalesceInstants<T extends { at: number }>(instants: readonly T[], nsPerPx: number): InstantGroup<T>[] {
  const sorted = [...instants].sort((a, b) => a.at - b.at);
  const groups: InstantGroup<T>[] = [];
  for (const i of sorted) {
    const last = groups[groups.length - 1];
    if (last && i.at - last.at < nsPerPx) last.instants.push(i);
    else groups.push({ at: i.at, instants: [i] });
  }
  return groups;
}
