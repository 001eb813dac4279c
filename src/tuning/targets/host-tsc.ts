// The host's TSC frequency, for the qemu target's `tcg-tsc-khz: host`.
//
// Why a guest needs it: under TCG, QEMU's RDTSC returns the host's TSC (QEMU 7.2
// cpu_get_tsc → cpu_get_host_ticks, i.e. the host RDTSC), so the guest TSC ticks at the
// host's rate. A guest kernel normally measures that rate against the PIT, HPET or ACPI PM
// timer; on `-M microvm,pit=off` none exists, the kernel cannot calibrate and hangs in
// calibrate_delay() (tuning-profiles/qemu-microvm-min.yaml, tcg-tsc-khz). Telling it the
// rate (`tsc_early_khz=`) skips every calibration.
//
// Where the rate comes from: the host kernel's own figures in /proc/cpuinfo. On x86 its
// "cpu MHz" is arch_freq_get_on_cpu(): the APERF/MPERF-measured clock when the CPU has
// aperfmperf, else cpufreq's current frequency when a cpufreq driver runs, else cpu_khz,
// which the kernel equals to the TSC rate (tsc.c determine_cpu_tsc_frequencies) — then it is
// the TSC rate to the kHz. Otherwise "bogomips" is: x86 delays with the TSC and sets its
// loops-per-jiffy from the TSC rate (tsc_init: lpj_fine = tsc_khz·1000/HZ, used by
// calibrate_delay), and bogomips = lpj·HZ/500000 = tsc_khz/500, printed to 0.01 (±5 kHz).
// Only a steady TSC (constant_tsc) has one rate to give.
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../../model/errors.js';

export type TscKhzReading = { khz: number; from: 'cpu MHz' | 'bogomips' } | { reason: string };

/**
 * The TSC rate (kHz) the first processor block of /proc/cpuinfo gives, or why it gives none.
 * `cpufreqDriver`: whether /sys/devices/system/cpu/cpu0/cpufreq exists (then "cpu MHz" is
 * the current CPU clock, not the TSC rate).
 */
export function tscKhzFromCpuinfo(cpuinfo: string, cpufreqDriver: boolean): TscKhzReading {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? '';
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const mhz = field('cpu MHz');
  if (!flags.has('tsc') || mhz === undefined) return { reason: 'no x86 TSC in /proc/cpuinfo (no "tsc" flag or no "cpu MHz")' };
  if (!flags.has('constant_tsc')) return { reason: 'the host TSC has no constant rate (no constant_tsc flag)' };
  if (!flags.has('aperfmperf') && !cpufreqDriver) {
    const m = /^([0-9]+)(?:\.([0-9]{1,3}))?$/.exec(mhz);
    const khz = m ? Number(m[1]) * 1000 + Number((m[2] ?? '0').padEnd(3, '0')) : 0;
    if (khz >= 1000) return { khz, from: 'cpu MHz' };
  }
  // "cpu MHz" is the current CPU clock here (APERF/MPERF or cpufreq): take the delay-loop figure.
  const bogomips = field('bogomips');
  const b = bogomips !== undefined && /^[0-9]+(\.[0-9]+)?$/.test(bogomips) ? Number(bogomips) : 0;
  if (b >= 2) return { khz: Math.round(b * 500), from: 'bogomips' };
  return { reason: `neither "cpu MHz: ${mhz}" nor "bogomips: ${bogomips ?? '(none)'}" gives a TSC rate` };
}

/** The host's TSC rate in kHz; a UserError says why it cannot be told and what to set instead. */
export function hostTscKhz(cpuinfoPath = '/proc/cpuinfo', cpufreqDir = '/sys/devices/system/cpu/cpu0/cpufreq'): number {
  let text: string;
  try {
    text = readFileSync(cpuinfoPath, 'utf8');
  } catch (err) {
    throw new UserError(`qemu: tcg-tsc-khz: host needs ${cpuinfoPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const reading = tscKhzFromCpuinfo(text, existsSync(cpufreqDir));
  if ('khz' in reading) return reading.khz;
  throw new UserError(
    `qemu: tcg-tsc-khz: host cannot tell this host's TSC rate: ${reading.reason}. ` +
      'Set tcg-tsc-khz to the rate in kHz (the host kernel logs it: dmesg | grep "tsc: Detected"), or boot with --accel kvm',
  );
}
