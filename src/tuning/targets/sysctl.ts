// sysctl target: values under /proc/sys (inside --netns when given; most
// net.* keys are per network namespace). Keys use dots (net.ipv4.ip_forward)
// or slashes when a name itself holds a dot (net/ipv4/conf/eth0.1/rp_filter).
import { UserError } from '../../model/errors.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { readKernelFile, writeKernelFile } from '../netns.js';
import { entrySchema, unwrapEntry } from '../profile.js';

const KEY = '^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$';

export const sectionSchema = {
  type: 'object',
  propertyNames: { pattern: KEY, not: { pattern: '(^|/)\\.\\.(/|$)' } },
  additionalProperties: entrySchema({ type: ['string', 'number', 'boolean'] }),
};

export function sysctlPath(key: string): string {
  return '/proc/sys/' + (key.includes('/') ? key : key.replace(/\./g, '/'));
}

/** /proc/sys separates multi-value entries with tabs; compare with single spaces. */
function normalise(v: KnobValue): KnobValue {
  return v === null ? null : v.trim().split(/\s+/).join(' ');
}

/** Why a key is missing, when we know. */
export function missingKeyReason(key: string): string {
  if (/^net[./]bridge[./]/.test(key)) return 'the br_netfilter module is not loaded (modprobe br_netfilter)';
  if (/^net[./]/.test(key)) return 'no such key in this network namespace (its module may not be loaded, or the interface may not exist)';
  return 'no such key on this kernel (its module may not be loaded)';
}

/**
 * net.bridge.bridge-nf-call-* exist only while br_netfilter is loaded. Without
 * it no bridged frame reaches iptables at all, which is what `0` asks for.
 */
function offWithoutBrNetfilter(key: string, seen: KnobValue, desired: KnobValue): boolean {
  return seen === null && desired === '0' && /^net[./]bridge[./]bridge-nf-call-/.test(key);
}

function knobs(sectionIn: unknown, _ctx: TuneContext): Knob[] {
  const section = sectionIn as Record<string, unknown>;
  return Object.entries(section).map(([key, raw]): Knob & { source?: string } => {
    const e = unwrapEntry(raw);
    const value = typeof e.value === 'boolean' ? (e.value ? '1' : '0') : String(e.value);
    const path = sysctlPath(key);
    return {
      target: 'sysctl',
      id: `sysctl/${key}`,
      desired: normalise(value),
      why: e.why,
      source: e.source,
      matches: (seen, desired) => normalise(seen) === normalise(desired) || offWithoutBrNetfilter(key, seen, desired),
      read: async (ctx) => normalise(await readKernelFile(ctx, path)),
      write: async (ctx, v) => {
        if (v === null) return; // a sysctl cannot be removed; absent before means absent now
        if ((await readKernelFile(ctx, path)) === null)
          throw new UserError(`sysctl ${key}: ${path} does not exist${ctx.netns ? ` in netns ${ctx.netns}` : ''}: ${missingKeyReason(key)}`);
        await writeKernelFile(ctx, path, v.split(' ').join('\t'));
      },
    };
  });
}

export const target: TargetDefinition = {
  name: 'sysctl',
  summary: 'kernel parameters under /proc/sys (per network namespace with --netns)',
  sectionSchema,
  knobs,
};
