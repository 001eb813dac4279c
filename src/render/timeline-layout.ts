// What the timeline shows, before any markup: lanes in process-tree order (a child
// under its parent, the phases strip first), each lane's spans stacked by containment
// and coalesced per pixel (coalesce.ts), its instants, the busy time of its descendants
// (what a collapsed parent shows), and which spans carry a highlight. Both outputs (the
// static drawing and the interactive data block) are written from this one layout.
import { laneTree } from '../analysis/process-tree.js';
import type { Instant, Lane, Phase, Run, Span } from '../model/trace.js';
import { traceEnd } from '../model/trace.js';
import { layoutLane, type LaneItem } from './coalesce.js';

/** A set of spans to mark in the timeline (a critical path, the spans a diff names), with a legend entry. */
export interface SpanHighlight {
  /** Short id, [a-z][a-z0-9-]*: marked spans get the CSS class `hl-ID`. */
  id: string;
  /** Legend text, e.g. "critical path". */
  label: string;
  /** The spans to mark, as Span objects of the runs being rendered (a Set<Span> will do). */
  spans: { has(span: Span): boolean };
  /** Outline colour, #RRGGBB (default black); the fill stays the phase colour. */
  colour?: string;
}

export interface TimelineLane {
  run: number;
  lane: Lane;
  depth: number;
  /** Index of the parent lane in TimelineLayout.lanes, or -1. */
  parent: number;
  hasChildren: boolean;
  rowCount: number;
  /** By row, then by start (coalesce.ts). */
  items: LaneItem[];
  /** In time order. */
  instants: Instant[];
  /** Union of the descendants' spans, merged where gaps are under a pixel; [] without children. */
  busy: [number, number][];
  /** Total time covered by `busy`, ns. */
  busyNs: number;
  spanCount: number;
}

export interface TimelineRun {
  label: string;
  /** Indices into TimelineLayout.lanes, in drawing order. */
  lanes: number[];
}

export interface TimelineLayout {
  runs: TimelineRun[];
  lanes: TimelineLane[];
  /** Right end of the full view, ns (at least 1 µs). */
  endNs: number;
  totalSpans: number;
  phasesSeen: Set<Phase | undefined>;
  anyBlock: boolean;
  /** Highlight ids with at least one marked span drawn. */
  highlightsSeen: Set<string>;
  highlights: SpanHighlight[];
}

const HIGHLIGHT_ID = /^[a-z][a-z0-9-]*$/;
const COLOUR = /^#[0-9A-Fa-f]{6}$/;

function checkHighlights(highlights: readonly SpanHighlight[]): void {
  const ids = new Set<string>();
  for (const h of highlights) {
    if (!HIGHLIGHT_ID.test(h.id)) throw new Error(`highlight id "${h.id}": expected [a-z][a-z0-9-]*`);
    if (ids.has(h.id)) throw new Error(`highlight id "${h.id}" given twice`);
    if (h.colour !== undefined && !COLOUR.test(h.colour)) throw new Error(`highlight "${h.id}" colour "${h.colour}": expected #RRGGBB`);
    ids.add(h.id);
  }
}

/** The highlight ids marking a span ([] for most). */
export function highlightsOf(span: Span, highlights: readonly SpanHighlight[]): string[] {
  const out: string[] = [];
  for (const h of highlights) if (h.spans.has(span)) out.push(h.id);
  return out;
}

/** Sorted intervals merged where the gap is under `tolerance`. */
export function mergeIntervals(intervals: [number, number][], tolerance: number): [number, number][] {
  intervals.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of intervals) {
    const last = out[out.length - 1];
    if (last && s - last[1] < tolerance) {
      if (e > last[1]) last[1] = e;
    } else out.push([s, e]);
  }
  return out;
}

export interface LaneData {
  spans: Span[];
  instants: Instant[];
}

function groupByLane(run: Run): Map<string, LaneData> {
  const byLane = new Map<string, LaneData>();
  const get = (id: string) => {
    let d = byLane.get(id);
    if (!d) byLane.set(id, (d = { spans: [], instants: [] }));
    return d;
  };
  // Sources write a lane's events in runs: look the lane up only when it changes.
  let lastId: string | undefined;
  let last: LaneData | undefined;
  for (const s of run.trace.spans) {
    if (s.lane !== lastId) last = get((lastId = s.lane));
    last!.spans.push(s);
  }
  for (const i of run.trace.instants) get(i.lane).instants.push(i);
  return byLane;
}

/** Lanes of one run in drawing order: phases strips first, then the process tree depth first, children by first activity. */
function orderedLanes(run: Run, byLane: Map<string, LaneData>): PlannedLane[] {
  const trace = run.trace;
  // Spans or instants on an undeclared lane still get drawn, as a process lane named by its id.
  const declared = new Set(trace.lanes.map((l) => l.id));
  const lanes: Lane[] = [...trace.lanes];
  for (const id of byLane.keys()) if (!declared.has(id)) lanes.push({ id, kind: 'process', name: id });
  const tree = laneTree({ ...trace, lanes });
  const firstActivity = (id: string) => {
    const d = byLane.get(id);
    let t = Infinity;
    if (d) {
      for (const s of d.spans) if (s.start < t) t = s.start;
      for (const i of d.instants) if (i.at < t) t = i.at;
    }
    return t;
  };
  const laneIndex = new Map(lanes.map((l, i) => [l.id, i]));
  const byActivity = (ids: string[]) => {
    const first = new Map(ids.map((id) => [id, firstActivity(id)]));
    return [...ids].sort((a, b) => first.get(a)! - first.get(b)! || laneIndex.get(a)! - laneIndex.get(b)!);
  };
  const out: PlannedLane[] = [];
  const visit = (id: string) => {
    const node = tree.nodes.get(id)!;
    out.push({ lane: node.lane, parent: node.parent, depth: node.depth, hasChildren: node.children.length > 0 });
    for (const c of byActivity(node.children)) visit(c);
  };
  // Roots keep the trace's order (the phases strip first): sources list the main process first.
  const roots = [...tree.roots.filter((id) => tree.nodes.get(id)!.lane.kind === 'phases'), ...tree.roots.filter((id) => tree.nodes.get(id)!.lane.kind !== 'phases')];
  for (const r of roots) visit(r);
  return out;
}

/** Lanes of each run in drawing order with their spans and instants: what the layout needs before the scale is known. */
export interface TimelinePlan {
  runs: { label: string; lanes: PlannedLane[]; byLane: Map<string, LaneData> }[];
  endNs: number;
}

export interface PlannedLane {
  lane: Lane;
  parent?: string;
  depth: number;
  hasChildren: boolean;
}

export function planTimeline(runs: readonly Run[]): TimelinePlan {
  return {
    runs: runs.map((run) => {
      const byLane = groupByLane(run);
      return { label: run.label, lanes: orderedLanes(run, byLane), byLane };
    }),
    endNs: Math.max(1000, ...runs.map((r) => traceEnd(r.trace))),
  };
}

/** Lays out planned runs for drawing at `nsPerPixel` (spans narrower than that are merged). */
export function layoutTimeline(plan: TimelinePlan, nsPerPixel: number, highlights: readonly SpanHighlight[] = []): TimelineLayout {
  checkHighlights(highlights);
  const keep = highlights.length > 0 ? (s: Span) => highlights.some((h) => h.spans.has(s)) : undefined;
  const layout: TimelineLayout = {
    runs: [],
    lanes: [],
    endNs: plan.endNs,
    totalSpans: 0,
    phasesSeen: new Set(),
    anyBlock: false,
    highlightsSeen: new Set(),
    highlights: [...highlights],
  };
  plan.runs.forEach((run, runIndex) => {
    const byLane = run.byLane;
    const indexOf = new Map<string, number>();
    const timelineRun: TimelineRun = { label: run.label, lanes: [] };
    for (const o of run.lanes) {
      const data = byLane.get(o.lane.id) ?? { spans: [], instants: [] };
      const laid = layoutLane(data.spans, nsPerPixel, keep);
      const index = layout.lanes.length;
      indexOf.set(o.lane.id, index);
      timelineRun.lanes.push(index);
      layout.totalSpans += laid.spanCount;
      for (const item of laid.items) {
        if (item.kind === 'block') {
          layout.anyBlock = true;
          layout.phasesSeen.add(item.phase);
        } else {
          layout.phasesSeen.add(item.span.phase);
          if (keep) for (const id of highlightsOf(item.span, highlights)) layout.highlightsSeen.add(id);
        }
      }
      layout.lanes.push({
        run: runIndex,
        lane: o.lane,
        depth: o.depth,
        parent: o.parent === undefined ? -1 : (indexOf.get(o.parent) ?? -1),
        hasChildren: o.hasChildren,
        rowCount: laid.rowCount,
        items: laid.items,
        instants: [...data.instants].sort((a, b) => a.at - b.at),
        busy: [],
        busyNs: 0,
        spanCount: laid.spanCount,
      });
    }
    fillBusy(layout.lanes, timelineRun.lanes, byLane, nsPerPixel);
    layout.runs.push(timelineRun);
  });
  return layout;
}

/** Busy intervals of each parent: its descendants' spans, bottom up (children come after their parent). */
function fillBusy(lanes: TimelineLane[], order: number[], byLane: Map<string, LaneData>, nsPerPixel: number): void {
  const subtree = new Map<number, [number, number][]>();
  for (let k = order.length - 1; k >= 0; k--) {
    const i = order[k];
    const lane = lanes[i];
    const below = lane.hasChildren ? mergeIntervals(subtree.get(i) ?? [], 0) : [];
    if (lane.hasChildren) {
      // The total from the exact union; the drawn intervals close gaps under a pixel.
      lane.busyNs = below.reduce((t, [s, e]) => t + e - s, 0);
      lane.busy = mergeIntervals(below.map((x) => [x[0], x[1]]), nsPerPixel);
    }
    if (lane.parent >= 0) {
      const own: [number, number][] = (byLane.get(lane.lane.id)?.spans ?? []).map((s) => [s.start, s.end]);
      const mine = mergeIntervals([...own, ...below], 0);
      const acc = subtree.get(lane.parent);
      if (acc) for (const x of mine) acc.push(x);
      else subtree.set(lane.parent, mine);
    }
  }
}

/** A phase span whose boundary had no evidence: drawn as unresolved, never as a 0 ms phase. */
export function isUnresolved(span: Span): boolean {
  const u = span.args?.unresolved;
  return u !== undefined && u !== null && u !== false;
}
