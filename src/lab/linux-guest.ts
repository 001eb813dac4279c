// The `linux` guest: a stock Debian 6.1 kernel plus a busybox initramfs whose
// /init prints boot markers on the console and powers off at once. Everything is
// fetched with apt (`apt-get download`, no install) into a cache directory and
// reused on later calls.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, renameSync } from 'node:fs';
import { homedir, loadavg, release } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa, ExecaError } from 'execa';
import { UserError } from '../model/errors.js';
import { writeFileAtomic, writeTrace } from '../model/io.js';
import type { Trace } from '../model/trace.js';
import { preparePvhKernel } from './pvh-kernel.js';
import { importRecording, qemuVersion, recordQemuBoot, type RecordResult } from './qemu-record.js';

/** Marker lines the guest's /init prints; the serial importer recognises them. */
export const USER_START_MARKER = 'hvscope-marker user-start';
export const READY_MARKER = 'hvscope-marker ready';

/**
 * Kernel command line for the guest. `panic=-1` reboots at once on a panic (QEMU
 * runs with -no-reboot, so it exits); `io_delay=none` stops the kernel's dummy
 * writes to port 0x80, which would otherwise look like debug-port boot markers.
 */
export const LINUX_GUEST_APPEND = 'console=ttyS0 panic=-1 io_delay=none';

export interface LinuxGuest {
  /** bzImage (vmlinuz) of the Debian kernel package. */
  kernel: string;
  /** gzip-compressed newc cpio with busybox and /init. */
  initrd: string;
  /** e.g. `linux-image-6.1.0-56-amd64 6.1.192-2` */
  kernelPackage: string;
  /** e.g. `busybox-static 1:1.35.0-4+deb12u1+b1` */
  busyboxPackage?: string;
  /** The same kernel uncompressed (an ELF with a PVH entry note), for `kernel-entry: pvh` profiles. */
  pvhKernel?: string;
}

/**
 * /init of the guest. The user-start marker is the very first thing it does; it
 * then writes qemu-boot-time's code 7 (linux_start_user) to port 0xf4 through
 * /dev/port, so tools watching port I/O (KVM kvm_pio, QEMU memory_region_ops_write)
 * see the same moment, prints the ready marker and powers off.
 */
export const LINUX_GUEST_INIT = `#!/bin/busybox sh
/bin/busybox echo "${USER_START_MARKER}"
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox printf '\\007' | /bin/busybox dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox echo "${READY_MARKER}"
/bin/busybox poweroff -f
`;

const MANIFEST = 'guest.json';
// Bump when the initramfs contents change, so old caches are rebuilt.
const GUEST_LAYOUT = 1;

export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'hvscope');
}

async function run(file: string, args: string[], cwd?: string): Promise<string> {
  try {
    const result = await execa(file, args, { cwd, stdin: 'ignore' });
    return result.stdout;
  } catch (err) {
    if (err instanceof ExecaError) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /ENOENT/.test(err.shortMessage))
        throw new UserError(`${file} not found: the linux guest needs apt-get, apt-cache, dpkg-deb, tar and cpio`);
      const detail = (err.stderr ? String(err.stderr) : err.shortMessage).trim().split('\n').slice(-3).join('; ');
      throw new UserError(`linux guest: \`${file} ${args.join(' ')}\` failed: ${detail}`);
    }
    throw err;
  }
}

/**
 * Picks the newest `linux-image-6.1.0-N-amd64` (highest ABI number N) from
 * `apt-cache search` output; -dbg, -rt, -cloud and -unsigned variants never match.
 */
export function pickNewestKernelPackage(aptCacheSearchOutput: string): string | undefined {
  let best: { name: string; abi: number } | undefined;
  for (const line of aptCacheSearchOutput.split('\n')) {
    const m = /^(linux-image-6\.1\.0-(\d+)-amd64) - /.exec(line);
    if (m && (!best || Number(m[2]) > best.abi)) best = { name: m[1], abi: Number(m[2]) };
  }
  return best?.name;
}

export async function newestKernelPackage(): Promise<string> {
  const name = pickNewestKernelPackage(await run('apt-cache', ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64$']));
  if (!name) throw new UserError('linux guest: apt-cache knows no linux-image-6.1.0-*-amd64 package (is this Debian 12 with apt-get update done?)');
  return name;
}

async function debField(deb: string, field: string): Promise<string> {
  return (await run('dpkg-deb', ['-f', deb, field])).trim();
}

/** Lists every path under dir (relative, parents first), as cpio wants on stdin. */
function listTree(dir: string, prefix = '.'): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = `${prefix}/${entry.name}`;
    out.push(rel);
    if (entry.isDirectory()) out.push(...listTree(dir, rel));
  }
  return out;
}

interface Manifest extends LinuxGuest {
  layout: number;
}

function readManifest(dir: string): LinuxGuest | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
    if (m.layout === GUEST_LAYOUT && existsSync(m.kernel) && existsSync(m.initrd)) return m;
  } catch {
    // no or unreadable manifest: build afresh
  }
  return undefined;
}

/**
 * Downloads (once) the newest Debian 6.1 kernel and busybox-static and builds the
 * initramfs. Returns paths inside `cacheDir/linux-guest`; a second call reuses them.
 */
export async function prepareLinuxGuest(cacheDir: string = defaultCacheDir()): Promise<LinuxGuest> {
  const guest = await prepareLinuxGuestFiles(cacheDir);
  // The uncompressed kernel has its own cache entry, keyed by the bzImage's hash: the
  // manifest (shared with older checkouts) stays as it is.
  const pvh = await preparePvhKernel(guest.kernel, join(cacheDir, 'pvh-kernel'));
  return { ...guest, pvhKernel: pvh.kernel };
}

async function prepareLinuxGuestFiles(cacheDir: string): Promise<LinuxGuest> {
  const dir = join(cacheDir, 'linux-guest');
  const cached = readManifest(dir);
  if (cached) return cached;

  mkdirSync(dir, { recursive: true });
  const work = join(dir, `build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const kernelName = await newestKernelPackage();
    // apt-get download only fetches .debs into the working directory; nothing is installed.
    await run('apt-get', ['download', '-q', kernelName, 'busybox-static'], work);
    const debs = readdirSync(work).filter((f) => f.endsWith('.deb'));
    const kernelDeb = debs.find((f) => f.startsWith(`${kernelName}_`));
    const busyboxDeb = debs.find((f) => f.startsWith('busybox-static_'));
    if (!kernelDeb || !busyboxDeb) throw new UserError(`linux guest: apt-get download left no .deb for ${kernelName} or busybox-static in ${work}`);
    const kernelVersion = await debField(join(work, kernelDeb), 'Version');
    const busyboxVersion = await debField(join(work, busyboxDeb), 'Version');

    // Only the bzImage is needed: stream the package's data through tar rather than
    // `dpkg-deb -x`, which would also unpack ~400 MB of modules.
    const kernelTree = join(work, 'kernel');
    mkdirSync(kernelTree);
    try {
      await execa('dpkg-deb', ['--fsys-tarfile', join(work, kernelDeb)], { stdin: 'ignore', encoding: 'buffer', buffer: false }).pipe('tar', [
        '-x',
        '-C',
        kernelTree,
        '--wildcards',
        './boot/vmlinuz-*',
      ]);
    } catch (err) {
      throw new UserError(`linux guest: cannot extract the kernel from ${kernelDeb}: ${(err as Error).message.split('\n')[0]}`);
    }
    const vmlinuz = readdirSync(join(kernelTree, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new UserError(`linux guest: ${kernelDeb} holds no boot/vmlinuz-*`);

    const busyboxTree = join(work, 'busybox');
    await run('dpkg-deb', ['-x', join(work, busyboxDeb), busyboxTree]);
    const busyboxBin = join(busyboxTree, 'bin', 'busybox');
    if (!existsSync(busyboxBin)) throw new UserError(`linux guest: ${busyboxDeb} holds no bin/busybox`);

    // initramfs: /bin/busybox, /init and mount points. The kernel's built-in
    // initramfs already provides /dev/console, so init's output reaches ttyS0.
    const root = join(work, 'initramfs');
    for (const d of ['bin', 'dev', 'proc', 'sys']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'bin', 'busybox'), readFileSync(busyboxBin));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    writeFileSync(join(root, 'init'), LINUX_GUEST_INIT);
    chmodSync(join(root, 'init'), 0o755);
    const cpio = await execa('cpio', ['--create', '--format=newc', '--quiet', '--owner=0:0', '--reproducible'], {
      cwd: root,
      input: listTree(root).join('\n') + '\n',
      encoding: 'buffer',
    }).catch((err: unknown) => {
      throw new UserError(`linux guest: cpio failed: ${(err as Error).message.split('\n')[0]}`);
    });

    const kernel = join(dir, vmlinuz);
    const initrd = join(dir, 'initramfs-busybox.cpio.gz');
    renameSync(join(kernelTree, 'boot', vmlinuz), kernel);
    writeFileAtomic(initrd, gzipSync(cpio.stdout));
    const guest: Manifest = {
      layout: GUEST_LAYOUT,
      kernel,
      initrd,
      kernelPackage: `${kernelName} ${kernelVersion}`,
      busyboxPackage: `busybox-static ${busyboxVersion}`,
    };
    // Last, and atomically: a manifest exists only once everything it names does.
    writeFileAtomic(join(dir, MANIFEST), JSON.stringify(guest, null, 2) + '\n');
    return guest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface LinuxBootProvenance {
  recordedAt: string;
  hostKernel: string;
  qemu: string;
  kernelPackage: string;
  busyboxPackage?: string;
  machine: string;
  accel: string;
  command: string[];
  execClockUs: number;
  /** 1-minute load average when the boot started: TCG timings depend on it. */
  hostLoad1m: number;
}

export interface LinuxBootOptions {
  machine: 'pc' | 'microvm';
  /** Where qemu.log, serial.txt, run.hvtrace.json and recording.json go. */
  outDir: string;
  accel?: 'tcg' | 'kvm';
  cacheDir?: string;
  timeoutMs?: number;
}

/**
 * One boot of the `linux` guest: prepares the guest (cached), records QEMU's log
 * and the serial console, merges both into outDir/run.hvtrace.json and writes
 * outDir/recording.json (provenance). `hvscope boot --guest linux` is this per run.
 */
export async function recordLinuxBoot(opts: LinuxBootOptions): Promise<{ trace: Trace; provenance: LinuxBootProvenance; record: RecordResult }> {
  const accel = opts.accel ?? 'tcg';
  const guest = await prepareLinuxGuest(opts.cacheDir ?? defaultCacheDir());
  const qemu = await qemuVersion();
  const recordedAt = new Date().toISOString();
  const hostLoad1m = Number(loadavg()[0].toFixed(2));
  const record = await recordQemuBoot({
    machine: opts.machine,
    kernel: guest.kernel,
    initrd: guest.initrd,
    append: LINUX_GUEST_APPEND,
    outDir: opts.outDir,
    accel,
    timeoutMs: opts.timeoutMs,
  }).catch((err: unknown) => {
    throw explainHang(err, join(opts.outDir, 'serial.txt'));
  });
  const provenance: LinuxBootProvenance = {
    recordedAt,
    hostKernel: release(),
    qemu,
    kernelPackage: guest.kernelPackage,
    busyboxPackage: guest.busyboxPackage,
    machine: opts.machine,
    accel,
    command: record.command,
    execClockUs: record.execClockUs,
    hostLoad1m,
  };
  const trace = importRecording(record, {
    hypervisor: `${qemu.replace(/^QEMU emulator version /, 'qemu ')} ${accel}`,
    recorded: `${recordedAt}: linux guest (${guest.kernelPackage}, ${guest.busyboxPackage ?? 'busybox'}), -M ${opts.machine} -accel ${accel}`,
    inputs: [record.qemuLog, record.serial].map((p) => relative(process.cwd(), p)),
  });
  writeTrace(join(opts.outDir, 'run.hvtrace.json'), trace);
  writeFileSync(join(opts.outDir, 'recording.json'), JSON.stringify(provenance, null, 2) + '\n');
  return { trace, provenance, record };
}

/**
 * A known way for this guest to hang: on microvm under TCG a busy host can make
 * the kernel's TSC calibration against the PIT fail; microvm has no HPET or ACPI
 * PM timer to fall back on and the kernel then waits for timer ticks in
 * calibrate_delay() forever (fixtures/README.md). Say so instead of just "timeout".
 */
export function explainHang(err: unknown, serialFile: string): unknown {
  if (!(err instanceof UserError) || !/did not exit within/.test(err.message)) return err;
  let serial = '';
  try {
    serial = readFileSync(serialFile, 'utf8');
  } catch {
    return err;
  }
  if (!serial.includes('could not calculate TSC khz')) return err;
  return new UserError(
    `${err.message}. The guest kernel could not calibrate its TSC (console: "Marking TSC unstable due to could not calculate TSC khz") ` +
      'and then waits for timer ticks that do not come: on microvm under TCG this happens when the host is busy (no HPET/PM timer to fall back on). ' +
      'Retry on a quieter host, use -M pc, or KVM.',
  );
}
