// The target registry: every target a profile section may name. Order matters:
// apply writes targets in this order and restores them in reverse (the hotplug
// script is installed before xl.conf or a domain config points at it).
import type { TargetDefinition, TuneContext } from '../knob.js';
import { target as sysctl } from './sysctl.js';
import { target as bridge } from './bridge.js';
import { target as xenHotplug } from './xen-hotplug.js';
import { target as xenXlConf } from './xen-xl-conf.js';
import { target as xenDomain } from './xen-domain.js';
import { target as qemu, qemuCommandLine } from './qemu.js';
import { target as libvirtDomain } from './libvirt-domain.js';
import { target as libvirtQemuConf } from './libvirt-qemu-conf.js';

export const allTargets: TargetDefinition[] = [sysctl, bridge, xenHotplug, xenXlConf, xenDomain, qemu, libvirtQemuConf, libvirtDomain];

export function targetByName(name: string): TargetDefinition | undefined {
  return allTargets.find((t) => t.name === name);
}

/** The QEMU command line a profile's qemu section renders (QEMU settings are not host state). */
export function qemuCommandLineFor(section: unknown, _ctx: TuneContext): string[] {
  return qemuCommandLine(section);
}
