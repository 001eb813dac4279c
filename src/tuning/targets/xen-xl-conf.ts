// xen-xl-conf: global xl settings in /etc/xen/xl.conf (xl.conf(5)), edited in place with
// comments and unknown lines kept byte-for-byte (see ../xl-config-text.ts for how a rollback
// through write() alone gives back the identical file).
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { editConfigFile, getAtom, readConfigFile, setAtom } from '../xl-config-text.js';
import { enumValue, explain, integerValue, knobEntrySchema, stringOrNull, underRoot, unwrapEntry, withNull } from './knob-entry.js';

export const DEFAULT_XL_CONF = '/etc/xen/xl.conf';

/** The xl.conf keys this target edits (exact names from xl.conf(5)) and their allowed values. */
export const XL_CONF_KEYS: Record<string, Record<string, unknown>> = {
  autoballoon: withNull(enumValue('off', 'on', 'auto')),
  run_hotplug_scripts: withNull(enumValue(0, 1, '0', '1')),
  lockfile: stringOrNull,
  claim_mode: withNull(enumValue(0, 1, '0', '1')),
  'vif.default.script': stringOrNull,
  'vif.default.bridge': stringOrNull,
  'vif.default.backend': withNull({ anyOf: [{ type: 'string', minLength: 1 }, { type: 'integer', minimum: 0 }] }),
  max_grant_frames: withNull(integerValue),
  max_maptrack_frames: withNull(integerValue),
  domid_policy: withNull(enumValue('xen', 'random')),
};

const sectionSchema = {
  type: 'object',
  properties: {
    // Where xl.conf lives on the host (under --root); not a knob.
    path: { type: 'string', pattern: '^/' },
    ...Object.fromEntries(Object.entries(XL_CONF_KEYS).map(([k, v]) => [k, knobEntrySchema(v)])),
  },
  additionalProperties: false,
};

/** xl reads autoballoon 0/1 as off/on and numbers in hex or decimal; compare after that. */
function normalise(key: string, v: KnobValue): KnobValue {
  if (v === null) return null;
  if (key === 'autoballoon') return v === '1' ? 'on' : v === '0' ? 'off' : v;
  if (/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) return String(Number(v));
  return v;
}

/** One knob for one xl.conf key in the file at `file` (a host path, put under ctx.root). */
export function xlConfKnob(file: string, key: string, desired: KnobValue, about: { why?: string; source?: string } = {}): Knob & { source?: string } {
  const at = (ctx: TuneContext): string => underRoot(ctx.root, file);
  return {
    target: 'xen-xl-conf',
    id: `xen-xl-conf/${key}`,
    desired,
    ...explain(about),
    async read(ctx) {
      const f = at(ctx);
      const text = await readConfigFile(f);
      return text === null ? null : getAtom(text, f, key);
    },
    async write(ctx, value) {
      const f = at(ctx);
      await editConfigFile(f, (text) => setAtom(text, f, key, value));
    },
    matches: (seen, want) => normalise(key, seen) === normalise(key, want),
  };
}

export const target: TargetDefinition = {
  name: 'xen-xl-conf',
  summary: 'Global xl toolstack settings in /etc/xen/xl.conf (xl.conf(5)); comments and other lines kept',
  sectionSchema,
  knobs(section) {
    const s = (section ?? {}) as Record<string, unknown>;
    const file = typeof s.path === 'string' ? s.path : DEFAULT_XL_CONF;
    return Object.keys(XL_CONF_KEYS)
      .filter((key) => key in s)
      .map((key) => {
        const entry = unwrapEntry(s[key]);
        return xlConfKnob(file, key, entry.value, entry);
      });
  },
  // What `tune optimize --workload lab-xen:tiny-pv` may try (defaults: xl.conf(5)).
  candidates: [
    {
      path: ['vif.default.script'],
      values: ['vif-bridge-fast'],
      default: 'vif-bridge',
      valueRequires: [{ value: 'vif-bridge-fast', requires: [{ target: 'xen-hotplug', path: ['vif-bridge-fast'], values: [true] }], why: 'xl must find the script: xen-hotplug installs it' }],
      about: "vif.default.script vif-bridge-fast: hvscope's ip-link-only hotplug script instead of Xen's bash vif-bridge (helper libraries, forked XenStore tools, iptables lock)",
    },
    { path: ['autoballoon'], values: ['auto', 'off'], default: 'auto', about: 'autoballoon: off never balloons dom0 down before a create (dom0 must then leave room itself)' },
    { path: ['claim_mode'], values: [1, 0], default: 1, about: 'claim_mode: 0 skips claiming the domain\'s memory up front (an out-of-memory create then fails later)' },
    { path: ['run_hotplug_scripts'], values: [1, 0], default: 1, about: 'run_hotplug_scripts: 0 leaves the vif/block scripts to udev (needs udev rules in dom0)' },
  ],
};
