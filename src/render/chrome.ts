// Chrome Trace Event Format export (opens in ui.perfetto.dev and chrome://tracing), with
// the processes and threads that really ran:
// - a lane with a pid is exported under that pid: a process lane on its main thread
//   (tid = pid), a thread lane on its own tid; each process is named by its lane and
//   labelled with the run (process_labels), so Perfetto groups by process;
// - lanes without a pid (the phases strip, a serial console, a VM run state) go to one
//   process per run, named by the run's label;
// - a pid already used by an earlier run is given a fresh id (and its real pid in the
//   name), so two runs never merge into one process;
// - flow events join a parent process to each child it started (process-tree.ts), and a
//   request to its reply: spans that carry the same value in a link arg (FLOW_LINKS,
//   e.g. a QMP command id) are chained in time order.
// Viewers need the complete events of one thread to nest; spans of a thread that
// overlap without nesting go to extra threads "name (2)", "name (3)", ...
import { laneTree } from '../analysis/process-tree.js';
import type { Args, Lane, Run, Span, Trace } from '../model/trace.js';

/**
 * ns → µs, the Trace Event unit; fractions keep ns precision. Perfetto reads
 * a fractional ts back as llround(ts * 1000), the exact ns we started from, so
 * the nesting computed here in ns holds in the viewer too.
 */
const toUs = (ns: number) => ns / 1000;

/** Ids above Linux's largest pid_max (2^22): never a real pid or tid. */
export const SYNTHETIC_ID_BASE = 4_194_305;

/**
 * Span args that link a request to its reply: spans of a run with the same value are
 * joined by flow events in time order. Sources name their args after this table.
 */
export const FLOW_LINKS: readonly { arg: string; category: string; name: string }[] = [
  { arg: 'qmpId', category: 'qmp', name: 'QMP request → reply' },
];

/**
 * Splits spans into tracks whose spans nest properly (each pair either
 * disjoint or one inside the other). Greedy, first track that fits, spans
 * taken by start, longer first, then input order, so the result is
 * deterministic. Each track comes back in that order (parents before children).
 */
export function nestedTracks(spans: readonly Span[]): Span[][] {
  const order = spans
    .map((span, index) => ({ span, index }))
    .sort((a, b) => a.span.start - b.span.start || b.span.end - a.span.end || a.index - b.index)
    .map((x) => x.span);
  const tracks: { spans: Span[]; open: Span[] }[] = [];
  for (const span of order) {
    let placed = false;
    for (const track of tracks) {
      // Close what ended before this span starts; the innermost still open must contain it.
      while (track.open.length > 0 && track.open[track.open.length - 1].end <= span.start) track.open.pop();
      const top = track.open[track.open.length - 1];
      if (top === undefined || top.end >= span.end) {
        track.spans.push(span);
        track.open.push(span);
        placed = true;
        break;
      }
    }
    if (!placed) tracks.push({ spans: [span], open: [span] });
  }
  return tracks.map((t) => t.spans);
}

/** Spans grouped by lane id, each group in the trace's order (one pass, for traces with many lanes). */
export function spansByLane(spans: readonly Span[]): Map<string, Span[]> {
  const byLane = new Map<string, Span[]>();
  for (const s of spans) {
    const list = byLane.get(s.lane);
    if (list) list.push(s);
    else byLane.set(s.lane, [s]);
  }
  return byLane;
}

/** Display name of a lane's n-th track (0-based). */
export function trackName(lane: Lane, index: number): string {
  return index === 0 ? lane.name : `${lane.name} (${index + 1})`;
}

export interface ChromeEvent {
  name: string;
  ph: 'X' | 'i' | 'C' | 'M' | 's' | 't' | 'f';
  pid: number;
  tid: number;
  ts?: number;
  cat?: string;
  dur?: number;
  s?: 'g' | 'p' | 't';
  /** Flow events: the flow's id, and for the last step, binding to the enclosing slice. */
  id?: number;
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, string>;
}

function withPhase(args: Args | undefined, phase: string | undefined): Record<string, unknown> {
  return { ...(args ?? {}), ...(phase !== undefined ? { phase } : {}) };
}

/** A thread as exported: its lanes (spans merged), name, kind. */
interface Thread {
  pid: number;
  tid: number;
  name: string;
  kind: Lane['kind'];
  /** True when a thread lane named it (beats a process lane's name for the same tid). */
  namedByThread: boolean;
  spans: Span[];
}

/** Where each lane of a run goes: its (pid, tid), and the processes' names. */
interface RunPlacement {
  threadOfLane: Map<string, Thread>;
  threads: Thread[];
  processNames: Map<number, string>;
  /** The first thread of each process lane (where its flows bind). */
  mainThread: Map<string, Thread>;
}

/** Export-wide id allocation: real pids once, then fresh ids above pid_max. */
class Ids {
  private next = SYNTHETIC_ID_BASE;
  private readonly used = new Set<number>();
  fresh(): number {
    return this.next++;
  }
  /** The exported pid for a real pid in this run (fresh when an earlier run used it). */
  claim(realPid: number, mine: Map<number, number>): number {
    let pid = mine.get(realPid);
    if (pid === undefined) {
      pid = this.used.has(realPid) ? this.fresh() : realPid;
      this.used.add(realPid);
      mine.set(realPid, pid);
    }
    return pid;
  }
}

function placeLanes(run: Run, ids: Ids): RunPlacement {
  const { trace, label } = run;
  const laneSpans = spansByLane(trace.spans);
  const pids = new Map<number, number>();
  const threads = new Map<string, Thread>();
  const processNames = new Map<number, string>();
  const placement: RunPlacement = { threadOfLane: new Map(), threads: [], processNames, mainThread: new Map() };
  let runPid: number | undefined;
  const thread = (pid: number, tid: number, lane: Lane): Thread => {
    const key = `${pid}/${tid}`;
    let t = threads.get(key);
    if (!t) {
      t = { pid, tid, name: lane.name, kind: lane.kind, namedByThread: lane.kind === 'thread', spans: [] };
      threads.set(key, t);
      placement.threads.push(t);
    } else if (lane.kind === 'thread' && !t.namedByThread) {
      t.name = lane.name;
      t.kind = lane.kind;
      t.namedByThread = true;
    }
    return t;
  };
  for (const lane of trace.lanes) {
    let t: Thread;
    if (lane.kind !== 'phases' && lane.pid !== undefined) {
      const pid = ids.claim(lane.pid, pids);
      if (lane.kind === 'process' && !processNames.has(pid)) processNames.set(pid, pid === lane.pid ? lane.name : `${lane.name} (pid ${lane.pid})`);
      const tid = lane.tid ?? (lane.kind === 'process' ? lane.pid : ids.fresh());
      t = thread(pid, tid, lane);
      if (lane.kind === 'process') placement.mainThread.set(lane.id, t);
    } else {
      if (runPid === undefined) {
        runPid = ids.fresh();
        processNames.set(runPid, label);
      }
      t = thread(runPid, ids.fresh(), lane);
    }
    placement.threadOfLane.set(lane.id, t);
    for (const s of laneSpans.get(lane.id) ?? []) t.spans.push(s);
  }
  for (const t of placement.threads) if (!processNames.has(t.pid)) processNames.set(t.pid, `pid ${t.pid}`);
  return placement;
}

/** Flow events (s, t…, f) through the given points; the last binds to its enclosing slice. */
function flow(id: number, cat: string, name: string, points: { pid: number; tid: number; ts: number }[]): ChromeEvent[] {
  return points.map((p, i) => ({
    name,
    cat,
    ph: i === 0 ? 's' : i === points.length - 1 ? 'f' : 't',
    id,
    pid: p.pid,
    tid: p.tid,
    ts: toUs(p.ts),
    ...(i === points.length - 1 ? { bp: 'e' as const } : {}),
  }));
}

/** Where each exported span sits (its track's tid). */
type TidOfSpan = Map<Span, number>;

/** The span a flow to time t leaves from: the innermost one open at t, else the last to end before t. */
function flowSource(spans: readonly Span[], t: number): Span | undefined {
  let open: Span | undefined;
  let before: Span | undefined;
  for (const s of spans) {
    if (s.start > t) continue;
    if (s.end >= t) {
      if (!open || s.start > open.start || (s.start === open.start && s.end < open.end)) open = s;
    } else if (!before || s.end > before.end) before = s;
  }
  return open ?? before;
}

/** Parent → child process flows, and request → reply flows of linked spans. */
function flows(trace: Trace, placement: RunPlacement, tidOf: TidOfSpan, nextId: () => number): ChromeEvent[] {
  const out: ChromeEvent[] = [];
  const tree = laneTree(trace);
  const at = (t: Thread, s: Span, ts: number) => ({ pid: t.pid, tid: tidOf.get(s)!, ts });
  for (const lane of trace.lanes) {
    if (lane.kind !== 'process') continue;
    const parentId = tree.nodes.get(lane.id)?.parent;
    const parent = parentId === undefined ? undefined : placement.mainThread.get(parentId);
    const child = placement.mainThread.get(lane.id);
    if (!parent || !child || parent === child || child.spans.length === 0) continue;
    const first = child.spans.reduce((a, b) => (b.start < a.start ? b : a));
    const from = flowSource(parent.spans, first.start);
    if (!from) continue;
    out.push(...flow(nextId(), 'process', 'fork/exec', [at(parent, from, Math.min(first.start, from.end)), at(child, first, first.start)]));
  }
  for (const link of FLOW_LINKS) {
    const chains = new Map<string, Span[]>();
    for (const s of trace.spans) {
      const v = s.args?.[link.arg];
      if (v === undefined || v === null || v === '' || !tidOf.has(s)) continue;
      const key = String(v);
      const list = chains.get(key);
      if (list) list.push(s);
      else chains.set(key, [s]);
    }
    for (const spans of chains.values()) {
      if (spans.length < 2) continue;
      spans.sort((a, b) => a.start - b.start || a.end - b.end);
      out.push(...flow(nextId(), link.category, link.name, spans.map((s) => at(placement.threadOfLane.get(s.lane)!, s, s.start))));
    }
  }
  return out;
}

/**
 * Trace Event JSON for runs. Event order is deterministic: per run, metadata (by
 * process, then thread), the complete events of each thread track (by start, parents
 * first), then instants, counters and flows by time. Span `cat` is its phase (or the
 * lane kind) and `args.phase` repeats the phase, which `importChrome` reads back; the
 * thread of the phases lane carries `hvscope_lane_kind: "phases"`.
 */
export function exportChrome(runs: Run[]): ChromeTrace {
  const events: ChromeEvent[] = [];
  const otherData: Record<string, string> = { generator: 'hvscope' };
  const ids = new Ids();
  let flowId = 0;
  let sortIndex = 0;
  runs.forEach(({ label, trace }, runIndex) => {
    const described = [trace.meta.source, trace.meta.hypervisor].filter((x) => x !== undefined).join(', ');
    otherData[`run ${runIndex + 1}`] = described ? `${label} (${described})` : label;
    const placement = placeLanes({ label, trace }, ids);
    const meta: ChromeEvent[] = [];
    const timed: ChromeEvent[] = [];
    // Metadata events carry ts 0: the format does not need it, but some readers sort every event by ts.
    for (const [pid, name] of placement.processNames) {
      meta.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name } });
      meta.push({ name: 'process_labels', ph: 'M', ts: 0, pid, tid: 0, args: { labels: label } });
      meta.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid, tid: 0, args: { sort_index: sortIndex++ } });
    }
    let threadIndex = 0;
    const tidOf: TidOfSpan = new Map();
    for (const t of placement.threads) {
      const tracks = nestedTracks(t.spans);
      if (tracks.length === 0) tracks.push([]);
      tracks.forEach((spans, trackIndex) => {
        const tid = trackIndex === 0 ? t.tid : ids.fresh();
        const name = trackIndex === 0 ? t.name : `${t.name} (${trackIndex + 1})`;
        meta.push({ name: 'thread_name', ph: 'M', ts: 0, pid: t.pid, tid, args: { name, hvscope_lane_kind: t.kind } });
        meta.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid: t.pid, tid, args: { sort_index: threadIndex++ } });
        for (const s of spans) tidOf.set(s, tid);
        for (const s of spans)
          timed.push({ name: s.name, cat: s.phase ?? t.kind, ph: 'X', ts: toUs(s.start), dur: toUs(s.end - s.start), pid: t.pid, tid, args: withPhase(s.args, s.phase) });
      });
    }
    const points = [...instantsAndCounters(trace, placement), ...flows(trace, placement, tidOf, () => ++flowId)];
    // Stable sort by time keeps the model's order among equal timestamps.
    points.sort((a, b) => a.ts! - b.ts!);
    // Loops, not push(...): spreading 10^5+ events as arguments overflows the stack.
    for (const list of [meta, timed, points]) for (const e of list) events.push(e);
  });
  return { traceEvents: events, displayTimeUnit: 'ms', otherData };
}

function instantsAndCounters(trace: Trace, placement: RunPlacement): ChromeEvent[] {
  const out: ChromeEvent[] = [];
  for (const i of trace.instants) {
    const t = placement.threadOfLane.get(i.lane);
    out.push({ name: i.name, cat: i.phase ?? 'instant', ph: 'i', s: 't', ts: toUs(i.at), pid: t?.pid ?? 0, tid: t?.tid ?? 0, args: withPhase(i.args, i.phase) });
  }
  // Counters belong to a process in the format: keep names apart when two lanes of one process share one.
  const lanesOfCounter = new Map<string, Set<string>>();
  for (const c of trace.counters) {
    const key = `${placement.threadOfLane.get(c.lane)?.pid}/${c.name}`;
    if (!lanesOfCounter.has(key)) lanesOfCounter.set(key, new Set());
    lanesOfCounter.get(key)!.add(c.lane);
  }
  const laneName = new Map(trace.lanes.map((l) => [l.id, l.name]));
  for (const c of trace.counters) {
    const t = placement.threadOfLane.get(c.lane);
    const shared = (lanesOfCounter.get(`${t?.pid}/${c.name}`)?.size ?? 0) > 1;
    out.push({ name: shared ? `${laneName.get(c.lane) ?? c.lane}/${c.name}` : c.name, ph: 'C', ts: toUs(c.at), pid: t?.pid ?? 0, tid: t?.tid ?? 0, args: { value: c.value } });
  }
  return out;
}
