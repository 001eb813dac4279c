// libvirt-qemu-conf: settings of libvirt's QEMU driver in /etc/libvirt/qemu.conf (under --root),
// edited in place with comments and other lines kept byte-for-byte. qemu.conf is read by
// libvirt's virConf parser, whose grammar (KEY = VALUE, strings in '…' or "…", numbers, lists
// [ … ], '#' comments) is the one ../xl-config-text.ts edits for Xen; keys are lower-case here.
// libvirtd reads qemu.conf when it starts: a change takes effect after a restart of libvirtd.
//
// One row per setting: the key, its value schema, what it costs on the create path.
import type { Knob, KnobCandidates, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { editConfigFile, getAtom, getList, readConfigFile, setAtom, setRaw } from '../xl-config-text.js';
import { explain, knobEntrySchema, underRoot, unwrapEntry } from './knob-entry.js';

export const DEFAULT_QEMU_CONF = '/etc/libvirt/qemu.conf';

interface Row {
  key: string;
  kind: 'atom' | 'list';
  schema: Record<string, unknown>;
  about: string;
}

const bit = { anyOf: [{ enum: [0, 1, '0', '1'] }, { type: 'null' }] };
const listOf = (items: Record<string, unknown>) => ({ anyOf: [{ type: 'array', items, uniqueItems: true }, { type: 'null' }] });

/** The qemu.conf settings this target edits (names and meanings from the comments in libvirt's qemu.conf). */
export const ROWS: Row[] = [
  { key: 'namespaces', kind: 'list', schema: listOf({ enum: ['mount'] }), about: 'private mount namespace with its own /dev per QEMU process; [] skips building it at every start' },
  {
    key: 'cgroup_controllers',
    kind: 'list',
    schema: listOf({ enum: ['cpu', 'devices', 'memory', 'blkio', 'cpuset', 'cpuacct', 'freezer', 'net_cls', 'perf_event', 'name=systemd'] }),
    about: 'cgroup controllers libvirt sets up per guest; [] creates no per-guest cgroups',
  },
  { key: 'seccomp_sandbox', kind: 'atom', schema: { anyOf: [{ enum: [-1, 0, 1, '-1', '0', '1'] }, { type: 'null' }] }, about: "QEMU's -sandbox seccomp filter; 0 leaves it out" },
  { key: 'stdio_handler', kind: 'atom', schema: { anyOf: [{ enum: ['logd', 'file'] }, { type: 'null' }] }, about: 'who writes QEMU stdout/stderr: virtlogd (logd) or libvirtd directly to a file' },
  { key: 'dynamic_ownership', kind: 'atom', schema: bit, about: 'chown of disk/kernel/chardev files to the QEMU user at start and back at stop' },
  { key: 'remember_owner', kind: 'atom', schema: bit, about: 'records original file owners in extended attributes to restore them' },
  { key: 'security_driver', kind: 'atom', schema: { anyOf: [{ enum: ['none', 'selinux', 'apparmor', 'dac'] }, { type: 'null' }] }, about: 'MAC/DAC security driver that labels every resource of a guest' },
  { key: 'set_process_name', kind: 'atom', schema: bit, about: 'passes -name guest=...,debug-threads=on to QEMU' },
  { key: 'log_timestamp', kind: 'atom', schema: bit, about: 'timestamps in the per-guest QEMU log' },
];

/**
 * What `tune optimize --workload libvirt:GUEST` may try (each needs a fresh libvirtd: the workload
 * starts one per qemu.conf). Defaults: libvirt 9.0's with the key absent (Debian's qemu.conf has
 * every key commented out, fixtures/libvirt/debian-12-qemu.conf). Ordered by traced cost (issue 12).
 */
export const CANDIDATES: KnobCandidates[] = [
  { path: ['namespaces'], values: [[]], default: ['mount'], about: 'namespaces []: no private mount namespace and /dev built per QEMU (QEMU then sees the host /dev)' },
  { path: ['cgroup_controllers'], values: [[]], default: ['cpu', 'devices', 'memory', 'blkio', 'cpuset', 'cpuacct'], about: 'cgroup_controllers []: no per-guest cgroup set up (the guest is not resource-limited by libvirt)' },
  { path: ['stdio_handler'], values: ['file'], default: 'logd', about: 'stdio_handler file: libvirtd writes QEMU stdout/stderr to the log file itself, not through virtlogd' },
  { path: ['seccomp_sandbox'], values: [0], default: 1, about: "seccomp_sandbox 0: QEMU without its -sandbox syscall filter (a security trade)" },
  { path: ['remember_owner'], values: [0], default: 1, about: 'remember_owner 0: no xattrs recording the original owners of the files QEMU gets' },
  { path: ['log_timestamp'], values: [0], default: 1, about: 'log_timestamp 0: no timestamps in the per-guest QEMU log' },
];

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Where qemu.conf lives on the host (under --root); not a knob.
    path: { type: 'string', pattern: '^/' },
    ...Object.fromEntries(ROWS.map((r) => [r.key, knobEntrySchema(r.schema)])),
  },
};

const normalise = (v: KnobValue): KnobValue => (v !== null && /^-?[0-9]+$/.test(v) ? String(Number(v)) : v);

/** A list's knob text: `[a,b]`, `[]` for an empty list. */
const listText = (items: string[]): string => `[${items.join(',')}]`;
const renderList = (value: string): string => {
  const inner = value.replace(/^\[|\]$/g, '');
  const items = inner === '' ? [] : inner.split(',');
  return items.length ? `[ ${items.map((s) => `"${s}"`).join(', ')} ]` : '[ ]';
};

function rowKnob(file: string, row: Row, desired: KnobValue, about: { why?: string; source?: string }): Knob {
  const at = (ctx: TuneContext): string => underRoot(ctx.root, file);
  return {
    target: 'libvirt-qemu-conf',
    id: `libvirt-qemu-conf/${row.key}`,
    desired,
    ...explain({ why: about.why ?? row.about, source: about.source }),
    async read(ctx) {
      const f = at(ctx);
      const text = await readConfigFile(f);
      if (text === null) return null;
      if (row.kind === 'atom') return getAtom(text, f, row.key);
      const items = getList(text, f, row.key);
      return items === null ? null : listText(items);
    },
    async write(ctx, value) {
      const f = at(ctx);
      await editConfigFile(f, (text) => {
        if (row.kind === 'atom') return setAtom(text, f, row.key, value);
        const items = getList(text, f, row.key);
        if (value !== null && items !== null && listText(items) === value) return text;
        return setRaw(text, f, row.key, value === null ? null : renderList(value));
      });
    },
    matches: (seen, want) => normalise(seen) === normalise(want),
  };
}

export const target: TargetDefinition = {
  name: 'libvirt-qemu-conf',
  summary: "libvirt's QEMU driver settings in /etc/libvirt/qemu.conf (namespaces, cgroup_controllers, seccomp_sandbox, ...); restart libvirtd to take effect",
  sectionSchema,
  candidates: CANDIDATES,
  knobs(section) {
    const s = (section ?? {}) as Record<string, unknown>;
    const file = typeof s.path === 'string' ? s.path : DEFAULT_QEMU_CONF;
    return ROWS.filter((r) => r.key in s).map((r) => {
      const e = unwrapEntry(s[r.key]);
      return rowKnob(file, r, r.kind === 'list' && e.value !== null ? `[${e.value}]` : e.value, e);
    });
  },
};
