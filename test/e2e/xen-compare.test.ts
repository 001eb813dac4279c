// `hvscope lab xen run` end to end on real Xen 4.17 nested under QEMU TCG:
// stock vs tuned (xen-stock then xen-unikernel applied in dom0 with `hvscope tune
// apply`, real `xl create`s of tiny-pv, rollback), and --domains 3 (scaling, each
// domain left running). Runs the built CLI (bin/hvscope → dist; dom0 runs the same
// build for `tune`), so it builds first. Each lab needs ~1.3 GB and a core for a
// few minutes; one lab at a time (it waits for another lab's lock).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { defaultCacheDir } from '../../src/lab/linux-guest.js';
import { readTrace } from '../../src/model/io.js';
import { phaseBreakdown } from '../../src/analysis/phases.js';
import { LINUX_PV_MARKER } from '../../src/lab/xen/linux-pv-guest.js';
import { waitForLabLock } from '../helpers/lab.js';
import type { DiffResult } from '../../src/analysis/diff.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(hasCommand('apt-get'), 'apt-get (Debian)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

const repo = resolve(import.meta.dirname, '../..');
let scratch: string;


async function labRun(args: string[]) {
  await waitForLabLock(900_000);
  return execa(process.execPath, [join(repo, 'bin/hvscope'), 'lab', 'xen', 'run', ...args, '--json'], { reject: false, cwd: repo, stdin: 'ignore' });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-xen-compare-e2e-'));
  if (missing) return;
  // dom0 runs this checkout's dist/ for `hvscope tune` (built by test/global-setup.ts).
  if (!existsSync(join(repo, 'dist/src/cli/index.js'))) throw new Error('dist/ is missing: the vitest global setup builds it');
}, 300_000);

afterAll(async () => {
  if (process.env.HVSCOPE_E2E_KEEP === '1') console.warn(`kept ${scratch}`);
  else await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(missing)('hvscope lab xen run: stock vs tuned', () => {
  it('applies xen-stock then xen-unikernel in dom0, 2 real creations each, traces with phases, ratio printed', { timeout: 1_500_000 }, async () => {
    const out = join(scratch, 'compare');
    const r = await labRun(['--profile', 'xen-stock', '--profile', 'xen-unikernel', '--runs', '2', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    // The ratio, measured, on stderr.
    const ratioLine = /^hvscope: xl create median xen-unikernel: \S+ \S+ \(n=2\) = (\d+\.\d\d)× xen-stock$/m.exec(r.stderr);
    expect(ratioLine, r.stderr).not.toBeNull();
    const json = JSON.parse(r.stdout) as {
      comparison: { baseline: string; rows: { profile: string; median_ms: number; ratio_to_baseline: number }[] };
      experiment: { ftrace: boolean; runs: { createExit: number; createNs: number; markerNs?: number; goneNs?: number }[] };
    };
    expect(json.comparison.baseline).toBe('xen-stock');
    const tuned = json.comparison.rows.find((x) => x.profile === 'xen-unikernel')!;
    expect(Number(ratioLine![1])).toBeCloseTo(tuned.ratio_to_baseline, 2);
    // The fast hotplug script and no iptables lock make the tuned creation faster.
    expect(tuned.ratio_to_baseline).toBeLessThan(1);
    expect(json.experiment.runs).toHaveLength(4);
    for (const run of json.experiment.runs) {
      expect(run.createExit).toBe(0);
      expect(run.createNs).toBeGreaterThan(1e8);
      expect(run.markerNs).toBeGreaterThan(0);
      expect(run.goneNs).toBeGreaterThan(run.markerNs!);
    }

    // The profiles were really applied in dom0: xl.conf and the domain config as xl used them.
    const stockConf = readFileSync(join(out, 'xen-stock/xl.conf'), 'utf8');
    const tunedConf = readFileSync(join(out, 'xen-unikernel/xl.conf'), 'utf8');
    expect(stockConf).not.toMatch(/^vif\.default\.script\s*=\s*"vif-bridge-fast"/m);
    expect(tunedConf).toMatch(/^vif\.default\.script\s*=\s*"vif-bridge-fast"/m);
    expect(tunedConf).toMatch(/^autoballoon\s*=\s*"off"/m);
    expect(readFileSync(join(out, 'xen-unikernel/domain.cfg'), 'utf8')).toMatch(/script=vif-bridge-fast/);
    expect(readFileSync(join(out, 'xen-unikernel/tune-apply.log'), 'utf8')).toMatch(/^applied xen-unikernel: \d+ changed/m);
    expect(readFileSync(join(out, 'xen-unikernel/tune-rollback.log'), 'utf8')).toMatch(/^rolled back xen-unikernel/m);

    // Per-run traces with phases; the hotplug script the kernel saw exec'd is the profile's.
    for (const [dir, script] of [['xen-stock', 'vif-bridge'], ['xen-unikernel', 'vif-bridge-fast']] as const) {
      expect((await readdir(join(out, dir))).filter((f) => f.endsWith('.hvtrace.json')).sort()).toEqual(['run-1.hvtrace.json', 'run-2.hvtrace.json']);
      for (const n of [1, 2]) {
        const trace = readTrace(join(out, dir, `run-${n}.hvtrace.json`));
        expect(trace.meta.profile).toBe(dir);
        const phases = phaseBreakdown(trace).map((p) => p.phase);
        expect(phases).toEqual(expect.arrayContaining(['toolstack', 'kernel']));
        if (json.experiment.ftrace) {
          expect(phases).toContain('devices');
          const hotplug = trace.spans.filter((s) => s.lane === 'hotplug' && s.phase === 'devices').map((s) => s.name);
          expect(hotplug).toContain(script);
          expect(hotplug).not.toContain(script === 'vif-bridge' ? 'vif-bridge-fast' : 'vif-bridge');
        }
      }
      expect(readFileSync(join(out, dir, 'timeline.svg'), 'utf8')).toMatch(/^<svg|<\?xml/);
    }
    expect(json.experiment.ftrace, 'dom0 ftrace should be available in the Debian kernel').toBe(true);
    const compare = readFileSync(join(out, 'compare.svg'), 'utf8');
    expect(compare).toContain('xen-stock');
    expect(compare).toContain('xen-unikernel');
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).toMatch(/== xen-stock ==[\s\S]*== xen-unikernel ==[\s\S]*xl create median xen-unikernel/);
    // The diff of the first profile against the second: 2 vs 2 runs cannot call a difference,
    // the spans that changed are named anyway.
    const [diff] = (JSON.parse(r.stdout) as { diffs: DiffResult[] }).diffs;
    const devices = diff.phases.find((p) => p.phase === 'devices')!;
    expect(devices.comparison?.verdict).toBe('too few runs');
    expect([...devices.spans, ...devices.vanished].some((x) => x.name === 'vif-bridge' && x.status === 'gone')).toBe(true);
    expect(readFileSync(join(out, 'diff.txt'), 'utf8')).toMatch(/^== diff xen-stock → xen-unikernel ==$/m);
    expect(existsSync(join(out, 'diff-xen-stock-vs-xen-unikernel.svg'))).toBe(true);
    console.warn(`xen-compare e2e: ${ratioLine![0].replace(/^hvscope: /, '')}`);
  });

  it('--domains 3: three tiny-pv domains kept running, creation time vs domains running (scaling.svg)', { timeout: 1_200_000 }, async () => {
    const out = join(scratch, 'domains');
    const r = await labRun(['--domains', '3', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout) as { experiment: { profiles: { listedDomains?: number }[]; runs: { runningDomains: number; markerNs?: number; goneNs?: number }[] } };
    expect(json.experiment.runs.map((x) => x.runningDomains)).toEqual([0, 1, 2]);
    // All three were up at once (xl list after the third), none powered itself off.
    expect(json.experiment.profiles[0].listedDomains).toBe(3);
    for (const run of json.experiment.runs) {
      expect(run.markerNs).toBeGreaterThan(0);
      expect(run.goneNs).toBeUndefined();
    }
    expect(readFileSync(join(out, 'untuned/run-3.console.log'), 'utf8')).toContain('tiny-pv: staying up (hvscope.stay)');
    const running = [1, 2, 3].map((n) => readTrace(join(out, 'untuned', `run-${n}.hvtrace.json`)).spans.find((s) => s.name === 'xl create')!.args!.running_domains);
    expect(running).toEqual([0, 1, 2]);
    const svg = readFileSync(join(out, 'scaling.svg'), 'utf8');
    expect(svg).toContain('domains already running');
  });
});

describe.skipIf(missing)('hvscope lab xen run: Ctrl-C', () => {
  it('during a profile\'s creations: QEMU, lock and temp files gone, exit 130, no traces written', { timeout: 900_000 }, async () => {
    const out = join(scratch, 'interrupted');
    await waitForLabLock(900_000);
    const tempsBefore = readdirSync(tmpdir()).filter((n) => n.startsWith('hvscope-xen-lab-') && !n.startsWith('hvscope-xen-lab-e2e-'));
    const child = execa(process.execPath, [join(repo, 'bin/hvscope'), 'lab', 'xen', 'run', '--profile', 'xen-stock', '--runs', '3', '-o', out], { reject: false, cwd: repo });
    let stderr = '';
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the experiment never got to its first creation:\n${stderr}`)), 600_000);
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('run 1 of profile 0:')) {
          clearTimeout(timer);
          res();
        }
      });
    });
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toMatch(/hvscope: Xen lab: interrupted \(SIGINT\); QEMU stopped/);
    expect((await execa('pgrep', ['-f', `qemu-system-x86_64.*${out}`], { reject: false })).stdout.trim()).toBe('');
    expect(existsSync(join(defaultCacheDir(), 'xen-lab.lock')) && readFileSync(join(defaultCacheDir(), 'xen-lab.lock'), 'utf8').trim() === String(child.pid)).toBe(false);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('hvscope-xen-lab-') && !n.startsWith('hvscope-xen-lab-e2e-'))).toEqual(tempsBefore);
    expect(existsSync(join(out, 'report.txt'))).toBe(false);
    expect(existsSync(join(out, 'xen-stock', 'run-1.hvtrace.json'))).toBe(false);
  });
});

describe.skipIf(missing)('hvscope lab xen run --guest linux', () => {
  it('boots the Debian kernel as a PV domU: netfront up (eth0), marker, powered off and gone', { timeout: 900_000 }, async () => {
    const out = join(scratch, 'linux');
    const r = await labRun(['--guest', 'linux', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^hvscope: linux: xl create [\d.]+ (?:ms|s) \(exit 0\), marker seen at [\d.]+ (?:ms|s), domain gone$/m);
    expect(readFileSync(join(out, 'untuned/run-1.console.log'), 'utf8')).toContain(LINUX_PV_MARKER);
    const cfg = readFileSync(join(out, 'untuned/domain.cfg'), 'utf8');
    expect(cfg).toMatch(/^memory = 128$/m);
    expect(cfg).toMatch(/^kernel = ".*\/vmlinux"$/m);
    expect(cfg).toMatch(/^ramdisk = ".*\/initramfs\.cpio"$/m);
    const trace = readTrace(join(out, 'untuned/run-1.hvtrace.json'));
    expect(phaseBreakdown(trace).map((p) => p.phase)).toEqual(['toolstack', 'devices', 'kernel']);
  });
});

describe.skipIf(missing)('hvscope lab xen run: bad input, before anything boots', () => {
  it('an unknown profile or guest, --runs 0, --runs with --domains, --domains with linux are one clear line each', async () => {
    const cases: [string[], RegExp][] = [
      [['--profile', 'xen-stokc'], /^hvscope: no profile named "xen-stokc".*xen-stock/],
      [['--guest', '/nonexistent/vmlinux'], /^hvscope: --guest \/nonexistent\/vmlinux: no such file$/],
      [['--guest', 'linux', '--domains', '2'], /^hvscope: --domains: only the tiny-pv guest stays up/],
      [['--runs', '0'], /^hvscope: --runs must be a whole number from 1 to 100, got '0'$/],
      [['--runs', '2', '--domains', '2'], /^hvscope: --runs and --domains exclude each other/],
    ];
    for (const [args, message] of cases) {
      const out = join(scratch, 'bad');
      const r = await execa(process.execPath, [join(repo, 'bin/hvscope'), 'lab', 'xen', 'run', ...args, '-o', out], { reject: false, cwd: repo });
      expect(r.exitCode, r.stderr).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});
