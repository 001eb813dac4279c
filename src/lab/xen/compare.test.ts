// Unit tests of the lab's host-side outputs from synthetic results (written for the
// test, shaped like a real lab's): medians and ratio, traces per run, figures, report.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readTrace } from '../../model/io.js';
import { compareXlCreate, labGroups, writeLabOutputs, xlCreateStats, type LabProfileGroup } from './compare.js';
import { parseXenExperimentText, type XenExperimentResult } from './experiment-result.js';

const meta = { recorded: 'synthetic', hypervisor: 'xen 4.17' };

function syntheticResult(createMs: Record<number, number[]>, running = false): XenExperimentResult {
  const lines = ['ftrace enabled=0'];
  for (const [p, times] of Object.entries(createMs)) {
    lines.push(`profile p=${p} dir=prof${p}`);
    times.forEach((ms, i) =>
      lines.push(`run p=${p} r=${i + 1} domain=d${p}${i} running=${running ? i : 0} create_exit=0 create_ns=${ms * 1e6} marker_ns=${(ms + 300) * 1e6} gone_ns=${running ? -1 : (ms + 3000) * 1e6}`),
    );
  }
  lines.push('done fail=0');
  return parseXenExperimentText(lines.join('\n'), 'synthetic.txt');
}

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('xl create comparison', () => {
  it('medians per profile and the ratio to xen-stock, whatever the order', () => {
    const groups = labGroups(syntheticResult({ 0: [2000, 3000, 2500], 1: [6000, 5000, 7000] }), ['xen-unikernel', 'xen-stock'], new Map(), meta);
    const c = compareXlCreate(groups)!;
    expect(c.baseline).toBe('xen-stock');
    expect(c.rows.map((r) => [r.profile, r.median_ms, r.ratio_to_baseline])).toEqual([
      ['xen-unikernel', 2500, 2500 / 6000],
      ['xen-stock', 6000, 1],
    ]);
  });

  it('failed creations do not count; one profile gives no comparison', () => {
    const g: LabProfileGroup = {
      profile: 'p',
      dir: 'p',
      runs: [],
      results: [
        { profile: 0, run: 1, domain: 'a', runningDomains: 0, createExit: 1, createNs: 1e6 },
        { profile: 0, run: 2, domain: 'b', runningDomains: 0, createExit: 0, createNs: 9e6 },
      ],
    };
    expect(xlCreateStats(g)).toEqual({ profile: 'p', n: 1, median_ms: 9, min_ms: 9, max_ms: 9 });
    expect(compareXlCreate([g])).toBeUndefined();
  });
});

describe('writeLabOutputs', () => {
  it('writes a trace per run, a timeline per profile, the report and compare.svg', () => {
    dir = mkdtempSync(join(tmpdir(), 'hvscope-compare-test-'));
    const groups = labGroups(syntheticResult({ 0: [6000, 5000], 1: [2000, 3000] }), ['xen-stock', 'xen-unikernel'], new Map(), meta);
    const out = writeLabOutputs(dir, groups, { scaling: false, ftrace: false });
    expect(out.traces.map((f) => f.slice(dir!.length + 1))).toEqual(['prof0/run-1.hvtrace.json', 'prof0/run-2.hvtrace.json', 'prof1/run-1.hvtrace.json', 'prof1/run-2.hvtrace.json']);
    expect(readTrace(out.traces[0]).meta.profile).toBe('xen-stock');
    expect(existsSync(join(dir, 'prof0', 'timeline.svg'))).toBe(true);
    const svg = readFileSync(out.compareSvg!, 'utf8');
    expect(svg).toContain('xen-stock');
    expect(svg).toContain('xen-unikernel');
    const report = JSON.parse(readFileSync(out.report.json, 'utf8'));
    expect(report.comparison.rows[1].ratio_to_baseline).toBeCloseTo(2500 / 5500);
    expect(readFileSync(out.report.text, 'utf8')).toMatch(/xl create median xen-unikernel: .* = 0\.45× xen-stock/);
    expect(out.scalingSvg).toBeUndefined();
  });

  it('scaling: creation time against the domains already running', () => {
    dir = mkdtempSync(join(tmpdir(), 'hvscope-compare-test-'));
    const groups = labGroups(syntheticResult({ 0: [5000, 5500, 6100] }, true), ['xen-stock'], new Map(), meta);
    const out = writeLabOutputs(dir, groups, { scaling: true, ftrace: false });
    expect(out.compareSvg).toBeUndefined();
    const svg = readFileSync(out.scalingSvg!, 'utf8');
    expect(svg).toContain('domains already running');
    expect(groups[0].runs.map((r) => r.trace.spans.find((s) => s.name === 'xl create')!.args!.running_domains)).toEqual([0, 1, 2]);
  });
});
