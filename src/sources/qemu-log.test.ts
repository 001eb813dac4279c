import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { validateTrace } from '../model/io.js';
import { importQemuLog } from './qemu-log.js';
import { parseReadyRule, readyVocabulary } from '../model/ready-rule.js';
import { phaseLaneSpans as phases, userErrorOf as errorOf } from '../../test/helpers/fixtures.js';

const PC_LOG = 'fixtures/qemu-tcg-pc-linux/qemu.log';

describe('importQemuLog on the recorded pc boot (fixtures/qemu-tcg-pc-linux)', () => {
  const text = readFileSync(PC_LOG, 'utf8');
  const trace = importQemuLog(text, PC_LOG);

  it('produces a valid trace whose t0 is the first logged event', () => {
    validateTrace(JSON.parse(JSON.stringify(trace)), PC_LOG);
    const first = /^\d+@(\d+)\.(\d{6}):/.exec(text)!;
    expect(trace.meta.t0ClockUs).toBe(Number(first[1]) * 1e6 + Number(first[2]));
    expect(trace.meta.source).toBe('qemu-log');
    expect(trace.meta.clock).toBe('realtime');
  });

  it('has toolstack → firmware → kernel from QEMU events alone, contiguous and in order', () => {
    const p = phases(trace);
    expect(p.map((s) => s.name)).toEqual(['toolstack', 'firmware', 'kernel']);
    for (let i = 1; i < p.length; i++) expect(p[i].start).toBe(p[i - 1].end);
    expect(p[0].start).toBe(0);
    const ms = (i: number) => (p[i].end - p[i].start) / 1e6;
    // QEMU machine setup up to the vCPU start, then SeaBIOS + linuxboot: tens of ms each under TCG.
    expect(ms(0)).toBeGreaterThan(1);
    expect(ms(0)).toBeLessThan(2000);
    expect(ms(1)).toBeGreaterThan(1);
    expect(ms(1)).toBeLessThan(2000);
    // The kernel runs until the VM shuts down (no user marker in this log).
    expect(ms(2)).toBeGreaterThan(100);
  });

  it('ends toolstack at runstate running and firmware at the last fw_cfg load of the kernel', () => {
    const running = trace.instants.find((i) => i.name === 'run state → running')!;
    expect(phases(trace)[1].start).toBe(running.at);
    const handover = trace.instants.find((i) => i.name.startsWith('firmware hands over'))!;
    expect(handover.name).toMatch(/last fw_cfg load: cmdline_data/);
    expect(trace.markers.find((m) => m.boundary === 'kernel-start')).toMatchObject({ at: handover.at, source: 'qemu-log', rank: 1 });
    expect(phases(trace)[2].start).toBe(handover.at);
  });

  it('puts events on the QEMU process, VM state and vCPU thread lanes', () => {
    const byId = new Map(trace.lanes.map((l) => [l.id, l]));
    expect(byId.get('qemu')?.kind).toBe('process');
    const vcpu = trace.lanes.filter((l) => l.kind === 'thread' && /^vCPU thread \d+$/.test(l.name));
    expect(vcpu).toHaveLength(1);
    expect(trace.instants.some((i) => i.lane === vcpu[0].id && i.name === 'fw_cfg kernel_data')).toBe(true);
    expect(trace.instants.some((i) => i.lane === 'qemu' && i.name === 'load ROM bios-256k.bin')).toBe(true);
    expect(trace.instants.some((i) => i.name === 'shutdown request (guest-shutdown)')).toBe(true);
    const states = trace.spans.filter((s) => s.lane === 'qemu/vm').map((s) => s.name);
    expect(states).toEqual(['prelaunch', 'running']);
  });
});

describe('importQemuLog markers (synthetic logs)', () => {
  const base = [
    '100@1000.000000:fw_cfg_add_file 0x1 #0: etc/e820 (40 bytes)',
    '100@1000.050000:runstate_set current_run_state 6 (prelaunch) new_state 9 (running)',
    "101@1000.060000:fw_cfg_select 0x1 key 0x0015 'cmdline_data', ret: 1",
  ];

  it('prefers qemu-boot-time port 0xf4 codes 6/7 (memory_region_ops_write) over the fw_cfg handover', () => {
    const log = [
      ...base,
      "101@1000.080000:memory_region_ops_write cpu 0 mr 0x2 addr 0xf4 value 0x6 size 1 name 'io'",
      "101@1000.300000:memory_region_ops_write cpu 0 mr 0x2 addr 0xf4 value 0x7 size 1 name 'io'",
      "101@1000.300100:memory_region_ops_write cpu 0 mr 0x3 addr 0x3f8 value 0x41 size 1 name 'serial'",
      '100@1000.400000:runstate_set current_run_state 9 (running) new_state 11 (shutdown)',
    ].join('\n');
    const p = phases(importQemuLog(log, 'synthetic-f4.log'));
    expect(p.map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 50_000_000],
      ['firmware', 50_000_000, 80_000_000],
      ['kernel', 80_000_000, 300_000_000],
      ['user', 300_000_000, 400_000_000],
    ]);
  });

  it('--ready pio:PORT: a write to a port without a device (region io) ends the user phase; the same offset in a device region does not', () => {
    const log = [
      ...base,
      "101@1000.080000:memory_region_ops_write cpu 0 mr 0x2 addr 0xf4 value 0x6 size 1 name 'io'",
      "101@1000.300000:memory_region_ops_write cpu 0 mr 0x2 addr 0xf4 value 0x7 size 1 name 'io'",
      "101@1000.310000:memory_region_ops_write cpu 0 mr 0x3 addr 0x99 value 0x1 size 1 name 'virtio-mmio'",
      "101@1000.350000:memory_region_ops_write cpu 0 mr 0x2 addr 0x99 value 0x1 size 2 name 'io'",
      '100@1000.400000:runstate_set current_run_state 9 (running) new_state 11 (shutdown)',
    ].join('\n');
    const withRule = importQemuLog(log, 'synthetic-pio.log', { vocabulary: readyVocabulary(parseReadyRule('pio:0x99=1')) });
    expect(phases(withRule).find((s) => s.name === 'user')).toMatchObject({ start: 300_000_000, end: 350_000_000, args: { end_by: '--ready pio:0x99=1' } });
    expect(withRule.instants.some((i) => i.name === 'port 0x99 = 0x1')).toBe(true);
    // without the rule, port 0x99 is nobody's marker
    const plain = importQemuLog(log, 'synthetic-pio.log');
    expect(phases(plain).find((s) => s.name === 'user')).toMatchObject({ end: 400_000_000 });
    expect(plain.instants.some((i) => i.name === 'port 0x99 = 0x1')).toBe(false);
    // --ready exit: the shutdown run state
    const exit = importQemuLog(log, 'synthetic-pio.log', { vocabulary: readyVocabulary(parseReadyRule('exit')) });
    expect(phases(exit).find((s) => s.name === 'user')).toMatchObject({ end: 400_000_000, args: { end_by: '--ready exit (QEMU run state → shutdown)' } });
  });

  it('reads ROM names with spaces (QEMU names ELF kernel segments that way)', () => {
    const log = [
      '100@1000.000000:loader_write_rom tiny.elf ELF program header segment 0: @0x100000 size=0x1a8 ROM=0',
      ...base.slice(1),
    ].join('\n');
    const trace = importQemuLog(log, 'synthetic-rom.log');
    const rom = trace.instants.find((i) => i.name === 'load ROM tiny.elf ELF program header segment 0');
    expect(rom?.args).toMatchObject({ address: '0x100000', bytes: 0x1a8 });
  });

  it('reads debug port 0x80 ranges (0x40–5f kernel, 0x60–7f user) from cpu_out', () => {
    const log = [...base, '101@1000.070000:cpu_out addr 0x80(b) value 64', '101@1000.090000:cpu_out addr 0x80(b) value 96'].join('\n');
    const trace = importQemuLog(log, 'synthetic-80.log');
    expect(phases(trace).map((s) => [s.name, s.start])).toEqual([
      ['toolstack', 0],
      ['firmware', 50_000_000],
      // the fw_cfg hand-over (60 ms) and the kernel range (70 ms) are both the hypervisor's view: the earlier wins
      ['kernel', 60_000_000],
    ]);
    // nothing in this log ends the user phase (no ready marker, no shutdown)
    expect(trace.unresolvedPhases).toMatchObject([{ phase: 'user', start: 90_000_000 }]);
    expect(trace.markers.filter((m) => m.name.startsWith('debug port')).map((m) => [m.boundary, m.at])).toEqual([
      ['kernel-start', 70_000_000],
      ['user-start', 90_000_000],
    ]);
    expect(trace.instants.map((i) => i.name)).toContain('port 0x80: kernel 0x40');
  });

  it('keeps one instant per change of the 0x80 value (repeated writes are io_delay noise)', () => {
    const log = [...base, ...Array.from({ length: 50 }, (_, i) => `101@1000.0${String(70000 + i).padStart(5, '0')}:cpu_out addr 0x80(b) value 0`), '101@1000.090000:cpu_out addr 0x80(b) value 1'].join('\n');
    const trace = importQemuLog(log, 'synthetic-80-noise.log');
    expect(trace.instants.filter((i) => i.name.startsWith('port 0x80')).map((i) => i.name)).toEqual(['port 0x80: firmware 0x0', 'port 0x80: firmware 0x1']);
    expect(trace.spans.find((s) => s.args?.event === 'cpu_out')?.args?.count).toBe(51);
  });

  it('ends toolstack at the first KVM_RUN under KVM and summarises repeated ioctls', () => {
    const log = [
      '100@1000.000000:kvm_ioctl type 0xae01, arg (nil)',
      '100@1000.040000:runstate_set current_run_state 6 (prelaunch) new_state 9 (running)',
      '102@1000.041000:kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)',
      '102@1000.041500:kvm_run_exit cpu_index 0, reason 2',
      '102@1000.042000:kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)',
    ].join('\n');
    const trace = importQemuLog(log, 'synthetic-kvm.log');
    expect(phases(trace)[0]).toMatchObject({ name: 'toolstack', end: 41_000_000, args: { end_by: 'first KVM_RUN', end_rank: '0 exact' } });
    // the firmware runs from there; nothing in this log says when it hands over
    expect(trace.unresolvedPhases.map((u) => [u.phase, u.start])).toEqual([
      ['firmware', 41_000_000],
      ['kernel', undefined],
    ]);
    expect(trace.instants.map((i) => i.name)).toEqual(expect.arrayContaining(['KVM_CREATE_VM', 'first KVM_RUN (vCPU 0)']));
    const runs = trace.spans.find((s) => s.args?.event === 'kvm_vcpu_ioctl')!;
    expect(runs).toMatchObject({ name: 'kvm_vcpu_ioctl ×2', start: 41_000_000, end: 42_000_000 });
    expect(trace.lanes.find((l) => l.tid === 102)?.name).toBe('vCPU thread 102');
  });

  it('takes t0 from the earliest event even when threads log out of order', () => {
    const log = ['100@1000.000500:fw_cfg_add_file 0x1 #0: a (1 bytes)', '101@1000.000100:fw_cfg_select 0x1 key 0x0000 \'signature\', ret: 1'].join('\n');
    const trace = importQemuLog(log, 'synthetic-order.log');
    expect(trace.meta.t0ClockUs).toBe(1000_000_100);
    expect(trace.instants.map((i) => i.at)).toEqual([0, 400_000]);
  });

  it('stays linear on a long log (200k summarised lines)', () => {
    const lines = [...base];
    for (let i = 0; i < 200_000; i++) lines.push(`101@1001.${String(i).padStart(6, '0')}:fw_cfg_read 0x1 = 0x0`);
    const started = performance.now();
    const trace = importQemuLog(lines.join('\n'), 'synthetic-long.log');
    expect(performance.now() - started).toBeLessThan(5000);
    expect(trace.spans.find((s) => s.args?.event === 'fw_cfg_read')?.args?.count).toBe(200_000);
  });
});

describe('importQemuLog errors name the file and line', () => {
  it('rejects a line that is not a trace line', () => {
    const e = errorOf(() => importQemuLog('100@1.000000:runstate_set current_run_state 6 (prelaunch) new_state 9 (running)\nhello world\n', 'bad.log'));
    expect(e.message).toMatch(/^bad\.log:2: not a QEMU trace log line/);
  });

  it('explains a log recorded without -msg timestamp=on', () => {
    const e = errorOf(() => importQemuLog('runstate_set current_run_state 6 (prelaunch) new_state 9 (running)\n', 'nots.log'));
    expect(e.message).toBe('nots.log:1: trace line without timestamp; record with -msg timestamp=on');
  });

  it('rejects a known event whose arguments cannot be read', () => {
    const e = errorOf(() => importQemuLog('\n100@1.000000:runstate_set garbage\n', 'args.log'));
    expect(e.message).toMatch(/^args\.log:2: runstate_set: cannot read the run states/);
  });

  it('rejects an empty log', () => {
    expect(errorOf(() => importQemuLog('\n\n', 'empty.log')).message).toMatch(/^empty\.log: no QEMU trace events/);
  });
});
