// The reading-strategy rule and its per-host cache (synthetic run durations; the
// calibration itself runs with real bpftrace in test/e2e/read-strategy.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseStrategy, hostKey, hostReadStrategy, readIntervalOf, DEFAULT_READ_INTERVAL_MS, type Calibration } from './read-strategy.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-read-strategy-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('chooseStrategy', () => {
  const around = (center: number) => [0.97, 0.99, 1, 1.01, 1.02, 0.98, 1.03, 1].map((x) => x * center);

  it('picks the strategy whose runs were shorter when the interval excludes 1', () => {
    expect(chooseStrategy(around(100), around(80))).toMatchObject({ choice: 'batched', why: expect.stringMatching(/^batched cost the calibration workload less CPU \(batched\/live 0\.800/) });
    expect(chooseStrategy(around(80), around(100))).toMatchObject({ choice: 'live', why: expect.stringMatching(/^live reading cost the calibration workload less CPU/) });
  });

  it('keeps batched when the difference is within the noise, and says so', () => {
    const r = chooseStrategy(around(100), around(100).reverse());
    expect(r.choice).toBe('batched');
    expect(r.ratioCi95[0]).toBeLessThan(1);
    expect(r.ratioCi95[1]).toBeGreaterThan(1);
    expect(r.why).toMatch(/^no difference resolved/);
  });

  it('maps strategies to read intervals', () => {
    expect(readIntervalOf('batched')).toBe(DEFAULT_READ_INTERVAL_MS);
    expect(readIntervalOf('live')).toBe(0);
  });
});

describe('hostReadStrategy', () => {
  const calibration = (key: string, measuredAt: string, choice: 'live' | 'batched'): Calibration => ({
    hostKey: key,
    measuredAt,
    eventsPerRun: 3000,
    liveCpuMs: [80],
    batchedCpuMs: [100],
    liveMs: [80],
    batchedMs: [100],
    ratioBatchedOverLive: 1.25,
    ratioCi95: [1.1, 1.4],
    wallRatioBatchedOverLive: 1.25,
    wallRatioCi95: [1.1, 1.4],
    batchedMinusLiveUsPerEvent: 6.7,
    choice,
    why: 'synthetic',
    load1m: 1,
  });

  it('uses this host\'s recent calibration from the cache, without measuring', async () => {
    const file = join(dir, 'fresh.json');
    const key = await hostKey();
    writeFileSync(file, JSON.stringify({ 'another host': calibration('another host', new Date().toISOString(), 'batched'), [key]: calibration(key, new Date().toISOString(), 'live') }));
    const r = await hostReadStrategy({ cacheFile: file, onProgress: () => expect.fail('no calibration expected') });
    expect(r).toMatchObject({ strategy: 'live', cached: true });
    expect(JSON.parse(readFileSync(file, 'utf8'))['another host']).toBeDefined();
  });

  it('names the host by kernel, CPUs and bpftrace version', async () => {
    expect(await hostKey()).toMatch(/ \d+x .* bpftrace \S+$/);
  });
});
