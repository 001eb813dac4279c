// `hvscope tune optimize` end to end on real boots: a short search (two knobs, three
// alternating pairs per candidate, a budget of minutes) on the real tiny guest under QEMU
// TCG from qemu-default, through bin/hvscope. The found profile must load, include the
// starting profile, set exactly the kept knobs, boot the tiny guest and `tune verify`.
// Then Ctrl-C in the middle of a search: exit 130, no QEMU left, and --resume finishes it
// from the log without measuring again what was logged.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { settingAt } from '../../src/tuning/optimize/candidates.js';
import { loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { hasCommand, requireOrSkip } from '../helpers/requirements.js';
import { entry, hvscope, processesMatching, scratchDir, waitFor } from './trace-cli.js';

const missing = requireOrSkip(hasCommand('qemu-system-x86_64') && hasCommand('gcc') && hasCommand('ld'), 'QEMU, gcc and ld (boots of the tiny guest)');
const work = scratchDir('hvscope-tune-optimize-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Row = { change: string; knob: string; value: string | number | boolean | null; verdict: string; kept: boolean; round: number; decision: { ratio?: number; nBase: number } };
type Report = { kept: Row[]; worse: Row[]; noDifference: Row[]; broken: Row[]; invalid: Row[]; stopped: string; log: string; profile: string };

const logLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { t: string; ok?: boolean; files?: string[]; change?: string });

describe.skipIf(missing)('tune optimize on the tiny guest (QEMU TCG)', () => {
  it('a short search finds a profile that boots and verifies; every run kept as a trace', async () => {
    const out = join(work, 'found.yaml');
    const args = ['tune', 'optimize', '--workload', 'boot:tiny', '--from', 'qemu-default', '--budget', '3m', '--knobs', 'machine,nodefaults', '--runs-per-candidate', '3', '-o', out, '--json'];
    const r = await hvscope(args, { timeoutMs: 240_000 });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/pair 1\/3 · best .* · candidate .* s left/);
    const report = JSON.parse(String(r.stdout)) as Report;
    expect(['exhausted', 'budget']).toContain(report.stopped);
    const decided = [...report.kept, ...report.worse, ...report.noDifference, ...report.broken, ...report.invalid];
    expect(decided.length).toBeGreaterThanOrEqual(2);
    // The starting value of a knob is never "tried", and each change is decided once per round.
    expect(decided.map((d) => d.change)).not.toContain('qemu/machine=pc');
    expect(new Set(decided.map((d) => `${d.change}#${d.round}`)).size).toBe(decided.length);
    // Refinement (default 2 rounds): only changes left unresolved yet favoured (ratio < 1) one round before are measured again.
    for (const d of decided.filter((x) => x.round > 0)) {
      const before = decided.find((x) => x.change === d.change && x.round === d.round - 1);
      expect(before && before.verdict === 'no difference' && before.decision.ratio! < 1, d.change).toBe(true);
      if (d.verdict !== 'broken') expect(d.decision.nBase).toBe(3 * (d.round + 1));
    }

    // The found profile: includes the start, sets only the kept knobs, each with its measurement.
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/^include:\n {2}- qemu-default$/m);
    // one measured comment per setting: a kept change writes itself and what it brings along (machine=microvm+tcg-tsc-khz=host)
    expect((text.match(/# measured: ready /g) ?? []).length).toBe(report.kept.reduce((n, k) => n + k.change.split('+').length, 0));
    const found = loadProfile(out, allTargets);
    expect(settingAt(found.sections.qemu, ['bios'])).toBe('default'); // inherited
    for (const k of report.kept) expect(k.change).toMatch(/^qemu\/(machine|nodefaults)=/);
    for (const k of report.kept) expect(settingAt(found.sections.qemu, k.knob.split('/').slice(1))).toBe(k.value);
    // microvm brings tcg-tsc-khz along (declared: a Linux guest under TCG hangs on microvm without it)
    if (report.kept.some((k) => k.knob === 'qemu/machine' && k.value === 'microvm')) expect(settingAt(found.sections.qemu, ['tcg-tsc-khz'])).toBe('host');
    if (!report.kept.some((k) => k.knob === 'qemu/machine')) expect(settingAt(found.sections.qemu, ['machine'])).toBe('pc');

    // Every logged run has its trace on disk; the figure and the report are written.
    const runs = logLines(report.log).filter((l) => l.t === 'run');
    expect(runs.length).toBeGreaterThanOrEqual(2 * 3);
    for (const run of runs.filter((l) => l.ok)) for (const f of run.files!) expect(existsSync(f), f).toBe(true);
    expect(runs.filter((l) => l.ok).every((l) => l.files!.some((f) => f.endsWith('.hvtrace.json')))).toBe(true);
    expect(readFileSync(join(work, 'found.search', 'search.svg'), 'utf8')).toMatch(/^<\?xml[\s\S]*data-change="qemu\/machine=/);
    expect(readFileSync(join(work, 'found.search', 'report.txt'), 'utf8')).toMatch(/^tune optimize: boot:tiny from qemu-default/);

    // The found profile boots and verifies.
    const boot = await hvscope(['boot', '--guest', 'tiny', '--profile', out, '--rootless', '--runs', '1', '-o', join(work, 'boot-found')], { timeoutMs: 120_000 });
    expect(boot.exitCode, String(boot.stderr)).toBe(0);
    expect(String(boot.stdout)).toMatch(/user/);
    const verify = await hvscope(['tune', 'verify', out], { timeoutMs: 60_000 });
    expect(verify.exitCode, String(verify.stderr) + String(verify.stdout)).toBe(0);
  }, 300_000);

  it('Ctrl-C stops cleanly with a resumable log; --resume finishes the search', async () => {
    const out = join(work, 'cut.yaml');
    const log = join(work, 'cut.search', 'search.jsonl');
    const child = spawn(entry, ['tune', 'optimize', '--workload', 'boot:tiny', '--from', 'qemu-default', '--budget', '3m', '--knobs', 'machine', '--runs-per-candidate', '3', '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    // Interrupt once three runs are logged (inside the first candidate).
    expect(await waitFor(() => existsSync(log) && logLines(log).filter((l) => l.t === 'run').length >= 3, 120_000)).toBe(true);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).toMatch(/interrupted: continue with hvscope tune optimize --resume /);
    expect(processesMatching(join(work, 'cut.search'))).toEqual([]);
    const before = logLines(log).filter((l) => l.t === 'run').length;
    expect(logLines(log).at(-1)?.t).toBe('end');

    const r = await hvscope(['tune', 'optimize', '--resume', log, '-o', out, '--json'], { timeoutMs: 240_000 });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const report = JSON.parse(String(r.stdout)) as Report;
    expect(report.stopped).toBe('exhausted');
    const decided = [...report.kept, ...report.worse, ...report.noDifference, ...report.broken].map((d) => d.change).sort();
    // q35 comes first; microvm is tried unless q35 was kept (a knob is changed once).
    expect(decided).toEqual(report.kept.some((k) => k.change === 'qemu/machine=q35') ? ['qemu/machine=q35'] : ['qemu/machine=microvm+tcg-tsc-khz=host', 'qemu/machine=q35']);
    // Whole pairs logged before the interrupt were reused, a half pair measured again: 3 pairs × 2 runs per candidate, plus at most that one run.
    const runs = logLines(log).filter((l) => l.t === 'run').length;
    expect(before).toBeGreaterThanOrEqual(3);
    expect(runs - decided.length * 3 * 2).toBeGreaterThanOrEqual(0);
    expect(runs - decided.length * 3 * 2).toBeLessThanOrEqual(1);
    expect(readdirSync(join(work, 'cut.search', 'runs')).length).toBeGreaterThanOrEqual(2);
    expect(loadProfile(out, allTargets).sections.qemu).toBeDefined();
  }, 300_000);

  it('--objective cpu decides on QEMU\'s CPU time (10 ms ticks of /proc/self/stat); a lab search refuses it before writing anything', async () => {
    const out = join(work, 'cpu.yaml');
    const r = await hvscope(['tune', 'optimize', '--workload', 'boot:tiny', '--from', 'qemu-default', '--budget', '2m', '--knobs', 'nodefaults', '--runs-per-candidate', '3', '--refine-rounds', '0', '--objective', 'cpu', '-o', out, '--json'], { timeoutMs: 180_000 });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/objective cpu/);
    const report = JSON.parse(String(r.stdout)) as Report;
    const runs = logLines(report.log).filter((l) => l.t === 'run') as { ok?: boolean; valueNs?: number; ms?: number }[];
    expect(runs.length).toBeGreaterThanOrEqual(6);
    for (const run of runs.filter((l) => l.ok)) {
      // CPU time in whole clock ticks, more than none: QEMU's, not a wall time
      expect(run.valueNs! % 1e7, String(run.valueNs)).toBe(0);
      expect(run.valueNs!).toBeGreaterThan(0);
    }
    expect(readFileSync(join(work, 'cpu.search', 'report.txt'), 'utf8')).toMatch(/objective cpu/);

    const lab = await hvscope(['tune', 'optimize', '--workload', 'lab-xen:tiny-pv', '--from', 'xen-stock', '--budget', '1m', '--objective', 'cpu', '-o', join(work, 'lab-cpu.yaml')], { timeoutMs: 60_000 });
    expect(lab.exitCode).toBe(2);
    expect(String(lab.stderr)).toMatch(/--objective cpu: lab-xen:tiny-pv's runs are not hvscope's children/);
    expect(existsSync(join(work, 'lab-cpu.search'))).toBe(false);
  }, 240_000);
});

