import { describe, expect, it } from 'vitest';
import { profileDirNames } from './boot-outputs.js';
import { UserError } from '../model/errors.js';
import { PHASE_LANE_ID, emptyTrace, phaseSpans, type Trace } from '../model/trace.js';
import { mergeTraces } from '../sources/merge.js';
import { importSerial } from '../sources/serial.js';
import { TINY_EXIT_OK_STATUS } from './tiny-guest.js';
import {
  bootCommandLine,
  loadQemuSection,
  qemuLogArgs,
  resolveGuest,
  withPhaseStart,
  withGuestConsoleMarkers,
  type Guest,
} from './boot.js';

const tiny: Guest = {
  kind: 'tiny',
  name: 'tiny',
  kernel: '/cache/tiny.elf',
  defaultMachine: 'microvm',
  okExitCodes: [TINY_EXIT_OK_STATUS],
  memoryMiB: 32,
  description: 'tiny',
};
const linux: Guest = {
  kind: 'linux',
  name: 'linux',
  kernel: '/cache/vmlinuz',
  initrd: '/cache/initrd.gz',
  append: 'console=ttyS0 panic=-1',
  defaultMachine: 'pc',
  okExitCodes: [0],
  memoryMiB: 256,
  description: 'linux',
};

const count = (args: string[], flag: string) => args.filter((a) => a === flag).length;
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('bootCommandLine', () => {
  it('without a profile: QEMU defaults, no default devices, console on stdio, tiny\'s exit device', () => {
    const args = bootCommandLine(tiny, { accel: 'tcg' });
    expect(args[0]).toBe('qemu-system-x86_64');
    expect(after(args, '-M')).toBe('microvm');
    expect(after(args, '-accel')).toBe('tcg');
    expect(after(args, '-kernel')).toBe('/cache/tiny.elf');
    expect(after(args, '-m')).toBe('32');
    expect(args).toContain('-nodefaults');
    expect(args).toContain('-no-reboot');
    expect(count(args, '-serial')).toBe(1);
    expect(after(args, '-serial')).toBe('stdio');
    expect(after(args, '-device')).toBe('isa-debug-exit,iobase=0x501,iosize=0x02');
    expect(args).not.toContain('-cpu');
  });

  it('kvm gets -cpu host; --machine overrides the guest default', () => {
    const args = bootCommandLine(linux, { accel: 'kvm', machine: 'microvm' });
    expect(after(args, '-M')).toBe('microvm');
    expect(after(args, '-cpu')).toBe('host');
    expect(after(args, '-initrd')).toBe('/cache/initrd.gz');
    expect(after(args, '-append')).toBe('console=ttyS0 panic=-1');
    expect(args).not.toContain('-device');
  });

  it('with a profile: its qemu section, the accelerator chosen at boot, serial not doubled', () => {
    const section = loadQemuSection('qemu-microvm-min');
    const args = bootCommandLine(tiny, { accel: 'tcg', profileSection: section });
    expect(after(args, '-M')).toMatch(/^microvm,.*x-option-roms=off/);
    expect(args.filter((a) => a === '-accel')).toHaveLength(1);
    expect(after(args, '-accel')).toBe('tcg');
    expect(count(args, '-serial')).toBe(1);
    expect(count(args, '-no-reboot')).toBe(1);
    // the profile's kernel-cmdline is passed on
    expect(after(args, '-append')).toMatch(/console=ttyS0 reboot=t/);
    expect(args).toContain('-device');
  });

  it('qemu-default: pc with its default devices; the guest\'s memory when the profile sets none', () => {
    const args = bootCommandLine(linux, { accel: 'tcg', profileSection: loadQemuSection('qemu-default') });
    expect(after(args, '-M')).toBe('pc');
    expect(args).not.toContain('-nodefaults');
    expect(after(args, '-m')).toBe('256');
  });

  it('a microvm-only property on pc is a user error', () => {
    expect(() => bootCommandLine(tiny, { accel: 'tcg', machine: 'pc', profileSection: loadQemuSection('qemu-microvm-min') })).toThrow(UserError);
  });

  it('a profile without a qemu section is a user error naming the profile', () => {
    expect(() => loadQemuSection('xen-stock')).toThrow(/profile xen-stock has no qemu section/);
  });
});

describe('resolveGuest', () => {
  it('rejects an unknown guest name or missing file, and a missing initrd', async () => {
    await expect(resolveGuest('nonesuch')).rejects.toThrow("unknown guest 'nonesuch': expected tiny, linux or the path of a kernel file");
    await expect(resolveGuest('tiny', '/nonexistent/initrd')).rejects.toThrow('--initrd /nonexistent/initrd: no such file');
  });
});

describe('qemuLogArgs', () => {
  it('records the run-state and ROM-load events with timestamps', () => {
    const args = qemuLogArgs('tcg', '/out/run-1.qemu.log');
    expect(args.slice(0, 4)).toEqual(['-msg', 'timestamp=on', '-D', '/out/run-1.qemu.log']);
    expect(args).toContain('runstate_set');
    expect(args).toContain('loader_write_rom');
    expect(qemuLogArgs('kvm', 'x')).toContain('kvm_vcpu_ioctl');
  });
});

/** synthetic: a TCG bpftrace-like trace with toolstack, kernel, user phases. */
function syntheticTcgTrace(): Trace {
  const trace = emptyTrace({ source: 'bpftrace', clock: 'monotonic' });
  trace.lanes.push({ id: PHASE_LANE_ID, kind: 'phases', name: 'phases' }, { id: 'guest:1', kind: 'guest', name: 'guest' });
  trace.spans.push(...phaseSpans([{ phase: 'toolstack', at: 0 }, { phase: 'kernel', at: 20_000_000 }, { phase: 'user', at: 21_000_000 }], 22_000_000));
  return trace;
}

describe('withPhaseStart', () => {
  const phases = (t: Trace) => t.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end]);

  it('starts the firmware phase at the vCPU start, between toolstack and kernel', () => {
    const t = withPhaseStart(syntheticTcgTrace(), 'firmware', 18_000_000, 'vCPU start');
    expect(phases(t)).toEqual([
      ['toolstack', 0, 18_000_000],
      ['firmware', 18_000_000, 20_000_000],
      ['kernel', 20_000_000, 21_000_000],
      ['user', 21_000_000, 22_000_000],
    ]);
    expect(t.instants.find((i) => i.name === 'vCPU start')).toMatchObject({ lane: 'guest:1', at: 18_000_000, phase: 'firmware' });
  });

  it('leaves the trace alone when the time is not between QEMU\'s exec and the kernel start', () => {
    const original = syntheticTcgTrace();
    expect(withPhaseStart(original, 'firmware', 25_000_000, 'late')).toBe(original);
    expect(withPhaseStart(original, 'firmware', -5, 'early')).toBe(original);
  });
});

describe('withPhaseStart for the kernel (firmware hands over before the first kernel console line)', () => {
  const phases = (t: Trace) => t.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end]);

  it('moves the kernel start back to the handover, after the firmware start', () => {
    const withFirmware = withPhaseStart(syntheticTcgTrace(), 'firmware', 10_000_000, 'vCPU start');
    const t = withPhaseStart(withFirmware, 'kernel', 12_000_000, 'kernel entry');
    expect(phases(t)).toEqual([
      ['toolstack', 0, 10_000_000],
      ['firmware', 10_000_000, 12_000_000],
      ['kernel', 12_000_000, 21_000_000],
      ['user', 21_000_000, 22_000_000],
    ]);
    expect(t.instants.find((i) => i.name === 'kernel entry')).toMatchObject({ phase: 'kernel', at: 12_000_000, args: { marker: 'kernel-start' } });
  });

  it('keeps a kernel start that is already earlier, and ignores a handover before the firmware start', () => {
    const withFirmware = withPhaseStart(syntheticTcgTrace(), 'firmware', 10_000_000, 'vCPU start');
    expect(withPhaseStart(withFirmware, 'kernel', 20_500_000, 'late')).toBe(withFirmware);
    expect(withPhaseStart(withFirmware, 'kernel', 9_000_000, 'early')).toBe(withFirmware);
  });
});

describe('withGuestConsoleMarkers', () => {
  it('turns tiny\'s console lines into kernel, user and ready markers for the rootless phases', () => {
    // synthetic serial capture: QEMU spawned at 1000.000000, tiny's lines after it
    const text = [
      '# hvscope-serial 1 clock=realtime exec_us=1000000000',
      '1000.020000 tiny: entry',
      '1000.021000 tiny: app start',
      '1000.022500 tiny: done',
      '',
    ].join('\n');
    const serial = withGuestConsoleMarkers(importSerial(text, 'synthetic-serial.txt'));
    const merged = mergeTraces([serial]);
    const spans = merged.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end]);
    expect(spans).toEqual([
      ['kernel', 20_000_000, 21_000_000],
      ['user', 21_000_000, 22_500_000],
    ]);
  });
});

describe('several profiles', () => {
  it('one directory per profile; a profile given again gets -2, -3 (an A/A test)', () => {
    expect(profileDirNames(['qemu-default', 'qemu-microvm-min'])).toEqual(['qemu-default', 'qemu-microvm-min']);
    expect(profileDirNames(['qemu-microvm-min', 'qemu-microvm-min', 'qemu-microvm-min'])).toEqual(['qemu-microvm-min', 'qemu-microvm-min-2', 'qemu-microvm-min-3']);
    expect(profileDirNames(['/etc/my profiles/fast.yaml'])).toEqual(['fast']);
  });
});
