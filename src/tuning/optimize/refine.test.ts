// The refinement pass (refine.ts, search.ts), driven by a synthetic, scripted workload (made-up
// run times, no QEMU): named so, as unit tests' data must be. Each run's time is scripted by the
// change it measures, its arm and its pair number, so what n pairs show is fixed by the script.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadProfile } from '../profile.js';
import { allTargets } from '../targets/index.js';
import { changeKey, settingAt } from './candidates.js';
import { LOG_VERSION, appendLog, readLog, replay, type SearchSpec, type SearchState } from './log.js';
import { buildReport, reportText } from './output.js';
import { searchFigure } from './figure.js';
import { runSearch } from './search.js';
import type { RunRequest, Workload } from './workloads.js';

const dirs: string[] = [];
afterEach(() => {
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  vi.useRealTimers();
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hvscope-refine-test-'));
  dirs.push(d);
  return d;
};

// Synthetic script, ms by pair (1-based). The best's runs: around 1000 ms.
const BASE = [1000, 1020, 990, 1005, 995, 1015, 1010, 985, 1000];
// cryptomgr.notests: truly faster, but pair 1 overlaps: unresolved at 3 pairs, resolved at 6.
const SUBTLE = [1010, 850, 860, 855, 845, 850, 852, 848, 851];
// nodefaults=on: favoured by noise in pairs 1–3 (× 0.98), slower from pair 4 on.
const NOISE = [1030, 960, 980, 1100, 1090, 1120, 1105, 1095, 1110];

/** A scripted synthetic workload; `clockMs`: each run advances the (faked) clock by this much. */
function scriptedWorkload(runs: RunRequest[], opts: { abortAfter?: number; controller?: AbortController; clockMs?: number } = {}): Workload {
  return {
    spec: 'synthetic-scripted',
    measurable: ['qemu'],
    facts: {},
    async prepare() {},
    async run(req) {
      runs.push(req);
      if (opts.clockMs) vi.setSystemTime(Date.now() + opts.clockMs);
      if (opts.abortAfter !== undefined && runs.length >= opts.abortAfter) opts.controller?.abort();
      const pair = Number(/-(\d+)$/.exec(req.dir)![1]);
      const q = loadProfile(req.profile, allTargets).sections.qemu;
      const isCand = req.profile.includes('cand-');
      const subtle = settingAt(q, ['kernel-params', 'cryptomgr.notests']) === true;
      const noisy = settingAt(q, ['nodefaults']) === 'on';
      // The arm under test follows its script; a best that already has the subtle change is the subtle script.
      const script = isCand && noisy ? NOISE : subtle ? SUBTLE : BASE;
      const ms = script[(pair - 1) % script.length];
      return { ok: true, readyNs: ms * 1e6, phasesNs: {}, files: [] };
    },
  };
}

const SPEC: SearchSpec = { workload: 'synthetic-scripted', from: 'qemu-default', budgetMs: 3_600_000, confidence: 0.95, objective: 'ready', runsPerCandidate: 3, refineRounds: 2, knobs: ['nodefaults', 'cryptomgr.notests'] };
const SUBTLE_KEY = 'qemu/kernel-params/cryptomgr.notests=true';
const NOISE_KEY = 'qemu/nodefaults=on';

function fresh(logFile: string, spec: SearchSpec = SPEC): SearchState {
  appendLog(logFile, { t: 'start', version: LOG_VERSION, at: 'now', spec });
  return { spec, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 };
}

const summary = (state: SearchState) => state.decisions.map((d) => ({ key: changeKey(d.change), round: d.round, verdict: d.decision.verdict, kept: d.kept, n: d.decision.nBase }));
const runsOf = (runs: RunRequest[], key: string) => runs.filter((r) => r.dir.includes(key.replace(/[^A-Za-z0-9_.=-]+/g, '_')));

describe('refinement pass (synthetic scripted workload)', () => {
  it('keeps a change unresolved at n pairs but resolved at 2n; a noise-favoured one is measured again and not kept', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const runs: RunRequest[] = [];
    const messages: string[] = [];
    const state = fresh(logFile);
    const out = await runSearch({ workload: scriptedWorkload(runs), targets: allTargets, state, logFile, outDir: dir, progress: (m) => messages.push(m) });
    expect(out.stopped).toBe('exhausted');
    const s = summary(state).filter((d) => d.key === SUBTLE_KEY || d.key === NOISE_KEY);
    expect(s).toEqual([
      { key: NOISE_KEY, round: 0, verdict: 'no difference', kept: false, n: 3 },
      { key: SUBTLE_KEY, round: 0, verdict: 'no difference', kept: false, n: 3 },
      // most promising first (× 0.86 before × 0.98); its 3 pairs reused (same best), 3 more measured
      { key: SUBTLE_KEY, round: 1, verdict: 'better', kept: true, n: 6 },
      // the best changed since its first decision: 6 fresh pairs; slower, so no round 2
      { key: NOISE_KEY, round: 1, verdict: expect.stringMatching(/^(worse|no difference)$/), kept: false, n: 6 },
    ]);
    expect(state.decisions.find((d) => d.round === 0 && changeKey(d.change) === SUBTLE_KEY)!.decision.ratio).toBeLessThan(1);
    expect(state.decisions.find((d) => d.round === 1 && changeKey(d.change) === NOISE_KEY)!.decision.ratio).toBeGreaterThan(1);
    expect(runsOf(runs, SUBTLE_KEY)).toHaveLength(2 * 3 + 2 * 3); // 3 pairs, then 3 more
    expect(runsOf(runs, NOISE_KEY)).toHaveLength(2 * 3 + 2 * 6); // 3 pairs, then 6 fresh
    expect(state.kept.map((k) => changeKey(k.change))).toEqual([SUBTLE_KEY]);
    expect(messages.some((m) => /cryptomgr\.notests=true \(refine 1\): unresolved at 3 pairs but favoured; 6 pairs \(3 reused: same best\)/.test(m))).toBe(true);
    expect(messages.some((m) => /nodefaults=on \(refine 1\): pair 6\/6/.test(m))).toBe(true);

    // the log keeps the rounds; replaying it gives the same decisions and their values
    const replayed = replay(readLog(logFile));
    expect(summary(replayed)).toEqual(summary(state));
    expect(replayed.decisions.map((d) => [d.base, d.cand])).toEqual(state.decisions.map((d) => [d.base, d.cand]));

    // report and figure show the refinement
    const decided = state.decisions.map((d) => ({ change: d.change, decision: d.decision, kept: d.kept, round: d.round }));
    const text = reportText(buildReport({ spec: state.spec, profile: 'p.yaml', log: logFile, traces: 'runs', stopped: out.stopped, elapsedMs: 0, untried: [], decided }));
    expect(text).toMatch(/kept \(better\) \(1\):\n {2}qemu\/kernel-params\/cryptomgr\.notests=true \[refine 1\] +ready 1\.00 s → 85\d ms .*n 6\+6\)/);
    expect(text).toMatch(/refinement \(2 round\(s\)\): 2 unresolved change\(s\) .* \(2 re-measurement\(s\), marked \[refine N\]\); 1 kept\./);
    expect(searchFigure(decided, 'ready', 't')).toMatch(/data-change="qemu\/kernel-params\/cryptomgr\.notests=true" data-verdict="kept" data-round="1"/);
  });

  it('--refine-rounds 0 leaves unresolved changes as they were (the first pass only)', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const state = fresh(logFile, { ...SPEC, refineRounds: 0 });
    await runSearch({ workload: scriptedWorkload([]), targets: allTargets, state, logFile, outDir: dir, progress: () => {} });
    expect(state.decisions.every((d) => d.round === 0)).toBe(true);
    expect(state.kept).toHaveLength(0);
  });

  it('respects the budget: a refinement that does not fit is named as not tried, never started', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const runs: RunRequest[] = [];
    // The first pass is 2 changes × 3 pairs × 2 runs × 10 s = 120 s; a refinement wants 3 more pairs (60 s).
    const state = fresh(logFile, { ...SPEC, budgetMs: 140_000 });
    const out = await runSearch({ workload: scriptedWorkload(runs, { clockMs: 10_000 }), targets: allTargets, state, logFile, outDir: dir, progress: () => {} });
    expect(out.stopped).toBe('budget');
    expect(runs).toHaveLength(12);
    expect(state.decisions.every((d) => d.round === 0)).toBe(true);
    expect(out.untried).toEqual([`${SUBTLE_KEY} (refine 1)`, `${NOISE_KEY} (refine 1)`]);
  });

  it('an interruption mid-refinement resumes from the log with the reused and the measured pairs', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const controller = new AbortController();
    const runs: RunRequest[] = [];
    const state = fresh(logFile);
    // 12 first-pass runs, then refinement pair 4 (2 runs), then cut during pair 5's first run
    const first = await runSearch({ workload: scriptedWorkload(runs, { abortAfter: 15, controller }), targets: allTargets, state, logFile, outDir: dir, signal: controller.signal, progress: () => {} });
    expect(first.stopped).toBe('interrupted');
    const resumed = replay(readLog(logFile));
    expect(resumed.pending).toMatchObject({ change: SUBTLE_KEY, round: 1, base: [BASE[3] * 1e6], cand: [SUBTLE[3] * 1e6] });
    const more: RunRequest[] = [];
    const second = await runSearch({ workload: scriptedWorkload(more), targets: allTargets, state: resumed, logFile, outDir: dir, progress: () => {} });
    expect(second.stopped).toBe('exhausted');
    expect(runsOf(more, SUBTLE_KEY)).toHaveLength(4); // pairs 5 and 6 only
    const refined = resumed.decisions.find((d) => d.round === 1 && changeKey(d.change) === SUBTLE_KEY)!;
    expect(refined).toMatchObject({ kept: true, base: BASE.slice(0, 6).map((x) => x * 1e6), cand: SUBTLE.slice(0, 6).map((x) => x * 1e6) });
    expect(resumed.kept.map((k) => changeKey(k.change))).toEqual([SUBTLE_KEY]);
    // an old log (before rounds: no refineRounds in its spec) replays as a first pass only
    expect(replay([{ t: 'start', version: LOG_VERSION, at: 'now', spec: { ...SPEC, refineRounds: undefined } }]).spec.refineRounds).toBeUndefined();
  });
});
