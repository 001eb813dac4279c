// `tune optimize --workload lab-xen:tiny-pv` measures a pair in one lab boot: the real Xen lab
// (Debian's Xen 4.17, PV dom0 under QEMU TCG) applies both profiles of the pair in dom0 in the
// order given, one real `xl create` of tiny-pv each, and each profile's outcome is its own.
// One lab boot with two `tune apply`s and rollbacks: ~2–3 minutes and ~1.3 GB.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_RUN_TIMEOUT_MS, parseWorkload } from '../../src/tuning/optimize/workloads.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';

const missing =
  requireOrSkip(isRoot, 'root') ||
  requireOrSkip(hasCommand('qemu-system-x86_64'), 'qemu-system-x86_64 (Debian package qemu-system-x86)') ||
  requireOrSkip(existsSync('/usr/lib/xen-4.17/bin/xl'), 'xen-utils-4.17 (apt-get install xen-utils-4.17)') ||
  requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-tune-optimize-xen-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(missing)('tune optimize lab-xen: a pair in one lab boot', () => {
  it('applies both profiles after one boot, in the order given, each with its own creation and marker time', async () => {
    const workload = parseWorkload('lab-xen:tiny-pv');
    const dir = join(scratch, 'pair');
    const [found, stock] = await workload.runPair!({ profiles: ['xen-lab-found', 'xen-stock'], dir, timeoutMs: LAB_RUN_TIMEOUT_MS });
    expect(found.ok, JSON.stringify(found)).toBe(true);
    expect(stock.ok, JSON.stringify(stock)).toBe(true);
    if (!found.ok || !stock.ok) return;
    // one lab run, its experiment log naming the profiles in the pair's order
    const log = readFileSync(join(dir, 'xen-experiment.txt'), 'utf8');
    expect(log.match(/^profile p=\d+ dir=\S+$/gm)).toEqual(['profile p=0 dir=xen-lab-found', 'profile p=1 dir=xen-stock']);
    expect(found.readyNs).toBeGreaterThan(0);
    expect(stock.readyNs).toBeGreaterThan(0);
    expect(found.readyNs).not.toBe(stock.readyNs);
    expect(found.phasesNs.toolstack).toBeGreaterThan(0); // xl create's own wall time
  }, LAB_RUN_TIMEOUT_MS + 60_000);
});
