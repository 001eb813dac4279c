// End-to-end: user-defined readiness (`--ready RULE`) with real runs.
//  - trace --ready tcp: a real listener (python3) that opens after a known delay;
//    the ready marker lands on the trace's clock within a probe interval or so of
//    the moment the listener said it listened (CLOCK_MONOTONIC, the clock of
//    bpftrace's nsecs), so the prober's clock alignment is checked, not assumed;
//  - boot --guest tiny (TCG, traced by bpftrace) with --ready exit, console:REGEX,
//    and tcp: to a port nobody serves (never seen: said so, the run still ends and
//    leaves no prober behind); boot --rootless --ready pio:0x80=0x7f (tiny's "done"
//    code, read from QEMU's trace log);
//  - a bad rule: one clear line, exit 2, nothing written.
// `lab xen run --ready console:` is checked at the option level (src/cli/lab.test.ts,
// src/lab/xen/experiment.test.ts): the lab boots Xen under TCG, minutes per run.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID, type Trace } from '../../src/model/trace.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { buildCli, hvscope, scratchDir } from './trace-cli.js';

let work = '';
beforeAll(async () => {
  await buildCli();
  work = scratchDir('hvscope-ready-e2e-');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => /^hvscope: /.test(l));
const phase = (t: Trace, name: string) => t.spans.find((s) => s.lane === PHASE_LANE_ID && s.name === name);

/** A port on 127.0.0.1 that nobody listens on (bound, then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('--ready: a bad rule is one clear line, exit 2, and nothing is written', () => {
  const cases: [string, string[], RegExp][] = [
    ['trace, invalid regex', ['trace', '--ready', 'console:(', '--', 'true'], /^hvscope: --ready "console:\(": invalid regular expression: .*Unterminated group/],
    ['trace, port out of range', ['trace', '--ready', 'tcp:127.0.0.1:70000', '--', 'true'], /--ready "tcp:127.0.0.1:70000": port "70000" is not a number from 1 to 65535/],
    ['trace, a port it cannot see', ['trace', '--ready', 'pio:0x99', '--', 'true'], /hvscope trace sees guest port writes only to 0xf4, 0xf5, 0x80/],
    ['boot, unknown rule', ['boot', '--ready', 'http:80'], /unknown rule "http"; expected console:REGEX, exit, pio:PORT\[=VALUE\] or tcp:HOST:PORT/],
    ['boot, pio value out of range', ['boot', '--ready', 'pio:0xf4=0x1ffffffff'], /value "0x1ffffffff" is not a number from 0 to 0xffffffff/],
    ['lab, a rule the lab cannot watch', ['lab', 'xen', 'run', '--guest', '/nonexistent/vmlinux', '--ready', 'exit'], /lab xen run takes console:REGEX only/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const out = join(work, `bad-${name.replace(/\W+/g, '-')}`);
      const r = await hvscope([...args, '-o', out], { cwd: work });
      expect(r.exitCode, String(r.stderr)).toBe(2);
      const lines = errorLines(String(r.stderr));
      expect(lines, String(r.stderr)).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    });
  }
});

const noTracing = requireOrSkip(isRoot && hasCommand('bpftrace'), 'root and bpftrace');
const noPython = requireOrSkip(hasCommand('python3'), 'python3 (the listener)');
const noQemu = requireOrSkip(hasCommand('qemu-system-x86_64') && hasCommand('gcc'), 'qemu-system-x86_64 and gcc');

describe.skipIf(noTracing || noPython)('trace --ready tcp: a real listener opened after a known delay', () => {
  it('the ready marker is the listener\'s answer, on the trace\'s clock', async () => {
    const port = await freePort();
    const stamp = join(work, 'listened.txt');
    const out = join(work, 'tcp.hvtrace.json');
    // Listens after 1 s, says when (CLOCK_MONOTONIC ns), keeps serving 0.8 s, exits.
    const listener = [
      'import socket, sys, time',
      'time.sleep(1.0)',
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(("127.0.0.1", ${port})); s.listen(16)`,
      `open(${JSON.stringify(stamp)}, "w").write(str(time.clock_gettime_ns(time.CLOCK_MONOTONIC)))`,
      'time.sleep(0.8)',
    ].join('\n');
    const r = await hvscope(['trace', '--probes', 'exec', '--ready', `tcp:127.0.0.1:${port}`, '-o', out, '--json', '--', 'python3', '-c', listener], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    expect(summary.ready).toMatchObject({ rule: `tcp:127.0.0.1:${port}`, seen: true });
    const trace = readTrace(out);
    expect(trace.meta.ready).toBe(`tcp:127.0.0.1:${port}`);
    const ready = trace.markers.filter((m) => m.boundary === 'ready');
    expect(ready).toHaveLength(1);
    expect(ready[0]).toMatchObject({ name: `--ready tcp:127.0.0.1:${port}`, source: 'hvscope tcp probe' });
    // The marker is at least the 1 s sleep after the workload's exec (t0) ...
    expect(ready[0].at).toBeGreaterThan(1e9);
    // ... and after the listener listened by no more than a probe interval plus scheduling (2 shared cores).
    const listenedNs = Number(readFileSync(stamp, 'utf8'));
    const lateMs = (trace.meta.t0ClockUs! * 1000 + ready[0].at - listenedNs) / 1e6;
    expect(lateMs).toBeGreaterThan(-1); // sub-ms rounding of t0ClockUs
    expect(lateMs).toBeLessThan(250);
    expect(String(r.stderr)).toMatch(/ready rule tcp:127\.0\.0\.1:\d+: seen at/);
  });
});

describe.skipIf(noTracing || noQemu)('boot --guest tiny --ready (TCG, traced)', () => {
  async function boot(rule: string, name: string, extra: string[] = []) {
    const out = join(work, name);
    const r = await hvscope(['boot', '--guest', 'tiny', '--accel', 'tcg', '--ready', rule, '-o', out, '--json', ...extra], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    return { out, summary, trace: readTrace(join(out, 'run-1.hvtrace.json')), report: readFileSync(join(out, 'report.txt'), 'utf8') };
  }

  it('exit: the user phase ends at QEMU\'s exit', async () => {
    const { trace, summary, report } = await boot('exit', 'exit');
    const exit = trace.markers.find((m) => m.name === 'QEMU exit');
    const user = phase(trace, 'user');
    expect(user?.end).toBe(exit!.at);
    expect(user?.args).toMatchObject({ end_by: '--ready exit (QEMU exit)', ready_rule: 'exit' });
    // the built-in ready marker (tiny: done) is not used
    expect(trace.markers.some((m) => m.name === 'tiny: done')).toBe(false);
    expect(trace.instants.find((i) => i.name === 'tiny: done')!.at).toBeLessThan(exit!.at);
    expect(summary.report.runs[0].ready).toMatchObject({ rule: 'exit', seen: true, ends: 'user' });
    expect(report).toContain('ready rule exit: seen at');
  });

  it('console:REGEX: the user phase ends at the first line it matches; the SVG tooltip names the rule', async () => {
    const { trace, out } = await boot('console:^tiny: app result primes', 'console');
    const line = trace.instants.find((i) => i.name.startsWith('tiny: app result primes'));
    const user = phase(trace, 'user');
    expect(user?.end).toBe(line!.at);
    expect(user?.args).toMatchObject({ end_by: '--ready console:^tiny: app result primes', end_source: 'bpftrace qemu' });
    expect(user!.end).toBeLessThan(trace.instants.find((i) => i.name === 'tiny: done')!.at);
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toContain('ready_rule: console:^tiny: app result primes');
  });

  it('tcp: to a port nobody serves: NOT seen, said so; the run ends and no prober is left', async () => {
    const port = await freePort();
    const { trace, summary, report } = await boot(`tcp:127.0.0.1:${port}`, 'tcp-none');
    expect(summary.report.runs[0].ready).toEqual({ rule: `tcp:127.0.0.1:${port}`, seen: false });
    expect(report).toMatch(/ready rule tcp:127\.0\.0\.1:\d+: NOT seen/);
    expect(phase(trace, 'user')?.args).toMatchObject({ end_by: 'QEMU exit', ready_rule: `tcp:127.0.0.1:${port}` });
  });
});

describe.skipIf(noQemu)('boot --rootless --ready pio: from QEMU\'s trace log', () => {
  it('pio:0x80=0x7f (tiny\'s "done" code) ends the user phase', async () => {
    const out = join(work, 'pio');
    const r = await hvscope(['boot', '--guest', 'tiny', '--accel', 'tcg', '--rootless', '--ready', 'pio:0x80=0x7f', '-o', out, '--json'], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const trace = readTrace(join(out, 'run-1.hvtrace.json'));
    expect(readFileSync(join(out, 'run-1.qemu.log'), 'utf8')).toMatch(/memory_region_ops_write .*addr 0x80 value 0x7f size 1 name 'io'/);
    const marker = trace.markers.find((m) => m.boundary === 'ready');
    expect(marker).toMatchObject({ name: '--ready pio:0x80=0x7f', source: 'qemu-log', detail: 'port 0x80: userspace 0x7f' });
    expect(phase(trace, 'user')).toMatchObject({ end: marker!.at, args: { ready_rule: 'pio:0x80=0x7f' } });
    expect(JSON.parse(String(r.stdout)).report.runs[0].ready).toMatchObject({ seen: true, ends: 'user' });
  });
});
