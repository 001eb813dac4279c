// End-to-end: `hvscope demo` boots tiny live when the host allows it (root,
// bpftrace, QEMU, gcc) and falls back to the bundled real trace otherwise
// (here: run as an unprivileged user), saying which it did. Both write
// demo-out/timeline.svg and demo-out/trace.json.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/model/io.js';
import { PHASE_LANE_ID } from '../../src/model/trace.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { buildCli, hvscope, nobodyHome, scratchDir, xmllintErrors } from './trace-cli.js';

let work = '';
beforeAll(async () => {
  await buildCli();
  work = scratchDir('hvscope-demo-e2e-');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function expectDemoOutput(dir: string): Promise<void> {
  const svg = join(dir, 'demo-out/timeline.svg');
  expect(await xmllintErrors(svg)).toBe('');
  const chrome = JSON.parse(readFileSync(join(dir, 'demo-out/trace.json'), 'utf8'));
  const events = Array.isArray(chrome) ? chrome : chrome.traceEvents;
  expect(events.length).toBeGreaterThan(0);
}

const noLive = requireOrSkip(
  isRoot && hasCommand('bpftrace') && hasCommand('qemu-system-x86_64') && hasCommand('gcc'),
  'root, bpftrace, qemu-system-x86_64 and gcc (live demo)',
);
describe('hvscope demo', () => {
  it.skipIf(noLive)('live: boots tiny traced by bpftrace and says so', async () => {
    const r = await hvscope(['demo', '--json'], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const summary = JSON.parse(String(r.stdout));
    expect(summary.source).toBe('live');
    expect(summary.why).toMatch(/live boot of tiny \((kvm|tcg)\), traced with bpftrace/);
    const trace = readTrace(join(work, 'demo-out/run.hvtrace.json'));
    expect(trace.meta.source).toBe('bpftrace');
    expect(trace.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel', 'user']);
    await expectDemoOutput(work);
  });

  const noSetpriv = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv (to run as an unprivileged user)');
  it.skipIf(noSetpriv)('without root: renders the bundled trace and says why', async () => {
    const home = nobodyHome();
    try {
      const r = await hvscope(['demo'], { asNobodyWithHome: home, cwd: home });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout)).toMatch(/^Bundled trace: no live boot: not root/);
      expect(String(r.stderr)).toMatch(/fixtures\/qemu-tcg-pc-linux\/run\.hvtrace\.json/);
      expect(existsSync(join(home, 'demo-out/run.hvtrace.json'))).toBe(false);
      await expectDemoOutput(home);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('--bundled: the bundled trace even where a live boot is possible', async () => {
    const dir = join(work, 'bundled');
    const r = await hvscope(['demo', '--bundled', '--json', '-o', join(dir, 'demo-out')], { cwd: work });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toMatchObject({ source: 'bundled', why: expect.stringMatching(/--bundled given/) });
    await expectDemoOutput(dir);
  });
});
