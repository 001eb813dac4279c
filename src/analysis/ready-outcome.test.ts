import { describe, expect, it } from 'vitest';
import { TraceBuilder } from '../model/builder.js';
import { parseReadyRule, readyVocabulary } from '../model/ready-rule.js';
import type { Trace } from '../model/trace.js';
import { buildReport, formatReportText } from './report.js';
import { readyOutcome } from './ready-outcome.js';

/** Synthetic: a QEMU boot whose guest prints "svc up" at 80 ms and exits at 100 ms. */
function boot(rule?: string, lines: [string, number][] = [['svc up', 80e6]]): Trace {
  const b = new TraceBuilder({ source: 'synthetic', clock: 'monotonic', ...(rule ? { ready: rule } : {}) }, { vocabulary: readyVocabulary(rule ? parseReadyRule(rule) : undefined) });
  const lane = b.lane('guest', { kind: 'guest', name: 'guest' });
  b.event('qemu-exec', 0, { source: 'synthetic' });
  b.consoleLine(lane, 'Run /init as init process', 40e6, { source: 'synthetic', timing: 'write' });
  b.consoleLine(lane, 'hvscope-marker kernel-start', 20e6, { source: 'synthetic', timing: 'write' });
  for (const [text, at] of lines) b.consoleLine(lane, text, at, { source: 'synthetic', timing: 'write' });
  b.event('vm-exit', 100e6, { source: 'synthetic' });
  return b.build();
}

describe('the report says which readiness rule judged a run', () => {
  it('seen: when, the line, and the phase it ended (text and JSON)', () => {
    const report = buildReport([{ label: 'run-1', trace: boot('console:^svc up$') }]);
    expect(report.runs[0].ready).toEqual({ rule: 'console:^svc up$', seen: true, at_ns: 80e6, detail: 'svc up', ends: 'user' });
    expect(report.runs[0].phases.find((p) => p.phase === 'user')).toMatchObject({ end_ns: 80e6, end_evidence: { marker: '--ready console:^svc up$' } });
    expect(formatReportText(report)).toContain('run-1: ready rule console:^svc up$: seen at 80.0 ms ("svc up"), ends the user phase');
  });

  it('not seen: said so, and the last phase ends at the VM\'s end', () => {
    const report = buildReport([{ label: 'run-1', trace: boot('console:never') }]);
    expect(report.runs[0].ready).toEqual({ rule: 'console:never', seen: false });
    expect(report.runs[0].phases.find((p) => p.phase === 'user')).toMatchObject({ end_ns: 100e6 });
    expect(formatReportText(report)).toContain('run-1: ready rule console:never: NOT seen');
  });

  it('seen only after the VM ended (a late line): seen but ends no phase', () => {
    const o = readyOutcome(boot('console:^late$', [['late', 150e6]]));
    expect(o).toMatchObject({ seen: true, at_ns: 150e6 });
    expect(o?.ends).toBeUndefined();
    expect(o?.unused).toMatch(/after the VM ended/);
  });

  it('no rule: no ready entry', () => {
    expect(buildReport([{ label: 'run-1', trace: boot() }]).runs[0].ready).toBeUndefined();
  });
});
