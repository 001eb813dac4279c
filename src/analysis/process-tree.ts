// The process tree of a run, as a tree of its lanes: a child process under the process
// that started it, a thread under its process. Used by the timeline (nested, collapsible
// lanes), the Chrome export (parent → child flows) and anything that groups by process.
//
// A lane's parent comes from, in order:
// 1. the lane's own `parent` (sources set it for threads and guest lanes);
// 2. for a thread or guest lane with a pid, the process lane of that pid;
// 3. for a process lane, a `ppid` in the args of its spans (the exec probe set records
//    it on every exec/exit span), resolved to the process lane of that pid.
// Edges that would close a cycle (pid reuse in a long trace) are dropped.
import type { Lane, Span, Trace } from '../model/trace.js';

export interface LaneTreeNode {
  lane: Lane;
  /** Parent lane id, or undefined for a root. */
  parent?: string;
  /** Child lane ids, in the trace's lane order. */
  children: string[];
  /** 0 for roots. */
  depth: number;
}

export interface LaneTree {
  nodes: Map<string, LaneTreeNode>;
  /** Root lane ids, in the trace's lane order. */
  roots: string[];
}

/** ppid recorded in a process lane's spans, if any (the first one found). */
function ppidsByLane(spans: readonly Span[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of spans) {
    const ppid = s.args?.ppid;
    if (typeof ppid === 'number' && Number.isInteger(ppid) && !out.has(s.lane)) out.set(s.lane, ppid);
  }
  return out;
}

/** The parent each lane names or implies (before cycle checks). */
function proposedParents(trace: Trace): Map<string, string> {
  const ids = new Set(trace.lanes.map((l) => l.id));
  const processOfPid = new Map<number, string>();
  for (const l of trace.lanes) if (l.kind === 'process' && l.pid !== undefined && !processOfPid.has(l.pid)) processOfPid.set(l.pid, l.id);
  const ppids = ppidsByLane(trace.spans);
  const parents = new Map<string, string>();
  for (const l of trace.lanes) {
    let parent: string | undefined;
    if (l.parent !== undefined && ids.has(l.parent)) parent = l.parent;
    else if (l.kind !== 'process' && l.kind !== 'phases' && l.pid !== undefined) parent = processOfPid.get(l.pid);
    else if (l.kind === 'process') {
      const ppid = ppids.get(l.id);
      if (ppid !== undefined) parent = processOfPid.get(ppid);
    }
    if (parent !== undefined && parent !== l.id) parents.set(l.id, parent);
  }
  return parents;
}

/** Lanes as a forest; every lane of the trace is in it exactly once. */
export function laneTree(trace: Trace): LaneTree {
  const proposed = proposedParents(trace);
  const nodes = new Map<string, LaneTreeNode>();
  for (const lane of trace.lanes) if (!nodes.has(lane.id)) nodes.set(lane.id, { lane, children: [], depth: 0 });
  // Accept edges in lane order, skipping one whose parent chain already leads back to the child.
  for (const lane of trace.lanes) {
    const parent = proposed.get(lane.id);
    if (parent === undefined) continue;
    let up: string | undefined = parent;
    let cycle = false;
    while (up !== undefined) {
      if (up === lane.id) {
        cycle = true;
        break;
      }
      up = nodes.get(up)?.parent;
    }
    if (!cycle) nodes.get(lane.id)!.parent = parent;
  }
  const roots: string[] = [];
  for (const [id, node] of nodes) {
    if (node.parent === undefined) roots.push(id);
    else nodes.get(node.parent)!.children.push(id);
  }
  const setDepth = (id: string, depth: number) => {
    const node = nodes.get(id)!;
    node.depth = depth;
    for (const c of node.children) setDepth(c, depth + 1);
  };
  for (const r of roots) setDepth(r, 0);
  return { nodes, roots };
}

/** Lane ids depth first (a parent, then its subtree), roots in the given order. */
export function treeOrder(tree: LaneTree, roots: readonly string[] = tree.roots): string[] {
  const out: string[] = [];
  const visit = (id: string) => {
    out.push(id);
    for (const c of tree.nodes.get(id)!.children) visit(c);
  };
  for (const r of roots) visit(r);
  return out;
}

/** The lane ids below `id` (children, grandchildren, ...). */
export function descendants(tree: LaneTree, id: string): string[] {
  return treeOrder(tree, tree.nodes.get(id)?.children ?? []);
}
