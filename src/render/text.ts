// Plain-text summary for terminals: per run, a phase table in the manner of
// `systemd-analyze blame` (duration right-aligned, phase, share of the total)
// and the longest spans.
import { phaseBreakdown, totalDuration, unresolvedPhases } from '../analysis/phases.js';
import { alignTable } from '../analysis/report.js';
import { formatDuration } from '../model/duration.js';
import { PHASE_LANE_ID, type Run } from '../model/trace.js';

export const TOP_SPANS = 10;

function share(part: number, total: number): string {
  return total > 0 ? `${((100 * part) / total).toFixed(1)}%` : '-';
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `  ${l}`))
    .join('\n');
}

export function exportText(runs: Run[]): string {
  const out: string[] = [];
  for (const { label, trace } of runs) {
    const total = totalDuration(trace);
    const described = [trace.meta.source, trace.meta.hypervisor].filter((x) => x !== undefined).join(', ');
    out.push(`${label} (${described}): total ${formatDuration(total)}`);
    const phases = phaseBreakdown(trace);
    if (phases.length > 0) {
      const rows = [['duration', 'phase', 'share'], ...phases.map((p) => [formatDuration(p.duration), p.phase, share(p.duration, total)])];
      out.push('', indent(alignTable(rows, ['r', 'l', 'r'])));
    } else out.push('', '  no phases (no phase markers or phase-tagged spans)');
    for (const u of unresolvedPhases(trace)) out.push(`  ${u.phase} unresolved: ${u.reason}`);

    const phaseLanes = new Set(trace.lanes.filter((l) => l.kind === 'phases' || l.id === PHASE_LANE_ID).map((l) => l.id));
    const laneName = new Map(trace.lanes.map((l) => [l.id, l.name]));
    const top = trace.spans
      .filter((s) => !phaseLanes.has(s.lane))
      .map((s, index) => ({ s, index }))
      .sort((a, b) => b.s.end - b.s.start - (a.s.end - a.s.start) || a.s.start - b.s.start || a.index - b.index)
      .slice(0, TOP_SPANS)
      .map(({ s }) => [formatDuration(s.end - s.start), s.phase ?? '-', laneName.get(s.lane) ?? s.lane, s.name]);
    if (top.length > 0) {
      out.push('', `  top ${top.length} spans by duration`, indent(alignTable([['duration', 'phase', 'lane', 'span'], ...top], ['r', 'l', 'l', 'l'])));
    }
    out.push('');
  }
  return out.join('\n');
}
