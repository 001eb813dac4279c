import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMounts, tracefsMounted } from './tracefs.js';

// Lines in the format of this host's /proc/mounts (kernel 6.18), one with an
// octal-escaped space as the kernel writes it.
const MOUNTS_WITH_TRACEFS = [
  'proc /proc proc rw,relatime 0 0',
  'sysfs /sys sysfs rw,relatime 0 0',
  '/dev/vda / ext4 rw,relatime,discard 0 0',
  'nodev /sys/kernel/tracing tracefs rw,relatime 0 0',
  'tmpfs /mnt/with\\040space tmpfs rw 0 0',
].join('\n');
const MOUNTS_WITHOUT = [
  'proc /proc proc rw,relatime 0 0',
  'sysfs /sys sysfs rw,relatime 0 0',
  // debugfs alone does not help bpftrace 0.17 (it reads /sys/kernel/tracing first)
  'debugfs /sys/kernel/debug debugfs rw,relatime 0 0',
].join('\n');

describe('tracefs detection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-mounts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses /proc/mounts lines, unescaping octal escapes', () => {
    const mounts = parseMounts(MOUNTS_WITH_TRACEFS);
    expect(mounts).toHaveLength(5);
    expect(mounts[3]).toEqual({ source: 'nodev', target: '/sys/kernel/tracing', type: 'tracefs' });
    expect(mounts[4].target).toBe('/mnt/with space');
  });

  it('finds tracefs only when it is mounted at /sys/kernel/tracing', async () => {
    const withFile = join(dir, 'with');
    const withoutFile = join(dir, 'without');
    writeFileSync(withFile, MOUNTS_WITH_TRACEFS);
    writeFileSync(withoutFile, MOUNTS_WITHOUT);
    expect(await tracefsMounted('/sys/kernel/tracing', withFile)).toBe(true);
    expect(await tracefsMounted('/sys/kernel/tracing', withoutFile)).toBe(false);
    expect(await tracefsMounted('/sys/kernel/tracing', join(dir, 'missing'))).toBe(false);
  });
});
