// Debian packages the Xen lab boots: the Xen hypervisor (xen-hypervisor-4.17-amd64),
// a dom0 kernel with the few modules dom0 needs (linux-image-*-amd64) and
// busybox-static for dom0's initramfs. They are fetched with `apt-get download`
// (nothing is installed on the host) and unpacked into a cache. The toolstack
// itself (xl, xenstored, hotplug scripts) is not unpacked: dom0 runs the host's
// installed xen-utils-4.17 through the read-only 9p share of the host's root.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { execa, ExecaError } from 'execa';
import { UserError } from '../../model/errors.js';
import { defaultCacheDir, newestKernelPackage } from '../linux-guest.js';

export const XEN_HYPERVISOR_PACKAGE = 'xen-hypervisor-4.17-amd64';
export const XEN_UTILS_PACKAGE = 'xen-utils-4.17';
export const BUSYBOX_PACKAGE = 'busybox-static';
/** Where Debian's xen-utils-4.17 puts the toolstack; dom0 runs these from the host's root. */
export const XEN_TOOLS_DIR = '/usr/lib/xen-4.17/bin';

/**
 * dom0's kernel modules in load order (each after the ones it depends on, as the
 * modules' own `depends=` say): virtio PCI, the RNG (without it dom0 waits minutes
 * for entropy), 9p over virtio and overlayfs for the host's root; then the Xen
 * device drivers the toolstack needs and the bridge for vifs. Paths are relative
 * to /lib/modules/RELEASE/kernel.
 */
export const DOM0_MODULES: readonly string[] = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'drivers/char/hw_random/virtio-rng.ko',
  'fs/netfs/netfs.ko',
  'fs/fscache/fscache.ko',
  'net/9p/9pnet.ko',
  'net/9p/9pnet_virtio.ko',
  'fs/9p/9p.ko',
  'fs/overlayfs/overlay.ko',
  'drivers/xen/xen-evtchn.ko',
  'drivers/xen/xen-privcmd.ko',
  'drivers/xen/xenfs/xenfs.ko',
  'drivers/xen/xen-gntdev.ko',
  'drivers/xen/xen-gntalloc.ko',
  'drivers/net/xen-netback/xen-netback.ko',
  'drivers/block/xen-blkback/xen-blkback.ko',
  'net/llc/llc.ko',
  'net/802/stp.ko',
  'net/bridge/bridge.ko',
  'drivers/net/tun.ko',
];

export interface XenLabPackages {
  /** Xen, gunzipped: QEMU's multiboot loader needs the 32-bit ELF, not xen.gz. */
  xen: string;
  /** dom0 kernel (bzImage). */
  dom0Kernel: string;
  /** e.g. 6.1.0-56-amd64 */
  kernelRelease: string;
  /** Absolute paths of DOM0_MODULES in load order. */
  dom0Modules: string[];
  /** busybox from busybox-static. */
  busybox: string;
  /** `name version` of each package used. */
  packages: string[];
}

// Bump when the cache layout changes, so old entries are rebuilt.
const LAYOUT = 1;
const MANIFEST = 'lab.json';

async function run(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    return (await execa(file, args, { cwd, stdin: 'ignore' })).stdout;
  } catch (err) {
    if (err instanceof ExecaError) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test(err.shortMessage))
        throw new UserError(`Xen lab: ${file} not found; the lab needs apt-get, dpkg-deb and tar (Debian)`);
      const stderr = String(err.stderr ?? '');
      const missing = /Unable to locate package (\S+)|Can't select candidate version from package (\S+)|has no installation candidate/.exec(stderr);
      if (missing)
        throw new UserError(`Xen lab: Debian package ${missing[1] ?? missing[2] ?? args.at(-1)} is not available from apt (run apt-get update; the lab needs ${XEN_HYPERVISOR_PACKAGE}, linux-image-*-amd64 and ${BUSYBOX_PACKAGE} from Debian 12)`);
      const detail = (stderr || err.shortMessage).trim().split('\n').slice(-3).join('; ');
      throw new UserError(`Xen lab: \`${file} ${args.join(' ')}\` failed: ${detail}`);
    }
    throw err;
  }
}

/** `apt-get download NAME` into dir (nothing is installed); UserError naming a package apt does not know. */
export async function aptDownload(name: string, dir: string): Promise<void> {
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name)) throw new UserError(`Xen lab: ${JSON.stringify(name)} is not a Debian package name`);
  await run('apt-get', ['download', '-q', name], dir);
}

/** UserError unless the host has Debian's Xen toolstack installed (dom0 runs it through 9p). */
export function checkHostXenTools(root = '/'): void {
  for (const tool of ['xl', 'xenstored', 'xen-init-dom0', 'xenconsoled']) {
    if (!existsSync(join(root, XEN_TOOLS_DIR, tool)))
      throw new UserError(
        `Xen lab: ${join(XEN_TOOLS_DIR, tool)} not found; dom0 runs the host's Xen toolstack, so install it: apt-get install -y --no-install-recommends ${XEN_UTILS_PACKAGE}`,
      );
  }
}

function readManifest(dir: string): XenLabPackages | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as XenLabPackages & { layout: number };
    const files = [m.xen, m.dom0Kernel, m.busybox, ...m.dom0Modules];
    if (m.layout === LAYOUT && m.dom0Modules.length === DOM0_MODULES.length && files.every((f) => existsSync(f))) {
      const { layout: _layout, ...packages } = m;
      return packages;
    }
  } catch {
    // absent or unreadable: fetch afresh
  }
  return undefined;
}

/**
 * Fetches (once) Xen, the newest Debian 6.1 kernel and busybox-static with
 * `apt-get download` and unpacks what the lab boots into `cacheDir/xen-lab`.
 * Later calls return the cached files.
 */
export async function prepareXenLabPackages(cacheDir: string = defaultCacheDir()): Promise<XenLabPackages> {
  const dir = join(cacheDir, 'xen-lab');
  const cached = readManifest(dir);
  if (cached) return cached;

  await mkdir(dir, { recursive: true });
  const work = join(dir, `build-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const kernelPackage = await newestKernelPackage();
    const wanted = [XEN_HYPERVISOR_PACKAGE, kernelPackage, BUSYBOX_PACKAGE];
    // One package at a time, so a missing one is named in the error.
    for (const name of wanted) await aptDownload(name, work);
    const debs = await readdir(work);
    const debOf = (name: string) => {
      const deb = debs.find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
      if (!deb) throw new UserError(`Xen lab: apt-get download left no .deb for ${name} in ${work}`);
      return join(work, deb);
    };
    const packages: string[] = [];
    for (const name of wanted) packages.push(`${name} ${(await run('dpkg-deb', ['-f', debOf(name), 'Version'])).trim()}`);

    const tree = join(work, 'tree');
    await mkdir(tree);
    const extract = async (deb: string, patterns: string[]) => {
      // Only what is named: the kernel package alone unpacks to ~400 MB of modules.
      await execa('dpkg-deb', ['--fsys-tarfile', deb], { stdin: 'ignore', encoding: 'buffer', buffer: false }).pipe('tar', [
        '-x', '-C', tree, '--wildcards', ...patterns,
      ]);
    };
    await extract(debOf(XEN_HYPERVISOR_PACKAGE), ['./boot/xen-*-amd64.gz']);
    await extract(debOf(kernelPackage), ['./boot/vmlinuz-*', ...DOM0_MODULES.map((m) => `./lib/modules/*/kernel/${m}`)]);
    await extract(debOf(BUSYBOX_PACKAGE), ['./bin/busybox']);

    const xenGz = (await readdir(join(tree, 'boot'))).find((f) => /^xen-.*\.gz$/.test(f));
    const vmlinuz = (await readdir(join(tree, 'boot'))).find((f) => f.startsWith('vmlinuz-'));
    const releases = await readdir(join(tree, 'lib', 'modules'));
    if (!xenGz || !vmlinuz || releases.length !== 1)
      throw new UserError(`Xen lab: unexpected package contents (xen ${xenGz ?? 'missing'}, kernel ${vmlinuz ?? 'missing'}, module trees ${releases.join(' ') || 'none'})`);
    const kernelRelease = releases[0];
    const moduleRoot = join(tree, 'lib', 'modules', kernelRelease, 'kernel');
    for (const m of DOM0_MODULES) {
      if (!existsSync(join(moduleRoot, m))) throw new UserError(`Xen lab: ${kernelPackage} has no module ${m}`);
    }
    await pipeline(createReadStream(join(tree, 'boot', xenGz)), createGunzip(), createWriteStream(join(tree, 'boot', 'xen')));

    // Move the unpacked tree into place under a name that says what it holds.
    const entry = join(dir, `${kernelRelease}`);
    await rm(entry, { recursive: true, force: true });
    await rename(tree, entry);
    const result: XenLabPackages = {
      xen: join(entry, 'boot', 'xen'),
      dom0Kernel: join(entry, 'boot', vmlinuz),
      kernelRelease,
      dom0Modules: DOM0_MODULES.map((m) => join(entry, 'lib', 'modules', kernelRelease, 'kernel', m)),
      busybox: join(entry, 'bin', 'busybox'),
      packages,
    };
    await writeFile(join(dir, MANIFEST), JSON.stringify({ layout: LAYOUT, ...result }, null, 2) + '\n');
    return result;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Module names a .ko says it depends on (its `.modinfo` `depends=` string). */
export function moduleDependsOf(ko: Buffer): string[] {
  const key = Buffer.from('\0depends=');
  const at = ko.indexOf(key);
  if (at < 0) return [];
  const end = ko.indexOf(0, at + key.length);
  const text = ko.subarray(at + key.length, end < 0 ? undefined : end).toString('latin1');
  return text.split(',').filter((d) => d.length > 0);
}

/** A module's name as the kernel knows it: file name without .ko, '-' and '_' alike. */
export function moduleNameOf(path: string): string {
  return path.replace(/^.*\//, '').replace(/\.ko$/, '').replace(/-/g, '_');
}
