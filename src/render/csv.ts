// CSV export: one row per span, RFC 4180 (CRLF line ends, fields with a comma,
// quote or line break quoted, quotes doubled). Columns as in the JSON export.
import type { Run } from '../model/trace.js';
import { spanRows } from './json.js';

export const CSV_COLUMNS = ['run', 'lane', 'name', 'phase', 'start_ns', 'end_ns', 'duration_ns', 'args'] as const;

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Rows in run order, then by span start (ties: lane order, then the trace's order). Empty args: empty field. */
export function exportCsv(runs: Run[]): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const run of runs) {
    const laneOrder = new Map(run.trace.lanes.map((l, i) => [l.name, i]));
    const rows = spanRows([run])
      .map((row, index) => ({ row, index }))
      .sort(
        (a, b) =>
          a.row.start_ns - b.row.start_ns ||
          (laneOrder.get(a.row.lane) ?? 0) - (laneOrder.get(b.row.lane) ?? 0) ||
          a.index - b.index,
      );
    for (const { row } of rows) {
      const args = Object.keys(row.args).length > 0 ? JSON.stringify(row.args) : '';
      const fields = [row.run, row.lane, row.name, row.phase ?? '', String(row.start_ns), String(row.end_ns), String(row.duration_ns), args];
      lines.push(fields.map(csvField).join(','));
    }
  }
  return lines.join('\r\n') + '\r\n';
}
