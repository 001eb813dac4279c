// Unit tests of the Xen lab's linux guest pieces that need no download: the kernel
// ELF out of a bzImage's xz stream, and the /init script (busybox sh syntax).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LINUX_PV_INIT, LINUX_PV_MARKER, vmlinuxFromBzImage } from './linux-pv-guest.js';

describe('vmlinuxFromBzImage', () => {
  it('finds the xz stream after a setup header and returns the ELF inside', () => {
    // Synthetic bzImage: junk (setup code stand-in), then an xz stream of a fake ELF, then trailing bytes.
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(200, 7)]);
    const xz = spawnSync('xz', ['-c', '--check=crc32'], { input: elf }).stdout as Buffer;
    const image = Buffer.concat([Buffer.alloc(1000, 0x90), xz, Buffer.alloc(64, 0)]);
    expect(vmlinuxFromBzImage(image, 'synthetic-bzImage').equals(elf)).toBe(true);
  });

  it('a file without one is named in a UserError', () => {
    expect(() => vmlinuxFromBzImage(Buffer.alloc(4096, 1), '/x/vmlinuz')).toThrow(/^\/x\/vmlinuz: no xz-compressed ELF kernel inside/);
  });
});

describe('LINUX_PV_INIT', () => {
  it('is valid sh, loads netfront, waits for eth0, prints the marker, powers off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-linux-pv-test-'));
    try {
      writeFileSync(join(dir, 'init'), LINUX_PV_INIT);
      execFileSync('sh', ['-n', join(dir, 'init')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const order = ['insmod /xen-netfront.ko', '/sys/class/net/eth0', LINUX_PV_MARKER, 'poweroff -f'].map((x) => LINUX_PV_INIT.indexOf(x));
    expect(order.every((at) => at > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
