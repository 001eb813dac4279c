import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { hostTscKhz, tscKhzFromCpuinfo } from './host-tsc.js';
import { qemuCommandLine, qemuDefault, target } from './qemu.js';

// Synthetic /proc/cpuinfo blocks in the kernel's format (fields trimmed to what matters).
const syntheticCpu = (mhz: string, flags: string): string =>
  `processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: ${mhz}\nflags\t\t: ${flags}\nbogomips\t: 5192.19\n`;
const SYNTHETIC_VM = syntheticCpu('2596.098', 'fpu tsc msr constant_tsc rep_good nopl nonstop_tsc tsc_known_freq hypervisor');
const SYNTHETIC_TWO_CPUS = `${SYNTHETIC_VM}\n${syntheticCpu('1800.000', 'fpu tsc constant_tsc')}`;

describe('tscKhzFromCpuinfo', () => {
  it('reads the first CPU\'s "cpu MHz" as kHz when it is the TSC rate', () => {
    expect(tscKhzFromCpuinfo(SYNTHETIC_VM, false)).toEqual({ khz: 2596098, from: 'cpu MHz' });
    expect(tscKhzFromCpuinfo(SYNTHETIC_TWO_CPUS, false)).toEqual({ khz: 2596098, from: 'cpu MHz' });
    expect(tscKhzFromCpuinfo(syntheticCpu('3000', 'tsc constant_tsc'), false)).toEqual({ khz: 3000000, from: 'cpu MHz' });
    expect(tscKhzFromCpuinfo(syntheticCpu('2400.5', 'tsc constant_tsc'), false)).toEqual({ khz: 2400500, from: 'cpu MHz' });
  });

  it('takes bogomips/2 (the TSC-based delay loop) when "cpu MHz" is the current CPU clock', () => {
    // 5192.19 BogoMIPS = 2596.095 MHz: within the 5 kHz the two decimals carry of the 2596.098 above.
    expect(tscKhzFromCpuinfo(syntheticCpu('3412.771', 'tsc constant_tsc aperfmperf'), false)).toEqual({ khz: 2596095, from: 'bogomips' });
    expect(tscKhzFromCpuinfo(SYNTHETIC_VM, true)).toEqual({ khz: 2596095, from: 'bogomips' });
  });

  it('refuses when there is no steady x86 TSC or no figure for it, saying why', () => {
    expect(tscKhzFromCpuinfo(syntheticCpu('2596.098', 'fpu tsc'), false)).toEqual({ reason: expect.stringMatching(/constant_tsc/) });
    expect(tscKhzFromCpuinfo('processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n', false)).toEqual({ reason: expect.stringMatching(/no x86 TSC/) });
    const noBogomips = syntheticCpu('unknown', 'tsc constant_tsc').replace(/bogomips.*\n/, '');
    expect(tscKhzFromCpuinfo(noBogomips, false)).toEqual({ reason: 'neither "cpu MHz: unknown" nor "bogomips: (none)" gives a TSC rate' });
  });
});

describe('hostTscKhz', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-host-tsc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file, and names the knob and the way out when it cannot tell', () => {
    const cpuinfo = join(dir, 'cpuinfo');
    writeFileSync(cpuinfo, SYNTHETIC_VM);
    expect(hostTscKhz(cpuinfo, join(dir, 'no-cpufreq'))).toBe(2596098);
    mkdirSync(join(dir, 'cpufreq'));
    expect(hostTscKhz(cpuinfo, join(dir, 'cpufreq'))).toBe(2596095);
    writeFileSync(cpuinfo, syntheticCpu('2596.098', 'fpu tsc'));
    expect(() => hostTscKhz(cpuinfo, join(dir, 'cpufreq'))).toThrow(UserError);
    expect(() => hostTscKhz(cpuinfo)).toThrow(/tcg-tsc-khz: host cannot tell this host's TSC rate: .*constant_tsc.*Set tcg-tsc-khz to the rate in kHz/);
    expect(() => hostTscKhz(join(dir, 'missing'))).toThrow(/tcg-tsc-khz: host needs .*missing: ENOENT/);
  });
});

describe('qemu tcg-tsc-khz', () => {
  const microvm = { machine: 'microvm', pit: 'off', 'kernel-cmdline': 'reboot=t' };
  const append = (args: string[]) => args[args.indexOf('-append') + 1];

  it('gives the guest kernel its TSC rate under TCG and when KVM may fall back to TCG', () => {
    const section = { ...microvm, 'tcg-tsc-khz': 'host' };
    const host = () => 2596098;
    expect(append(qemuCommandLine(section, { kernel: '/k', append: 'console=ttyS0', accel: 'tcg', hostTscKhz: host }))).toBe('console=ttyS0 reboot=t tsc_early_khz=2596098');
    expect(append(qemuCommandLine({ ...section, accel: 'auto' }, { kernel: '/k', hostTscKhz: host }))).toBe('reboot=t tsc_early_khz=2596098');
    expect(append(qemuCommandLine({ ...microvm, 'tcg-tsc-khz': 2000000 }, { kernel: '/k', accel: 'tcg' }))).toBe('reboot=t tsc_early_khz=2000000');
  });

  it('adds nothing under KVM (kvmclock tells the rate) or without a kernel, and then does not read the host', () => {
    const section = { ...microvm, 'tcg-tsc-khz': 'host' };
    const host = () => {
      throw new Error('host TSC read');
    };
    expect(append(qemuCommandLine(section, { kernel: '/k', accel: 'kvm', hostTscKhz: host }))).toBe('reboot=t');
    expect(qemuCommandLine(section, { accel: 'tcg', hostTscKhz: host })).not.toContain('-append');
    expect(() => qemuCommandLine(section, { kernel: '/k', accel: 'tcg', hostTscKhz: host })).toThrow(/host TSC read/);
  });

  it('accepts host or a rate in kHz, and QEMU\'s default is none (the guest calibrates)', () => {
    const ajv = new Ajv({ strict: false });
    const valid = ajv.compile(target.sectionSchema);
    for (const v of ['host', 2596098, '2596098', { value: 'host', why: 'w', source: 's' }]) expect(valid({ 'tcg-tsc-khz': v }), JSON.stringify(v)).toBe(true);
    for (const v of ['auto', 0, 999, '12 34', '2596098,x', -1]) expect(valid({ 'tcg-tsc-khz': v }), JSON.stringify(v)).toBe(false);
    expect(qemuDefault('tcg-tsc-khz', 'microvm', null)).toBeNull();
  });
});
