// The decision rule, the log and resume, and the found profile's YAML, driven by a
// synthetic workload (made-up run times, no QEMU): named so, as unit tests' data must be.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prng } from '../../analysis/random.js';
import { loadProfile } from '../profile.js';
import { allTargets } from '../targets/index.js';
import { settingAt } from './candidates.js';
import { decide, minPairs } from './decide.js';
import { LOG_VERSION, appendLog, readLog, replay, type SearchSpec, type SearchState } from './log.js';
import { buildReport, profileYaml, reportText } from './output.js';
import { runSearch } from './search.js';
import type { RunRequest, Workload } from './workloads.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'hvscope-optimize-test-'));
  dirs.push(d);
  return d;
};

describe('decision rule (synthetic measurements)', () => {
  const noise = prng(7);
  const synthetic = (centreMs: number, n: number) => Array.from({ length: n }, () => (centreMs + (noise() - 0.5) * centreMs * 0.1) * 1e6);
  it('keeps a clearly faster candidate, rejects a clearly slower one, and calls overlap no difference', () => {
    expect(decide(synthetic(100, 5), synthetic(60, 5), 0.95).verdict).toBe('better');
    expect(decide(synthetic(100, 5), synthetic(160, 5), 0.95).verdict).toBe('worse');
    expect(decide(synthetic(100, 5), synthetic(100, 5), 0.95).verdict).toBe('no difference');
  });
  it('reports medians, the ratio and its interval, and n', () => {
    const d = decide([100e6, 110e6, 105e6, 95e6], [50e6, 55e6, 52e6, 48e6], 0.95);
    expect(d).toMatchObject({ verdict: 'better', nBase: 4, nCand: 4, baseMedianNs: 102.5e6, candMedianNs: 51e6 });
    expect(d.ratio).toBeCloseTo(51 / 102.5, 6);
    expect(d.ratioInterval![0]).toBeLessThan(d.ratio!);
    expect(d.ratioInterval![1]).toBeLessThan(1);
  });
  it('needs at least minPairs pairs: with fewer no change is ever better', () => {
    expect(minPairs(0.95)).toBe(3);
    expect(decide([100e6, 101e6], [10e6, 11e6], 0.95).verdict).toBe('no difference');
  });
});

/** A synthetic workload: ready time per profile from its qemu settings (made-up numbers). */
function syntheticWorkload(runs: RunRequest[], opts: { abortAfter?: number; controller?: AbortController } = {}): Workload {
  const noise = prng(3);
  return {
    spec: 'synthetic',
    measurable: ['qemu'],
    facts: { '@pvh-kernel': true },
    async prepare() {},
    async run(req) {
      runs.push(req);
      if (opts.abortAfter !== undefined && runs.length >= opts.abortAfter) opts.controller?.abort();
      const q = loadProfile(req.profile, allTargets).sections.qemu;
      if (settingAt(q, ['kernel-params', 'quiet']) === true) return { ok: false, why: 'synthetic: no ready marker', files: [] };
      let ms = 1000;
      if (settingAt(q, ['machine']) === 'microvm') ms *= 0.5; // synthetic gain
      if (settingAt(q, ['nodefaults']) === 'on') ms *= 1.6; // synthetic loss
      ms *= 1 + (noise() - 0.5) * 0.05;
      return { ok: true, readyNs: ms * 1e6, phasesNs: {}, files: [] };
    },
  };
}

const SPEC: SearchSpec = { workload: 'synthetic', from: 'qemu-default', budgetMs: 600_000, confidence: 0.95, objective: 'ready', runsPerCandidate: 3, knobs: ['machine', 'nodefaults', 'quiet', 'memory'] };

function fresh(logFile: string): SearchState {
  appendLog(logFile, { t: 'start', version: LOG_VERSION, at: 'now', spec: SPEC });
  return { spec: SPEC, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 };
}

describe('search loop (synthetic workload)', () => {
  it('keeps the better change, reports worse / no difference / broken, alternates arms', async () => {
    const dir = tmp();
    const runs: RunRequest[] = [];
    const state = fresh(join(dir, 'log.jsonl'));
    const out = await runSearch({ workload: syntheticWorkload(runs), targets: allTargets, state, logFile: join(dir, 'log.jsonl'), outDir: dir, progress: () => {} });
    expect(out.stopped).toBe('exhausted');
    const verdicts = Object.fromEntries(state.decisions.map((d) => [`${d.change.path.join('/')}=${d.change.value}`, d.decision.verdict]));
    expect(verdicts['machine=microvm']).toBe('better');
    expect(verdicts['nodefaults=on']).toBe('worse');
    expect(verdicts['kernel-params/quiet=true']).toBe('broken');
    expect(state.kept.map((k) => k.change.path.join('/'))).toEqual(['machine']);
    // the kept change brought tcg-tsc-khz along: the best profile sets both
    const best = loadProfile(join(dir, 'profiles', `best-${state.kept.length}.yaml`), allTargets).sections.qemu;
    expect([settingAt(best, ['machine']), settingAt(best, ['tcg-tsc-khz'])]).toEqual(['microvm', 'host']);
    const written = profileYaml({ file: join(dir, 'found.yaml'), include: 'qemu-default', spec: SPEC, kept: state.kept });
    writeFileSync(join(dir, 'found.yaml'), written);
    const found = loadProfile(join(dir, 'found.yaml'), allTargets).sections.qemu;
    expect([settingAt(found, ['machine']), settingAt(found, ['tcg-tsc-khz'])]).toEqual(['microvm', 'host']);
    expect(written).toMatch(/why: "needed by qemu\/machine=microvm\. Kept by tune optimize/);
    // pair 1: base then candidate; pair 2: candidate then base
    const first = runs.slice(0, 4).map((r) => (r.profile.includes('best-') ? 'base' : 'cand'));
    expect(first).toEqual(['base', 'cand', 'cand', 'base']);
  });

  it('an interrupted search resumes from its log and ends where an uninterrupted one does', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const controller = new AbortController();
    const runs: RunRequest[] = [];
    const state = fresh(logFile);
    const first = await runSearch({ workload: syntheticWorkload(runs, { abortAfter: 9, controller }), targets: allTargets, state, logFile, outDir: dir, signal: controller.signal, progress: () => {} });
    expect(first.stopped).toBe('interrupted');
    const lines = readLog(logFile);
    const resumed = replay(lines);
    // The run cut by the interrupt is not logged; the pending candidate keeps whole pairs only.
    expect(lines.filter((l) => l.t === 'run')).toHaveLength(8);
    expect(resumed.decided.size).toBe(1); // machine=q35 decided (3 pairs), machine=microvm pending
    expect(resumed.pending).toMatchObject({ change: 'qemu/machine=microvm+tcg-tsc-khz=host', pairs: 1 });
    const more: RunRequest[] = [];
    const second = await runSearch({ workload: syntheticWorkload(more), targets: allTargets, state: resumed, logFile, outDir: dir, progress: () => {} });
    expect(second.stopped).toBe('exhausted');
    expect(resumed.kept.map((k) => `${k.change.path.join('/')}=${k.change.value}`)).toEqual(['machine=microvm']);
    // microvm continued from its 1 whole pair: 2 more pairs, not 3
    expect(more.filter((r) => r.dir.includes('machine=microvm'))).toHaveLength(4);
  });

  it('bounds a run by 5 × the best\'s median only when the objective is wall time (cpu: the fixed limit)', async () => {
    const limits = async (objective: string) => {
      const dir = tmp();
      const logFile = join(dir, 'log.jsonl');
      const spec: SearchSpec = { ...SPEC, objective, knobs: ['nodefaults'], refineRounds: 0 };
      appendLog(logFile, { t: 'start', version: LOG_VERSION, at: 'now', spec });
      const runs: RunRequest[] = [];
      const single = syntheticWorkload(runs);
      const workload: Workload = { ...single, run: async (req) => ({ ...(await single.run(req)), cpuNs: 1e9 }) as Awaited<ReturnType<Workload['run']>> };
      await runSearch({ workload, targets: allTargets, state: { spec, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 }, logFile, outDir: dir, progress: () => {}, maxRunMs: 90_000 });
      return runs.map((r) => r.timeoutMs);
    };
    // the first pair knows no best yet; then ~1 s to ready: 5 s, raised to the 20 s floor
    expect(await limits('ready')).toEqual([90_000, 90_000, 20_000, 20_000, 20_000, 20_000]);
    expect(await limits('cpu')).toEqual(Array(6).fill(90_000));
  });

  it('stops at the budget and names what was not tried', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const state = fresh(logFile);
    state.spec = { ...SPEC, budgetMs: 1 };
    await new Promise((r) => setTimeout(r, 5));
    const out = await runSearch({ workload: syntheticWorkload([]), targets: allTargets, state, logFile, outDir: dir, progress: () => {} });
    expect(out.stopped).toBe('budget');
    expect(out.untried).toContain('qemu/machine=microvm+tcg-tsc-khz=host');
  });
});

describe('pairs run in one go (synthetic workload with runPair, as the Xen lab does)', () => {
  /** The synthetic workload, its pairs run together; a base run of one pair fails once (made up). */
  function pairedWorkload(pairs: (readonly [string, string])[], failBaseOfPair: number): Workload {
    const single = syntheticWorkload([]);
    return {
      ...single,
      async runPair(req) {
        pairs.push(req.profiles);
        const [a, b] = await Promise.all(req.profiles.map((profile) => single.run({ profile, dir: req.dir, timeoutMs: req.timeoutMs })));
        if (pairs.length !== failBaseOfPair) return [a, b];
        const failed = { ok: false as const, why: 'synthetic: lab boot failed', files: [] };
        return req.profiles[0].includes('best-') ? [failed, b] : [a, failed];
      },
    };
  }

  it('asks for both arms at once in the alternating order, logs two runs per pair, and remeasures a pair whose base failed', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const pairs: (readonly [string, string])[] = [];
    const state = fresh(logFile);
    // pair 2 of the first candidate runs the candidate first; its base fails there
    await runSearch({ workload: pairedWorkload(pairs, 2), targets: allTargets, state, logFile, outDir: dir, progress: () => {} });
    const arms = pairs.slice(0, 4).map((p) => p.map((f) => (f.includes('best-') ? 'base' : 'cand')).join(','));
    expect(arms).toEqual(['base,cand', 'cand,base', 'cand,base', 'base,cand']); // pair 2 measured again after its failed base
    const runs = readLog(logFile).filter((l) => l.t === 'run');
    // the failed pair logs its base alone (the candidate's value of that pair is not kept)
    expect(runs.slice(0, 5).map((r) => (r.t === 'run' ? `${r.pair}${r.arm}${r.ok ? '' : '!'}` : ''))).toEqual(['1base', '1cand', '2base!', '2cand', '2base']);
    expect(state.kept.map((k) => k.change.path.join('/'))).toEqual(['machine']);
    // the log replays to the same decisions and the same measuring time
    const replayed = replay(readLog(logFile));
    expect(replayed.decisions.map((d) => d.decision.verdict)).toEqual(state.decisions.map((d) => d.decision.verdict));
    expect(replayed.elapsedMs).toBe(state.elapsedMs);
  });

  it('replay drops the candidate value of a pair whose base failed after it (arm by arm)', () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    fresh(logFile);
    const run = (pair: number, arm: 'base' | 'cand', valueNs?: number) =>
      appendLog(logFile, { t: 'run', change: 'qemu/machine=q35', arm, pair, ok: valueNs !== undefined, ...(valueNs !== undefined ? { valueNs } : { why: 'x' }), files: [], ms: 1 });
    run(1, 'base', 10);
    run(1, 'cand', 20);
    run(2, 'cand', 21);
    run(2, 'base');
    expect(replay(readLog(logFile)).pending).toMatchObject({ base: [10], cand: [20], pairs: 1 });
  });
});

/**
 * A synthetic workload shaped like the linux guest under TCG (made-up factors, no QEMU): microvm
 * alone makes no difference and hangs without tcg-tsc-khz, its microvm-only settings and qboot
 * help, rtc off hurts.
 */
function microvmLikeWorkload(): Workload {
  const noise = prng(5);
  const is = (q: unknown, path: string[], v: string) => String(settingAt(q, path)) === v || (v === 'off' && settingAt(q, path) === false);
  return {
    spec: 'synthetic-microvm',
    measurable: ['qemu'],
    facts: { '@pvh-kernel': true },
    async prepare() {},
    async run(req) {
      const q = loadProfile(req.profile, allTargets).sections.qemu;
      const microvm = is(q, ['machine'], 'microvm');
      if (microvm && !is(q, ['tcg-tsc-khz'], 'host')) return { ok: false, why: 'synthetic: TSC calibration hang', files: [] };
      let ms = 1000;
      if (is(q, ['kernel-entry'], 'pvh')) ms *= 0.5;
      if (settingAt(q, ['kernel-params', 'cryptomgr.notests']) === true) ms *= 0.8;
      if (microvm && is(q, ['x-option-roms'], 'off')) ms *= 0.8;
      if (microvm && is(q, ['bios'], 'qboot.rom')) ms *= 0.8;
      if (microvm && is(q, ['rtc'], 'off')) ms *= 1.6;
      ms *= 1 + (noise() - 0.5) * 0.04;
      return { ok: true, readyNs: ms * 1e6, phasesNs: {}, files: [] };
    },
  };
}

describe('greedy order does not strand what needs another setting (synthetic workload)', () => {
  it('reaches microvm with qboot and no option ROMs although microvm alone makes no difference', async () => {
    const dir = tmp();
    const logFile = join(dir, 'log.jsonl');
    const spec: SearchSpec = { ...SPEC, knobs: ['machine', 'kernel-entry', 'cryptomgr.notests', 'x-option-roms', 'bios', 'rtc'] };
    appendLog(logFile, { t: 'start', version: LOG_VERSION, at: 'now', spec });
    const state: SearchState = { spec, kept: [], decisions: [], decided: new Set(), elapsedMs: 0 };
    const out = await runSearch({ workload: microvmLikeWorkload(), targets: allTargets, state, logFile, outDir: dir, progress: () => {} });
    expect(out.stopped).toBe('exhausted');
    const verdict = (key: string) => state.decisions.find((d) => d.change.path.join('/') + '=' + String(d.change.value) + (d.change.with ?? []).map((w) => `+${w.path.join('/')}=${String(w.value)}`).join('') === key)?.decision.verdict;
    expect(verdict('machine=microvm+tcg-tsc-khz=host')).toBe('no difference');
    expect(verdict('x-option-roms=off+machine=microvm+tcg-tsc-khz=host')).toBe('better'); // brought microvm along
    expect(verdict('bios=qboot.rom')).toBe('better'); // alone, once microvm is in force
    expect(verdict('rtc=off')).toBe('worse');
    const best = loadProfile(join(dir, 'profiles', `best-${state.kept.length}.yaml`), allTargets).sections.qemu;
    const got = ['machine', 'tcg-tsc-khz', 'kernel-entry', 'x-option-roms', 'bios', 'rtc'].map((k) => String(settingAt(best, [k]) ?? 'absent'));
    expect(got).toEqual(['microvm', 'host', 'pvh', 'off', 'qboot.rom', 'absent']);
    expect(settingAt(best, ['kernel-params', 'cryptomgr.notests'])).toBe(true);
  });
});

describe('search log', () => {
  it('drops a last line cut short, rejects a bad line elsewhere with its line number', () => {
    const dir = tmp();
    const file = join(dir, 'log.jsonl');
    fresh(file);
    appendLog(file, { t: 'run', change: 'qemu/machine=q35', arm: 'base', pair: 1, ok: true, valueNs: 5, files: [], ms: 10 });
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, `${good}{"t":"run","cha`);
    expect(readLog(file)).toHaveLength(2);
    writeFileSync(file, `${good}{"t":"run","cha\n${good}`);
    expect(() => readLog(file)).toThrow(/log\.jsonl:3: not a search log line/);
    writeFileSync(file, '{"t":"run"}\n');
    expect(() => readLog(file)).toThrow(/:1: not a tune optimize search log/);
  });
});

describe('found profile YAML', () => {
  it('includes the start, sets only kept settings with gain, interval and n, and loads', () => {
    const dir = tmp();
    const file = join(dir, 'found.yaml');
    const d = decide([100e6, 110e6, 105e6, 95e6], [50e6, 55e6, 52e6, 48e6], 0.95);
    const text = profileYaml({
      file,
      include: 'qemu-default',
      spec: SPEC,
      kept: [
        { change: { target: 'qemu', path: ['machine'], value: 'microvm', about: 'the board' }, decision: d },
        { change: { target: 'qemu', path: ['kernel-params', 'cryptomgr.notests'], value: true, about: 'no self-tests' }, decision: d },
      ],
      date: '2026-12-04',
    });
    writeFileSync(file, text);
    expect(text).toMatch(/^include:\n {2}- qemu-default$/m);
    expect(text).toMatch(/# measured: ready 103 ms → 51.0 ms \(× 0\.498 \[0\.\d+, 0\.\d+\] at 95%, n 4\+4\)/);
    const loaded = loadProfile(file, allTargets);
    expect(settingAt(loaded.sections.qemu, ['machine'])).toBe('microvm');
    expect(settingAt(loaded.sections.qemu, ['kernel-params', 'cryptomgr.notests'])).toBe(true);
    expect(settingAt(loaded.sections.qemu, ['bios'])).toBe('default'); // from qemu-default
    const report = buildReport({ spec: SPEC, profile: file, log: 'log', traces: 'runs', stopped: 'budget', elapsedMs: 1000, untried: [], decided: [{ change: { target: 'qemu', path: ['machine'], value: 'microvm', about: '' }, decision: d, kept: true }] });
    expect(reportText(report)).toMatch(/kept \(better\) \(1\):\n {2}qemu\/machine=microvm +ready 103 ms → 51.0 ms/);
  });
});
