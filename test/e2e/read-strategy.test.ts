// The per-host reading calibration with real bpftrace (src/tracer/read-strategy.ts): it
// sees every run it makes, measures each from its events (BPF timestamps, and the
// thread's CPU time read in BPF), chooses a
// strategy by its rule and caches the result per host. Short (3 runs per strategy): this
// checks the mechanism, not which strategy wins on the CI host.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { liveBpftraceCount } from '../../src/tracer/bpftrace-run.js';
import { calibrateReading, chooseStrategy, hostKey, hostReadStrategy } from '../../src/tracer/read-strategy.js';
import { ensureTracefs } from '../../src/tracer/tracefs.js';

const missing = requireOrSkip(isRoot && hasCommand('bpftrace') && hasCommand('awk'), 'root, bpftrace and awk');
const dir = mkdtempSync(join(tmpdir(), 'hvscope-read-strategy-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(missing)('reading-strategy calibration (real bpftrace)', () => {
  it('times every run of both strategies from its events and decides by the rule', async () => {
    await ensureTracefs();
    const c = await calibrateReading({ runs: 3, events: 600 });
    expect(c.liveMs).toHaveLength(3);
    expect(c.batchedCpuMs).toHaveLength(3);
    for (const ms of [...c.liveMs, ...c.batchedMs]) expect(ms).toBeGreaterThan(0);
    // the thread's CPU time between its first and last write: positive, at most the wall time (one tick of slack)
    for (const [i, cpu] of c.liveCpuMs.entries()) {
      expect(cpu).toBeGreaterThan(0);
      expect(cpu).toBeLessThanOrEqual(c.liveMs[i] + 10);
    }
    expect(chooseStrategy(c.liveCpuMs, c.batchedCpuMs).choice).toBe(c.choice);
    expect(c.hostKey).toBe(await hostKey());
    expect(liveBpftraceCount()).toBe(0);
  }, 90_000);

  it('stores the calibration per host and reuses it', async () => {
    const cacheFile = join(dir, 'read-strategy.json');
    const messages: string[] = [];
    const first = await hostReadStrategy({ cacheFile, onProgress: (m) => messages.push(m) });
    expect(first.cached).toBe(false);
    expect(messages.at(-1)).toMatch(/^reading strategy: (live|batched) \(/);
    const stored = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect(stored[await hostKey()].choice).toBe(first.strategy);
    const again = await hostReadStrategy({ cacheFile });
    expect(again).toMatchObject({ strategy: first.strategy, cached: true });
  }, 90_000);
});
