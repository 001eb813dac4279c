// Mapping of a bridge section to knobs (ids, order, units). Reading and writing
// a real bridge is tested in test/e2e/tune-bridge.test.ts inside a netns.
import { describe, expect, it } from 'vitest';
import { target as bridge } from './bridge.js';

const ctx = { root: '/', options: {} };

describe('bridge target', () => {
  const knobs = bridge.knobs(
    {
      name: 'br0',
      up: true,
      ports: { vif1: { hairpin: 'on', learning: 0 } },
      mtu: 9000,
      forward_delay: { value: 0.5, why: 'w', source: 's' },
      stp_state: false,
      ageing_time: 300,
      nf_call_iptables: false,
    },
    ctx,
  );

  it('orders knobs: create, STP before forward_delay, options, MTU, ports, up last', () => {
    expect(knobs.map((k) => k.id)).toEqual([
      'bridge/br0/present',
      'bridge/br0/stp_state',
      'bridge/br0/forward_delay',
      'bridge/br0/ageing_time',
      'bridge/br0/nf_call_iptables',
      'bridge/br0/mtu',
      'bridge/br0/port/vif1/learning',
      'bridge/br0/port/vif1/hairpin',
      'bridge/br0/up',
    ]);
  });

  it('keeps seconds in the knob value and normalises booleans', () => {
    const byId = Object.fromEntries(knobs.map((k) => [k.id, k]));
    expect(byId['bridge/br0/forward_delay'].desired).toBe('0.5');
    expect(byId['bridge/br0/forward_delay'].why).toBe('w');
    expect(byId['bridge/br0/forward_delay'].matches?.('0.5', '0.5')).toBe(true);
    expect(byId['bridge/br0/ageing_time'].matches?.('300', '300.001')).toBe(true);
    expect(byId['bridge/br0/stp_state'].desired).toBe('0');
    expect(byId['bridge/br0/nf_call_iptables'].desired).toBe('off');
    expect(byId['bridge/br0/port/vif1/hairpin'].desired).toBe('on');
    expect(byId['bridge/br0/port/vif1/learning'].desired).toBe('off');
  });

  it('create: false leaves an existing bridge to the user (no present knob)', () => {
    expect(bridge.knobs({ name: 'br0', create: false, stp_state: 0 }, ctx).map((k) => k.id)).toEqual(['bridge/br0/stp_state']);
  });
});
