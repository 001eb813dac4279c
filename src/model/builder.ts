// TraceBuilder: what every importer feeds (the way speedscope's importers feed
// one profile builder). Importers add lanes by key, spans (directly or nested
// with begin/end per lane), instants, counters, and report evidence — named
// events, guest port/MMIO writes, console lines — which the marker vocabulary
// (markers.ts) turns into markers. build() sorts everything, derives the
// phases (derive.ts) and only then gives spans and instants asked to take
// "the phase they fall in" (phase: 'by-time') their phase. Importers never
// decide phases.
//
//   const b = new TraceBuilder({ source: 'serial', clock: 'realtime' });
//   const lane = b.lane('guest-console', { kind: 'guest', name: 'guest console' });
//   b.event('qemu-spawn', 0, { source: 'serial' });
//   b.consoleLine(lane, 'Run /init as init process', 8.6e9, { source: 'serial', timing: 'arrival' });
//   const trace = b.build();
import { cleanConsoleText } from './console-text.js';
import { derivePhases } from './derive.js';
import { DEFAULT_VOCABULARY, RANK, type MarkerEvent, type MarkerRule, type MarkerVocabulary } from './markers.js';
import {
  PHASE_LANE_ID,
  TRACE_FORMAT,
  TRACE_VERSION,
  type Args,
  type Boundary,
  type Counter,
  type Instant,
  type Lane,
  type Marker,
  type Phase,
  type Span,
  type Trace,
  type TraceMeta,
} from './trace.js';

/**
 * What every importer takes: the marker vocabulary to match evidence with
 * (default: DEFAULT_VOCABULARY; a user's ready rule is a row added with
 * DEFAULT_VOCABULARY.with(rule)).
 */
export interface ImportOptions {
  vocabulary?: MarkerVocabulary;
}

/** A fixed phase, or 'by-time': the phase whose window the item starts in, once phases are derived. */
export type PhaseTag = Phase | 'by-time';

export interface ItemOptions {
  phase?: PhaseTag;
  args?: Args;
  /** Keep the phase only when the item starts inside the derived phases (e.g. a hotplug script at teardown is no device set-up). */
  onlyDuringPhases?: boolean;
}

/** Where a piece of evidence was seen. */
export interface EvidenceOptions {
  /** The source, e.g. "bpftrace qemu", "serial". */
  source: string;
  lane?: string;
  /** The concrete evidence (line text, port value, function). */
  detail?: string;
}

/** How a source times console lines: at the hypervisor's write of the first byte, or when the line reached the host. */
export type ConsoleTiming = 'write' | 'arrival';

export interface ConsoleOptions extends EvidenceOptions {
  timing: ConsoleTiming;
  args?: Args;
  /** Longest instant name; the full text goes to args.text. Default 200. */
  maxName?: number;
}

/** The phase a boundary starts (an instant that sets it is tagged with it). */
const PHASE_OF: Partial<Record<Boundary, Phase>> = {
  'orchestrate-start': 'orchestrate',
  'toolstack-start': 'toolstack',
  'devices-start': 'devices',
  'firmware-start': 'firmware',
  'kernel-start': 'kernel',
  'user-start': 'user',
};

interface Pending<T> {
  item: T;
  tag: PhaseTag | undefined;
  onlyDuringPhases: boolean;
}

export class TraceBuilder {
  readonly meta: TraceMeta;
  readonly vocabulary: MarkerVocabulary;
  private readonly lanes = new Map<string, Lane>();
  private readonly spans: Pending<Span>[] = [];
  private readonly instants: Pending<Instant>[] = [];
  private readonly counters: Counter[] = [];
  private readonly markers: Marker[] = [];
  /** rule id + source → index of its marker, for `once` rules. */
  private readonly onceIndex = new Map<string, number>();
  private readonly open = new Map<string, { name: string; at: number; opts: ItemOptions }[]>();

  constructor(meta: TraceMeta, opts: { vocabulary?: MarkerVocabulary } = {}) {
    this.meta = meta;
    this.vocabulary = opts.vocabulary ?? DEFAULT_VOCABULARY;
  }

  /** The lane with this id, added with `init` the first time. */
  lane(id: string, init: Omit<Lane, 'id'>): string {
    if (!this.lanes.has(id)) this.lanes.set(id, { id, ...init });
    return id;
  }

  getLane(id: string): Lane | undefined {
    return this.lanes.get(id);
  }

  allLanes(): Lane[] {
    return [...this.lanes.values()];
  }

  deleteLane(id: string): void {
    this.lanes.delete(id);
  }

  span(lane: string, name: string, start: number, end: number, opts: ItemOptions = {}): Span {
    const span: Span = { lane, name, ...fixedPhase(opts), start, end: Math.max(start, end), ...(opts.args ? { args: opts.args } : {}) };
    this.spans.push({ item: span, tag: opts.phase, onlyDuringPhases: opts.onlyDuringPhases ?? false });
    return span;
  }

  /** Opens a span on a lane; end() closes the innermost open one of that name (spans nest per lane). */
  begin(lane: string, name: string, at: number, opts: ItemOptions = {}): void {
    const stack = this.open.get(lane) ?? [];
    stack.push({ name, at, opts });
    this.open.set(lane, stack);
  }

  /** Closes the innermost open span of that name on the lane; undefined when none is open (entered before tracing began). */
  end(lane: string, name: string, at: number, args?: Args): Span | undefined {
    const stack = this.open.get(lane) ?? [];
    let i = stack.length - 1;
    while (i >= 0 && stack[i].name !== name) i--;
    if (i < 0) return undefined;
    const [o] = stack.splice(i, 1);
    return this.span(lane, name, o.at, at, { ...o.opts, args: { ...o.opts.args, ...args } });
  }

  /** Closes every span still open at `at` (a call entered and never seen to return). */
  endAll(at: number, args?: Args): void {
    for (const [lane, stack] of this.open)
      for (const o of stack) this.span(lane, o.name, o.at, Math.max(at, o.at), { ...o.opts, args: { ...o.opts.args, ...args } });
    this.open.clear();
  }

  instant(lane: string, name: string, at: number, opts: ItemOptions = {}): Instant {
    const instant: Instant = { lane, name, ...fixedPhase(opts), at, ...(opts.args ? { args: opts.args } : {}) };
    this.instants.push({ item: instant, tag: opts.phase, onlyDuringPhases: opts.onlyDuringPhases ?? false });
    return instant;
  }

  counter(lane: string, name: string, at: number, value: number): void {
    this.counters.push({ lane, name, at, value });
  }

  /** A marker as given (merging traces, reading older files); evidence from sources goes through event/guestWrite/consoleLine. */
  addMarker(marker: Marker): void {
    this.markers.push(marker);
  }

  private mark(rule: MarkerRule, at: number, ev: EvidenceOptions, rank = rule.rank): Marker {
    const marker: Marker = { boundary: rule.boundary, name: rule.name, source: ev.source, rank, at, ...(ev.lane ? { lane: ev.lane } : {}), ...(ev.detail !== undefined ? { detail: ev.detail } : {}) };
    if (rule.once) {
      const key = `${rule.id}\u0000${ev.source}`;
      const index = this.onceIndex.get(key);
      if (index !== undefined) {
        if (at < this.markers[index].at) this.markers[index] = marker;
        return this.markers[index];
      }
      this.onceIndex.set(key, this.markers.length);
    }
    this.markers.push(marker);
    return marker;
  }

  /** Reports a named event (markers.ts MarkerEvent); returns the markers it set. */
  event(ev: MarkerEvent, at: number, evidence: EvidenceOptions): Marker[] {
    return this.vocabulary.forEvent(ev).map((rule) => this.mark(rule, at, evidence));
  }

  /** A guest write to an I/O port or MMIO address: markers for the rules it matches, and the phase they start. */
  guestWrite(space: 'io' | 'mmio', address: number, value: number, at: number, evidence: EvidenceOptions): { markers: Marker[]; phase?: Phase } {
    const rules = this.vocabulary.forWrite(space, address, value);
    const markers = rules.map((rule) => this.mark(rule, at, evidence));
    return { markers, phase: phaseOfBest(rules) };
  }

  /**
   * A guest console line: cleaned (cleanConsoleText), an instant on `lane`
   * tagged with the phase it starts, and a marker per matching console rule,
   * ranked no better than the source's timing. Undefined for an empty line.
   */
  consoleLine(lane: string, text: string, at: number, opts: ConsoleOptions): Instant | undefined {
    const shown = cleanConsoleText(text);
    if (shown === '') return undefined;
    const rules = this.vocabulary.forConsole(shown);
    const timingRank = opts.timing === 'write' ? RANK.console : RANK.arrival;
    for (const rule of rules) this.mark(rule, at, { ...opts, lane, detail: shown }, Math.max(rule.rank, timingRank));
    const max = opts.maxName ?? 200;
    const args: Args = { ...opts.args, ...(shown.length > max ? { text: shown } : {}) };
    return this.instant(lane, shown.length > max ? `${shown.slice(0, max - 1)}…` : shown, at, {
      phase: phaseOfBest(rules),
      ...(Object.keys(args).length > 0 ? { args } : {}),
    });
  }

  /** Markers so far (e.g. to know whether a source saw a boundary). */
  allMarkers(): readonly Marker[] {
    return this.markers;
  }

  /** The trace: sorted, open spans closed at its end (args.unfinished), phases derived, 'by-time' tags resolved. */
  build(): Trace {
    let last = 0;
    for (const s of this.spans) last = Math.max(last, s.item.end);
    for (const i of this.instants) last = Math.max(last, i.item.at);
    this.endAll(last, { unfinished: true });
    const spans = [...this.spans].sort((a, b) => a.item.start - b.item.start);
    const instants = [...this.instants].sort((a, b) => a.item.at - b.item.at);
    const derived = derivePhases({
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      meta: this.meta,
      lanes: [...this.lanes.values()],
      spans: spans.map((s) => s.item),
      instants: instants.map((i) => i.item),
      counters: [...this.counters].sort((a, b) => a.at - b.at),
      markers: [...this.markers].sort((a, b) => a.at - b.at),
      unresolvedPhases: [],
    });
    const windows = phaseWindows(derived);
    const from = Math.min(...windows.map((w) => w.start));
    const to = Math.max(...windows.map((w) => w.end));
    const tagOf = (at: number, p: Pending<Span | Instant>): Phase | undefined => {
      if (p.onlyDuringPhases && !(at >= from && at < to)) return undefined;
      if (p.tag !== 'by-time') return p.tag;
      return windows.find((w) => at >= w.start && (at < w.end || (at === w.end && w.end === to)))?.phase;
    };
    for (const s of spans) setPhase(s.item, tagOf(s.item.start, s));
    for (const i of instants) setPhase(i.item, tagOf(i.item.at, i));
    return derived;
  }
}

/**
 * Where each phase runs, for 'by-time' tags: the resolved phases, and an
 * unresolved phase whose start is known from there to the next phase (as far
 * as anything is known, what follows its start belongs to it).
 */
function phaseWindows(trace: Trace): { phase: Phase; start: number; end: number }[] {
  const resolved = trace.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => ({ phase: s.phase!, start: s.start, end: s.end }));
  const open = trace.unresolvedPhases
    .filter((u) => u.start !== undefined)
    .map((u) => ({ phase: u.phase, start: u.start!, end: u.end ?? Math.min(Infinity, ...resolved.filter((r) => r.start >= u.start!).map((r) => r.start)) }));
  return [...resolved, ...open].filter((w) => w.end > w.start || w.end === Infinity).sort((a, b) => a.start - b.start);
}

/** The phase known when the item is added (a by-time one, or one kept only during the phases, is set by build()). */
function fixedPhase(opts: ItemOptions): { phase?: Phase } {
  return opts.phase !== undefined && opts.phase !== 'by-time' && !opts.onlyDuringPhases ? { phase: opts.phase } : {};
}

function setPhase(item: Span | Instant, phase: Phase | undefined): void {
  if (phase !== undefined) item.phase = phase;
  else delete item.phase;
}

/** The phase started by the best-ranked rule among those matched (ready and vm-end start none). */
function phaseOfBest(rules: MarkerRule[]): Phase | undefined {
  const starting = rules.filter((r) => PHASE_OF[r.boundary] !== undefined).sort((a, b) => a.rank - b.rank);
  return starting.length > 0 ? PHASE_OF[starting[0].boundary] : undefined;
}
