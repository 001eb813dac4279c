import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../tuning/optimize/decide.js';
import { measuredText } from '../tuning/optimize/output.js';
import { optimizeCommand, parseBudget } from './tune-optimize.js';

describe('tune optimize options', () => {
  it('--budget: 30m, 90s, 1h30m, plain seconds; anything else is a usage error', () => {
    expect(parseBudget('30m')).toBe(1_800_000);
    expect(parseBudget('90s')).toBe(90_000);
    expect(parseBudget('1h30m')).toBe(5_400_000);
    expect(parseBudget('45')).toBe(45_000);
    for (const bad of ['', 'm', '1x', '0m', '-5m', '1.5h']) expect(() => parseBudget(bad), bad).toThrow(/--budget/);
  });

  it('the p90 objective reports each arm\'s p90 beside the medians (synthetic runs)', () => {
    const d = decide([100e6, 110e6, 105e6, 95e6, 200e6], [50e6, 55e6, 52e6, 48e6, 90e6], 0.95);
    expect(measuredText(d, 'p90')).toMatch(/^ready median 105 ms → 52\.0 ms, p90 164 ms → 76\.0 ms \(× 0\.495 /);
    expect(measuredText(d, 'kernel')).toMatch(/^kernel 105 ms → 52\.0 ms \(× /);
  });

  it('a starting profile the workload cannot apply is a usage error before anything is written or run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-optimize-cli-test-'));
    try {
      const output = join(dir, 'found.yaml');
      await expect(optimizeCommand({ workload: 'libvirt:tiny', from: 'qemu-default', budget: '1m', output })).rejects.toThrow(/^--from qemu-default: section qemu cannot be applied to a creation through libvirt/);
      expect(existsSync(join(dir, 'found.search'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
