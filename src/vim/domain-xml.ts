// The domain XML `hvscope boot --via libvirt` creates: the smallest domain
// that boots a kernel directly under libvirt's QEMU driver — no disk, no
// graphics/video/USB input, memballoon none, one vCPU — the reductions the
// seed study made for unikernels (docs/references.md). The guest console is
// QEMU's stdout (`-serial stdio` through <qemu:commandline>): libvirt hands
// QEMU a file chardev as a duplicated fd of an fd set, whose number the qemu
// probe set cannot know, whereas stdout (fd 1, a pipe to virtlogd) is the fd
// it watches; the text also lands in libvirt's per-domain log. tiny exits
// through isa-debug-exit, added the same way (libvirt has no element for it).
// A profile's `libvirt-domain` target (tuning) rewrites this text.
import type { Guest } from '../lab/boot.js';
import { TINY_DEBUG_EXIT_PORT } from '../lab/tiny-guest.js';

export interface DomainXmlOptions {
  /** Domain name (unique per hvscope run, so a stray QEMU can be found by it). */
  name: string;
  /** Kernel (and initrd) copied where libvirt may relabel them. */
  kernel: string;
  initrd?: string;
  machine?: 'pc' | 'q35';
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');

/** The domain XML for `guest` (type qemu: TCG; libvirt picks kvm only when asked). */
export function domainXml(guest: Guest, opts: DomainXmlOptions): string {
  const qemuArgs = ['-serial', 'stdio'];
  if (guest.kind === 'tiny') qemuArgs.push('-device', `isa-debug-exit,iobase=0x${TINY_DEBUG_EXIT_PORT.toString(16)},iosize=0x02`);
  const lines = [
    `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>`,
    `  <name>${escapeXml(opts.name)}</name>`,
    `  <memory unit='MiB'>${guest.memoryMiB}</memory>`,
    `  <vcpu>1</vcpu>`,
    `  <os>`,
    `    <type arch='x86_64' machine='${opts.machine ?? 'pc'}'>hvm</type>`,
    `    <kernel>${escapeXml(opts.kernel)}</kernel>`,
    ...(opts.initrd ? [`    <initrd>${escapeXml(opts.initrd)}</initrd>`] : []),
    ...(guest.append ? [`    <cmdline>${escapeXml(guest.append)}</cmdline>`] : []),
    `  </os>`,
    `  <on_poweroff>destroy</on_poweroff>`,
    `  <on_reboot>destroy</on_reboot>`,
    `  <on_crash>destroy</on_crash>`,
    `  <devices>`,
    `    <memballoon model='none'/>`,
    `  </devices>`,
    `  <qemu:commandline>`,
    ...qemuArgs.map((a) => `    <qemu:arg value='${escapeXml(a)}'/>`),
    `  </qemu:commandline>`,
    `</domain>`,
  ];
  return lines.join('\n') + '\n';
}

/** The domain name in a domain XML text (first <name>), for finding its QEMU. */
export function domainName(xml: string): string | undefined {
  return /<name>\s*([^<]+?)\s*<\/name>/.exec(xml)?.[1];
}
