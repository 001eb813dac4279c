import { describe, expect, it } from 'vitest';
import { readTrace } from '../model/io.js';
import { emptyTrace, type Span } from '../model/trace.js';
import { buildSpanTree, overlap, selfIntervals, uncovered } from './span-tree.js';

describe('span tree', () => {
  it('uncovered parts and overlaps of intervals', () => {
    expect(uncovered(0, 100, [[10, 20], [15, 30], [90, 120]])).toEqual([[0, 10], [30, 90]]);
    expect(uncovered(0, 10, [[-5, 50]])).toEqual([]);
    expect(overlap([[0, 10], [20, 30]], 5, 25)).toBe(10);
  });

  it('nests calls on a lane, calls under their process, processes under the call that waited for them (synthetic)', () => {
    const t = emptyTrace({ source: 'synthetic', clock: 'synthetic (span-tree.test.ts)' });
    t.lanes.push({ id: 'pid:1', kind: 'process', name: 'xl', pid: 1 }, { id: 'tid:2', kind: 'thread', name: 'xl thread', pid: 1, tid: 2 }, { id: 'pid:3', kind: 'process', name: 'script', pid: 3 });
    const xl: Span = { lane: 'pid:1', name: 'xl', start: 0, end: 100, args: { pid: 1 } };
    const create: Span = { lane: 'pid:1', name: 'create', start: 10, end: 90 };
    const inner: Span = { lane: 'pid:1', name: 'inner', start: 20, end: 30 };
    const threadCall: Span = { lane: 'tid:2', name: 'poll', start: 5, end: 8 };
    const script: Span = { lane: 'pid:3', name: 'script', start: 40, end: 80, args: { pid: 3, ppid: 1 } };
    t.spans = [xl, create, inner, threadCall, script];
    const tree = buildSpanTree(t);
    const parent = (s: Span) => tree.nodes.find((n) => n.span === s)!.parent?.span;
    expect(parent(create)).toBe(xl);
    expect(parent(inner)).toBe(create);
    expect(parent(threadCall)).toBe(xl);
    expect(parent(script)).toBe(create);
    expect(tree.roots.map((n) => n.span)).toEqual([xl]);
    const createNode = tree.nodes.find((n) => n.span === create)!;
    expect(selfIntervals(createNode)).toEqual([[10, 20], [30, 40], [80, 90]]);
  });

  it('has a root per top process of a real traced creation, and every node once', () => {
    const trace = readTrace('fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');
    const tree = buildSpanTree(trace);
    expect(tree.nodes.length).toBe(trace.spans.filter((s) => s.lane !== 'phases').length);
    const count = (nodes: typeof tree.roots): number => nodes.reduce((n, x) => n + 1 + count(x.children), 0);
    expect(count(tree.roots)).toBe(tree.nodes.length);
    expect(tree.roots[0].span.name).toBe('xl');
  });
});
