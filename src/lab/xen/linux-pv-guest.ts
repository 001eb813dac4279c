// The `linux` guest of the Xen lab: Debian's kernel (the one dom0 boots) as a PV
// domU, given to xl uncompressed (libxenguest decompressing the bzImage's xz
// stream under TCG costs 8–11 s), with a busybox initramfs whose /init loads
// xen-netfront, waits for eth0 (the vif's frontend), prints a marker on hvc0 and
// powers off. Built from Debian packages into the lab's cache.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../../model/errors.js';
import { defaultCacheDir } from '../linux-guest.js';
import { writeCpio, type CpioEntry } from './cpio.js';
import { aptDownload, prepareXenLabPackages } from './packages.js';

/** The line the guest prints once its vif's frontend (eth0) is there. */
export const LINUX_PV_MARKER = 'hvscope-linux-pv: eth0 up, hello from a Xen PV Linux guest';
/** A Debian kernel needs this much to boot as a domU (issue 5's feasibility run). */
export const LINUX_PV_MEMORY_MB = 128;
/** Kernel command line: console on the PV console, quiet so the marker is not lost among messages. */
export const LINUX_PV_EXTRA = 'console=hvc0 quiet panic=-1';

export interface LinuxPvGuest {
  /** Uncompressed ELF vmlinux. */
  kernel: string;
  /** newc cpio (uncompressed: nothing to inflate in the guest). */
  ramdisk: string;
  kernelRelease: string;
}

const NETFRONT = 'drivers/net/xen-netfront.ko';

export const LINUX_PV_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
/bin/busybox insmod /xen-netfront.ko
n=0
while [ ! -e /sys/class/net/eth0 ] && [ "$n" -lt 100 ]; do n=$((n + 1)); /bin/busybox sleep 0.05; done
if [ -e /sys/class/net/eth0 ]; then echo "${LINUX_PV_MARKER}"; else echo "hvscope-linux-pv: no eth0 after 5 s"; fi
/bin/busybox poweroff -f
`;

/** The xz stream of a bzImage, decompressed: the kernel ELF. UserError when there is none. */
export function vmlinuxFromBzImage(bzImage: Buffer, file: string): Buffer {
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  for (let at = bzImage.indexOf(magic); at >= 0; at = bzImage.indexOf(magic, at + 1)) {
    const r = spawnSync('xz', ['-dc', '--single-stream'], { input: bzImage.subarray(at), maxBuffer: 512 * 1024 * 1024 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError('Xen lab: xz not found (apt-get install xz-utils)');
    const out = r.stdout as Buffer;
    if (out && out.length > 64 && out.readUInt32BE(0) === 0x7f454c46) return out;
  }
  throw new UserError(`${file}: no xz-compressed ELF kernel inside (not a Debian x86 bzImage?)`);
}

/** Builds (or returns the cached) linux guest for the lab's kernel release. */
export async function prepareLinuxPvGuest(cacheDir: string = defaultCacheDir()): Promise<LinuxPvGuest> {
  const pkgs = await prepareXenLabPackages(cacheDir);
  const dir = join(cacheDir, 'xen-lab', `linux-pv-guest-${pkgs.kernelRelease}`);
  const result: LinuxPvGuest = { kernel: join(dir, 'vmlinux'), ramdisk: join(dir, 'initramfs.cpio'), kernelRelease: pkgs.kernelRelease };
  if (existsSync(result.kernel) && existsSync(result.ramdisk)) return result;
  const work = `${dir}.build-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    await writeFile(join(work, 'vmlinux'), vmlinuxFromBzImage(readFileSync(pkgs.dom0Kernel), pkgs.dom0Kernel));
    // xen-netfront is not among dom0's modules: take it from the same kernel package.
    const debDir = join(work, 'deb');
    await mkdir(debDir);
    await aptDownload(`linux-image-${pkgs.kernelRelease}`, debDir);
    const deb = (await readdir(debDir)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new UserError(`Xen lab: apt-get download linux-image-${pkgs.kernelRelease} left no .deb`);
    const tree = join(work, 'tree');
    await mkdir(tree);
    await execa('dpkg-deb', ['--fsys-tarfile', join(debDir, deb)], { stdin: 'ignore', encoding: 'buffer', buffer: false }).pipe('tar', [
      '-x', '-C', tree, '--wildcards', `./lib/modules/*/kernel/${NETFRONT}`,
    ]);
    const ko = join(tree, 'lib', 'modules', pkgs.kernelRelease, 'kernel', NETFRONT);
    if (!existsSync(ko)) throw new UserError(`Xen lab: linux-image-${pkgs.kernelRelease} has no ${NETFRONT}`);
    const entries: CpioEntry[] = [
      { kind: 'dir', path: 'bin' },
      { kind: 'dir', path: 'dev' },
      { kind: 'dir', path: 'proc' },
      { kind: 'dir', path: 'sys' },
      { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
      { kind: 'file', path: 'bin/busybox', data: await readFile(pkgs.busybox), mode: 0o755 },
      { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
      { kind: 'file', path: 'xen-netfront.ko', data: await readFile(ko) },
      { kind: 'file', path: 'init', data: LINUX_PV_INIT, mode: 0o755 },
    ];
    await writeFile(join(work, 'initramfs.cpio'), writeCpio(entries));
    await rm(debDir, { recursive: true, force: true });
    await rm(tree, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return result;
}
