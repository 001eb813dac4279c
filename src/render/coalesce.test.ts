import { describe, expect, it } from 'vitest';
import type { Phase, Span } from '../model/trace.js';
import { assignRows, coalesceInstants, coalesceRow, layoutLane, type LaneItem } from './coalesce.js';
import { prng } from '../analysis/random.js'; // the project's seeded PRNG, for synthetic spans


const span = (name: string, start: number, end: number, phase?: Phase): Span => ({ lane: 'synthetic-lane', name, start, end, ...(phase ? { phase } : {}) });

/** Synthetic nested call trees: roots with children inside them, some tiny, some partial overlaps. */
function syntheticSpans(count: number, seed: number): Span[] {
  const rnd = prng(seed);
  const spans: Span[] = [];
  let t = 0;
  while (spans.length < count) {
    const rootLen = 1000 + Math.floor(rnd() * 1_000_000);
    spans.push(span(`root${spans.length % 5}`, t, t + rootLen, 'kernel'));
    let c = t;
    while (c < t + rootLen && spans.length < count) {
      const len = Math.floor(rnd() * rootLen * (rnd() < 0.9 ? 0.001 : 0.3));
      if (c + len > t + rootLen) break;
      spans.push(span(`child${Math.floor(rnd() * 12)}`, c, c + len, rnd() < 0.5 ? 'devices' : undefined));
      c += len + Math.floor(rnd() * 3000);
    }
    if (rnd() < 0.1) spans.push(span('straddler', t + rootLen - 10, t + rootLen + 500)); // partial overlap
    t += rootLen + Math.floor(rnd() * 5000);
  }
  return spans;
}

describe('assignRows', () => {
  it('stacks nested spans by depth and keeps siblings on one row', () => {
    const { spans, rows, rowCount } = assignRows([span('leaf', 20, 30), span('root', 0, 100), span('mid', 10, 50), span('sibling', 60, 90)]);
    const rowOf = (name: string) => rows[spans.findIndex((s) => s.name === name)];
    expect(rowOf('root')).toBe(0);
    expect(rowOf('mid')).toBe(1);
    expect(rowOf('leaf')).toBe(2);
    expect(rowOf('sibling')).toBe(1);
    expect(rowCount).toBe(3);
  });

  it('puts a partial overlap on the next free row', () => {
    const { spans, rows } = assignRows([span('a', 0, 10), span('b', 5, 15), span('c', 20, 30)]);
    const rowOf = (name: string) => rows[spans.findIndex((s) => s.name === name)];
    expect(rowOf('a')).toBe(0);
    expect(rowOf('b')).toBe(1);
    expect(rowOf('c')).toBe(0);
  });

  it('never overlaps spans within a row, and draws a contained span below its container', () => {
    const input = syntheticSpans(5000, 7);
    const { spans, rows } = assignRows(input);
    expect(spans).toHaveLength(input.length);
    const lastEnd = new Map<number, number>();
    for (let i = 0; i < spans.length; i++) {
      const prev = lastEnd.get(rows[i]);
      if (prev !== undefined) expect(spans[i].start).toBeGreaterThanOrEqual(prev);
      lastEnd.set(rows[i], spans[i].end);
    }
    // Each span's row is deeper than that of any earlier-starting span strictly containing it.
    const roots = spans.map((s, i) => ({ s, r: rows[i] })).filter(({ s }) => s.name.startsWith('root'));
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      if (s.name.startsWith('root')) continue;
      const container = roots.find(({ s: r }) => r.start <= s.start && r.end >= s.end && r !== s);
      if (container) expect(rows[i]).toBeGreaterThan(container.r);
    }
  });
});

function countOf(items: LaneItem[]): number {
  return items.reduce((n, it) => n + (it.kind === 'span' ? 1 : it.count), 0);
}

describe('coalesceRow', () => {
  it('merges runs of sub-pixel spans into one block, keeps wide spans, preserves counts', () => {
    const px = 100;
    const row = [
      span('wide', 0, 1000),
      span('t', 1000, 1010, 'kernel'),
      span('t', 1050, 1060, 'kernel'),
      span('u', 1100, 1190),
      span('wide2', 1200, 2000),
      span('lonely', 5000, 5001),
    ];
    const items = coalesceRow(row, 0, px);
    expect(items.map((i) => (i.kind === 'span' ? i.span.name : `block:${i.count}`))).toEqual(['wide', 'block:3', 'wide2', 'lonely']);
    const block = items[1] as Extract<LaneItem, { kind: 'block' }>;
    expect(block.start).toBe(1000);
    expect(block.end).toBe(1190);
    expect(block.totalNs).toBe(10 + 10 + 90);
    expect(block.phase).toBeUndefined(); // 'u' (no phase, 90 ns) outweighs kernel (20 ns)
    expect(block.topNames.map((n) => [n.name, n.count])).toEqual([
      ['u', 1],
      ['t', 2],
    ]);
    expect(countOf(items)).toBe(row.length);
  });

  it('starts a new block after a gap of a pixel or more', () => {
    const items = coalesceRow([span('a', 0, 10), span('b', 20, 30), span('c', 200, 210), span('d', 220, 230)], 0, 100);
    expect(items.map((i) => (i.kind === 'block' ? i.count : 1))).toEqual([2, 2]);
  });
});

describe('layoutLane on a large synthetic lane', () => {
  it('preserves the span count, leaves no two sub-pixel items within a pixel unmerged, and shrinks the element count', () => {
    const input = syntheticSpans(200_000, 42);
    const end = input.reduce((m, s) => Math.max(m, s.end), 0);
    const nsPerPx = end / 1000; // a 1000-pixel-wide plot
    const layout = layoutLane(input, nsPerPx);
    expect(countOf(layout.items)).toBe(input.length);
    expect(layout.spanCount).toBe(input.length);
    expect(layout.items.length).toBeLessThan(input.length / 20);
    const byRow = new Map<number, LaneItem[]>();
    for (const it of layout.items) {
      if (!byRow.has(it.row)) byRow.set(it.row, []);
      byRow.get(it.row)!.push(it);
    }
    const extent = (it: LaneItem) => (it.kind === 'span' ? [it.span.start, it.span.end] : [it.start, it.end]);
    const narrow = (it: LaneItem) => it.kind === 'span' && it.span.end - it.span.start < nsPerPx;
    for (const items of byRow.values()) {
      for (let i = 1; i < items.length; i++) {
        const [, prevEnd] = extent(items[i - 1]);
        const [start] = extent(items[i]);
        expect(start).toBeGreaterThanOrEqual(prevEnd); // still no overlap after merging
        // A sub-pixel span is never left alone next to a block or sub-pixel span it could join.
        const prevMergeable = narrow(items[i - 1]) || items[i - 1].kind === 'block';
        if (narrow(items[i]) && prevMergeable) expect(start - prevEnd).toBeGreaterThanOrEqual(nsPerPx);
      }
    }
  });
});

describe('coalesceInstants', () => {
  it('groups instants within a pixel, keeping all of them', () => {
    const groups = coalesceInstants(
      [
        { at: 500, name: 'c' },
        { at: 0, name: 'a' },
        { at: 50, name: 'b' },
      ],
      100,
    );
    expect(groups.map((g) => g.instants.map((i) => i.name))).toEqual([['a', 'b'], ['c']]);
  });
});
