// `hvscope boot`: builds a guest, assembles the QEMU command line (a tuning
// profile's qemu section, or QEMU's defaults), boots it N times and writes one
// trace per boot, a timeline of all runs and a report.
//
// Each boot is traced with bpftrace when the host allows it (root, bpftrace,
// tracefs); otherwise from the rootless sources: QEMU's own timestamped trace
// log (-trace/-D) and the serial console, timestamped line by line as it
// arrives. Traced boots record QEMU's trace log too and merge it in (on
// bpftrace's clock): under TCG no KVM_RUN exists, and QEMU's `runstate_set
// running` is the vCPU start the phase model uses (docs/design.md) — without it the
// firmware phase, which runs silently, would be invisible. The model derives
// the phases from the markers of both (model/derive.ts).
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../model/errors.js';
import { type ReadyRule } from '../model/ready-rule.js';
import { accelWorks } from '../tracer/accel-probe.js';
import { qemuCommandLine } from '../tuning/targets/qemu.js';
import { LINUX_GUEST_APPEND, defaultCacheDir, prepareLinuxGuest } from './linux-guest.js';
import { KVM_TRACE_EVENTS, QEMU_BINARY, TCG_TRACE_EVENTS } from './qemu-record.js';
import { TINY_EXIT_OK_STATUS, buildTinyGuest, defaultTinyCacheDir, tinyQemuArgs } from './tiny-guest.js';

export type Machine = 'microvm' | 'pc';
export type Accel = 'kvm' | 'tcg';
export const MACHINES: readonly Machine[] = ['microvm', 'pc'];
export const ACCELS: readonly Accel[] = ['kvm', 'tcg'];

/** Probe sets a traced boot uses: QEMU and KVM events, and every helper QEMU forks. */
export const BOOT_PROBE_SETS = ['qemu', 'exec'];

export interface Guest {
  kind: 'tiny' | 'linux' | 'path';
  /** What the user named: tiny, linux or the kernel's path. */
  name: string;
  kernel: string;
  /** The kernel as an uncompressed ELF with a PVH entry note, for profiles with kernel-entry: pvh (see pvhKernelFor). */
  pvhKernel?: string;
  initrd?: string;
  append?: string;
  /** Machine used when --machine is not given (and the profile names none). */
  defaultMachine: Machine;
  /** QEMU exit statuses that mean the guest finished normally. */
  okExitCodes: number[];
  /** Guest memory (MiB) unless the profile sets it. */
  memoryMiB: number;
  description: string;
}

/** Resolves --guest (and --initrd) to files, building or fetching our own guests into the cache. */
export async function resolveGuest(spec: string, initrd?: string, onProgress: (m: string) => void = () => undefined): Promise<Guest> {
  if (initrd !== undefined && !existsSync(initrd)) throw new UserError(`--initrd ${initrd}: no such file`);
  if (spec === 'tiny') {
    if (initrd !== undefined) throw new UserError('--initrd: the tiny guest takes no initrd');
    onProgress('building the tiny guest (gcc, cached)');
    const build = await buildTinyGuest(defaultTinyCacheDir());
    return {
      kind: 'tiny',
      name: 'tiny',
      kernel: build.kernel,
      pvhKernel: build.kernel, // tiny is an ELF with a PVH note: QEMU always starts it there
      defaultMachine: 'microvm',
      okExitCodes: [TINY_EXIT_OK_STATUS],
      memoryMiB: 32,
      description: `tiny unikernel (guests/tiny, PVH entry, build ${build.sourceHash})`,
    };
  }
  if (spec === 'linux') {
    onProgress('preparing the linux guest (Debian kernel + busybox initramfs, cached)');
    const guest = await prepareLinuxGuest(defaultCacheDir());
    return {
      kind: 'linux',
      name: 'linux',
      kernel: guest.kernel,
      pvhKernel: guest.pvhKernel,
      initrd: initrd ?? guest.initrd,
      append: LINUX_GUEST_APPEND,
      // microvm + this kernel under TCG can hang in TSC calibration (fixtures/README.md)
      defaultMachine: 'pc',
      okExitCodes: [0],
      memoryMiB: 256,
      description: `linux guest (${guest.kernelPackage}, busybox initramfs)`,
    };
  }
  const path = resolve(spec);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UserError(`unknown guest '${spec}': expected tiny, linux or the path of a kernel file`);
  }
  return {
    kind: 'path',
    name: spec,
    kernel: path,
    ...(initrd !== undefined ? { initrd: resolve(initrd) } : {}),
    append: 'console=ttyS0 panic=-1',
    defaultMachine: 'pc',
    okExitCodes: [0],
    memoryMiB: 256,
    description: `kernel ${path}${initrd ? ` with initrd ${resolve(initrd)}` : ''}`,
  };
}

export interface CommandLineOptions {
  machine?: Machine;
  accel: Accel;
  /** A profile's qemu section (validated), or undefined for QEMU's defaults. */
  profileSection?: unknown;
}

const has = (args: string[], flag: string) => args.includes(flag);

/**
 * The QEMU command line for one boot of `guest`. With a profile: its qemu
 * section rendered by the qemu target, plus only what a measured boot needs
 * (serial on stdio, -no-reboot, tiny's exit device). Without: QEMU's defaults
 * with no default devices and the console on stdio.
 */
export function bootCommandLine(guest: Guest, opts: CommandLineOptions): string[] {
  let args: string[];
  if (opts.profileSection !== undefined) {
    let section = opts.profileSection as Record<string, unknown>;
    if (opts.machine !== undefined) section = { ...section, machine: { value: opts.machine, why: 'hvscope boot --machine' } };
    args = qemuCommandLine(section, { kernel: guest.kernel, pvhKernel: guest.pvhKernel, initrd: guest.initrd, append: guest.append, accel: opts.accel });
  } else {
    const machine = opts.machine ?? guest.defaultMachine;
    args = [QEMU_BINARY, '-M', machine, '-accel', opts.accel, ...(opts.accel === 'kvm' ? ['-cpu', 'host'] : []), '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none'];
    args.push('-kernel', guest.kernel);
    if (guest.initrd) args.push('-initrd', guest.initrd);
    if (guest.append) args.push('-append', guest.append);
  }
  if (!has(args, '-m')) args.push('-m', String(guest.memoryMiB));
  // A boot run must end: a guest reboot (or panic) ends QEMU instead.
  if (!has(args, '-no-reboot')) args.push('-no-reboot');
  if (!has(args, '-serial')) args.push('-serial', 'stdio');
  if (guest.kind === 'tiny') {
    const machine = (args[args.indexOf('-M') + 1] ?? '').split(',')[0] as Machine;
    // tinyQemuArgs: the console (already set above) and the isa-debug-exit device
    const tiny = tinyQemuArgs(machine === 'pc' ? 'pc' : 'microvm');
    args.push(...tiny.slice(tiny.indexOf('-device')));
  }
  return args;
}

/**
 * QEMU's trace log of a boot: the options that record it. A `--ready pio:` rule
 * adds memory_region_ops_write: the guest's port writes (a port without a
 * device shows as region 'io' at its own address, guests/tiny/README.md).
 */
export function qemuLogArgs(accel: Accel, logFile: string, ready?: ReadyRule): string[] {
  const events = [...(accel === 'kvm' ? KVM_TRACE_EVENTS : TCG_TRACE_EVENTS), ...(ready?.kind === 'pio' ? ['memory_region_ops_write'] : [])];
  return ['-msg', 'timestamp=on', '-D', logFile, ...events.flatMap((e) => ['-trace', e])];
}

/** Default accelerator: KVM when a real test guest boots under it here, else TCG. */
export async function defaultAccel(): Promise<{ accel: Accel; why: string }> {
  const kvm = await accelWorks('kvm');
  return kvm.ok ? { accel: 'kvm', why: 'KVM works here' } : { accel: 'tcg', why: `KVM unusable: ${kvm.reason}` };
}
