// End-to-end: `hvscope diff` and `hvscope report --critical-path` through the built CLI
// (bin/hvscope) on real recordings: the Xen lab's stock and tuned profiles, and tiny boots
// of one profile in two alternating sets (A/A). No guest is booted here.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import type { DiffResult } from '../../src/analysis/diff.js';
import { parseSvg } from '../helpers/svg.js';
import { hvscope, repo, scratchDir } from './trace-cli.js';

const LAB = join(repo, 'fixtures/xen-lab-stock-vs-unikernel');
const AA = join(repo, 'fixtures/qemu-tiny-aa');
const scratch = scratchDir('hvscope-diff-e2e-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('hvscope diff on the lab\'s stock and tuned runs', () => {
  it('text: each phase with its Δ, interval and verdict; the spans that explain the devices change', async () => {
    const r = await hvscope(['diff', `${LAB}:xen-stock`, `${LAB}:xen-unikernel`]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = String(r.stdout);
    expect(out).toMatch(/^A: .*:xen-stock, 4 runs$/m);
    expect(out).toMatch(/^devices +4\/4 .* B lower$/m);
    expect(out).toMatch(/^toolstack +4\/4 .* no difference$/m);
    expect(out).toMatch(/^devices: −\d/m);
    expect(out).toMatch(/process +vif-bridge .*gone in B/);
    expect(out).toMatch(/new in B: vif-bridge-fast/);
  });

  it('--json and -o diff.svg', async () => {
    const svg = join(scratch, 'diff.svg');
    const r = await hvscope(['diff', `${LAB}:xen-stock`, `${LAB}:xen-unikernel`, '--json', '-o', svg, '--seed', '7', '--top', '3']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const d = JSON.parse(String(r.stdout)) as DiffResult;
    expect(d.method).toMatchObject({ seed: 7, confidence: 0.95, min_runs_to_call: 4 });
    const devices = d.phases.find((p) => p.phase === 'devices')!;
    expect(devices.comparison?.verdict).toBe('lower');
    expect(devices.spans.length).toBeLessThanOrEqual(3);
    expect(String(r.stderr)).toMatch(/wrote .*diff\.svg/);
    expect(existsSync(svg)).toBe(true);
    parseSvg(readFileSync(svg, 'utf8'));
  });
});

describe('hvscope diff on two sets of one profile', () => {
  it('tiny boots, qemu-microvm-min twice, alternating: no significant difference in any phase', async () => {
    const r = await hvscope(['diff', `${AA}:qemu-microvm-min`, `${AA}:qemu-microvm-min-2`, '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const d = JSON.parse(String(r.stdout)) as DiffResult;
    expect(d.phases.map((p) => p.phase)).toEqual(['toolstack', 'firmware', 'kernel', 'user', 'total']);
    for (const p of d.phases) expect(p.comparison?.verdict, p.phase).toBe('no difference');
  });

  const labAA = join(repo, 'fixtures/xen-lab-stock-aa');
  it.skipIf(!existsSync(labAA))('Xen lab, xen-stock runs split odd/even: no significant difference in any phase', async () => {
    const r = await hvscope(['diff', join(labAA, 'odd'), join(labAA, 'even'), '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    for (const p of (JSON.parse(String(r.stdout)) as DiffResult).phases) expect(p.comparison?.verdict, p.phase).toBe('no difference');
  });
});

describe('hvscope diff: bad input', () => {
  it.each([
    ['a lab output with several profiles and no :PROFILE', [LAB, `${LAB}:xen-stock`], /holds runs of 2 profiles \(xen-stock, xen-unikernel\); pick one as/, 1],
    ['an unknown profile', [`${LAB}:nope`, `${LAB}:xen-stock`], /no profile "nope"/, 1],
    ['a missing path', ['no-such-dir', `${LAB}:xen-stock`], /no-such-dir: no such file or directory/, 1],
    ['a confidence out of range (a usage error)', [`${LAB}:xen-stock`, `${LAB}:xen-unikernel`, '--confidence', '1.5'], /--confidence 1.5: expected a number between 0 and 1/, 2],
  ] as [string, string[], RegExp, number][])('%s: one line, exit 1 (2 for usage), nothing written', async (_what, args, message, code) => {
    const r = await hvscope(['diff', ...args], { cwd: scratch });
    expect(r.exitCode).toBe(code);
    expect(String(r.stderr).trim().split('\n')).toHaveLength(1);
    expect(String(r.stderr)).toMatch(message);
    expect(String(r.stdout)).toBe('');
  });
});

describe('hvscope report --critical-path', () => {
  const XL = join(repo, 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');
  it('text: the chain from xl to the unpause, with the hotplug script on it', async () => {
    const r = await hvscope(['report', XL, '--critical-path', '--depth', '2']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const out = String(r.stdout);
    expect(out).toMatch(/^critical path of xl-create: ready at 4\.08 s/m);
    expect(out).toMatch(/^toolstack +0 ns +4\.08 s +xl \[506\] \(running at ready\)$/m);
    expect(out).toMatch(/^devices .* {4}vif-bridge \[525\]$/m);
  });

  it('--json: the report plus each run\'s links and gaps', async () => {
    const r = await hvscope(['report', XL, '--critical-path', '--json']);
    const out = JSON.parse(String(r.stdout)) as { runs: unknown[]; critical_paths: { label: string; links: { name: string; depth: number }[] }[] };
    expect(out.runs).toHaveLength(1);
    expect(out.critical_paths[0].links[0]).toMatchObject({ name: 'xl', depth: 0 });
    expect(out.critical_paths[0].links.some((l) => l.name === 'vif-bridge' && l.depth === 2)).toBe(true);
  });

  it('--depth without --critical-path is a usage error', async () => {
    const r = await hvscope(['report', XL, '--depth', '1']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/--depth: only with --critical-path/);
  });
});
