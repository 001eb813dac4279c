// Linux bridge target: creates the bridge if missing and sets its STP, timers,
// multicast, netfilter hooks, MTU and per-port flags. Reads through sysfs
// (inside --netns via `ip netns exec NAME cat`), writes with `ip link set`.
//
// Units: `forward_delay` and `ageing_time` are SECONDS in profiles (decimals
// allowed); sysfs and netlink use centiseconds (USER_HZ), converted here.
import { UserError } from '../../model/errors.js';
import type { Knob, KnobValue, TargetDefinition, TuneContext } from '../knob.js';
import { mustRun, readKernelFile } from '../netns.js';
import { entrySchema, unwrapEntry, type KnobEntry } from '../profile.js';

// Interface names: at most 15 bytes; no leading '-' so `ip` never sees an option.
const IFNAME = '^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,14}$';
const onOff = entrySchema({ enum: [true, false, 0, 1, 'on', 'off'] });
const seconds = entrySchema({ type: 'number', minimum: 0, maximum: 1_000_000 });

const portSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { learning: onOff, flood: onOff, mcast_flood: onOff, hairpin: onOff },
};

export const sectionSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: IFNAME },
    create: entrySchema({ type: 'boolean' }),
    up: onOff,
    stp_state: entrySchema({ enum: [0, 1, 2, true, false] }),
    forward_delay: seconds,
    ageing_time: seconds,
    mcast_snooping: onOff,
    nf_call_iptables: onOff,
    nf_call_ip6tables: onOff,
    nf_call_arptables: onOff,
    vlan_filtering: onOff,
    mtu: entrySchema({ type: 'integer', minimum: 68, maximum: 65535 }),
    ports: {
      type: 'object',
      propertyNames: { pattern: IFNAME },
      additionalProperties: portSchema,
    },
  },
};

interface BridgeSection {
  name: string;
  create?: unknown;
  ports?: Record<string, Record<string, unknown>>;
  [knob: string]: unknown;
}

type Kind = 'onoff' | 'seconds' | 'int';

function toText(kind: Kind, v: unknown): string {
  if (kind === 'onoff') return v === true || v === 1 || v === 'on' ? 'on' : 'off';
  if (kind === 'seconds') return String(Number(v));
  return String(v === true ? 1 : v === false ? 0 : v);
}

function sameValue(kind: Kind) {
  return (seen: KnobValue, desired: KnobValue): boolean => {
    if (seen === null || desired === null) return seen === desired;
    if (kind === 'seconds') return Math.abs(Number(seen) - Number(desired)) < 0.005;
    return seen === desired;
  };
}

/** sysfs text → knob text. */
function fromSysfs(kind: Kind, raw: string): string {
  if (kind === 'onoff') return Number(raw) ? 'on' : 'off';
  if (kind === 'seconds') return String(Number(raw) / 100);
  return String(Number(raw));
}

/** Knob text → the argument `ip link ... type bridge KEY ARG` wants. */
function toIpArg(kind: Kind, value: string): string {
  if (kind === 'seconds') return String(Math.round(Number(value) * 100));
  if (kind === 'onoff') return value === 'on' ? '1' : '0';
  return value;
}

const ipNs = (ctx: TuneContext): string[] => (ctx.netns ? ['-n', ctx.netns] : []);
const sys = (...parts: string[]) => `/sys/class/net/${parts.join('/')}`;

async function bridgeExists(ctx: TuneContext, name: string): Promise<boolean> {
  if ((await readKernelFile(ctx, sys(name, 'bridge', 'stp_state'))) !== null) return true;
  if ((await readKernelFile(ctx, sys(name, 'ifindex'))) !== null)
    throw new UserError(`bridge: "${name}" exists${ctx.netns ? ` in netns ${ctx.netns}` : ''} but is not a bridge`);
  return false;
}

/** Bridge options: profile key, sysfs file under bridge/, `ip ... type bridge` keyword. */
const BRIDGE_OPTIONS: { key: string; sysfs: string; ip: string; kind: Kind }[] = [
  // STP first: forward_delay below 2 s is only accepted with STP off (docs/references.md#linux-bridge).
  { key: 'stp_state', sysfs: 'stp_state', ip: 'stp_state', kind: 'int' },
  { key: 'forward_delay', sysfs: 'forward_delay', ip: 'forward_delay', kind: 'seconds' },
  { key: 'ageing_time', sysfs: 'ageing_time', ip: 'ageing_time', kind: 'seconds' },
  { key: 'mcast_snooping', sysfs: 'multicast_snooping', ip: 'mcast_snooping', kind: 'onoff' },
  { key: 'nf_call_iptables', sysfs: 'nf_call_iptables', ip: 'nf_call_iptables', kind: 'onoff' },
  { key: 'nf_call_ip6tables', sysfs: 'nf_call_ip6tables', ip: 'nf_call_ip6tables', kind: 'onoff' },
  { key: 'nf_call_arptables', sysfs: 'nf_call_arptables', ip: 'nf_call_arptables', kind: 'onoff' },
  { key: 'vlan_filtering', sysfs: 'vlan_filtering', ip: 'vlan_filtering', kind: 'onoff' },
];

/** Port flags: profile key, sysfs file under brif/PORT/, `ip ... type bridge_slave` keyword. */
const PORT_FLAGS: { key: string; sysfs: string; ip: string }[] = [
  { key: 'learning', sysfs: 'learning', ip: 'learning' },
  { key: 'flood', sysfs: 'unicast_flood', ip: 'flood' },
  { key: 'mcast_flood', sysfs: 'multicast_flood', ip: 'mcast_flood' },
  { key: 'hairpin', sysfs: 'hairpin_mode', ip: 'hairpin' },
];

type BridgeKnob = Knob & { source?: string };

const missing = (br: string, ctx: TuneContext) =>
  new UserError(`bridge ${br} does not exist${ctx.netns ? ` in netns ${ctx.netns}` : ''} (set create: true to create it)`);
const knobId = (br: string, ...parts: string[]) => ['bridge', br, ...parts].join('/');

/** The bridge's knobs in apply order: exists, options (STP first), MTU, port flags, link up last. */
function knobs(sectionIn: unknown, _ctx: TuneContext): Knob[] {
  const section = sectionIn as BridgeSection;
  const br = section.name;
  const out: BridgeKnob[] = [];
  const create = section.create === undefined ? { value: true } : unwrapEntry<boolean>(section.create);
  if (create.value) out.push(presentKnob(br, create));
  for (const opt of BRIDGE_OPTIONS) if (section[opt.key] !== undefined) out.push(optionKnob(br, opt, unwrapEntry(section[opt.key])));
  if (section.mtu !== undefined) out.push(mtuKnob(br, unwrapEntry(section.mtu)));
  for (const [port, flags] of Object.entries(section.ports ?? {}))
    for (const flag of PORT_FLAGS) if (flags[flag.key] !== undefined) out.push(portFlagKnob(br, port, flag, unwrapEntry(flags[flag.key])));
  // Link up last, once it is configured (and first to be restored on rollback).
  if (section.up !== undefined) out.push(upKnob(br, unwrapEntry(section.up)));
  return out;
}

type Entry = KnobEntry;

function presentKnob(br: string, create: Entry): BridgeKnob {
  return {
    target: 'bridge',
    id: knobId(br, 'present'),
    desired: 'yes',
    why: create.why ?? 'the bridge must exist before its options can be set',
    source: create.source,
    read: async (ctx) => ((await bridgeExists(ctx, br)) ? 'yes' : null),
    // null = delete: used by rollback to remove a bridge that apply created.
    write: async (ctx, value) => {
      const exists = await bridgeExists(ctx, br);
      if (value === 'yes' && !exists) await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'add', 'name', br, 'type', 'bridge']);
      if (value === null && exists) await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'del', 'dev', br]);
    },
  };
}

function optionKnob(br: string, opt: (typeof BRIDGE_OPTIONS)[number], e: Entry): BridgeKnob {
  const path = sys(br, 'bridge', opt.sysfs);
  return {
    target: 'bridge',
    id: knobId(br, opt.key),
    desired: toText(opt.kind, e.value),
    why: e.why,
    source: e.source,
    matches: sameValue(opt.kind),
    read: async (ctx) => {
      const raw = await readKernelFile(ctx, path);
      return raw === null ? null : fromSysfs(opt.kind, raw);
    },
    write: async (ctx, value) => {
      if (value === null) return; // the bridge is gone (or will be): nothing to restore
      if (!(await bridgeExists(ctx, br))) throw missing(br, ctx);
      if (opt.key === 'forward_delay' && Number(value) < 2) {
        const stp = await readKernelFile(ctx, sys(br, 'bridge', 'stp_state'));
        if (stp !== null && stp !== '0')
          throw new UserError(`bridge ${br}: forward_delay ${value} s needs STP off (the kernel keeps 2–30 s while STP runs); set stp_state: 0`);
      }
      await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'set', 'dev', br, 'type', 'bridge', opt.ip, toIpArg(opt.kind, value)]);
    },
  };
}

function mtuKnob(br: string, e: Entry): BridgeKnob {
  return {
    target: 'bridge',
    id: knobId(br, 'mtu'),
    desired: String(e.value),
    why: e.why,
    source: e.source,
    read: async (ctx) => ((await bridgeExists(ctx, br)) ? await readKernelFile(ctx, sys(br, 'mtu')) : null),
    write: async (ctx, value) => {
      if (value === null) return;
      if (!(await bridgeExists(ctx, br))) throw missing(br, ctx);
      await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'set', 'dev', br, 'mtu', value]);
    },
  };
}

function portFlagKnob(br: string, port: string, flag: (typeof PORT_FLAGS)[number], e: Entry): BridgeKnob {
  const path = sys(br, 'brif', port, flag.sysfs);
  return {
    target: 'bridge',
    id: knobId(br, 'port', port, flag.key),
    desired: toText('onoff', e.value),
    why: e.why,
    source: e.source,
    read: async (ctx) => {
      const raw = await readKernelFile(ctx, path);
      return raw === null ? null : fromSysfs('onoff', raw);
    },
    write: async (ctx, value) => {
      if (value === null) return;
      if ((await readKernelFile(ctx, path)) === null)
        throw new UserError(`bridge ${br}: ${port} is not a port of this bridge${ctx.netns ? ` in netns ${ctx.netns}` : ''}`);
      await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'set', 'dev', port, 'type', 'bridge_slave', flag.ip, value]);
    },
  };
}

function upKnob(br: string, e: Entry): BridgeKnob {
  return {
    target: 'bridge',
    id: knobId(br, 'up'),
    desired: toText('onoff', e.value),
    why: e.why,
    source: e.source,
    read: async (ctx) => {
      const flags = await readKernelFile(ctx, sys(br, 'flags'));
      // IFF_UP is bit 0 of the interface flags.
      return flags === null || !(await bridgeExists(ctx, br)) ? null : Number(flags) & 1 ? 'on' : 'off';
    },
    write: async (ctx, value) => {
      if (value === null) return;
      if (!(await bridgeExists(ctx, br))) throw missing(br, ctx);
      await mustRun(ctx, 'ip', [...ipNs(ctx), 'link', 'set', 'dev', br, value === 'on' ? 'up' : 'down']);
    },
  };
}

export const target: TargetDefinition = {
  name: 'bridge',
  summary: 'Linux bridge: create, STP, forward delay, ageing, multicast snooping, netfilter hooks, MTU, port flags (ip link; sysfs)',
  sectionSchema,
  knobs,
};
