// `boot --via libvirt --profile P`: what a tuning profile changes in a
// creation through hvscope's private libvirtd. The profile's libvirt-domain
// section rewrites the domain XML hvscope writes (the same rows as
// `tune apply --domain-config`), its libvirt-qemu-conf section is applied to a
// copy of the host's qemu.conf that the private daemon reads instead of the
// host's (bind-mounted in its mount namespace: the host file is not touched),
// and the bridges the domain's NICs join are created in the daemon's own
// network namespace, so they vanish with it. Other sections are host settings
// (`tune apply`) or QEMU command lines (`boot --profile` without --via): refused.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { UserError } from '../model/errors.js';
import type { TuneContext } from '../tuning/knob.js';
import { loadProfile } from '../tuning/profile.js';
import { unwrapEntry } from '../tuning/targets/knob-entry.js';
import { allTargets } from '../tuning/targets/index.js';
import { tuneDomainXml } from '../tuning/targets/libvirt-domain.js';
import { DEFAULT_QEMU_CONF, target as qemuConfTarget } from '../tuning/targets/libvirt-qemu-conf.js';

/** Sections a creation through libvirt can apply. */
const APPLICABLE = ['libvirt-domain', 'libvirt-qemu-conf'];
/** Linux interface names (IFNAMSIZ 16 with the NUL); the libvirt-domain schema is stricter still. */
const BRIDGE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,14}$/;

export interface LibvirtProfile {
  name: string;
  file: string;
  /** The libvirt-domain section (undefined: the domain XML stays as hvscope writes it). */
  domainSection?: unknown;
  /** The qemu.conf the private libvirtd reads (undefined: the host's). */
  qemuConf?: string;
  /** Bridges the domain's NICs join; created in the daemon's network namespace. */
  bridges: string[];
}

/** Loads and checks a profile for `--via libvirt` before anything starts; one line naming the problem otherwise. */
export async function loadLibvirtProfile(ref: string): Promise<LibvirtProfile> {
  const loaded = loadProfile(ref, allTargets);
  const other = Object.keys(loaded.sections).filter((s) => !APPLICABLE.includes(s));
  if (other.length > 0) {
    throw new UserError(
      `--via libvirt --profile ${ref}: section${other.length > 1 ? 's' : ''} ${other.join(', ')} of ${loaded.file} cannot be applied to a creation through libvirt (only ${APPLICABLE.join(' and ')}); apply host settings with hvscope tune apply first`,
    );
  }
  const domainSection = loaded.sections['libvirt-domain'];
  const bridges = bridgesOf(domainSection, loaded.file);
  const qemuConfSection = loaded.sections['libvirt-qemu-conf'];
  const qemuConf = qemuConfSection === undefined ? undefined : await tunedQemuConf(qemuConfSection);
  return { name: loaded.name, file: loaded.file, bridges, ...(domainSection !== undefined ? { domainSection } : {}), ...(qemuConf !== undefined ? { qemuConf } : {}) };
}

/** The domain XML with the profile's libvirt-domain section applied. */
export function applyLibvirtProfile(xml: string, profile: LibvirtProfile | undefined): string {
  if (profile?.domainSection === undefined) return xml;
  return tuneDomainXml(xml, profile.domainSection, `domain XML (profile ${profile.name})`);
}

function bridgesOf(section: unknown, file: string): string[] {
  if (section === undefined || section === null || !('interface' in (section as object))) return [];
  const value = unwrapEntry((section as Record<string, unknown>).interface).value;
  if (value === null) return [];
  const name = value.replace(/^bridge:/, '');
  if (!BRIDGE_NAME.test(name)) throw new UserError(`${file}: libvirt-domain interface: "${value}" is not a bridge name`);
  return [name];
}

/**
 * The host's qemu.conf (the section's `path`, default /etc/libvirt/qemu.conf)
 * with the section's knobs written, through the target's own knobs on a copy
 * under a scratch root — the same edits `tune apply` makes, the host untouched.
 */
async function tunedQemuConf(section: unknown): Promise<string> {
  const s = (section ?? {}) as Record<string, unknown>;
  const hostFile = typeof s.path === 'string' ? s.path : DEFAULT_QEMU_CONF;
  const root = mkdtempSync(join(tmpdir(), 'hvscope-qemu-conf-'));
  try {
    const copy = join(root, hostFile);
    mkdirSync(dirname(copy), { recursive: true });
    try {
      copyFileSync(hostFile, copy);
    } catch {
      throw new UserError(`${hostFile}: cannot read libvirt's qemu.conf (Debian: apt-get install libvirt-daemon-system)`);
    }
    const ctx: TuneContext = { root, options: {} };
    for (const knob of qemuConfTarget.knobs(section, ctx)) await knob.write(ctx, knob.desired);
    return readFileSync(copy, 'utf8');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
