// End-to-end: `hvscope trace` as a real child process with real bpftrace.
// Bad input needs no root; the traced runs need root and bpftrace.
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readTrace } from '../../src/model/io.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { alive, buildCli, childrenOf, hvscope, nobodyHome, scratchDir, waitFor, xmllintErrors } from './trace-cli.js';

let work = '';
beforeAll(async () => {
  await buildCli();
  work = scratchDir('hvscope-trace-e2e-');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** stderr lines that hvscope printed as errors. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('hvscope: ') && !/^hvscope: (attaching|\d+ probes)/.test(l));

describe('hvscope trace: bad input gives one clear line and a non-zero exit', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown probe set', ['trace', '--probes', 'qemu,bogus', '--', 'true'], /unknown probe set 'bogus'; valid sets: qemu, net, exec/],
    ['missing command after --', ['trace', '--probes', 'exec'], /no command given: put the command to trace after --/],
    ['command without --', ['trace', 'sleep', '1'], /put the command to trace after --/],
    ['command not found', ['trace', '--', 'hvscope-no-such-command'], /hvscope-no-such-command: command not found on PATH/],
    ['read interval not a number', ['trace', '--read-interval', '1.5s', '--', 'true'], /--read-interval 1\.5s: expected a whole number of milliseconds ≥ 0/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await hvscope(args, { cwd: work });
      expect(r.exitCode).not.toBe(0);
      const lines = errorLines(String(r.stderr));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
      expect(String(r.stderr)).not.toMatch(/\n\s+at /); // no stack
      expect(existsSync(join(work, 'run.hvtrace.json'))).toBe(false);
    });
  }

  const noSetpriv = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv (to run as an unprivileged user)');
  it.skipIf(noSetpriv)('not root: says tracing needs root, starts nothing', async () => {
    const home = nobodyHome();
    try {
      const r = await hvscope(['trace', '--', 'sleep', '5'], { asNobodyWithHome: home, cwd: home });
      expect(r.exitCode).toBe(1);
      expect(errorLines(String(r.stderr))).toEqual([expect.stringMatching(/^hvscope: tracing needs root: .*run it with sudo$/)]);
      expect(existsSync(join(home, 'run.hvtrace.json'))).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it.skipIf(requireOrSkip(isRoot, 'root'))('bpftrace missing from PATH: says how to install it', async () => {
    // A PATH with the workload's tools but no bpftrace.
    const bin = join(work, 'bin-without-bpftrace');
    mkdirSync(bin, { recursive: true });
    for (const tool of ['sh', 'sleep', 'mount']) {
      const path = String((await execa('sh', ['-c', 'command -v "$1"', 'sh', tool])).stdout).trim();
      if (!existsSync(join(bin, tool))) symlinkSync(path, join(bin, tool));
    }
    const r = await hvscope(['trace', '--', 'sleep', '0'], { env: { PATH: bin }, cwd: work });
    expect(r.exitCode).not.toBe(0);
    const lines = errorLines(String(r.stderr));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/bpftrace/);
    expect(lines[0]).toMatch(/apt-get install -y bpftrace|not installed|not found/);
  });
});

const noTracing = requireOrSkip(isRoot && hasCommand('bpftrace'), 'root and bpftrace');
describe.skipIf(noTracing)('hvscope trace with real bpftrace', () => {
  it('passes the exit code on, writes a valid trace and SVG, reports lost events', async () => {
    const out = join(work, 'exit3.hvtrace.json');
    const svg = join(work, 'exit3.svg');
    const r = await hvscope(['trace', '--probes', 'exec', '-o', out, '--svg', svg, '--', 'sh', '-c', 'uname -r >/dev/null; sleep 0.2; exit 3'], { cwd: work });
    expect(r.exitCode).toBe(3);
    expect(String(r.stderr)).toMatch(/hvscope: lost events: 0/);
    const trace = readTrace(out);
    expect(trace.meta.source).toBe('bpftrace');
    expect(trace.meta.command).toEqual(['sh', '-c', 'uname -r >/dev/null; sleep 0.2; exit 3']);
    expect(trace.meta.lostEvents).toBe(0);
    const root = trace.spans.find((s) => s.name === 'sh');
    expect(root?.start).toBe(0); // t0 = the command's exec
    expect(root?.args?.exitCode).toBe(3);
    const sleep = trace.spans.find((s) => s.name === 'sleep');
    expect(sleep!.end - sleep!.start).toBeGreaterThanOrEqual(150_000_000);
    expect(trace.spans.some((s) => s.name === 'uname')).toBe(true);
    expect(await xmllintErrors(svg)).toBe('');
  });

  it('--json: a summary on stdout, the command\'s own stdout moved to stderr', async () => {
    const out = join(work, 'json.hvtrace.json');
    const r = await hvscope(['trace', '--probes', 'exec', '--json', '-o', out, '--', 'sh', '-c', 'echo from-the-command'], { cwd: work });
    expect(r.exitCode).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    expect(summary).toMatchObject({ trace: out, exitCode: 0, interrupted: false, partial: false, lostEvents: 0 });
    expect(String(r.stderr)).toContain('from-the-command');
  });

  it('SIGINT after the probes attach: partial trace written, exit 130, no bpftrace or workload left', async () => {
    const out = join(work, 'interrupted.hvtrace.json');
    const child = hvscope(['trace', '--probes', 'exec', '-o', out, '--', 'sleep', '30'], { cwd: work });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitFor(() => /probes attached/.test(stderr), 60_000)).toBe(true);
    // Everything this run started: bpftrace and the workload (sleep), children of hvscope.
    const started = childrenOf(child.pid!);
    expect(started.map((p) => p.cmd.split(' ')[0])).toEqual(expect.arrayContaining(['bpftrace', 'sleep']));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(stderr).toMatch(/interrupted/);
    const trace = readTrace(out);
    expect(trace.meta.recorded).toMatch(/interrupted: partial trace/);
    const sleep = trace.spans.find((s) => s.name === 'sleep');
    expect(sleep?.args?.signal).toBe(15); // ended by us, not left running
    expect(sleep!.end).toBeLessThan(30e9);
    for (const p of started) expect(alive(p.pid), `${p.cmd} [${p.pid}] still running`).toBe(false);
  });

  it('bpftrace dies mid-run: the workload is ended, the partial trace written, one error line, non-zero exit', async () => {
    const out = join(work, 'tracer-died.hvtrace.json');
    const child = hvscope(['trace', '--probes', 'exec', '-o', out, '--', 'sleep', '30'], { cwd: work });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitFor(() => /probes attached/.test(stderr), 60_000)).toBe(true);
    const started = childrenOf(child.pid!);
    process.kill(started.find((p) => p.cmd.startsWith('bpftrace'))!.pid, 'SIGKILL');
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(stderr).toMatch(/hvscope: bpftrace exited while the workload was running.*; partial trace written to /);
    expect(readTrace(out).meta.recorded).toMatch(/partial: bpftrace exited/);
    for (const p of started) expect(alive(p.pid), `${p.cmd} [${p.pid}] still running`).toBe(false);
  });

  it('Ctrl-C on a terminal (SIGINT to hvscope and bpftrace at once): still an interrupt with a partial trace', async () => {
    const out = join(work, 'terminal-interrupt.hvtrace.json');
    const child = hvscope(['trace', '--probes', 'exec', '-o', out, '--', 'sleep', '30'], { cwd: work });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitFor(() => /probes attached/.test(stderr), 60_000)).toBe(true);
    const started = childrenOf(child.pid!);
    const bpftrace = started.find((p) => p.cmd.startsWith('bpftrace'))!;
    // bpftrace shares hvscope's process group (the terminal's), the workload has its own
    process.kill(bpftrace.pid, 'SIGINT');
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode, stderr).toBe(130);
    expect(stderr).not.toMatch(/bpftrace exited while/);
    expect(readTrace(out).meta.recorded).toMatch(/interrupted: partial trace/);
    for (const p of started) expect(alive(p.pid), `${p.cmd} [${p.pid}] still running`).toBe(false);
  });
});
