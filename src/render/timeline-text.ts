// The words of the timeline: tooltips of spans, merged blocks and instants, shared by the
// static drawing (as <title>) and the interactive data block (shown on hover). Tooltips
// show every span's args (phase spans carry the evidence that set their boundaries).
import type { Args, Instant, Span } from '../model/trace.js';
import { formatDuration } from './axis.js';
import type { CoalescedBlock } from './coalesce.js';
import { isUnresolved } from './timeline-layout.js';

const MAX_ARGS_IN_TOOLTIP = 16;
const MAX_ARG_CHARS = 200;

/** "key: value" lines (long values cut, at most 16 keys). */
export function argsLines(args: Args | undefined): string[] {
  if (!args) return [];
  const keys = Object.keys(args);
  const lines = keys.slice(0, MAX_ARGS_IN_TOOLTIP).map((k) => {
    const v = String(args[k]);
    return `${oneLine(k)}: ${v.length > MAX_ARG_CHARS ? `${v.slice(0, MAX_ARG_CHARS)}…` : v}`;
  });
  if (keys.length > MAX_ARGS_IN_TOOLTIP) lines.push(`(${keys.length - MAX_ARGS_IN_TOOLTIP} more args)`);
  return lines;
}

/** Names as shown in tooltips and labels: one line. */
export function oneLine(name: string): string {
  return name.replace(/[\r\n]+/g, ' ');
}

/** Second line of a span's tooltip: its duration, start and phase (or why it has no duration). */
export function spanTiming(s: Span): string {
  return timingLine(s.start, s.end, s.phase ?? 'none', isUnresolved(s), formatDuration);
}

// The two lines below are also run in the browser (timeline-script.ts embeds their
// source), so they take everything as arguments.

/** "12.0 ms from 1.50 s · phase kernel", or the unresolved form. */
export function timingLine(start: number, end: number, phase: string, unresolved: boolean, fmt: (ns: number) => string): string {
  if (unresolved) return 'unresolved (no evidence for a boundary) \u00b7 from ' + fmt(start);
  return fmt(end - start) + ' from ' + fmt(start) + ' \u00b7 phase ' + phase;
}

/** "N spans merged · T total in a–b · phase p". */
export function mergedLine(count: number, totalNs: number, start: number, end: number, phase: string, fmt: (ns: number) => string): string {
  return count + ' spans merged \u00b7 ' + fmt(totalNs) + ' total in ' + fmt(start) + '\u2013' + fmt(end) + ' \u00b7 phase ' + phase;
}

/** Name, timing, then args: the first line is the name (search and labels read it). */
export function spanTooltip(s: Span): string {
  return [oneLine(s.name), spanTiming(s), ...argsLines(s.args)].join('\n');
}

/** The label drawn on a span where it fits: its name and duration, or "unresolved". */
export function spanLabelParts(s: Span): { name: string; duration: string } {
  return { name: oneLine(s.name), duration: isUnresolved(s) ? 'unresolved' : formatDuration(s.end - s.start) };
}

/** First line "N spans merged …", then one "name ×count" line per top name. */
export function blockTooltip(b: CoalescedBlock): string {
  const lines = [blockSummary(b), ...b.topNames.map((n) => `${oneLine(n.name)} ×${n.count}`)];
  if (b.distinctNames > b.topNames.length) lines.push(`… ${b.distinctNames - b.topNames.length} more names`);
  return lines.join('\n');
}

export function blockSummary(b: CoalescedBlock): string {
  return mergedLine(b.count, b.totalNs, b.start, b.end, b.phase ?? 'none', formatDuration);
}

export function instantTooltip(group: readonly Instant[]): string {
  if (group.length === 1) {
    const i = group[0];
    return [oneLine(i.name), `at ${formatDuration(i.at)} · phase ${i.phase ?? 'none'}`, ...argsLines(i.args)].join('\n');
  }
  const shown = group.slice(0, 10).map((i) => `${oneLine(i.name)} at ${formatDuration(i.at)}`);
  if (group.length > 10) shown.push(`… ${group.length - 10} more`);
  return [`${group.length} instants`, ...shown].join('\n');
}

/** Tooltip of a collapsed parent's busy row. */
export function busyTooltip(busyNs: number, descendants: number): string {
  return `children busy ${formatDuration(busyNs)} (${descendants} lane${descendants === 1 ? '' : 's'} below, collapsed)`;
}
