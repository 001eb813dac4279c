// Who contains whom among a trace's spans, from what the trace holds:
// - nesting: on one lane (a thread's call stack), a span lies inside another;
// - process spans (a process's exec → exit, `args.pid` on a process lane) contain the
//   calls of that pid's lanes (its threads) that no other span of the lane contains;
// - a process span's parent is the process span of its parent pid (`args.ppid`) that
//   was running when it started (exec replaces a pid's image: the newest one).
// The `phases` lane is not part of it. Used by the critical path (who waited on whom) and
// by diff (a span's self time = its time not covered by its children).
import { PHASE_LANE_ID, type Lane, type Span, type Trace } from '../model/trace.js';

export interface SpanNode {
  span: Span;
  /** Process id the span ran in, when its lane (or, for a process span, its args) says. */
  pid?: number;
  /** A process's exec → exit (or its fork → exit when it never exec'd). */
  isProcess: boolean;
  parent?: SpanNode;
  /** Sorted by start. */
  children: SpanNode[];
}

export interface SpanTree {
  nodes: SpanNode[];
  /** Nodes without a parent, sorted by start. */
  roots: SpanNode[];
}

const numberArg = (span: Span, key: string): number | undefined => {
  const v = span.args?.[key];
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
};

function isProcessSpan(span: Span, lane: Lane | undefined): boolean {
  const pid = numberArg(span, 'pid');
  return lane?.kind === 'process' && pid !== undefined && (lane.pid === undefined || lane.pid === pid);
}

/** Innermost earlier span of the same lane that contains each span (stack over spans sorted by start, longest first). */
function nestOnLane(nodes: SpanNode[]): void {
  const sorted = [...nodes].sort((a, b) => a.span.start - b.span.start || b.span.end - a.span.end);
  const stack: SpanNode[] = [];
  for (const node of sorted) {
    while (stack.length > 0 && stack[stack.length - 1].span.end < node.span.end) stack.pop();
    if (stack.length > 0) node.parent = stack[stack.length - 1];
    stack.push(node);
  }
}

/** The process span of `pid` running at `at` (the newest exec at or before it), if any. */
function processAt(byPid: Map<number, SpanNode[]>, pid: number | undefined, at: number): SpanNode | undefined {
  if (pid === undefined) return undefined;
  let found: SpanNode | undefined;
  for (const p of byPid.get(pid) ?? []) if (p.span.start <= at && (!found || p.span.start >= found.span.start)) found = p;
  return found;
}

/** The shortest of `candidates` that covers `node`'s span whole (not `node` itself). */
function innermostCovering(candidates: SpanNode[], node: SpanNode): SpanNode | undefined {
  let best: SpanNode | undefined;
  for (const c of candidates) {
    if (c === node || c.span.start > node.span.start || c.span.end < node.span.end) continue;
    if (!best || c.span.end - c.span.start < best.span.end - best.span.start) best = c;
  }
  return best;
}

export function buildSpanTree(trace: Trace): SpanTree {
  const lanes = new Map(trace.lanes.map((l) => [l.id, l]));
  const nodes: SpanNode[] = [];
  const byLane = new Map<string, SpanNode[]>();
  const processesByPid = new Map<number, SpanNode[]>();
  for (const span of trace.spans) {
    const lane = lanes.get(span.lane);
    if (span.lane === PHASE_LANE_ID || lane?.kind === 'phases') continue;
    const isProcess = isProcessSpan(span, lane);
    const pid = lane?.pid ?? numberArg(span, 'pid');
    const node: SpanNode = { span, pid, isProcess, children: [] };
    nodes.push(node);
    if (!byLane.has(span.lane)) byLane.set(span.lane, []);
    byLane.get(span.lane)!.push(node);
    if (isProcess && pid !== undefined) {
      if (!processesByPid.has(pid)) processesByPid.set(pid, []);
      processesByPid.get(pid)!.push(node);
    }
  }
  for (const laneNodes of byLane.values()) nestOnLane(laneNodes);
  const byPid = new Map<number, SpanNode[]>();
  for (const node of nodes) {
    if (node.pid === undefined) continue;
    if (!byPid.has(node.pid)) byPid.set(node.pid, []);
    byPid.get(node.pid)!.push(node);
  }
  for (const node of nodes) {
    if (node.isProcess) {
      // Under the innermost span of its parent process that covers its whole life (the call
      // that could have waited for it), else under the parent process running when it started
      // (it outlived its parent, e.g. a daemon). On one lane (a lab's hotplug lane) nesting agrees.
      const ppid = numberArg(node.span, 'ppid');
      const parent = innermostCovering(byPid.get(ppid ?? -1) ?? [], node) ?? processAt(processesByPid, ppid, node.span.start);
      if (parent) node.parent = parent;
    } else if (node.parent === undefined || node.parent.pid !== node.pid) {
      // A thread's outermost call belongs to its process.
      const owner = processAt(processesByPid, node.pid, node.span.start);
      if (owner && owner !== node) node.parent = owner;
    }
  }
  // A cycle is impossible for well-formed traces; guard against a malformed one (ppid loops).
  for (const node of nodes) {
    const seen = new Set<SpanNode>([node]);
    for (let p = node.parent; p; p = p.parent) {
      if (seen.has(p)) {
        node.parent = undefined;
        break;
      }
      seen.add(p);
    }
  }
  const roots: SpanNode[] = [];
  for (const node of nodes) (node.parent ? node.parent.children : roots).push(node);
  const byStart = (a: SpanNode, b: SpanNode) => a.span.start - b.span.start || b.span.end - a.span.end;
  for (const node of nodes) node.children.sort(byStart);
  roots.sort(byStart);
  return { nodes, roots };
}

export type Interval = [number, number];

/** The parts of [start, end] that none of `covered` covers (covered: any order, may overlap or stick out). */
export function uncovered(start: number, end: number, covered: readonly Interval[]): Interval[] {
  const parts: Interval[] = [];
  let cursor = start;
  for (const [s, e] of [...covered].sort((x, y) => x[0] - y[0])) {
    if (e <= cursor) continue;
    if (s >= end) break;
    if (s > cursor) parts.push([cursor, s]);
    cursor = Math.max(cursor, e);
    if (cursor >= end) break;
  }
  if (cursor < end) parts.push([cursor, end]);
  return parts;
}

/** A node's self time as intervals: its span minus what its children cover. */
export function selfIntervals(node: SpanNode): Interval[] {
  return uncovered(
    node.span.start,
    node.span.end,
    node.children.map((c) => [c.span.start, c.span.end]),
  );
}

/** Length of [start, end] ∩ each interval, summed. */
export function overlap(intervals: readonly Interval[], start: number, end: number): number {
  let total = 0;
  for (const [s, e] of intervals) total += Math.max(0, Math.min(e, end) - Math.max(s, start));
  return total;
}
