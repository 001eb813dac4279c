// Ctrl-C while bpftrace attaches its probes for the second of three traced boots:
// hvscope exits 130, keeps the finished run's trace, timeline and report, says
// so, and leaves no QEMU or bpftrace behind.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { tracingBlocker } from '../../src/tracer/session.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { entry, processesMatching, scratchDir, waitFor } from './trace-cli.js';

const work = scratchDir('hvscope-boot-interrupt-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const missing = requireOrSkip(isRoot && hasCommand('bpftrace') && hasCommand('qemu-system-x86_64') && hasCommand('gcc'), 'root, bpftrace, QEMU and gcc (traced boots of the tiny guest)');
describe.skipIf(missing)('hvscope boot --runs 3, Ctrl-C during the second attach', () => {
  it('exits 130 and keeps the finished run: trace, timeline, report', async () => {
    expect(await tracingBlocker()).toBeNull();
    const out = join(work, 'out');
    const child = spawn(process.execPath, [entry, 'boot', '--guest', 'tiny', '--accel', 'tcg', '--runs', '3', '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    // run-1's phase line is printed once it is written; run-2's bpftrace starts attaching right after.
    expect(await waitFor(() => /run-1: \w+ [\d.]+ ms/.test(stderr), 120_000), stderr).toBe(true);
    expect(stderr).not.toMatch(/run-2: \d+ probes attached/);
    child.kill('SIGINT');
    const code = await closed;
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/run-2: interrupted/);
    expect(stderr).toMatch(/interrupted: 1 run of 3 kept in .*out \(traces, timeline\.svg, report\.txt, report\.json\)/);
    expect(readTrace(join(out, 'run-1.hvtrace.json')).spans.length).toBeGreaterThan(0);
    expect(existsSync(join(out, 'run-2.hvtrace.json'))).toBe(false);
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toMatch(/<svg/);
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).runs).toHaveLength(1);
    expect(existsSync(join(out, 'report.txt'))).toBe(true);
    expect(processesMatching(out)).toEqual([]);
  }, 180_000);
});
