// JSON export for scripts: one object per span, flat, with the run it belongs to.
import type { Run } from '../model/trace.js';

export interface SpanRow {
  run: string;
  lane: string;
  name: string;
  phase: string | null;
  start_ns: number;
  end_ns: number;
  duration_ns: number;
  args: Record<string, unknown>;
}

export function spanRows(runs: Run[]): SpanRow[] {
  const rows: SpanRow[] = [];
  for (const { label, trace } of runs) {
    const laneName = new Map(trace.lanes.map((l) => [l.id, l.name]));
    for (const s of trace.spans)
      rows.push({
        run: label,
        lane: laneName.get(s.lane) ?? s.lane,
        name: s.name,
        phase: s.phase ?? null,
        start_ns: s.start,
        end_ns: s.end,
        duration_ns: s.end - s.start,
        args: s.args ?? {},
      });
  }
  return rows;
}

export function exportJson(runs: Run[]): string {
  return JSON.stringify({ runs: runs.map((r) => ({ label: r.label, meta: r.trace.meta })), spans: spanRows(runs) }, null, 1) + '\n';
}
