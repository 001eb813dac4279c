// What became of the user's readiness rule (`--ready`, model/ready-rule.ts) in
// one run: seen or not, when, and which phase it ended — for the report, so a
// run judged by a rule never reads as if the built-in markers had judged it.
import { formatDuration } from '../model/duration.js';
import { READY_MARKER_PREFIX } from '../model/ready-rule.js';
import type { Marker, Phase, Trace } from '../model/trace.js';
import { phaseBreakdown } from './phases.js';

export interface ReadyOutcome {
  /** The rule as given, e.g. "tcp:127.0.0.1:8080". */
  rule: string;
  seen: boolean;
  /** ns since t0 of the rule's evidence (the best one). */
  at_ns?: number;
  /** The evidence, e.g. the console line. */
  detail?: string;
  /** The phase the rule ended; absent when it ended none (not seen, or seen where it could not be used). */
  ends?: Phase;
  /** Why a rule that was seen ended no phase. */
  unused?: string;
}

/** The outcome of the trace's ready rule; undefined when the run had none. */
export function readyOutcome(trace: Trace): ReadyOutcome | undefined {
  const rule = trace.meta.ready;
  if (rule === undefined) return undefined;
  let best: Marker | undefined;
  for (const m of trace.markers)
    if (m.boundary === 'ready' && m.name.startsWith(READY_MARKER_PREFIX) && (!best || m.rank < best.rank || (m.rank === best.rank && m.at < best.at))) best = m;
  if (!best) return { rule, seen: false };
  const phases = phaseBreakdown(trace);
  const ends = phases.find((p) => p.end === best.at && p.end_evidence?.marker === best.name)?.phase;
  const unused = phases.length === 0 ? 'the trace has no phases (no VM boot was seen)' : 'it came before the last phase began or after the VM ended';
  return { rule, seen: true, at_ns: best.at, ...(best.detail !== undefined ? { detail: best.detail } : {}), ...(ends ? { ends } : { unused }) };
}

/** One line: "ready rule tcp:…: seen at 1.52 s, ends the user phase". */
export function readyOutcomeText(o: ReadyOutcome): string {
  if (!o.seen) return `ready rule ${o.rule}: NOT seen: the last phase ends at the VM's end instead, or is unresolved without it`;
  const detail = o.detail !== undefined ? ` ("${o.detail.length > 50 ? `${o.detail.slice(0, 49)}…` : o.detail}")` : '';
  const use = o.ends ? `, ends the ${o.ends} phase` : `, but ends no phase: ${o.unused ?? 'unknown why'}`;
  return `ready rule ${o.rule}: seen at ${formatDuration(o.at_ns!)}${detail}${use}`;
}
