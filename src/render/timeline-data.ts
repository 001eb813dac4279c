// The data block of an interactive timeline: one compact JSON value the embedded script
// expands, instead of one element (and one tooltip) per span. Columns of numbers, and
// every string once in a table: a million spans coalesce to ~20k items, ~1 MB of data.
import { PHASES } from '../model/trace.js';
import type { Instant } from '../model/trace.js';
import { coalesceInstants } from './coalesce.js';
import { isUnresolved, type TimelineLayout } from './timeline-layout.js';
import { argsLines, instantTooltip, oneLine } from './timeline-text.js';

/** Above this many instants in a file, instants within a pixel are listed as one entry. */
export const INSTANT_CAP = 20_000;

export interface TimelineData {
  /** Right end of the full view, ns. */
  end: number;
  /** Spans in all runs, merged ones included. */
  total: number;
  phases: readonly string[];
  /** Strings: names, console lines, args text. */
  str: string[];
  /** Per run: label, lane indices in drawing order. */
  runs: [string, number[]][];
  /** Per lane: name, kind, depth, parent lane (-1), rows, busy intervals [s,e,s,e,…], busy ns, lanes below. */
  lanes: [string, string, number, number, number, number[], number, number][];
  /** Items (spans and merged blocks), as columns: lane, row, start, end, name (str, -1 for a block), phase (-1 none), args text (str, -1 none), spans (1, or N merged), flags. */
  il: number[];
  ir: number[];
  is: number[];
  ie: number[];
  in: number[];
  ip: number[];
  ia: number[];
  ic: number[];
  /** Bit 0: an unresolved phase; bit k+1: marked by highlight k. */
  if: number[];
  /** Merged blocks: item index, their total time (ns), top names as [str, count, …], names not listed. */
  blocks: [number, number, number[], number][];
  /** Instants (or groups of them), as columns: lane, time, text (str), args text or a group's list (str, -1 none), phase, how many. */
  tl: number[];
  tt: number[];
  tn: number[];
  ta: number[];
  tp: number[];
  tc: number[];
  /** Highlights: id, legend label. */
  hl: [string, string][];
}

class StringTable {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  add(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

const phaseIndex = (p: string | undefined) => (p === undefined ? -1 : (PHASES as readonly string[]).indexOf(p));

export function timelineData(layout: TimelineLayout, nsPerPixel: number): TimelineData {
  const str = new StringTable();
  const d: TimelineData = {
    end: layout.endNs,
    total: layout.totalSpans,
    phases: PHASES,
    str: str.list,
    runs: layout.runs.map((r) => [r.label, r.lanes]),
    lanes: [],
    il: [], ir: [], is: [], ie: [], in: [], ip: [], ia: [], ic: [], if: [],
    blocks: [],
    tl: [], tt: [], tn: [], ta: [], tp: [], tc: [],
    hl: layout.highlights.map((h) => [h.id, h.label]),
  };
  const below = new Array<number>(layout.lanes.length).fill(0);
  for (let i = layout.lanes.length - 1; i >= 0; i--) {
    const p = layout.lanes[i].parent;
    if (p >= 0) below[p] += below[i] + 1;
  }
  const totalInstants = layout.lanes.reduce((n, l) => n + l.instants.length, 0);
  layout.lanes.forEach((lane, li) => {
    d.lanes.push([lane.lane.name, lane.lane.kind, lane.depth, lane.parent, lane.rowCount, lane.busy.flat(), lane.busyNs, below[li]]);
    for (const item of lane.items) {
      d.il.push(li);
      d.ir.push(item.row);
      if (item.kind === 'span') {
        const s = item.span;
        d.is.push(s.start);
        d.ie.push(s.end);
        d.in.push(str.add(oneLine(s.name)));
        d.ip.push(phaseIndex(s.phase));
        d.ia.push(s.args ? str.add(argsLines(s.args).join('\n')) : -1);
        d.ic.push(1);
        let flags = isUnresolved(s) ? 1 : 0;
        layout.highlights.forEach((h, k) => {
          if (h.spans.has(s)) flags |= 2 << k;
        });
        d.if.push(flags);
      } else {
        d.blocks.push([d.is.length, item.totalNs, item.topNames.flatMap((n) => [str.add(oneLine(n.name)), n.count]), item.distinctNames - item.topNames.length]);
        d.is.push(item.start);
        d.ie.push(item.end);
        d.in.push(-1);
        d.ip.push(phaseIndex(item.phase));
        d.ia.push(-1);
        d.ic.push(item.count);
        d.if.push(0);
      }
    }
    const pushInstant = (at: number, text: string, details: string | undefined, phase: string | undefined, count: number) => {
      d.tl.push(li);
      d.tt.push(at);
      d.tn.push(str.add(text));
      d.ta.push(details ? str.add(details) : -1);
      d.tp.push(phaseIndex(phase));
      d.tc.push(count);
    };
    const one = (i: Instant) => pushInstant(i.at, oneLine(i.name), argsLines(i.args).join('\n'), i.phase, 1);
    if (totalInstants <= INSTANT_CAP) lane.instants.forEach(one);
    else
      for (const g of coalesceInstants(lane.instants, nsPerPixel)) {
        if (g.instants.length === 1) one(g.instants[0]);
        else pushInstant(g.at, `${g.instants.length} instants`, instantTooltip(g.instants).split('\n').slice(1).join('\n'), undefined, g.instants.length);
      }
  });
  return d;
}

/** The data as a JavaScript literal for the script (JSON; `</` cannot end a CDATA section, so it needs no escape). */
export function dataLiteral(d: TimelineData): string {
  return JSON.stringify(d);
}
