import { describe, expect, it } from 'vitest';
import { target as sysctl, sysctlPath, missingKeyReason } from './sysctl.js';

const ctx = { root: '/', options: {} };

describe('sysctl target', () => {
  it('maps dotted and slashed keys to /proc/sys', () => {
    expect(sysctlPath('net.bridge.bridge-nf-call-iptables')).toBe('/proc/sys/net/bridge/bridge-nf-call-iptables');
    expect(sysctlPath('net/ipv4/conf/eth0.1/rp_filter')).toBe('/proc/sys/net/ipv4/conf/eth0.1/rp_filter');
  });

  it('reads the live value (read-only check on kernel.ostype)', async () => {
    const [k] = sysctl.knobs({ 'kernel.ostype': { value: 'Linux', why: 'test' } }, ctx);
    expect(k.id).toBe('sysctl/kernel.ostype');
    expect(k.why).toBe('test');
    expect(await k.read(ctx)).toBe('Linux');
  });

  it('turns booleans into 1/0 and compares multi-value entries whitespace-insensitively', () => {
    const [on, multi] = sysctl.knobs({ 'net.ipv4.ip_forward': true, 'net.ipv4.tcp_rmem': '4096  131072 6291456' }, ctx);
    expect(on.desired).toBe('1');
    expect(multi.matches?.('4096\t131072\t6291456', multi.desired)).toBe(true);
  });

  it('a missing key says why, and nothing is written', async () => {
    const [k] = sysctl.knobs({ 'net.bridge.no-such-key-for-test': 0 }, ctx);
    expect(await k.read(ctx)).toBeNull();
    await expect(k.write(ctx, '0')).rejects.toThrow(
      'sysctl net.bridge.no-such-key-for-test: /proc/sys/net/bridge/no-such-key-for-test does not exist: the br_netfilter module is not loaded (modprobe br_netfilter)',
    );
    expect(missingKeyReason('vm.nope')).toMatch(/no such key on this kernel/);
  });

  it('bridge-nf-call-* = 0 is met when br_netfilter is absent (no bridged frame reaches netfilter)', () => {
    const [off, on] = sysctl.knobs({ 'net.bridge.bridge-nf-call-iptables': 0, 'net.bridge.bridge-nf-call-ip6tables': 1 }, ctx);
    expect(off.matches?.(null, off.desired)).toBe(true);
    expect(on.matches?.(null, on.desired)).toBe(false);
  });
});
