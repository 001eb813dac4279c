// speedscope export (https://www.speedscope.app/file-format-schema.json): one
// evented profile per lane track per run, all sharing one frame table.
import { traceEnd, type Run } from '../model/trace.js';
import { nestedTracks, spansByLane, trackName } from './chrome.js';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

export interface SpeedscopeEvent {
  type: 'O' | 'C';
  at: number;
  frame: number;
}

export interface SpeedscopeProfile {
  type: 'evented';
  name: string;
  unit: 'nanoseconds';
  startValue: number;
  endValue: number;
  events: SpeedscopeEvent[];
}

export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: { name: string }[] };
  profiles: SpeedscopeProfile[];
  name: string;
  activeProfileIndex: number;
  exporter: string;
}

/**
 * Profiles are named "run / lane" and span the whole run (0 to its last
 * timestamp), so lanes line up in speedscope's time-order view. Frames are
 * keyed by span name. A lane without spans gets no profile (speedscope shows
 * nothing for it); overlapping spans go to "lane (2)"... as in the Chrome export.
 */
export function exportSpeedscope(runs: Run[]): SpeedscopeFile {
  const frames: { name: string }[] = [];
  const frameIndex = new Map<string, number>();
  const frameOf = (name: string) => {
    let i = frameIndex.get(name);
    if (i === undefined) {
      i = frames.length;
      frames.push({ name });
      frameIndex.set(name, i);
    }
    return i;
  };
  const profiles: SpeedscopeProfile[] = [];
  for (const { label, trace } of runs) {
    const endValue = traceEnd(trace);
    const before = profiles.length;
    const laneSpans = spansByLane(trace.spans);
    for (const lane of trace.lanes) {
      const tracks = nestedTracks(laneSpans.get(lane.id) ?? []);
      tracks.forEach((spans, trackIndex) => {
        const events: SpeedscopeEvent[] = [];
        // Spans come parents first, by start: close what has ended, then open.
        const open: { end: number; frame: number }[] = [];
        const closeUntil = (t: number) => {
          while (open.length > 0 && open[open.length - 1].end <= t) {
            const top = open.pop()!;
            events.push({ type: 'C', at: top.end, frame: top.frame });
          }
        };
        for (const s of spans) {
          closeUntil(s.start);
          const frame = frameOf(s.name);
          events.push({ type: 'O', at: s.start, frame });
          open.push({ end: s.end, frame });
        }
        closeUntil(Infinity);
        profiles.push({
          type: 'evented',
          name: `${label} / ${trackName(lane, trackIndex)}`,
          unit: 'nanoseconds',
          startValue: 0,
          endValue,
          events,
        });
      });
    }
    // A run without spans still gets a (blank) profile, so the file opens and the run is listed.
    if (profiles.length === before)
      profiles.push({ type: 'evented', name: label, unit: 'nanoseconds', startValue: 0, endValue, events: [] });
  }
  const name = runs.length === 1 ? runs[0].label : `${runs.length} runs`;
  return { $schema: SPEEDSCOPE_SCHEMA, shared: { frames }, profiles, name, activeProfileIndex: 0, exporter: 'hvscope' };
}
