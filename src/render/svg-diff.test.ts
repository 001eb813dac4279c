import { describe, expect, it } from 'vitest';
import { diffRunSets, representativeRun } from '../analysis/diff.js';
import { readRunSet } from '../model/run-sets.js';
import { parseSvg } from '../../test/helpers/svg.js';
import { renderDiffSvg } from './svg-diff.js';

describe('diff SVG (real lab recordings)', () => {
  const a = readRunSet('fixtures/xen-lab-stock-vs-unikernel:xen-stock');
  const b = readRunSet('fixtures/xen-lab-stock-vs-unikernel:xen-unikernel');
  const diff = diffRunSets(a, b);
  const svg = renderDiffSvg({ diff, runA: representativeRun(a.runs), runB: representativeRun(b.runs) });
  const doc = parseSvg(svg);

  it('is well-formed, static, with both median strips and both runs on one axis', () => {
    expect(doc.getElementsByTagName('script')).toHaveLength(0);
    const labels = [...doc.getElementsByTagName('text')].map((t) => t.textContent ?? '');
    expect(labels).toContain('A median');
    expect(labels).toContain('B median');
    expect(labels.some((l) => /^A: xen-stock\/run-\d/.test(l) || /^A: run-\d/.test(l))).toBe(true);
    expect(labels.some((l) => /distinguishable from noise at 95 %: .*devices −/.test(l))).toBe(true);
    expect(labels).toContain('time (s)');
  });

  it('outlines the changed spans: vif-bridge (less self time in B) in A\'s run', () => {
    const rects = [...doc.getElementsByTagName('rect')];
    const down = rects.filter((r) => /\bdown\b/.test(r.getAttribute('class') ?? '') && (r.textContent ?? '').startsWith('vif-bridge\n'));
    expect(down.length).toBeGreaterThan(0);
    expect(down[0].textContent).toMatch(/changed: .*self time −/);
    // The teardown script after ready is the same kind of span but outside the phases: not marked.
    const teardown = rects.filter((r) => (r.textContent ?? '').startsWith('vif-bridge\n') && !/\b(up|down)\b/.test(r.getAttribute('class') ?? ''));
    expect(teardown.length).toBeGreaterThan(0);
  });
});
