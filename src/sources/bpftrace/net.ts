// probes/net.bt: guest network plumbing on the host — tap creation, bridge
// attach, and the tools that do it. All of it is device set-up (phase
// `devices`); for QEMU it overlaps the toolstack phase (QEMU opens its taps
// itself), so it is tagged, not a boundary.
import type { BpftraceContext } from './context.js';
import type { ProbeSetHandler } from './handler.js';
import type { ProbeEvent } from './parse.js';

export const NET_TOOLS = new Set(['ip', 'brctl', 'bridge', 'tunctl', 'ovs-vsctl', 'ovs-ofctl']);
/** IFLA_MASTER: an RTM_NEWLINK whose first attribute it is attaches the link to a bridge. */
const IFLA_MASTER = 10;

function onEvent(ev: ProbeEvent, ctx: BpftraceContext): void {
  const at = ctx.at(ev);
  const lane = ctx.threadLane(ev.pid, ev.tid);
  switch (ev.event) {
    case 'tun_setiff': {
      const ifname = ev.fields.ifname;
      ctx.b.instant(lane, `TUNSETIFF ${ifname}`, at, { phase: 'devices', args: { ifname, flags: ev.fields.flags } });
      return;
    }
    case 'br_addif': {
      const bridge = ev.fields.bridge;
      ctx.b.instant(lane, `bridge attach → ${bridge}`, at, { phase: 'devices', args: { bridge, ifindex: ctx.int(ev, 'ifindex'), via: 'SIOCBRADDIF' } });
      return;
    }
    case 'nl_newlink': {
      const ifindex = ctx.int(ev, 'ifindex');
      const attr = ctx.int(ev, 'attr');
      const value = ctx.int(ev, 'val');
      if (attr === IFLA_MASTER)
        ctx.b.instant(lane, `bridge attach ifindex ${ifindex} → master ${value}`, at, { phase: 'devices', args: { ifindex, masterIfindex: value, via: 'RTM_NEWLINK' } });
      else ctx.b.instant(lane, 'RTM_NEWLINK', at, { phase: 'devices', args: { ifindex, flags: ev.fields.flags, firstAttr: attr } });
      return;
    }
  }
}

export const netHandler: ProbeSetHandler = {
  set: 'net',
  events: {
    tun_setiff: { keys: ['fd', 'flags'], text: 'ifname' },
    br_addif: { keys: ['ifindex'], text: 'bridge' },
    nl_newlink: { keys: ['ifindex', 'flags', 'attr', 'val'] },
  },
  reader: (ctx) => ({
    onEvent: (ev) => onEvent(ev, ctx),
    finish() {
      for (const run of ctx.runs) if (NET_TOOLS.has(run.name) && !ctx.processPhase.has(run.pid)) ctx.processPhase.set(run.pid, { phase: 'devices' });
    },
  }),
};
