// The QEMU command line that boots Xen with a PV dom0 under TCG. QEMU's
// multiboot loader starts Xen (`-kernel`, its command line in `-append`) and
// hands it two modules (`-initrd 'FILE ARGS,FILE'`): dom0's kernel with its
// command line, then dom0's initramfs. Settings are those of the feasibility
// run on a 2-core host (issue 5): one vCPU (two are slower under TCG), 1 GiB
// with 512 MiB for dom0, a virtio RNG (without it dom0 waits ~250 s for entropy).
// With accel `kvm` (a host whose /dev/kvm runs normal guests, nested), QEMU runs
// `-accel kvm -cpu host`: dom0 is PV, so Xen needs no VMX/SVM of its own (that is
// only for HVM guests) and any CPU model boots it; SMAP/SMEP are real there, so
// the `smap=0 smep=0` that TCG's `-cpu max` needs is not added.
import { UserError } from '../../model/errors.js';
import { HOST_ROOT_TAG, RESULTS_TAG } from './dom0-initramfs.js';

/** QEMU accelerators the lab can run Xen under. */
export type XenLabAccel = 'tcg' | 'kvm';

export interface XenLabMachine {
  xen: string;
  dom0Kernel: string;
  initramfs: string;
  /** Host directory dom0 may write (the results share). */
  resultsDir: string;
  /** Host directory dom0 sees read-only as its root (default /). */
  hostRoot?: string;
  /** tcg (default) or kvm (then the CPU model defaults to `host`). */
  accel?: XenLabAccel;
  /** QEMU CPU model (default qemu64 under TCG, host under KVM; `max` needs smap=0 smep=0 for Xen under TCG, added here). */
  cpu?: string;
  memoryMb?: number;
  dom0MemoryMb?: number;
  /** Extra Xen command line words, e.g. `guest_loglvl=all`. */
  xenArgs?: string[];
}

export const XEN_LAB_DEFAULTS = { cpu: 'qemu64', memoryMb: 1024, dom0MemoryMb: 512 } as const;

/** Text QEMU reads as a list separated by commas must double its commas. */
function qemuListItem(text: string, what: string): string {
  if (/[\n\0]/.test(text)) throw new UserError(`Xen lab: ${what} contains a newline or NUL: ${JSON.stringify(text)}`);
  return text.replace(/,/g, ',,');
}

function noSpaces(path: string, what: string): string {
  // Multiboot module strings are "FILE ARGS": a path with a space cannot be told apart.
  if (/\s/.test(path)) throw new UserError(`Xen lab: ${what} path contains white space, which QEMU's multiboot loader cannot pass: ${path}`);
  return path;
}

/** Xen's own command line: console on COM1 (QEMU's serial), dom0 memory fixed, no reboot on crash. */
export function xenCommandLine(machine: Pick<XenLabMachine, 'accel' | 'cpu' | 'dom0MemoryMb' | 'xenArgs'>): string {
  const dom0 = machine.dom0MemoryMb ?? XEN_LAB_DEFAULTS.dom0MemoryMb;
  const words = ['console=com1', `dom0_mem=${dom0}M,max:${dom0}M`, 'noreboot'];
  if ((machine.accel ?? 'tcg') === 'tcg' && (machine.cpu ?? XEN_LAB_DEFAULTS.cpu) === 'max') words.push('smap=0', 'smep=0');
  return [...words, ...(machine.xenArgs ?? [])].join(' ');
}

/** dom0 kernel command line: console on Xen's virtual console, which Xen copies to COM1. */
export const DOM0_COMMAND_LINE = 'console=hvc0 earlyprintk=xen';

/** QEMU arguments (without the binary). The serial line (Xen and dom0 consoles) goes to stdout. */
export function xenLabQemuArgs(machine: XenLabMachine): string[] {
  const memoryMb = machine.memoryMb ?? XEN_LAB_DEFAULTS.memoryMb;
  const dom0MemoryMb = machine.dom0MemoryMb ?? XEN_LAB_DEFAULTS.dom0MemoryMb;
  if (!Number.isInteger(memoryMb) || !Number.isInteger(dom0MemoryMb) || dom0MemoryMb < 256 || dom0MemoryMb + 128 > memoryMb)
    throw new UserError(`Xen lab: memory ${memoryMb} MiB with ${dom0MemoryMb} MiB for dom0 does not fit (dom0 needs ≥ 256 MiB and Xen plus guests ≥ 128 MiB more)`);
  const accel = machine.accel ?? 'tcg';
  if (accel !== 'tcg' && accel !== 'kvm') throw new UserError(`Xen lab: accel must be tcg or kvm, not ${JSON.stringify(accel)}`);
  const hostRoot = machine.hostRoot ?? '/';
  const modules = [
    `${qemuListItem(noSpaces(machine.dom0Kernel, 'dom0 kernel'), 'dom0 kernel')} ${qemuListItem(DOM0_COMMAND_LINE, 'dom0 command line')}`,
    qemuListItem(noSpaces(machine.initramfs, 'initramfs'), 'initramfs'),
  ].join(',');
  return [
    '-accel', accel === 'kvm' ? 'kvm' : 'tcg,tb-size=256',
    '-M', 'pc',
    '-cpu', machine.cpu ?? (accel === 'kvm' ? 'host' : XEN_LAB_DEFAULTS.cpu),
    '-m', String(memoryMb),
    '-smp', '1',
    '-nodefaults',
    '-display', 'none',
    '-no-reboot',
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    '-kernel', machine.xen,
    '-append', xenCommandLine(machine),
    '-initrd', modules,
    '-device', 'virtio-rng-pci',
    '-fsdev', `local,id=hostroot,path=${qemuListItem(hostRoot, 'host root')},security_model=none,readonly=on,multidevs=remap`,
    '-device', `virtio-9p-pci,fsdev=hostroot,mount_tag=${HOST_ROOT_TAG}`,
    '-fsdev', `local,id=results,path=${qemuListItem(machine.resultsDir, 'results directory')},security_model=none`,
    '-device', `virtio-9p-pci,fsdev=results,mount_tag=${RESULTS_TAG}`,
  ];
}
