// Chrome Trace Event Format export (opens in ui.perfetto.dev and chrome://tracing).
// One process per run (named by its label), one thread per lane (named by the lane).
// Viewers need the complete events of one thread to nest; spans of a lane that
// overlap without nesting go to extra threads "lane (2)", "lane (3)", ...
import type { Args, Lane, Run, Span } from '../model/trace.js';

/**
 * ns → µs, the Trace Event unit; fractions keep ns precision. Perfetto reads
 * a fractional ts back as llround(ts * 1000), the exact ns we started from, so
 * the nesting computed here in ns holds in the viewer too.
 */
const toUs = (ns: number) => ns / 1000;

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
  ph: 'X' | 'i' | 'C' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  cat?: string;
  dur?: number;
  s?: 'g' | 'p' | 't';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, string>;
}
// Metadata events carry ts 0: the format does not need it, but some readers sort every event by ts.

function withPhase(args: Args | undefined, phase: string | undefined): Record<string, unknown> {
  return { ...(args ?? {}), ...(phase !== undefined ? { phase } : {}) };
}

/**
 * Trace Event JSON for runs. Event order is deterministic: per run, metadata,
 * then per lane track its complete events (by start, parents first), then
 * instants and counters by time. Span `cat` is its phase (or the lane kind) and
 * `args.phase` repeats the phase, which `importChrome` reads back; the thread
 * of the synthetic phases lane carries `hvscope_lane_kind: "phases"`.
 */
export function exportChrome(runs: Run[]): ChromeTrace {
  const events: ChromeEvent[] = [];
  const otherData: Record<string, string> = { generator: 'hvscope' };
  runs.forEach(({ label, trace }, runIndex) => {
    const pid = runIndex + 1;
    const described = [trace.meta.source, trace.meta.hypervisor].filter((x) => x !== undefined).join(', ');
    otherData[`run ${pid}`] = described ? `${label} (${described})` : label;
    events.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: label } });
    events.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid, tid: 0, args: { sort_index: runIndex } });

    const timed: ChromeEvent[] = [];
    const laneTid = new Map<string, number>();
    // Counters are per process in the format: keep names apart when two lanes share one.
    const counterLanes = new Map<string, Set<string>>();
    for (const c of trace.counters) {
      if (!counterLanes.has(c.name)) counterLanes.set(c.name, new Set());
      counterLanes.get(c.name)!.add(c.lane);
    }
    const laneSpans = spansByLane(trace.spans);
    const laneName = new Map(trace.lanes.map((l) => [l.id, l.name]));
    let nextTid = 1;
    for (const lane of trace.lanes) {
      const tracks = nestedTracks(laneSpans.get(lane.id) ?? []);
      if (tracks.length === 0) tracks.push([]);
      tracks.forEach((spans, trackIndex) => {
        const tid = nextTid++;
        if (trackIndex === 0) laneTid.set(lane.id, tid);
        events.push({
          name: 'thread_name',
          ph: 'M',
          ts: 0,
          pid,
          tid,
          args: { name: trackName(lane, trackIndex), hvscope_lane_kind: lane.kind },
        });
        events.push({ name: 'thread_sort_index', ph: 'M', ts: 0, pid, tid, args: { sort_index: tid } });
        for (const s of spans)
          timed.push({
            name: s.name,
            cat: s.phase ?? lane.kind,
            ph: 'X',
            ts: toUs(s.start),
            dur: toUs(s.end - s.start),
            pid,
            tid,
            args: withPhase(s.args, s.phase),
          });
      });
    }
    const points: ChromeEvent[] = [];
    for (const i of trace.instants)
      points.push({
        name: i.name,
        cat: i.phase ?? 'instant',
        ph: 'i',
        s: 't',
        ts: toUs(i.at),
        pid,
        tid: laneTid.get(i.lane) ?? 0,
        args: withPhase(i.args, i.phase),
      });
    for (const c of trace.counters) {
      const shared = (counterLanes.get(c.name)?.size ?? 0) > 1;
      points.push({
        name: shared ? `${laneName.get(c.lane) ?? c.lane}/${c.name}` : c.name,
        ph: 'C',
        ts: toUs(c.at),
        pid,
        tid: laneTid.get(c.lane) ?? 0,
        args: { value: c.value },
      });
    }
    // Stable sort by time keeps the model's order among equal timestamps.
    points.sort((a, b) => a.ts! - b.ts!);
    // A loop, not push(...): spreading 10^5+ events as arguments overflows the stack.
    for (const e of timed) events.push(e);
    for (const e of points) events.push(e);
  });
  return { traceEvents: events, displayTimeUnit: 'ms', otherData };
}
