// End-to-end: `hvscope boot` as a real child process: real QEMU TCG boots of the
// tiny and linux guests traced by real bpftrace, the rootless fallback as an
// unprivileged user, a tuning profile's command line, bad input, and Ctrl-C.
//
// Phase model for tiny on microvm: microvm always runs firmware (SeaBIOS
// bios-microvm.bin with ACPI on, QEMU 7.2), which loads the PVH kernel from
// fw_cfg — so a firmware phase exists even though it prints nothing. Under TCG
// there is no KVM_RUN; its start is QEMU's `runstate_set running` (docs/design.md),
// taken from QEMU's trace log, which traced boots record too.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { alive, buildCli, childrenOf, hvscope, nobodyHome, processesMatching, scratchDir, waitFor, xmllintErrors } from './trace-cli.js';

let work = '';
beforeAll(async () => {
  await buildCli();
  work = scratchDir('hvscope-boot-e2e-');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const phasesOf = (trace: Trace) => trace.spans.filter((s) => s.lane === PHASE_LANE_ID);
const ALL_PHASES = ['toolstack', 'firmware', 'kernel', 'user'];

function expectPhasesInOrder(trace: Trace): void {
  const phases = phasesOf(trace);
  expect(phases.map((p) => p.name)).toEqual(ALL_PHASES);
  expect(phases[0].start).toBe(0);
  for (let i = 1; i < phases.length; i++) {
    expect(phases[i].start).toBe(phases[i - 1].end); // contiguous, in order
    expect(phases[i].end).toBeGreaterThanOrEqual(phases[i].start);
  }
}

/**
 * A rootless boot of tiny: toolstack, firmware and kernel from QEMU's log and the serial
 * capture; tiny prints its last two lines microseconds apart, so they usually reach hvscope in
 * one read with one stamp: then the user phase is unresolved (the lines cannot time it), never 0 ms.
 */
function expectRootlessPhases(trace: Trace): void {
  const names = phasesOf(trace).map((p) => p.name);
  expect(names.slice(0, 3)).toEqual(ALL_PHASES.slice(0, 3));
  if (names.length === 3) expect(trace.unresolvedPhases).toEqual([{ phase: 'user', start: expect.any(Number), reason: expect.stringMatching(/fall at the same time/) }]);
  else expect(names).toEqual(ALL_PHASES);
  for (const p of phasesOf(trace)) expect(p.end).toBeGreaterThan(p.start);
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /^hvscope: /.test(l));

describe('hvscope boot: bad input gives one clear line and a non-zero exit, boots nothing', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown guest', ['--guest', 'no-such-guest'], /unknown guest 'no-such-guest': expected tiny, linux or the path of a kernel file/],
    ['runs 0', ['--runs', '0'], /--runs must be an integer from 1 to 1000, got 0/],
    ['runs not a number', ['--runs', 'many'], /--runs must be a positive integer, got 'many'/],
    ['unknown machine', ['--machine', 'q35x'], /--machine must be one of microvm, pc/],
    ['unknown accel', ['--accel', 'hvf'], /--accel must be one of kvm, tcg/],
    ['unknown profile', ['--profile', 'no-such-profile'], /no-such-profile/],
    ['initrd missing', ['--guest', 'linux', '--initrd', '/nonexistent/initrd.img'], /--initrd \/nonexistent\/initrd.img: no such file/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const out = join(work, `bad-${name.replace(/\W+/g, '-')}`);
      const r = await hvscope(['boot', ...args, '-o', out], { cwd: work });
      expect(r.exitCode).not.toBe(0);
      const lines = errorLines(String(r.stderr));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    });
  }
});

const noQemu = requireOrSkip(hasCommand('qemu-system-x86_64') && hasCommand('gcc'), 'qemu-system-x86_64 and gcc');
const noTracing = requireOrSkip(isRoot && hasCommand('bpftrace'), 'root and bpftrace');

describe.skipIf(noQemu)('hvscope boot with two profiles (rootless: the layout, not the probes)', () => {
  it('alternates the profiles run by run, writes DIR/PROFILE/, and ends with their diff', async () => {
    const out = join(work, 'two-profiles');
    const r = await hvscope(['boot', '--guest', 'tiny', '--profile', 'qemu-default', '--profile', 'qemu-microvm-min', '--runs', '2', '--accel', 'tcg', '--rootless', '-o', out], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const done = String(r.stderr).split('\n').flatMap((l) => /^hvscope: (qemu-[a-z-]+\/run-\d): toolstack/.exec(l)?.[1] ?? []);
    expect(done).toEqual(['qemu-default/run-1', 'qemu-microvm-min/run-1', 'qemu-default/run-2', 'qemu-microvm-min/run-2']);
    for (const p of ['qemu-default', 'qemu-microvm-min'])
      for (const n of [1, 2]) expect(readTrace(join(out, p, `run-${n}.hvtrace.json`)).meta.profile).toBe(p);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.profiles.map((p: { dir: string }) => p.dir)).toEqual(['qemu-default', 'qemu-microvm-min']);
    const stdout = String(r.stdout);
    expect(stdout).toMatch(/^== diff qemu-default → qemu-microvm-min ==$/m);
    expect(stdout).toMatch(/too few runs to call/); // 2 vs 2
    for (const f of ['diff.txt', 'diff.json', 'diff-qemu-default-vs-qemu-microvm-min.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(await xmllintErrors(join(out, 'diff-qemu-default-vs-qemu-microvm-min.svg'))).toBe('');
    const diff = await hvscope(['diff', `${out}:qemu-default`, `${out}:qemu-microvm-min`, '--json']);
    expect(diff.exitCode, String(diff.stderr)).toBe(0);
    expect(JSON.parse(String(diff.stdout)).phases.length).toBeGreaterThan(0);
  });
});

describe.skipIf(noQemu || noTracing)('hvscope boot, traced by bpftrace (TCG)', () => {
  it('tiny on microvm, 2 runs: traces with all phases in order, one SVG with both runs, report with median/min/max', async () => {
    const out = join(work, 'tiny');
    const r = await hvscope(['boot', '--guest', 'tiny', '--accel', 'tcg', '--runs', '2', '-o', out, '--json'], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    expect(summary).toMatchObject({ traced: true, accel: 'tcg', guest: 'tiny', unavailable: [] });
    expect(summary.command.slice(0, 3)).toEqual(['qemu-system-x86_64', '-M', 'microvm']);
    for (const n of [1, 2]) {
      const trace = readTrace(join(out, `run-${n}.hvtrace.json`));
      expect(trace.meta.source).toBe('bpftrace');
      expect(trace.meta.lostEvents).toBe(0);
      expectPhasesInOrder(trace);
      // firmware starts at QEMU's vCPU start; the kernel at the firmware's hand-over
      // (QEMU's trace log, merged in as rootless boots have it), at or before tiny's first console line
      const vcpu = trace.markers.find((m) => m.name === 'QEMU run state → running' && m.source === 'qemu-log');
      const entry = trace.instants.find((i) => i.name === 'tiny: entry');
      const handover = trace.markers.find((m) => m.name.startsWith("firmware's last fw_cfg read") && m.source === 'qemu-log');
      expect(phasesOf(trace)[1].start).toBe(vcpu!.at);
      expect(phasesOf(trace)[1].args).toMatchObject({ start_by: 'QEMU run state → running', start_source: 'qemu-log' });
      expect(phasesOf(trace)[2].start).toBe(handover ? handover.at : entry!.at);
      expect(phasesOf(trace)[2].start).toBeLessThanOrEqual(entry!.at);
      const qemu = trace.spans.find((s) => s.name === 'qemu-system-x86_64');
      expect(qemu?.args?.exitCode).toBe(33); // tiny's isa-debug-exit "OK"
    }
    const svg = join(out, 'timeline.svg');
    expect(await xmllintErrors(svg)).toBe('');
    const svgText = readFileSync(svg, 'utf8');
    expect(svgText).toContain('run-1');
    expect(svgText).toContain('run-2');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.runs).toHaveLength(2);
    expect(report.summary.phases.map((p: { phase: string }) => p.phase)).toEqual(ALL_PHASES);
    for (const p of report.summary.phases) {
      expect(p.n).toBe(2);
      expect(p.min_ns).toBeLessThanOrEqual(p.median_ns);
      expect(p.median_ns).toBeLessThanOrEqual(p.max_ns);
    }
    expect(readFileSync(join(out, 'report.txt'), 'utf8')).toMatch(/median[\s\S]*min[\s\S]*max/);
  });

  it('linux on pc: all phases in order from the real kernel and init', async () => {
    const out = join(work, 'linux');
    const r = await hvscope(['boot', '--guest', 'linux', '--accel', 'tcg', '-o', out], { cwd: work, timeoutMs: 240_000 });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const trace = readTrace(join(out, 'run-1.hvtrace.json'));
    expectPhasesInOrder(trace);
    // The kernel phase starts where SeaBIOS hands over (QEMU's trace log: its last fw_cfg
    // load of the kernel), so the kernel's own decompression counts as kernel, before its banner.
    const kernel = phasesOf(trace)[2];
    const handover = trace.markers.find((m) => m.name.startsWith("firmware's last fw_cfg read") && m.source === 'qemu-log');
    const banner = trace.instants.find((i) => /\] Linux version \d/.test(i.name));
    expect(kernel.start).toBe(handover!.at);
    expect(kernel.start).toBeLessThan(banner!.at);
    expect(phasesOf(trace)[1].end).toBe(handover!.at);
    const user = phasesOf(trace)[3];
    expect(trace.instants.find((i) => i.name === 'hvscope-marker user-start')!.at).toBeGreaterThanOrEqual(user.start);
    expect(await xmllintErrors(join(out, 'timeline.svg'))).toBe('');
  });

  it('--profile qemu-microvm-min: the profile\'s command line boots tiny', async () => {
    const out = join(work, 'profile');
    const r = await hvscope(['boot', '--guest', 'tiny', '--profile', 'qemu-microvm-min', '--accel', 'tcg', '-o', out, '--json'], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    const machine = summary.command[summary.command.indexOf('-M') + 1];
    expect(machine).toMatch(/^microvm,.*x-option-roms=off/);
    expect(machine).toMatch(/pit=off/);
    expect(summary.command).toContain('-no-user-config');
    const trace = readTrace(join(out, 'run-1.hvtrace.json'));
    expect(trace.meta.profile).toBe('qemu-microvm-min');
    expectPhasesInOrder(trace);
  });

  it('SIGINT during a boot: partial trace, exit 130, no QEMU or bpftrace of that run left', async () => {
    const out = join(work, 'interrupted');
    const child = hvscope(['boot', '--guest', 'linux', '--accel', 'tcg', '--runs', '3', '-o', out], { cwd: work });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitFor(() => /run-1: \d+ probes attached/.test(stderr), 90_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1000)); // QEMU is booting now
    const started = childrenOf(child.pid!);
    expect(started.some((p) => p.cmd.startsWith('bpftrace'))).toBe(true);
    expect(processesMatching(out).some((p) => p.cmd.startsWith('qemu-system-x86_64'))).toBe(true);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    const trace = readTrace(join(out, 'run-1.hvtrace.json'));
    expect(trace.meta.recorded).toMatch(/interrupted: partial trace/);
    expect(existsSync(join(out, 'run-2.hvtrace.json'))).toBe(false);
    expect(existsSync(join(out, 'timeline.svg'))).toBe(true);
    expect(processesMatching(out)).toEqual([]);
    for (const p of started) expect(alive(p.pid), `${p.cmd} [${p.pid}] still running`).toBe(false);
  });
});

const noSetpriv = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv (to run as an unprivileged user)');
describe.skipIf(noQemu || noSetpriv)('hvscope boot without root: rootless sources', () => {
  it('says once which probes are unavailable and why, marks the traces, still finds the phases', async () => {
    const home = nobodyHome();
    try {
      const out = join(home, 'out');
      const r = await hvscope(['boot', '--guest', 'tiny', '--accel', 'tcg', '--runs', '2', '-o', out], { asNobodyWithHome: home, cwd: home });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const notices = String(r.stderr).split('\n').filter((l) => /unavailable/.test(l));
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/probes qemu, exec unavailable: tracing needs root/);
      expect(readdirSync(out).filter((f) => f.endsWith('.hvtrace.json')).sort()).toEqual(['run-1.hvtrace.json', 'run-2.hvtrace.json']);
      for (const n of [1, 2]) {
        const trace = readTrace(join(out, `run-${n}.hvtrace.json`));
        expect(trace.meta.unavailable).toEqual([{ what: 'bpftrace probes (qemu, exec)', why: expect.stringMatching(/needs root/) }]);
        expect(trace.meta.inputs?.some((f) => f.endsWith('.serial.txt'))).toBe(true);
        // QEMU's log gives the vCPU start and the hand-over; tiny's console lines the user start and ready
        expectRootlessPhases(trace);
        const phases = phasesOf(trace);
        for (let i = 1; i < phases.length; i++) expect(phases[i].start).toBeGreaterThanOrEqual(phases[i - 1].start);
      }
      expect(await xmllintErrors(join(out, 'timeline.svg'))).toBe('');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe.skipIf(noQemu || requireOrSkip(isRoot, 'root'))('hvscope boot as root with bpftrace hidden from PATH', () => {
  it('falls back to the rootless sources and says bpftrace is missing, once', async () => {
    const bin = join(work, 'bin-without-bpftrace');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['sh', 'qemu-system-x86_64', 'mount', 'gcc', 'ld', 'as']) {
      const r = await execa('sh', ['-c', 'command -v "$1"', 'sh', tool], { reject: false });
      if (r.exitCode === 0 && !existsSync(join(bin, tool))) symlinkSync(String(r.stdout).trim(), join(bin, tool));
    }
    const out = join(work, 'no-bpftrace');
    const r = await hvscope(['boot', '--guest', 'tiny', '--accel', 'tcg', '-o', out], { cwd: work, env: { PATH: bin } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const notices = String(r.stderr).split('\n').filter((l) => /unavailable/.test(l));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/probes qemu, exec unavailable: .*bpftrace/);
    const trace = readTrace(join(out, 'run-1.hvtrace.json'));
    expect(trace.meta.source).not.toBe('bpftrace');
    expect(trace.meta.unavailable?.[0].why).toMatch(/bpftrace/);
    expectRootlessPhases(trace);
  });
});
