import { describe, expect, it } from 'vitest';
import { TraceBuilder } from './builder.js';
import { cleanConsoleText } from './console-text.js';
import { DEFAULT_VOCABULARY, RANK, consolePattern, describePortWrite, type MarkerRule } from './markers.js';
import { PHASE_LANE_ID } from './trace.js';

const MS = 1e6;
const builder = (vocabulary = DEFAULT_VOCABULARY) => new TraceBuilder({ source: 'synthetic-builder', clock: 'monotonic' }, { vocabulary });

describe('the marker vocabulary', () => {
  it('has one row per kind of evidence, unique ids, each with a boundary and a rank', () => {
    const ids = DEFAULT_VOCABULARY.rules.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of DEFAULT_VOCABULARY.rules) expect(Object.values(RANK)).toContain(r.rank);
    expect(() => DEFAULT_VOCABULARY.with(DEFAULT_VOCABULARY.rules[0])).toThrow(/duplicate rule id/);
  });

  it('knows qemu-boot-time codes on 0xf4/0xf5, the debug port ranges and Firecracker\'s boot timer', () => {
    const boundary = (space: 'io' | 'mmio', address: number, value: number) => DEFAULT_VOCABULARY.forWrite(space, address, value).map((r) => [r.boundary, r.rank]);
    expect(boundary('io', 0xf4, 1)).toEqual([['firmware-start', RANK.exact]]);
    expect(boundary('io', 0xf5, 6)).toEqual([['kernel-start', RANK.exact]]);
    expect(boundary('io', 0xf4, 7)).toEqual([['user-start', RANK.exact]]);
    expect(boundary('io', 0xf4, 2)).toEqual([]);
    expect(boundary('io', 0x80, 0x45)).toEqual([['kernel-start', RANK.hypervisor]]);
    expect(boundary('io', 0x80, 0x25)).toEqual([]);
    expect(boundary('io', 0x80, 0x80)).toEqual([]);
    expect(boundary('mmio', 0xc0000000, 123)).toEqual([['user-start', RANK.exact]]);
    expect(describePortWrite(0xf4, 6)).toBe('linux_start_kernel');
    expect(describePortWrite(0x80, 0x61)).toBe('port 0x80: userspace 0x61');
    expect(describePortWrite(0x70, 1)).toBe('port 0x70 = 0x1');
  });

  it('gives analyses the console patterns it matches (one table, not copies)', () => {
    expect(consolePattern('linux-banner').test('[    0.000000] Linux version 6.1.0-56-amd64')).toBe(true);
    expect(consolePattern('x86-setup').test('Probing EDD (edd=off to disable)... ok')).toBe(true);
    expect(() => consolePattern('kvm-run')).toThrow(/not a console rule/);
  });
});

describe('TraceBuilder', () => {
  it('turns console lines into cleaned instants tagged with the phase they start, and markers ranked no better than the source\'s timing', () => {
    const b = builder();
    const lane = b.lane('guest', { kind: 'guest', name: 'guest' });
    expect(b.consoleLine(lane, '\x1b[2J\r\n', 1, { source: 's', timing: 'write' })).toBeUndefined();
    const init = b.consoleLine(lane, '[    2.4] Run /init as init process\r', 20, { source: 's', timing: 'write' })!;
    b.consoleLine(lane, '[    0.0] Linux version 6.1', 10, { source: 'late', timing: 'arrival' });
    expect(init).toMatchObject({ name: '[    2.4] Run /init as init process', phase: 'user' });
    const t = b.build();
    expect(t.markers.map((m) => [m.boundary, m.name, m.source, m.rank, m.detail])).toEqual([
      // the banner only bounds the kernel start (it is printed after decompression), whatever the timing
      ['kernel-start', 'Linux banner', 'late', RANK.bound, '[    0.0] Linux version 6.1'],
      ['user-start', 'Linux runs init', 's', RANK.console, '[    2.4] Run /init as init process'],
    ]);
    expect(cleanConsoleText('\x1bc\x1b[?7l\x1b[2J\x1b(BSeaBIOS (version 1.16)\r')).toBe('SeaBIOS (version 1.16)');
  });

  it('keeps only the earliest marker of a `once` rule per source', () => {
    const b = builder();
    b.event('guest-output', 30, { source: 'a' });
    b.event('guest-output', 10, { source: 'a' });
    b.event('guest-output', 20, { source: 'b' });
    expect(b.build().markers.map((m) => [m.source, m.at])).toEqual([
      ['a', 10],
      ['b', 20],
    ]);
  });

  it('nests begin/end per lane and closes what is still open as unfinished', () => {
    const b = builder();
    b.begin('t', 'outer', 0);
    b.begin('t', 'inner', 5, { args: { k: 1 } });
    expect(b.end('t', 'inner', 8, { ret: 0 })).toMatchObject({ start: 5, end: 8, args: { k: 1, ret: 0 } });
    expect(b.end('t', 'never-opened', 9)).toBeUndefined();
    b.instant('t', 'late', 20);
    const t = b.build();
    expect(t.spans.find((s) => s.name === 'outer')).toMatchObject({ start: 0, end: 20, args: { unfinished: true } });
  });

  it('gives by-time items the phase they start in once phases are derived, also an open (unresolved) one', () => {
    const b = builder();
    b.event('xl-exec', 0, { source: 's' });
    b.event('libxl-device-add', 10 * MS, { source: 's' });
    b.event('xen-unpause', 30 * MS, { source: 's' });
    for (const at of [5, 15, 35, 90]) b.instant('x', `at ${at}`, at * MS, { phase: 'by-time' });
    b.span('x', 'script', 12 * MS, 20 * MS, { phase: 'devices', onlyDuringPhases: true });
    const t = b.build();
    expect(t.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => s.name)).toEqual(['toolstack', 'devices']);
    // the kernel started at the unpause; nothing says when it ended, so what follows is in it as far as anyone knows
    expect(t.unresolvedPhases.map((u) => u.phase)).toEqual(['kernel']);
    expect(t.instants.map((i) => [i.name, i.phase])).toEqual([
      ['at 5', 'toolstack'],
      ['at 15', 'devices'],
      ['at 35', 'kernel'],
      ['at 90', 'kernel'],
    ]);
    expect(t.spans.find((s) => s.name === 'script')?.phase).toBe('devices');
  });

  it('drops an onlyDuringPhases tag outside the phases (a hotplug script at teardown)', () => {
    const b = builder();
    b.event('xl-exec', 0, { source: 's' });
    b.event('xen-unpause', 10, { source: 's' });
    b.consoleLine('g', 'tiny-pv: hello from a Xen PV guest', 20, { source: 's', timing: 'write' });
    b.span('x', 'vif-bridge offline', 50, 60, { phase: 'devices', onlyDuringPhases: true });
    expect(b.build().spans.find((s) => s.name === 'vif-bridge offline')?.phase).toBeUndefined();
  });
});

describe('user-defined rules are vocabulary rows (how --ready adds one)', () => {
  const tcpReady: MarkerRule = { id: 'ready-tcp', name: 'ready: tcp 10.0.0.2:80 answered', boundary: 'ready', rank: RANK.hypervisor, match: { on: 'event', event: 'tcp-ready' } };
  const exitReady: MarkerRule = { id: 'ready-exit', name: 'ready: the VM exited', boundary: 'ready', rank: RANK.exact, match: { on: 'event', event: 'vm-exit' } };
  const pioReady: MarkerRule = { id: 'ready-pio', name: 'ready: port 0x501 = 0x31', boundary: 'ready', rank: RANK.exact, match: { on: 'write', space: 'io', addresses: [0x501], min: 0x31, max: 0x31 } };
  const consoleReady: MarkerRule = { id: 'ready-console', name: 'ready: console /listening on :80/', boundary: 'ready', rank: RANK.console, match: { on: 'console', pattern: /listening on :80/ } };

  it('a console regex, a port write, the VM\'s exit or a TCP answer ends the user phase, without new code paths', () => {
    const boot = (rule: MarkerRule, feed: (b: TraceBuilder) => void) => {
      const b = builder(DEFAULT_VOCABULARY.with(rule));
      b.event('qemu-exec', 0, { source: 's' });
      b.event('kvm-run', 5, { source: 's' });
      b.guestWrite('io', 0xf4, 6, 10, { source: 's' });
      b.guestWrite('io', 0xf4, 7, 20, { source: 's' });
      feed(b);
      const user = b.build().spans.find((s) => s.lane === PHASE_LANE_ID && s.name === 'user');
      return [user?.end, user?.args?.end_by];
    };
    expect(boot(consoleReady, (b) => b.consoleLine('g', 'app: listening on :80', 30, { source: 's', timing: 'write' }))).toEqual([30, consoleReady.name]);
    expect(boot(pioReady, (b) => b.guestWrite('io', 0x501, 0x31, 31, { source: 's' }))).toEqual([31, pioReady.name]);
    expect(boot(tcpReady, (b) => b.event('tcp-ready', 32, { source: 'hvscope' }))).toEqual([32, tcpReady.name]);
    // exit: the same event that ends the VM is the ready marker too (ready wins over the VM's end)
    expect(boot(exitReady, (b) => b.event('vm-exit', 33, { source: 's' }))).toEqual([33, exitReady.name]);
  });
});
