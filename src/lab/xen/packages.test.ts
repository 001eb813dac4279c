// The lab's Debian inputs, fetched for real with apt-get download into the
// user's cache (the same cache the lab uses, so this runs once per machine).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../../test/helpers/requirements.js';
import { UserError } from '../../model/errors.js';
import { DOM0_MODULES, aptDownload, checkHostXenTools, moduleDependsOf, moduleNameOf, prepareXenLabPackages } from './packages.js';

const noApt = requireOrSkip(hasCommand('apt-get') && hasCommand('dpkg-deb'), 'apt-get and dpkg-deb (Debian)');

describe.skipIf(noApt)('prepareXenLabPackages', () => {
  it('unpacks Xen as a 32-bit multiboot ELF, a dom0 kernel and busybox', async () => {
    const p = await prepareXenLabPackages();
    const xen = await readFile(p.xen);
    expect(xen.readUInt32BE(0)).toBe(0x7f454c46);
    expect(xen[4]).toBe(1); // ELFCLASS32: QEMU's multiboot loader refuses 64-bit ELF
    // Multiboot v1 header (magic, flags, checksum) in the first 8 KiB, as QEMU looks for it.
    let multiboot = false;
    for (let at = 0; at + 12 <= 8192; at += 4) {
      if (xen.readUInt32LE(at) === 0x1badb002 && ((xen.readUInt32LE(at) + xen.readUInt32LE(at + 4) + xen.readUInt32LE(at + 8)) >>> 0) === 0) multiboot = true;
    }
    expect(multiboot).toBe(true);
    const kernel = await readFile(p.dom0Kernel);
    expect(kernel.subarray(0x202, 0x206).toString('latin1')).toBe('HdrS'); // bzImage boot protocol header
    expect(p.packages.map((s) => s.split(' ')[0])).toEqual(['xen-hypervisor-4.17-amd64', expect.stringMatching(/^linux-image-6\.1\.0-\d+-amd64$/), 'busybox-static']);
    expect((await readFile(p.busybox)).readUInt32BE(0)).toBe(0x7f454c46);
    // A second call is served from the cache.
    expect(await prepareXenLabPackages()).toEqual(p);
  });

  it('orders dom0 modules after everything each depends on, and needs no module outside the list', async () => {
    const p = await prepareXenLabPackages();
    const loaded = new Set<string>();
    for (const path of p.dom0Modules) {
      for (const dep of moduleDependsOf(await readFile(path))) {
        expect(loaded.has(dep.replace(/-/g, '_')), `${moduleNameOf(path)} needs ${dep} loaded first`).toBe(true);
      }
      loaded.add(moduleNameOf(path));
    }
    expect(loaded.size).toBe(DOM0_MODULES.length);
  });
});

describe.skipIf(noApt)('aptDownload', () => {
  it('names a package apt does not know, in one line, and leaves nothing behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hvscope-apt-unit-'));
    try {
      const err = await aptDownload('hvscope-test-no-such-package', dir).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(/^Xen lab: Debian package hvscope-test-no-such-package is not available from apt \(run apt-get update;/);
      expect((err as Error).message).not.toContain('\n');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name that is not a Debian package name before running apt', async () => {
    await expect(aptDownload('-o=APT::Foo', '/nonexistent')).rejects.toThrow(/is not a Debian package name/);
  });
});

describe('checkHostXenTools', () => {
  it('names the Debian package to install when the toolstack is missing', () => {
    expect(() => checkHostXenTools('/nonexistent-root')).toThrow(UserError);
    expect(() => checkHostXenTools('/nonexistent-root')).toThrow(/apt-get install -y --no-install-recommends xen-utils-4\.17/);
  });
});

describe('moduleDependsOf', () => {
  it('reads the depends= string of a synthetic .modinfo', () => {
    const synthetic = Buffer.from('\0license=GPL\0depends=virtio,9pnet,virtio_ring\0intree=Y\0', 'latin1');
    expect(moduleDependsOf(synthetic)).toEqual(['virtio', '9pnet', 'virtio_ring']);
    expect(moduleDependsOf(Buffer.from('\0depends=\0', 'latin1'))).toEqual([]);
  });
});
