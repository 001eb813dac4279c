// Blame, as `systemd-analyze blame` does for units: every span of the runs, longest first,
// filtered by process, name, phase and a minimum duration. The phases strip is left out:
// its spans summarise the others rather than being work something did.
import { UserError } from '../model/errors.js';
import { isPhase, type Args, type Phase, type Run } from '../model/trace.js';
import { formatDuration } from '../model/duration.js';
import { alignTable } from './report.js';

export interface BlameFilter {
  pid?: number;
  /** Tested against span names. */
  name?: RegExp;
  /** A phase, or 'none' for spans without one. */
  phase?: Phase | 'none';
  /** Shortest duration kept, ns. */
  minNs?: number;
}

export interface BlameRow {
  run: string;
  lane: string;
  pid?: number;
  tid?: number;
  name: string;
  phase?: Phase;
  startNs: number;
  endNs: number;
  durationNs: number;
  args?: Args;
}

/** Builds the filter from CLI text, with one clear error per bad value. */
export function blameFilter(opts: { pid?: string | number; name?: string; phase?: string; minNs?: number }): BlameFilter {
  const filter: BlameFilter = {};
  if (opts.pid !== undefined) {
    const pid = Number(opts.pid);
    if (!Number.isInteger(pid) || pid < 0) throw new UserError(`--pid "${opts.pid}": expected a process id (a whole number)`);
    filter.pid = pid;
  }
  if (opts.name !== undefined) {
    try {
      filter.name = new RegExp(String(opts.name), 'i');
    } catch (err) {
      const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /, '');
      throw new UserError(`--name "${opts.name}": not a valid regular expression: ${why}`);
    }
  }
  if (opts.phase !== undefined) {
    const phase = String(opts.phase);
    if (phase !== 'none' && !isPhase(phase)) throw new UserError(`--phase "${phase}": unknown; one of orchestrate, toolstack, devices, firmware, kernel, user, none`);
    filter.phase = phase as Phase | 'none';
  }
  if (opts.minNs !== undefined) filter.minNs = opts.minNs;
  return filter;
}

/** Every span passing the filter, longest first (then earliest, then by name). */
export function blame(runs: readonly Run[], filter: BlameFilter = {}): BlameRow[] {
  const rows: BlameRow[] = [];
  for (const { label, trace } of runs) {
    const lanes = new Map(trace.lanes.map((l) => [l.id, l]));
    for (const s of trace.spans) {
      const lane = lanes.get(s.lane);
      if (lane?.kind === 'phases') continue;
      if (filter.pid !== undefined && lane?.pid !== filter.pid) continue;
      if (filter.phase !== undefined && (s.phase ?? 'none') !== filter.phase) continue;
      const durationNs = s.end - s.start;
      if (filter.minNs !== undefined && durationNs < filter.minNs) continue;
      if (filter.name && !filter.name.test(s.name)) continue;
      rows.push({
        run: label,
        lane: lane?.name ?? s.lane,
        ...(lane?.pid !== undefined ? { pid: lane.pid } : {}),
        ...(lane?.tid !== undefined ? { tid: lane.tid } : {}),
        name: s.name,
        ...(s.phase ? { phase: s.phase } : {}),
        startNs: s.start,
        endNs: s.end,
        durationNs,
        ...(s.args ? { args: s.args } : {}),
      });
    }
  }
  return rows.sort((a, b) => b.durationNs - a.durationNs || a.startNs - b.startNs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Aligned columns: duration, start, phase, [run,] lane, span name. */
export function formatBlameText(rows: readonly BlameRow[], runLabels: readonly string[]): string {
  if (rows.length === 0) return 'no spans match\n';
  const withRun = runLabels.length > 1;
  const header = ['duration', 'start', 'phase', ...(withRun ? ['run'] : []), 'lane', 'span'];
  const table = rows.map((r) => [formatDuration(r.durationNs), formatDuration(r.startNs), r.phase ?? '-', ...(withRun ? [r.run] : []), r.lane, r.name.replace(/[\r\n]+/g, ' ')]);
  const align = header.map((_, i) => (i < 2 ? 'r' : 'l') as 'l' | 'r');
  return alignTable([header, ...table], align) + '\n';
}
