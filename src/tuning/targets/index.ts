// The target registry: every target a profile section may name. Order matters:
// apply writes targets in this order and restores them in reverse.
import type { TargetDefinition, TuneContext } from '../knob.js';
import { target as sysctl } from './sysctl.js';
import { target as bridge } from './bridge.js';
import { target as xenXlConf } from './xen-xl-conf.js';

export const allTargets: TargetDefinition[] = [sysctl, bridge, xenXlConf];

export function targetByName(name: string): TargetDefinition | undefined {
  return allTargets.find((t) => t.name === name);
}

/**
 * The QEMU command line a profile's qemu section renders (QEMU settings are not
 * host state), or null while the qemu target is not there.
 */
export async function qemuCommandLineFor(section: unknown, ctx: TuneContext): Promise<string[] | null> {
  // Loaded lazily: the qemu target lands separately (H6).
  const spec = './qemu.js';
  let mod: { qemuCommandLine?: (section: unknown, opts: unknown) => string[] };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch {
    return null;
  }
  return mod.qemuCommandLine ? mod.qemuCommandLine(section, { root: ctx.root, ...ctx.options }) : null;
}
