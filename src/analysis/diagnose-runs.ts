// Diagnose rules across the runs of one configuration: spread, a phase seen in only some runs.
import { PHASES } from '../model/trace.js';
import { SPREAD_MIN_RUNS, SPREAD_RATIO, ms, phaseOf } from './diagnose-facts.js';
import type { Rule } from './diagnose-types.js';
import { summarize } from './stats.js';

// ---------------------------------------------------------------------------------------------
// Several runs

export const runsSpread: Rule = {
  id: 'runs-spread',
  category: 'boot',
  summary: `several runs (≥ ${SPREAD_MIN_RUNS}): a phase or the total with p90/median > ${SPREAD_RATIO}`,
  scope: 'runs',
  check(runs) {
    if (runs.length < SPREAD_MIN_RUNS) return null;
    const series: { what: string; values: { label: string; ns: number }[] }[] = [
      ...PHASES.map((phase) => ({
        what: phase as string,
        values: runs.flatMap((r) => r.phases.filter((p) => p.phase === phase).map((p) => ({ label: r.label, ns: p.duration }))),
      })),
      { what: 'total', values: runs.map((r) => ({ label: r.label, ns: r.total })) },
    ];
    const noisy = series
      .filter((s) => s.values.length >= SPREAD_MIN_RUNS)
      .map((s) => {
        const sum = summarize(s.values.map((v) => v.ns));
        const slowest = s.values.reduce((a, b) => (b.ns > a.ns ? b : a));
        return { ...s, sum, ratio: sum.median > 0 ? sum.p90 / sum.median : Infinity, slowest };
      })
      .filter((s) => s.ratio > SPREAD_RATIO);
    if (noisy.length === 0) return null;
    const totalNoisy = noisy.some((s) => s.what === 'total');
    return {
      severity: totalNoisy ? 'warn' : 'info',
      title: totalNoisy ? 'Boot times vary widely between runs: the host is noisy' : 'Some phases vary widely between runs',
      evidence: {
        lines: noisy.map(
          (s) =>
            `${s.what}: median ${ms(s.sum.median)}, p90 ${ms(s.sum.p90)} (p90/median ${s.ratio.toFixed(2)} > ${SPREAD_RATIO}), max ${ms(s.sum.max)} in ${s.slowest.label}, n = ${s.sum.n}`,
        ),
        data: Object.fromEntries(
          noisy.flatMap((s) => [
            [`${s.what}_median_ns`, Math.round(s.sum.median)],
            [`${s.what}_p90_ns`, Math.round(s.sum.p90)],
            [`${s.what}_ratio`, s.ratio],
            [`${s.what}_n`, s.sum.n],
          ]),
        ),
      },
      why: `With p90 more than ${SPREAD_RATIO}× the median, one run's number says little and differences between configurations can drown in the noise; on a shared host other jobs deschedule QEMU's threads (percentiles: linear interpolation, as hvscope report).`,
      source: 'fixtures/README.md (TCG times vary with host load)',
      fix: {
        text: 'Quiet the host (stop other load), pin QEMU to an idle CPU, run more boots and compare medians rather than single runs.',
        flags: ['taskset -c CPU qemu-system-x86_64 …', 'hvscope boot --runs 10'],
      },
      impact_ns: Math.max(...noisy.map((s) => s.sum.p90 - s.sum.median)),
    };
  },
};

export const phaseInSomeRuns: Rule = {
  id: 'phase-missing-in-some-runs',
  category: 'trace-quality',
  summary: 'several runs: a phase present in some runs only',
  scope: 'runs',
  check(runs) {
    if (runs.length < 2) return null;
    const partial = PHASES.map((phase) => ({
      phase,
      have: runs.filter((r) => phaseOf(r, phase)).map((r) => r.label),
      lack: runs.filter((r) => !phaseOf(r, phase)).map((r) => r.label),
    })).filter((p) => p.have.length > 0 && p.lack.length > 0);
    if (partial.length === 0) return null;
    return {
      severity: 'warn',
      title: 'A phase is present in some runs only',
      evidence: {
        lines: partial.map((p) => `${p.phase}: in ${p.have.length} of ${runs.length} runs; missing in ${p.lack.join(', ')}`),
        data: Object.fromEntries(partial.map((p) => [`${p.phase}_missing_in`, p.lack])),
      },
      why: 'A phase starts at a marker (a port write or console line); a run without it lost the marker (lost events, different console settings) or ended before it (hang, timeout), so its statistics cover fewer runs and the runs do not compare like for like.',
      fix: { text: 'Look at those runs\' console lines and meta (hvscope render RUN --format text) before comparing them with the others.' },
      impact_ns: 0,
    };
  },
};
