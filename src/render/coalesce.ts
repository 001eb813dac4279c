// Lane layout and coalescing, before any DOM is built:
// - assignRows stacks a lane's spans by containment (a span inside another goes one
//   row below it; a partial overlap goes to the next free row);
// - coalesceRow merges runs of spans narrower than one pixel (with gaps under a pixel)
//   into one block labelled "N spans", so a million spans become at most a few
//   thousand elements, and the SVG stays a few MB.
// Times are read from the span objects once per lane into typed arrays: spans from a
// parsed file come in many shapes (with or without phase, args), so every property
// read is slow, and sorting and stacking touch each time many times.
import type { Phase, Span } from '../model/trace.js';
import { PHASES } from '../model/trace.js';

export interface RowLayout {
  /** The lane's spans, sorted by start (earlier first), then longer first. */
  spans: Span[];
  /** rows[i] is the row (0 = top) of spans[i]. */
  rows: number[];
  rowCount: number;
}

/** Span order by start (earlier first), then end (longer first), then input order: indices into starts/ends. */
function startOrder(starts: Float64Array, ends: Float64Array): number[] {
  const order: number[] = new Array<number>(starts.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // Returns -1/0/1 (small integers): a difference of ns timestamps would be a boxed double.
  return order.sort((a, b) => (starts[a] < starts[b] ? -1 : starts[a] > starts[b] ? 1 : ends[a] > ends[b] ? -1 : ends[a] < ends[b] ? 1 : a - b));
}

/** Rows by containment for spans in start order; rows[k] is the row of the k-th span in that order. */
function stackRows(order: readonly number[], starts: Float64Array, ends: Float64Array): { rows: Int32Array; rowCount: number } {
  const rows = new Int32Array(order.length);
  // End of the last span placed in each row. Spans in a row never overlap, so the only
  // span of a row that can still be open is its last one.
  const rowEnd: number[] = [];
  for (let k = 0; k < order.length; k++) {
    const start = starts[order[k]];
    const end = ends[order[k]];
    // Innermost open span containing this one (sorted by start, so it started at or before).
    let minRow = 0;
    for (let r = rowEnd.length - 1; r >= 0; r--) {
      if (rowEnd[r] > start && rowEnd[r] >= end) {
        minRow = r + 1;
        break;
      }
    }
    let row = minRow;
    while (row < rowEnd.length && rowEnd[row] > start) row++;
    rowEnd[row] = end;
    rows[k] = row;
  }
  return { rows, rowCount: rowEnd.length };
}

function times(spans: readonly Span[]): { starts: Float64Array; ends: Float64Array } {
  const starts = new Float64Array(spans.length);
  const ends = new Float64Array(spans.length);
  for (let i = 0; i < spans.length; i++) {
    starts[i] = spans[i].start;
    ends[i] = spans[i].end;
  }
  return { starts, ends };
}

export function assignRows(laneSpans: readonly Span[]): RowLayout {
  const { starts, ends } = times(laneSpans);
  const order = startOrder(starts, ends);
  const { rows, rowCount } = stackRows(order, starts, ends);
  return { spans: order.map((i) => laneSpans[i]), rows: Array.from(rows), rowCount };
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

/** Index of each phase, and of "no phase" (the last slot), for per-phase totals. */
const PHASE_SLOT = new Map<Phase | undefined, number>([...PHASES.map((p, i) => [p, i] as const), [undefined, PHASES.length]]);

/** A block being built: totals kept as spans join, so no span list is held. */
interface OpenBlock {
  start: number;
  end: number;
  first: Span;
  count: number;
  totalNs: number;
  /** Built when a second span joins. */
  byName?: Map<string, NameTotal>;
  /** Time per phase slot; -1 where no span of that phase joined. */
  phaseNs?: number[];
}

function addName(byName: Map<string, NameTotal>, name: string, d: number): void {
  const entry = byName.get(name);
  if (entry) {
    entry.count++;
    entry.totalNs += d;
  } else byName.set(name, { name, count: 1, totalNs: d });
}

function addPhase(phaseNs: number[], phase: Phase | undefined, d: number): void {
  const slot = PHASE_SLOT.get(phase) ?? PHASES.length;
  phaseNs[slot] = Math.max(0, phaseNs[slot]) + d;
}

function join(block: OpenBlock, s: Span, start: number, end: number): void {
  if (!block.byName) {
    block.byName = new Map();
    block.phaseNs = new Array<number>(PHASES.length + 1).fill(-1);
    addName(block.byName, block.first.name, block.totalNs);
    addPhase(block.phaseNs, block.first.phase, block.totalNs);
  }
  const d = end - start;
  addName(block.byName, s.name, d);
  addPhase(block.phaseNs!, s.phase, d);
  block.count++;
  block.totalNs += d;
  if (end > block.end) block.end = end;
}

function closeBlock(block: OpenBlock, row: number): LaneItem {
  if (block.count === 1 || !block.byName || !block.phaseNs) return { kind: 'span', row, span: block.first };
  // Dominant phase by time; ties go to the earlier phase, then to "no phase".
  let phase: Phase | undefined;
  let best = -1;
  block.phaseNs.forEach((t, slot) => {
    if (t > best) {
      best = t;
      phase = slot < PHASES.length ? PHASES[slot] : undefined;
    }
  });
  const names = [...block.byName.values()].sort((a, b) => b.totalNs - a.totalNs || b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    kind: 'block',
    row,
    start: block.start,
    end: block.end,
    count: block.count,
    totalNs: block.totalNs,
    phase,
    topNames: names.slice(0, TOP_NAMES),
    distinctNames: names.length,
  };
}

/**
 * Coalesces one row, fed its spans in start order (they never overlap): consecutive
 * spans narrower than `nsPerPx` whose gap to the previous one is under a pixel become one
 * block. A lone narrow span stays a span (the renderer draws it one pixel wide). Spans
 * `keep` accepts (highlighted ones) are never merged.
 */
class RowCoalescer {
  readonly items: LaneItem[] = [];
  private open: OpenBlock | undefined;
  constructor(
    private readonly row: number,
    private readonly nsPerPx: number,
    private readonly keep?: (span: Span) => boolean,
  ) {}

  add(s: Span, start: number, end: number): void {
    const narrow = end - start < this.nsPerPx && !(this.keep && this.keep(s));
    if (narrow && this.open && start - this.open.end < this.nsPerPx) return join(this.open, s, start, end);
    if (this.open) this.items.push(closeBlock(this.open, this.row));
    this.open = narrow ? { start, end, first: s, count: 1, totalNs: end - start } : undefined;
    if (!narrow) this.items.push({ kind: 'span', row: this.row, span: s });
  }

  finish(): LaneItem[] {
    if (this.open) this.items.push(closeBlock(this.open, this.row));
    this.open = undefined;
    return this.items;
  }
}

/** Coalesces one row (spans sorted by start, not overlapping); see RowCoalescer. */
export function coalesceRow(rowSpans: readonly Span[], row: number, nsPerPx: number, keep?: (span: Span) => boolean): LaneItem[] {
  const c = new RowCoalescer(row, nsPerPx, keep);
  for (const s of rowSpans) c.add(s, s.start, s.end);
  return c.finish();
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
  const { starts, ends } = times(laneSpans);
  const order = startOrder(starts, ends);
  const { rows, rowCount } = stackRows(order, starts, ends);
  // One pass in start order feeds each row's coalescer its spans in order.
  const rowsOut = Array.from({ length: rowCount }, (_, r) => new RowCoalescer(r, nsPerPx, keep));
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    rowsOut[rows[k]].add(laneSpans[i], starts[i], ends[i]);
  }
  const items: LaneItem[] = [];
  for (const c of rowsOut) for (const item of c.finish()) items.push(item);
  return { rowCount, items, spanCount: laneSpans.length };
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
