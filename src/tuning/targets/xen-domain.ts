// xen-domain: rewrites one domain config (xl.cfg(5)) given with `--domain-config FILE`
// (ctx.options.domainConfig), in place or into `--domain-output FILE` (ctx.options.domainOutput).
// Edits go through ../xl-config-text.ts, so comments and other settings stay byte-for-byte and
// restoring the old values gives back the identical file; the output must (and is tested to)
// parse with Xen's own libxlutil.
//
// Domain config paths are the user's files and are used as given (relative to the working
// directory); `--root` redirects host files such as /etc/xen/xl.conf, not these.
// With a separate output file: knobs read the output when it exists, else the input; a write
// that makes the output identical to the input deletes the output, so a rollback leaves nothing.
import { UserError } from '../../model/errors.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { getAtom, getList, getRaw, setAtom, setListItem, setRaw } from '../xl-config-text.js';
import { domainFiles, readDomainFile, writeDomainFile } from './domain-file.js';
import { enumValue, explain, integerValue, knobEntrySchema, stringOrNull, unwrapEntry, withNull } from './knob-entry.js';

type About = { why?: string; source?: string };

const ON_EVENT = withNull(enumValue('destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart', 'soft-reset'));

/** Single-value xl.cfg keys this target sets (exact names from xl.cfg(5)). */
export const DOMAIN_ATOM_KEYS: Record<string, Record<string, unknown>> = {
  type: withNull(enumValue('pv', 'pvh', 'hvm')),
  kernel: stringOrNull,
  ramdisk: stringOrNull,
  cmdline: stringOrNull,
  memory: withNull(integerValue),
  maxmem: withNull(integerValue),
  vcpus: withNull(integerValue),
  on_crash: ON_EVENT,
  on_poweroff: ON_EVENT,
  on_reboot: ON_EVENT,
  driver_domain: withNull(enumValue(0, 1, '0', '1')),
  max_event_channels: withNull(integerValue),
};

/** Options inside a vif spec (xl-network-configuration(5)) that a profile may set per vif. */
export const VIF_OPTIONS = ['bridge', 'script', 'backend', 'mac', 'model', 'vifname', 'ip', 'rate', 'mtu'] as const;
const VIF_VALUE = { anyOf: [{ type: 'string', pattern: '^[^,=\\n]*$' }, { type: 'integer', minimum: 0 }, { type: 'null' }] };

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(Object.entries(DOMAIN_ATOM_KEYS).map(([k, v]) => [k, knobEntrySchema(v)])),
    // null removes the disk list (unikernels need no block devices); a list replaces it.
    disk: knobEntrySchema({ anyOf: [{ type: 'null' }, { type: 'array', items: { type: 'string' } }] }),
    // vif[i] sets options inside the i-th vif spec, e.g. `vif: [ { bridge: br0, script: vif-bridge-fast } ]`.
    vif: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(VIF_OPTIONS.map((o) => [o, knobEntrySchema(VIF_VALUE)])),
      },
    },
  },
};

const DOMAIN_FILE = { section: 'xen-domain', kind: 'domain config' };
const readDomain = (ctx: TuneContext) => readDomainFile(ctx, DOMAIN_FILE);

async function editDomain(ctx: TuneContext, edit: (text: string, file: string) => string): Promise<void> {
  const d = await readDomain(ctx);
  await writeDomainFile(d, edit(d.text, d.file));
}

const normalNumber = (v: KnobValue): KnobValue => (v !== null && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v) ? String(Number(v)) : v);

function atomKnob(key: string, desired: KnobValue, about: About): Knob {
  return {
    target: 'xen-domain',
    id: `xen-domain/${key}`,
    desired,
    ...explain(about),
    async read(ctx) {
      const d = await readDomain(ctx);
      return getAtom(d.text, d.file, key);
    },
    async write(ctx, value) {
      await editDomain(ctx, (text, file) => setAtom(text, file, key, value));
    },
    matches: (seen, want) => normalNumber(seen) === normalNumber(want),
  };
}

/** `[ 'a', 'b' ]` for a list of strings (single quotes, as Xen's examples write it). */
export function renderList(items: string[]): string {
  return `[ ${items.map((s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(', ')} ]`;
}

/** The `disk` list as raw value text, so a removal can be undone byte-for-byte. */
function diskKnob(desired: KnobValue, about: About): Knob {
  const items = (raw: KnobValue): string[] | null => (raw === null ? null : getList(`disk=${raw}\n`, 'disk value', 'disk'));
  return {
    target: 'xen-domain',
    id: 'xen-domain/disk',
    desired,
    ...explain(about),
    async read(ctx) {
      const d = await readDomain(ctx);
      return getRaw(d.text, d.file, 'disk');
    },
    async write(ctx, value) {
      await editDomain(ctx, (text, file) => setRaw(text, file, 'disk', value));
    },
    matches: (seen, want) => JSON.stringify(items(seen)) === JSON.stringify(items(want)),
  };
}

/** Splits a vif spec `k=v,k=v` (xl-network-configuration(5)) into [key, value] pairs. */
export function parseVifSpec(spec: string): [string, string][] {
  if (spec.trim() === '') return [];
  return spec.split(',').map((part) => {
    const eq = part.indexOf('=');
    return eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
  });
}

/** Sets (or removes, null) one option in a vif spec, keeping the other options and their order. */
export function setVifOption(spec: string, option: string, value: string | null): string {
  const parts = spec.trim() === '' ? [] : spec.split(',');
  const at = parts.findIndex((p) => p.trim().split('=')[0].trim() === option);
  if (value === null) {
    if (at >= 0) parts.splice(at, 1);
  } else if (at >= 0) {
    const eq = parts[at].indexOf('=');
    parts[at] = parts[at].slice(0, eq + 1) + value;
  } else parts.push(`${option}=${value}`);
  return parts.join(',');
}

function vifKnob(index: number, option: string, desired: KnobValue, about: About): Knob {
  return {
    target: 'xen-domain',
    id: `xen-domain/vif[${index}]/${option}`,
    desired,
    ...explain(about),
    async read(ctx) {
      const d = await readDomain(ctx);
      const spec = getList(d.text, d.file, 'vif')?.[index];
      if (spec === undefined) return null;
      const found = parseVifSpec(spec).find(([k]) => k.trim() === option);
      return found ? found[1] : null;
    },
    async write(ctx, value) {
      if (value !== null && /[,\n]/.test(value)) throw new UserError(`vif option ${option}: ${JSON.stringify(value)} cannot contain ',' or a line break`);
      await editDomain(ctx, (text, file) => {
        const list = getList(text, file, 'vif') ?? [];
        const spec = list[index];
        if (spec === undefined) {
          if (value === null) return text;
          if (index > list.length) throw new UserError(`${file}: vif has ${list.length} entries; cannot set an option of vif[${index}]`);
          return setListItem(text, file, 'vif', index, `${option}=${value}`);
        }
        const next = setVifOption(spec, option, value);
        // An entry emptied again that was added after the user's ones goes away (see setListItem).
        if (next === '' && index > 0 && index === list.length - 1) return setListItem(text, file, 'vif', index, null);
        if (next === '' && list.length === 1) {
          const removed = setListItem(text, file, 'vif', 0, null);
          if (getList(removed, file, 'vif') === null) return removed; // the list was ours
        }
        return setListItem(text, file, 'vif', index, next);
      });
    },
  };
}

export const target: TargetDefinition = {
  name: 'xen-domain',
  summary: 'A domain config (xl.cfg(5)) given with --domain-config: type, memory, vcpus, vif options, disk, on_crash',
  sectionSchema,
  knobs(section, ctx) {
    const s = (section ?? {}) as Record<string, unknown>;
    domainFiles(ctx, DOMAIN_FILE); // fails early, before anything is touched, when --domain-config is missing
    const knobs: Knob[] = [];
    for (const key of Object.keys(DOMAIN_ATOM_KEYS)) {
      if (!(key in s)) continue;
      const entry = unwrapEntry(s[key]);
      knobs.push(atomKnob(key, entry.value, entry));
    }
    if ('disk' in s) {
      const entry = s.disk as unknown;
      const about = unwrapEntry(entry);
      const raw = entry !== null && typeof entry === 'object' && !Array.isArray(entry) ? (entry as { value: unknown }).value : entry;
      knobs.push(diskKnob(Array.isArray(raw) ? renderList(raw.map(String)) : null, about));
    }
    const vifs = (s.vif as Record<string, unknown>[] | undefined) ?? [];
    vifs.forEach((options, index) => {
      for (const option of VIF_OPTIONS) {
        if (!(option in options)) continue;
        const entry = unwrapEntry(options[option]);
        knobs.push(vifKnob(index, option, entry.value, entry));
      }
    });
    return knobs;
  },
};

