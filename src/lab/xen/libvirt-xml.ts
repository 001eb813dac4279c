// The domain XML of `lab xen run --via libvirt`: tiny-pv as libvirt describes
// it, and what a tuning profile's libvirt-domain section changes in it. The
// stock XML is what libvirt 9.0's `virsh domxml-from-native xen-xl` made of the
// lab's tiny-pv xl config (recorded in the lab: fixtures/libvirt/xen-lab-2026-12-04/
// tiny-pv.from-native.xml, less its random uuid). A profile's section is applied
// with the libvirt-domain target's own rows (tuneDomainXml), except the rows that
// mean nothing for a Xen PV domain or that libvirt's libxl driver refuses: those
// are left out, each with the reason, and the CLI prints them.
import { UserError } from '../../model/errors.js';
import { loadProfile } from '../../tuning/profile.js';
import { unwrapEntry } from '../../tuning/targets/knob-entry.js';
import { allTargets } from '../../tuning/targets/index.js';
import { domainXmlValue, tuneDomainXml } from '../../tuning/targets/libvirt-domain.js';
import { LAB_BRIDGE } from './dom0-initramfs.js';
import { MAX_GUEST_MEMORY_MB } from './guest-path.js';

/** The domain's name in the template; the experiment replaces it per creation. */
export const XML_NAME_PLACEHOLDER = 'NAME';
/** Label of the stock XML's group (always measured first, the baseline). */
export const STOCK_XML = 'stock';

/** tiny-pv's stock domain XML (libvirt's own translation of the lab's xl config). */
export function renderTinyPvDomainXml(opts: { kernel: string; memoryMb: number; bridge?: string }): string {
  if (/[<>&'"]/.test(opts.kernel)) throw new UserError(`domain XML: the guest kernel path ${JSON.stringify(opts.kernel)} has XML-special characters`);
  const kib = opts.memoryMb * 1024;
  return `<domain type='xen'>
  <name>${XML_NAME_PLACEHOLDER}</name>
  <memory unit='KiB'>${kib}</memory>
  <currentMemory unit='KiB'>${kib}</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='xenpv'>linux</type>
    <kernel>${opts.kernel}</kernel>
  </os>
  <clock offset='utc' adjustment='reset'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='xenbus' index='0'/>
    <interface type='bridge'>
      <mac address='00:00:00:00:00:00'/>
      <source bridge='${opts.bridge ?? LAB_BRIDGE}'/>
    </interface>
    <console type='pty'>
      <target type='xen' port='0'/>
    </console>
    <input type='mouse' bus='xen'/>
    <input type='keyboard' bus='xen'/>
    <memballoon model='xen'/>
  </devices>
</domain>
`;
}

/**
 * libvirt-domain rows left out for the lab's Xen PV domain, by key: the reason, or
 * undefined when a row's value does apply. Every other row is applied as written.
 */
const LEFT_OUT: Record<string, (value: string | null) => string | undefined> = {
  kernel: () => "the lab boots tiny-pv's own kernel",
  initrd: () => 'tiny-pv has no ramdisk; the lab chooses the guest',
  cmdline: () => 'the lab chooses the guest and its command line',
  boot: () => 'a PV domain has no BIOS boot order (the kernel is loaded directly)',
  features: () => 'ACPI, APIC and PAE are HVM features; a Xen PV domain has none to switch',
  usb: () => 'a Xen PV domain has no USB controller unless one is asked for',
  interface: () => `the guest's NIC stays a netfront vif on the lab's bridge ${LAB_BRIDGE} (libvirt's libxl driver takes no virtio model for PV, and the profile's bridge is not in dom0)`,
  memballoon: (v) =>
    v === 'none'
      ? "libvirt's libxl driver refuses model='none' (\"balloon device cannot be disabled\", fixtures/libvirt/xen-lab-2026-12-04); the xen balloon stays"
      : v !== 'xen'
        ? `a Xen domain's balloon is model='xen' (libxl), not '${v}'`
        : undefined,
};

export interface XenLibvirtProfile {
  /** The profile's name (its label in reports). */
  name: string;
  file: string;
  /** Host path of the profile as given (name or resolved file). */
  ref: string;
  /** The tuned domain XML (NAME placeholder kept). */
  xml: string;
  /** Rows applied, as `key value` for the progress line. */
  applied: string[];
  /** Rows left out, with why. */
  leftOut: { key: string; why: string }[];
}

/** Sections a profile may have here: the domain XML's, and the QEMU driver's qemu.conf (not read by libxl: left out). */
const APPLICABLE = ['libvirt-domain', 'libvirt-qemu-conf'];

/** A profile's libvirt-domain section applied to the stock XML for the Xen lab; one clear line on anything unusable. */
export function xenLibvirtProfile(ref: string, stockXml: string): XenLibvirtProfile {
  const loaded = loadProfile(ref, allTargets);
  const other = Object.keys(loaded.sections).filter((s) => !APPLICABLE.includes(s));
  if (other.length > 0) {
    throw new UserError(
      `lab xen run --via libvirt --profile ${ref}: section${other.length > 1 ? 's' : ''} ${other.join(', ')} of ${loaded.file} cannot be applied to a creation through libvirt's libxl driver (only libvirt-domain); for Xen toolstack profiles use lab xen run without --via`,
    );
  }
  const section = loaded.sections['libvirt-domain'];
  if (section === undefined) throw new UserError(`lab xen run --via libvirt --profile ${ref}: ${loaded.file} has no libvirt-domain section; nothing to change in the domain XML`);
  const kept: Record<string, unknown> = {};
  const applied: string[] = [];
  const leftOut: { key: string; why: string }[] = [];
  if (loaded.sections['libvirt-qemu-conf'] !== undefined)
    leftOut.push({ key: 'libvirt-qemu-conf', why: "the section configures libvirt's QEMU driver (qemu.conf); the libxl driver does not read it" });
  for (const [key, entry] of Object.entries(section as Record<string, unknown>)) {
    const value = unwrapEntry(entry).value;
    const why = LEFT_OUT[key]?.(value);
    if (why !== undefined) leftOut.push({ key, why });
    else {
      kept[key] = entry;
      applied.push(`${key} ${value === null ? '(removed)' : value}`);
    }
  }
  const xml = tuneDomainXml(stockXml, kept, `${loaded.file} applied to tiny-pv's domain XML`);
  for (const key of ['memory', 'currentMemory']) {
    const v = domainXmlValue(xml, key);
    const mib = v === null ? undefined : Number.parseFloat(String(v));
    if (mib !== undefined && !(mib >= 4 && mib <= MAX_GUEST_MEMORY_MB))
      throw new UserError(`lab xen run --via libvirt --profile ${ref}: ${key} ${v} (${loaded.file}) does not fit the lab's Xen (4 to ${MAX_GUEST_MEMORY_MB} MiB beside dom0)`);
  }
  return { name: loaded.name, file: loaded.file, ref, xml, applied, leftOut };
}
