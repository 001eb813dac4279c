import { afterAll, describe, expect, it } from 'vitest';
import { profileDirNames } from './boot-outputs.js';
import { UserError } from '../model/errors.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PHASE_LANE_ID, type Trace } from '../model/trace.js';
import { importBpftrace } from '../sources/bpftrace/index.js';
import { packed, printf } from '../../test/helpers/probe-events.js';
import { mergeTraces } from '../sources/merge.js';
import { importSerial } from '../sources/serial.js';
import { TINY_EXIT_OK_STATUS } from './tiny-guest.js';
import { bootCommandLine, qemuLogArgs, resolveGuest, type Guest } from './boot.js';
import { loadQemuSection, withQemuLog } from './boot-series.js';
import { rootlessTrace } from './boot-rootless.js';
import { phaseSummaryText } from '../analysis/phases.js';

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

/** synthetic: bpftrace events of a TCG boot (no KVM_RUN), in the probes' layout; monotonic ns from 5e9. */
function syntheticTcgBpftrace(): Trace {
  return importBpftrace(
    [
      printf('exec\t5000000000\t10\t10\tfile=/usr/bin/qemu-system-x86_64\n'),
      packed(5_020_000_000, 'Linux version 6.1\n'),
      packed(5_021_000_000, 'Run /init as init process\n'),
      packed(5_021_500_000, 'hvscope-marker ready\n'),
      printf('exit\t5022000000\t10\t10\tstatus=0\tcomm=qemu-system-x86\n'),
    ].join('\n'),
    'synthetic-tcg.json',
  );
}

describe('withQemuLog (a traced TCG boot and QEMU\'s own trace log of it)', () => {
  const phases = (t: Trace) => t.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end]);
  // bpftrace's t0 (QEMU exec) is 5 s monotonic; realtime is monotonic + 1000 s here.
  const clock = { realMinusMonoUs: 1000e6 };
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-boot-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let logs = 0;
  const log = (lines: string[]) => {
    const file = join(dir, `qemu-${++logs}.log`);
    writeFileSync(file, lines.join('\n') + '\n');
    return file;
  };

  it('starts firmware at QEMU\'s vCPU start and the kernel at the firmware\'s hand-over, both moved onto bpftrace\'s clock', () => {
    const bare = syntheticTcgBpftrace();
    // Without the log the vCPU start is bounded by the first output only, the kernel starts at the banner.
    expect(phases(bare)).toEqual([
      ['toolstack', 0, 20_000_000],
      ['kernel', 20_000_000, 21_000_000],
      ['user', 21_000_000, 21_500_000],
    ]);
    const file = log([
      '10@1005.001000:fw_cfg_add_file 0x1 #0: etc/e820 (40 bytes)',
      '10@1005.010000:runstate_set current_run_state 6 (prelaunch) new_state 9 (running)',
      "11@1005.012000:fw_cfg_select 0x1 key 0x0015 'cmdline_data', ret: 1",
    ]);
    const t = withQemuLog(bare, file, clock);
    expect(phases(t)).toEqual([
      ['toolstack', 0, 10_000_000],
      ['firmware', 10_000_000, 12_000_000],
      ['kernel', 12_000_000, 21_000_000],
      ['user', 21_000_000, 21_500_000],
    ]);
    expect(t.meta.source).toBe('bpftrace');
    expect(t.spans.find((s) => s.name === 'firmware')?.args).toMatchObject({ start_by: 'QEMU run state → running', start_source: 'qemu-log' });
  });

  it('keeps the trace as it is without a readable log', () => {
    const bare = syntheticTcgBpftrace();
    expect(withQemuLog(bare, '/nonexistent/qemu.log', clock)).toBe(bare);
    expect(withQemuLog(bare, log(['not a trace log']), clock)).toBe(bare);
  });
});

describe('rootless phases of tiny (serial capture alone)', () => {
  it('takes tiny\'s console lines as kernel, user and ready markers from the one vocabulary', () => {
    // synthetic serial capture: QEMU spawned at 1000.000000, tiny's lines after it
    const text = [
      '# hvscope-serial 1 clock=realtime exec_us=1000000000',
      '1000.020000 tiny: entry',
      '1000.021000 tiny: app start',
      '1000.022500 tiny: done',
      '',
    ].join('\n');
    const merged = mergeTraces([importSerial(text, 'synthetic-serial.txt')]);
    const spans = merged.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end]);
    expect(spans).toEqual([
      // QEMU's spawn up to tiny's first line: the vCPU start is only bounded by it
      ['toolstack', 0, 20_000_000],
      ['kernel', 20_000_000, 21_000_000],
      ['user', 21_000_000, 22_500_000],
    ]);
    // firmware: its start (the first output) and end (tiny: entry) are the same line
    expect(merged.unresolvedPhases.map((u) => u.phase)).toEqual(['firmware']);
  });
});

describe('rootless boot whose console lines reached hvscope in one batch after QEMU stopped (boot --rootless under load)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-rootless-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  // synthetic: QEMU spawned at 1000.000000; its log has the vCPU start, the firmware's hand-over and the shutdown at 1008;
  // the serial lines, printed during those 8 s, were all read at 1009.5 (one batch, stamped on arrival).
  const serial = join(dir, 'run-1.serial.txt');
  writeFileSync(serial, ['# hvscope-serial 1 clock=realtime exec_us=1000000000', 'SeaBIOS (version 1.16.2)', 'Probing EDD (edd=off to disable)... ok', '[    2.4] Run /init as init process', 'hvscope-marker user-start', 'hvscope-marker ready', ''].map((l, i) => (i === 0 || l === '' ? l : `1009.500000 ${l}`)).join('\n'));
  const log = join(dir, 'run-1.qemu.log');
  writeFileSync(log, ['10@1000.050000:fw_cfg_add_file 0x1 #0: etc/e820 (40 bytes)', '10@1000.080000:runstate_set current_run_state 6 (prelaunch) new_state 9 (running)', "11@1000.190000:fw_cfg_select 0x1 key 0x0015 'cmdline_data', ret: 1", '10@1008.000000:runstate_set current_run_state 9 (running) new_state 11 (shutdown)', ''].join('\n'));

  it('reports kernel and user as unresolved with the reason, never as 0.0 ms', () => {
    const trace = rootlessTrace(serial, log, ['qemu-system-x86_64', '-accel', 'tcg']);
    expect(trace.spans.filter((s) => s.lane === PHASE_LANE_ID).map((s) => [s.name, s.start, s.end])).toEqual([
      ['toolstack', 0, 80_000_000],
      ['firmware', 80_000_000, 190_000_000],
    ]);
    expect(trace.unresolvedPhases.map((u) => u.phase)).toEqual(['kernel', 'user']);
    expect(trace.unresolvedPhases[0].reason).toMatch(/came after the VM ended \(QEMU run state → shutdown at 8\.00 s\): a line stamped when it reached the host/);
    expect(phaseSummaryText(trace)).toBe('toolstack 80.0 ms, firmware 110 ms, kernel unresolved, user unresolved');
  });
});

describe('several profiles', () => {
  it('one directory per profile; a profile given again gets -2, -3 (an A/A test)', () => {
    expect(profileDirNames(['qemu-default', 'qemu-microvm-min'])).toEqual(['qemu-default', 'qemu-microvm-min']);
    expect(profileDirNames(['qemu-microvm-min', 'qemu-microvm-min', 'qemu-microvm-min'])).toEqual(['qemu-microvm-min', 'qemu-microvm-min-2', 'qemu-microvm-min-3']);
    expect(profileDirNames(['/etc/my profiles/fast.yaml'])).toEqual(['fast']);
  });
});
