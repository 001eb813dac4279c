import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readRuns, readTrace } from '../model/io.js';
import { ftraceRuns, parseFtrace } from '../lab/xen/dom0-ftrace.js';
import { parseXenExperimentText } from '../lab/xen/experiment-result.js';
import { xenRunTrace } from '../lab/xen/experiment-trace.js';
import { importBpftrace, XENSTORE_COUNTER } from '../sources/bpftrace/index.js';
import { emptyTrace, PHASE_LANE_ID, type Instant, type Phase, type Run, type Span, type Trace } from '../model/trace.js';
import { setSyntheticPhases } from '../../test/helpers/fixtures.js';
import {
  CONSOLE_GAP_MIN_SHARE,
  DECOMPRESSION_MIN_SHARE,
  RULES,
  SPREAD_RATIO,
  diagnose,
  formatDiagnosisText,
  parseCommand,
  unionDuration,
  type Finding,
} from './diagnose.js';

const MS = 1_000_000;
const S = 1_000 * MS;
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');

interface SyntheticSpec {
  /** phase → ms, back to back from t = 0 */
  phases?: Partial<Record<Phase, number>>;
  /** [ms since t0, text] */
  console?: [number, string][];
  command?: string[];
  hypervisor?: string;
  lostEvents?: number;
  unavailable?: { what: string; why: string }[];
  /** process spans: [name, startMs, endMs, pid, ppid?, file?, argv?] */
  processes?: [string, number, number, number, number?, string?, string?][];
  spans?: Span[];
  instants?: Instant[];
}

/** A synthetic run (unit tests only): phases, console lines and processes as given. */
function synthetic(label: string, spec: SyntheticSpec): Run {
  const trace: Trace = emptyTrace({ source: 'synthetic-diagnose', clock: 'monotonic' });
  if (spec.hypervisor) trace.meta.hypervisor = spec.hypervisor;
  if (spec.command) trace.meta.command = spec.command;
  if (spec.lostEvents !== undefined) trace.meta.lostEvents = spec.lostEvents;
  if (spec.unavailable) trace.meta.unavailable = spec.unavailable;
  if (spec.console) {
    trace.lanes.push({ id: 'guest-console', kind: 'guest', name: 'guest console (serial)' });
    for (const [ms, text] of spec.console) trace.instants.push({ lane: 'guest-console', name: text, at: ms * MS });
  }
  for (const [name, start, end, pid, ppid, file, argv] of spec.processes ?? []) {
    const lane = `pid:${pid}`;
    trace.lanes.push({ id: lane, kind: 'process', name: `${name} [${pid}]`, pid });
    trace.spans.push({
      lane,
      name,
      start: start * MS,
      end: end * MS,
      args: { pid, ...(ppid !== undefined ? { ppid } : {}), ...(file ? { file } : {}), ...(argv ? { argv } : {}) },
    });
  }
  for (const s of spec.spans ?? []) {
    if (!trace.lanes.some((l) => l.id === s.lane)) trace.lanes.push({ id: s.lane, kind: 'thread', name: s.lane });
    trace.spans.push(s);
  }
  for (const i of spec.instants ?? []) {
    if (!trace.lanes.some((l) => l.id === i.lane)) trace.lanes.push({ id: i.lane, kind: 'thread', name: i.lane });
    trace.instants.push(i);
  }
  if (spec.phases) {
    let at = 0;
    const boundaries: { phase: Phase; at: number }[] = [];
    for (const [phase, ms] of Object.entries(spec.phases) as [Phase, number][]) {
      boundaries.push({ phase, at });
      at += ms * MS;
    }
    setSyntheticPhases(trace, boundaries, at);
  }
  return { label, trace };
}

const ids = (findings: Finding[]) => findings.map((f) => f.id);
const find = (findings: Finding[], id: string) => findings.find((f) => f.id === id);
const QEMU_PC_TCG = ['qemu-system-x86_64', '-M', 'pc', '-accel', 'tcg', '-kernel', 'bzImage'];
const QEMU_MICROVM_MIN = ['qemu-system-x86_64', '-M', 'microvm,x-option-roms=off', '-accel', 'kvm', '-nodefaults', '-no-user-config', '-kernel', 'vmlinux'];

describe('rule registry', () => {
  it('has unique ids and every rule has a summary', () => {
    const all = RULES.map((r) => r.id);
    expect(new Set(all).size).toBe(all.length);
    for (const r of RULES) expect(r.summary.length).toBeGreaterThan(10);
  });

  it('finds nothing in a fast KVM microvm boot with clean console and no trace problems', () => {
    const run = synthetic('synthetic-clean', {
      hypervisor: 'qemu kvm',
      command: QEMU_MICROVM_MIN,
      lostEvents: 0,
      phases: { toolstack: 20, firmware: 5, kernel: 60, user: 15 },
      console: [[26, 'Linux version 6.1.0'], [40, 'a'], [55, 'b'], [70, 'c'], [84, 'Run /init as init process'], [99, 'ready']],
    });
    expect(diagnose([run])).toEqual([]);
    expect(formatDiagnosisText([], ['synthetic-clean'])).toMatch(/^no findings: none of the \d+ rules matched 1 run \(synthetic-clean\)/);
  });
});

describe('parseCommand', () => {
  it('reads machine, options and accelerators from QEMU argv', () => {
    const c = parseCommand(['/usr/bin/qemu-system-x86_64', '-machine', 'type=q35,accel=kvm:tcg', '-accel', 'tcg,thread=single', '-enable-kvm']);
    expect(c).toMatchObject({ isQemu: true, machine: 'q35', accels: ['kvm', 'tcg', 'tcg', 'kvm'], complete: true });
    expect(parseCommand(['qemu-system-x86_64', '-M', 'microvm,pit=off', '…'])).toMatchObject({ machine: 'microvm', machineOptions: ['pit=off'], complete: false });
    expect(parseCommand(['xl', 'create', 'x.cfg'])).toMatchObject({ isQemu: false, program: 'xl' });
  });
});

describe('trace quality', () => {
  it('lost events: warns with the count and the perf-buffer setting; silent at 0', () => {
    const f = find(diagnose([synthetic('r', { lostEvents: 1234, phases: { kernel: 10 } })]), 'trace-lost-events')!;
    expect(f.severity).toBe('warn');
    expect(f.evidence[0].data.lost_events).toBe(1234);
    expect(f.fix.flags).toContain('BPFTRACE_PERF_RB_PAGES=1024');
    expect(find(diagnose([synthetic('r', { lostEvents: 0, phases: { kernel: 10 } })]), 'trace-lost-events')).toBeUndefined();
  });

  it('unavailable probes: lists what and why', () => {
    const f = find(diagnose([synthetic('r', { unavailable: [{ what: 'qemu: kvm:kvm_pio', why: 'tracepoint not available on this kernel' }] })]), 'trace-probes-unavailable')!;
    expect(f.evidence[0].lines).toEqual(['qemu: kvm:kvm_pio: tracepoint not available on this kernel']);
    expect(find(diagnose([synthetic('r', { unavailable: [] })]), 'trace-probes-unavailable')).toBeUndefined();
  });

  it('trace-quality findings come before boot findings of the same severity', () => {
    const findings = diagnose([synthetic('r', { lostEvents: 5, hypervisor: 'qemu tcg', command: QEMU_PC_TCG, phases: { toolstack: 10, kernel: 990 } })]);
    expect(ids(findings).slice(0, 2)).toEqual(['trace-lost-events', 'accelerator-tcg']);
  });
});

describe('accelerator-tcg', () => {
  it('fires on a TCG hypervisor or -accel tcg, quoting the guest phases', () => {
    const f = find(diagnose([synthetic('r', { hypervisor: 'qemu tcg', command: QEMU_PC_TCG, phases: { toolstack: 50, firmware: 100, kernel: 800, user: 50 } })]), 'accelerator-tcg')!;
    expect(f.evidence[0].data.guest_ns).toBe(950 * MS);
    expect(f.evidence[0].data.total_ns).toBe(1000 * MS);
    expect(f.severity).toBe('warn');
    expect(f.fix.flags).toEqual(['-accel kvm']);
    // command line alone
    expect(ids(diagnose([synthetic('r', { command: ['qemu-system-x86_64', '-accel', 'tcg'], phases: { kernel: 10 } })]))).toContain('accelerator-tcg');
  });

  it('is info when the guest phases are a small share (toolstack-bound boot)', () => {
    const f = find(diagnose([synthetic('r', { hypervisor: 'qemu tcg', phases: { toolstack: 90, kernel: 10 } })]), 'accelerator-tcg')!;
    expect(f.severity).toBe('info');
  });

  it('is silent under KVM, with kvm-then-tcg fallback on the line, or when KVM ioctls were seen', () => {
    expect(ids(diagnose([synthetic('r', { hypervisor: 'qemu kvm', command: QEMU_MICROVM_MIN, phases: { kernel: 10 } })]))).not.toContain('accelerator-tcg');
    expect(ids(diagnose([synthetic('r', { command: ['qemu-system-x86_64', '-accel', 'kvm', '-accel', 'tcg'], phases: { kernel: 10 } })]))).not.toContain('accelerator-tcg');
    const withKvm = synthetic('r', {
      hypervisor: 'qemu tcg',
      phases: { kernel: 10 },
      spans: [{ lane: 'tid:2', name: 'KVM_CREATE_VM', start: 0, end: MS }],
    });
    expect(ids(diagnose([withKvm]))).not.toContain('accelerator-tcg');
  });
});

describe('firmware-seabios', () => {
  const pcRun = (firmwareMs: number, command = QEMU_PC_TCG.map((a) => (a === 'tcg' ? 'kvm' : a)), extra: SyntheticSpec = {}) =>
    synthetic('r', { command, phases: { toolstack: 30, firmware: firmwareMs, kernel: 200, user: 20 }, ...extra });

  it('fires on a pc machine with a long firmware phase and quotes duration and share', () => {
    const f = find(diagnose([pcRun(150)]), 'firmware-seabios')!;
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 150 * MS, start_ns: 30 * MS, end_ns: 180 * MS, total_ns: 400 * MS, share: 150 / 400, machine: 'pc' });
    expect(f.severity).toBe('warn'); // 37.5% ≥ 25%
    expect(f.fix.profile).toBe('qemu-microvm-min');
  });

  it('treats a complete command line without -M as pc (QEMU\'s default) and a q35 one as pc-like', () => {
    expect(ids(diagnose([pcRun(150, ['qemu-system-x86_64', '-accel', 'kvm'])]))).toContain('firmware-seabios');
    expect(ids(diagnose([pcRun(150, ['qemu-system-x86_64', '-M', 'pc-q35-7.2'])]))).toContain('firmware-seabios');
    expect(ids(diagnose([pcRun(150, ['qemu-system-x86_64', '-machine', 'q35'])]))).toContain('firmware-seabios');
  });

  it('ends firmware at the setup-code line when the phase also holds setup and decompression', () => {
    const run = pcRun(1000, undefined, { console: [[40, 'SeaBIOS (version 1.16.2)'], [80, 'Probing EDD (edd=off to disable)... ok'], [1030, 'Linux version 6.1.0']] });
    const f = find(diagnose([run]), 'firmware-seabios')!;
    expect(f.evidence[0].data.duration_ns).toBe(50 * MS); // 30 → 80 ms
    expect(f.evidence[0].data.includes_setup_and_decompression).toBe(false);
  });

  it('says so when no console line separates firmware from setup and decompression (bpftrace: kernel starts at its banner)', () => {
    // as `hvscope boot` traces a pc boot with -display none: the first console line is the kernel banner
    const run = pcRun(2600, undefined, { console: [[2630, '[    0.000000] Linux version 6.1.0'], [2640, 'x']] });
    const f = find(diagnose([run]), 'firmware-seabios')!;
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 2600 * MS, includes_setup_and_decompression: true });
    expect(f.title).toMatch(/setup and decompression/);
    expect(ids(diagnose([run]))).not.toContain('kernel-decompression'); // no setup-code line to measure from
  });

  it('is silent on microvm, for a short firmware phase, and without machine evidence', () => {
    expect(ids(diagnose([pcRun(150, QEMU_MICROVM_MIN)]))).not.toContain('firmware-seabios');
    expect(ids(diagnose([pcRun(10)]))).not.toContain('firmware-seabios'); // 10 ms, 3.8%
    // truncated argv without -M and no SeaBIOS banner: the machine is unknown
    expect(ids(diagnose([pcRun(150, ['qemu-system-x86_64', '-accel', 'kvm', '…'])]))).not.toContain('firmware-seabios');
    // no command at all but a SeaBIOS banner: fires
    expect(ids(diagnose([synthetic('r', { phases: { toolstack: 30, firmware: 150, kernel: 200 }, console: [[60, 'SeaBIOS (version 1.16.2)']] })]))).toContain('firmware-seabios');
  });
});

describe('kernel-decompression', () => {
  const bootWith = (console: [number, string][]) => synthetic('r', { phases: { toolstack: 50, firmware: 50, kernel: 900 }, console });

  it('measures setup-code line → kernel banner and names both lines', () => {
    const f = find(diagnose([bootWith([[100, 'Probing EDD (edd=off to disable)... ok'], [700, '[    0.000000] Linux version 6.1.0'], [800, 'x']])]), 'kernel-decompression')!;
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 600 * MS, start_ns: 100 * MS, end_ns: 700 * MS, share: 0.6, phases: ['kernel'] });
    expect(f.evidence[0].lines[0]).toContain('Probing EDD');
  });

  it('starts at "Decompressing Linux" when the decompressor prints', () => {
    const f = find(
      diagnose([bootWith([[100, 'Probing EDD (edd=off to disable)... ok'], [150, 'Decompressing Linux... Parsing ELF... done.'], [160, 'Booting the kernel.'], [600, 'Linux version 6.1.0']])]),
      'kernel-decompression',
    )!;
    expect(f.evidence[0].data.start_ns).toBe(150 * MS);
    expect(f.evidence[0].data.duration_ns).toBe(450 * MS);
  });

  it(`is silent below ${DECOMPRESSION_MIN_SHARE * 100}% of the boot, without a banner, or when another line precedes the banner`, () => {
    expect(ids(diagnose([bootWith([[100, 'Probing EDD... ok'], [150, 'Linux version 6.1.0']])]))).not.toContain('kernel-decompression'); // 5%
    expect(ids(diagnose([bootWith([[100, 'Probing EDD... ok'], [700, 'something else']])]))).not.toContain('kernel-decompression');
    expect(ids(diagnose([bootWith([[100, 'Booting from ROM...'], [700, 'Linux version 6.1.0']])]))).not.toContain('kernel-decompression');
  });
});

describe('kernel-console-gaps', () => {
  it('names the largest silences after the banner when the kernel dominates', () => {
    const run = synthetic('r', {
      phases: { toolstack: 50, kernel: 900, user: 50 },
      console: [[60, 'Linux version 6.1.0'], [100, 'a'], [400, 'b'], [420, 'c'], [600, 'd'], [940, 'Run /init as init process']],
    });
    const f = find(diagnose([run]), 'kernel-console-gaps')!;
    // window: banner (60) → kernel end (950) = 890 ms; gaps 340 (d→Run), 300 (a→b), 180 (c→d)
    expect(f.evidence[0].data).toMatchObject({ window_ns: 890 * MS, gaps_ns: [340 * MS, 300 * MS, 180 * MS], gap_before_lines: ['d', 'a', 'c'], gap_after_lines: ['Run /init as init process', 'b', 'd'] });
    expect(f.fix.flags).toEqual(['initcall_debug']);
  });

  it(`is silent when the kernel is under half the boot or no silence reaches ${CONSOLE_GAP_MIN_SHARE * 100}%`, () => {
    const notDominant = synthetic('r', { phases: { toolstack: 600, kernel: 400 }, console: [[600, 'Linux version 6'], [900, 'x']] });
    expect(ids(diagnose([notDominant]))).not.toContain('kernel-console-gaps');
    const even = synthetic('r', {
      phases: { kernel: 1000 },
      console: Array.from({ length: 21 }, (_, i) => [i * 50, i === 0 ? 'Linux version 6' : `line ${i}`] as [number, string]),
    });
    expect(ids(diagnose([even]))).not.toContain('kernel-console-gaps'); // every gap 5%
    const short = synthetic('r', { phases: { kernel: 100 }, console: [[0, 'Linux version 6'], [19, 'x'], [38, 'y'], [57, 'z'], [76, 'w'], [95, 'v']] });
    expect(ids(diagnose([short]))).not.toContain('kernel-console-gaps'); // 19% of the window, but 19 ms < CONSOLE_GAP_MIN_NS
  });
});

describe('tsc-calibration', () => {
  it('warns when calibration failed and the boot never reached init (microvm hang), with lpj/tsc_early_khz flags', () => {
    const run = synthetic('r', {
      command: ['qemu-system-x86_64', '-M', 'microvm', '-accel', 'tcg'],
      phases: { toolstack: 60, firmware: 60, kernel: 30_000 },
      console: [
        [3200, 'Linux version 6.1.0'],
        [3300, 'tsc: Fast TSC calibration failed'],
        [3400, 'tsc: Unable to calibrate against PIT'],
        [3401, 'tsc: No reference (HPET/PMTIMER) available'],
        [3402, 'tsc: Marking TSC unstable due to could not calculate TSC khz'],
      ],
    });
    const f = find(diagnose([run]), 'tsc-calibration')!;
    expect(f.severity).toBe('warn');
    expect(f.title).toMatch(/never reached init/);
    expect(f.evidence[0].data).toMatchObject({ marked_unstable: true, reached_init: false, lpj: null });
    expect(f.fix.flags).toEqual(['tsc_early_khz=KHZ', 'lpj=N']);
    expect(f.fix.profile).toBe('qemu-microvm-min'); // QEMU under TCG: its tcg-tsc-khz knob
  });

  it('is info when the kernel fell back to HPET and reached init; flags carry the values this run measured', () => {
    const run = synthetic('r', {
      phases: { toolstack: 60, kernel: 2000, user: 100 },
      console: [
        [100, 'tsc: Fast TSC calibration failed'],
        [300, 'tsc: Unable to calibrate against PIT'],
        [301, 'tsc: using HPET reference calibration'],
        [302, 'tsc: Detected 2596.111 MHz processor'],
        [310, 'Calibrating delay loop (skipped), value calculated using timer frequency.. 5192.22 BogoMIPS (lpj=10384444)'],
      ],
    });
    const f = find(diagnose([run]), 'tsc-calibration')!;
    expect(f.severity).toBe('info');
    expect(f.fix.flags).toEqual(['tsc_early_khz=2596111', 'lpj=10384444']);
    expect(f.fix.profile).toBeUndefined(); // no QEMU command line: no profile to point at
  });

  it('is silent when calibration succeeded', () => {
    const run = synthetic('r', {
      phases: { kernel: 100, user: 10 },
      console: [[1, 'tsc: Fast TSC calibration using PIT'], [2, 'tsc: Detected 2596.078 MHz processor'], [3, 'Calibrating delay loop (skipped), value calculated using timer frequency.. (lpj=10384312)']],
    });
    expect(ids(diagnose([run]))).not.toContain('tsc-calibration');
  });
});

describe('toolstack-dominates', () => {
  it('names the QEMU flags missing from the minimal microvm line', () => {
    const run = synthetic('r', { command: ['qemu-system-x86_64', '-M', 'pc', '-accel', 'kvm', '-kernel', 'k'], phases: { toolstack: 80, kernel: 15, user: 5 } });
    const f = find(diagnose([run]), 'toolstack-dominates')!;
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 80 * MS, share: 0.8, missing_flags: ['-M microvm', '-nodefaults', '-no-user-config'] });
    expect(f.fix.profile).toBe('qemu-microvm-min');
  });

  it('with the minimal line already in place, says so and suggests no profile; Xen gets xen-unikernel', () => {
    const qemu = find(diagnose([synthetic('r', { command: QEMU_MICROVM_MIN, phases: { toolstack: 80, kernel: 20 } })]), 'toolstack-dominates')!;
    expect(qemu.evidence[0].data.missing_flags).toEqual([]);
    expect(qemu.fix.profile).toBeUndefined();
    const xen = find(diagnose([synthetic('r', { hypervisor: 'xen (toolstack traced in dom0)', command: ['xl', 'create', 'd.cfg'], phases: { toolstack: 300, devices: 100, kernel: 20 } })]), 'toolstack-dominates')!;
    expect(xen.fix.profile).toBe('xen-unikernel');
  });

  it('does not conclude flags are missing from a truncated argv', () => {
    const run = synthetic('r', { command: ['qemu-system-x86_64', '-M', 'microvm', '-accel', 'kvm', '…'], phases: { toolstack: 80, kernel: 20 } });
    expect(find(diagnose([run]), 'toolstack-dominates')!.evidence[0].data.missing_flags).toEqual(['x-option-roms=off']);
  });

  it('is silent below half the boot', () => {
    expect(ids(diagnose([synthetic('r', { command: QEMU_PC_TCG, phases: { toolstack: 40, kernel: 60 } })]))).not.toContain('toolstack-dominates');
  });
});

describe('Xen rules', () => {
  const scripts = '/etc/xen/scripts/';
  it('xen-hotplug-scripts: scripts and their iptables children over most of the devices phase', () => {
    const run = synthetic('r', {
      hypervisor: 'xen (toolstack traced in dom0)',
      phases: { toolstack: 100, devices: 200, kernel: 50 },
      processes: [
        ['xl', 0, 350, 10, 1, '/usr/sbin/xl', 'xl create d.cfg'],
        ['vif-bridge', 110, 260, 20, 10, `${scripts}vif-bridge`],
        ['iptables', 150, 200, 21, 20, '/usr/sbin/iptables'],
        ['iptables', 210, 240, 22, 20, '/usr/sbin/iptables'],
        ['xenstore-read', 120, 125, 23, 20, '/usr/bin/xenstore-read'],
        ['block', 250, 280, 30, 10, `${scripts}block`],
      ],
    });
    const f = find(diagnose([run]), 'xen-hotplug-scripts')!;
    // union of 110–260 and 250–280 = 170 ms of the 200 ms devices phase
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 170 * MS, share: 0.85, of: 'devices', children: 3, firewall_children: 2, firewall_ns: 80 * MS });
    expect(f.fix.profile).toBe('xen-fast-hotplug');
  });

  it('xen-hotplug-scripts: counts only creation work in the devices phase (offline at teardown is not), subshells are children', () => {
    const run = synthetic('r', {
      phases: { toolstack: 700, devices: 2900, kernel: 20 },
      processes: [
        ['vif-bridge', 1200, 4200, 20, 10, `${scripts}vif-bridge`, '/bin/bash /etc/xen/scripts/vif-bridge online type_if=vif'],
        ['vif-bridge', 1600, 1700, 21, 20], // a forked subshell: no exec, no file
        ['vif-bridge', 3000, 7000, 30, 11, `${scripts}vif-bridge`, '/bin/bash /etc/xen/scripts/vif-bridge offline type_if=vif'], // overlaps the phase
      ],
    });
    const f = find(diagnose([run]), 'xen-hotplug-scripts')!;
    // devices: 700 → 3600 ms; the online run covers 1200 → 3600 of it
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 2400 * MS, share: 2400 / 2900, script_runs: ['vif-bridge online'], children: 1 });
    expect(f.evidence[0].lines).toContain('not counted (teardown, or outside the devices phase): vif-bridge offline at 3.00 s');
  });

  it('xen-hotplug-scripts: reads `hvscope lab xen run` traces (hotplug lane from dom0 ftrace, child_execs)', () => {
    const run = synthetic('r', {
      phases: { toolstack: 300, devices: 500, kernel: 30 },
      spans: [
        { lane: 'hotplug', name: 'vif-bridge', phase: 'devices', start: 320 * MS, end: 760 * MS, args: { pid: 700, child_execs: 31, when: 'create' } },
        { lane: 'hotplug', name: 'vif-bridge', start: 700 * MS, end: 2400 * MS, args: { pid: 800, child_execs: 12, when: 'teardown' } },
      ],
    });
    run.trace.lanes.find((l) => l.id === 'hotplug')!.kind = 'process';
    run.trace.meta.profile = 'xen-fast-hotplug';
    const f = find(diagnose([run]), 'xen-hotplug-scripts')!;
    expect(f.evidence[0].data).toMatchObject({ duration_ns: 440 * MS, share: 440 / 500, child_execs: 31, script_runs: ['vif-bridge (create)'] });
    expect(f.evidence[0].lines).toContain("31 programs exec'd by the scripts");
    expect(f.fix.text).toMatch(/already made with profile xen-fast-hotplug/);
  });

  it('xen-hotplug-scripts: the fast script is an info finding of its own, not merged with stock runs\' fix', () => {
    const run = (label: string, script: string, profile: string) => {
      const r = synthetic(label, {
        phases: { toolstack: 300, devices: 400, kernel: 30 },
        processes: [[script, 320, 680, 20, 10, `${scripts}${script}`, `/bin/sh /etc/xen/scripts/${script} online`]],
      });
      r.trace.meta.profile = profile;
      return r;
    };
    const findings = diagnose([run('stock', 'vif-bridge', 'xen-stock'), run('tuned', 'vif-bridge-fast', 'xen-unikernel')]).filter((f) => f.id === 'xen-hotplug-scripts');
    expect(findings.map((f) => [f.runs, f.severity, f.fix.profile])).toEqual([
      [['stock'], 'warn', 'xen-fast-hotplug'],
      [['tuned'], 'info', undefined],
    ]);
    expect(findings[1].fix.text).toMatch(/already hvscope's vif-bridge-fast/);
  });

  it('xen-hotplug-scripts: silent when the scripts are a small part of the devices phase, or absent', () => {
    const small = synthetic('r', { phases: { toolstack: 100, devices: 200 }, processes: [['vif-bridge', 110, 150, 20, 10, `${scripts}vif-bridge`]] });
    expect(ids(diagnose([small]))).not.toContain('xen-hotplug-scripts');
    expect(ids(diagnose([synthetic('r', { phases: { toolstack: 100, devices: 200 } })]))).not.toContain('xen-hotplug-scripts');
  });

  it('xenstore-operations: counts xs_* requests per creation and their time (overlaps once)', () => {
    const xs = (name: string, startMs: number, endMs: number, path?: string): Span => ({ lane: 'tid:11', name, start: startMs * MS, end: endMs * MS, ...(path ? { args: { path } } : {}) });
    const requests = Array.from({ length: 40 }, (_, i) => xs(i % 2 ? 'xs_write' : 'xs_read', 10 + i * 5, 14 + i * 5));
    const run = synthetic('r', {
      phases: { toolstack: 150, devices: 100, kernel: 50 },
      spans: [{ lane: 'tid:11', name: 'libxl_domain_create_new', start: 5 * MS, end: 250 * MS }, ...requests],
      processes: [['xenstore-write', 20, 30, 40, 10]],
    });
    const f = find(diagnose([run]), 'xenstore-operations')!;
    // 40 × 4 ms requests; the tool run (20–30) overlaps requests at 20–24, 25–29 → adds 30-29 + 24-25 = 2 ms
    expect(f.evidence[0].data).toMatchObject({ requests: 40, tool_runs: 1, creations: 1, duration_ns: 162 * MS, total_ns: 300 * MS });
    expect(f.evidence[0].lines).toContain('1 domain creation: 40.0 requests per creation');
  });

  it('xenstore-operations: requests after the boot (teardown) are not counted', () => {
    const during = Array.from({ length: 10 }, (_, i): Span => ({ lane: 'tid:11', name: 'xs_read', start: (i * 10) * MS, end: (i * 10 + 5) * MS }));
    const after = Array.from({ length: 50 }, (_, i): Span => ({ lane: 'tid:11', name: 'xs_rm', start: (200 + i * 10) * MS, end: (205 + i * 10) * MS }));
    const f = find(diagnose([synthetic('r', { phases: { toolstack: 60, devices: 40 }, spans: [...during, ...after] })]), 'xenstore-operations')!;
    expect(f.evidence[0].data).toMatchObject({ requests: 10, duration_ns: 50 * MS, share: 0.5 });
  });

  it('xenstore-operations: silent under the share threshold', () => {
    const run = synthetic('r', { phases: { toolstack: 1000 }, spans: [{ lane: 'tid:1', name: 'xs_read', start: 0, end: 5 * MS }] });
    expect(ids(diagnose([run]))).not.toContain('xenstore-operations');
  });

  it("xen-autoballoon: dom0's memory target written, wait until libxl_domain_create_new", () => {
    const run = synthetic('r', {
      phases: { toolstack: 800, devices: 100, kernel: 100 },
      spans: [
        { lane: 'tid:11', name: 'xs_write', start: 20 * MS, end: 21 * MS, args: { path: '/local/domain/0/memory/target' } },
        { lane: 'tid:11', name: 'libxl_domain_create_new', start: 620 * MS, end: 900 * MS },
      ],
    });
    const f = find(diagnose([run]), 'xen-autoballoon')!;
    expect(f.evidence[0].data).toMatchObject({ writes: 1, first_write_ns: 20 * MS, wait_ns: 600 * MS });
    expect(f.fix.profile).toBe('xen-unikernel');
    const other = synthetic('r', { phases: { toolstack: 100 }, spans: [{ lane: 'tid:11', name: 'xs_write', start: 0, end: MS, args: { path: '/local/domain/5/memory/target' } }] });
    expect(ids(diagnose([other]))).not.toContain('xen-autoballoon');
  });
});

describe('bridge-forward-delay', () => {
  const attach: Instant = { lane: 'pid:20', name: 'bridge attach ifindex 7 → master 3', phase: 'devices', at: 100 * MS };
  it('fires on ≈30 s of silence right after a port attach', () => {
    const run = synthetic('r', {
      phases: { toolstack: 50, devices: 100, kernel: 31_000 },
      instants: [attach, { lane: 'pid:20', name: 'RTM_NEWLINK', at: 110 * MS }, { lane: 'pid:20', name: 'dhcp lease', at: 30_120 * MS }],
    });
    const f = find(diagnose([run]), 'bridge-forward-delay')!;
    expect(f.evidence[0].data).toMatchObject({ attach_ns: 100 * MS, silence_ns: 30_010 * MS });
    expect(f.fix.profile).toBe('bridge-fast');
  });

  it('is silent when events keep coming after the attach, or without an attach', () => {
    const busy = synthetic('r', {
      phases: { toolstack: 50, kernel: 31_000 },
      instants: [attach, ...Array.from({ length: 40 }, (_, i) => ({ lane: 'pid:20', name: `e${i}`, at: (200 + i * 1000) * MS }))],
    });
    expect(ids(diagnose([busy]))).not.toContain('bridge-forward-delay');
    const noAttach = synthetic('r', { phases: { kernel: 31_000 }, instants: [{ lane: 'pid:20', name: 'x', at: 0 }, { lane: 'pid:20', name: 'y', at: 30_000 * MS }] });
    expect(ids(diagnose([noAttach]))).not.toContain('bridge-forward-delay');
  });
});

describe('across runs', () => {
  it(`runs-spread: reports durations whose p90/median exceeds ${SPREAD_RATIO}`, () => {
    // kernel 100 100 100 400: median 100, p90 = 100 + 0.7*300 = 310 → 3.1; toolstack steady
    const runs = [100, 100, 100, 400].map((k, i) => synthetic(`run-${i + 1}`, { phases: { toolstack: 1000, kernel: k } }));
    const f = find(diagnose(runs), 'runs-spread')!;
    expect(f.runs).toEqual(['run-1', 'run-2', 'run-3', 'run-4']);
    expect(f.evidence[0]).toMatchObject({ run: null, data: { kernel_median_ns: 100 * MS, kernel_p90_ns: 310 * MS, kernel_n: 4 } });
    expect(f.evidence[0].data.kernel_ratio).toBeCloseTo(3.1, 9);
    expect(f.evidence[0].lines[0]).toContain('max 400 ms in run-4');
    expect(f.severity).toBe('info'); // total 1100..1400: p90/median < 1.5
    expect(Object.keys(f.evidence[0].data).some((k) => k.startsWith('toolstack'))).toBe(false);
  });

  it('runs-spread: compares runs within one configuration (meta.profile), not across profiles', () => {
    const run = (label: string, profile: string, kernelMs: number) => {
      const r = synthetic(label, { phases: { toolstack: 10, kernel: kernelMs } });
      r.trace.meta.profile = profile;
      return r;
    };
    // each profile steady, but 10× apart: no noise
    const steady = [run('a1', 'stock', 1000), run('a2', 'stock', 1010), run('a3', 'stock', 1020), run('b1', 'tuned', 100), run('b2', 'tuned', 101), run('b3', 'tuned', 102)];
    expect(ids(diagnose(steady))).not.toContain('runs-spread');
    // noisy within "tuned" only: the evidence names that configuration
    const noisy = [...steady.slice(0, 3), run('b1', 'tuned', 100), run('b2', 'tuned', 100), run('b3', 'tuned', 100), run('b4', 'tuned', 400)];
    const f = find(diagnose(noisy), 'runs-spread')!;
    expect(f.runs).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(f.evidence).toHaveLength(1);
    expect(f.evidence[0]).toMatchObject({ run: null, group: 'profile tuned' });
    expect(formatDiagnosisText([f], noisy.map((r) => r.label))).toContain('evidence  profile tuned: kernel: median 100 ms');
  });

  it('runs-spread: silent with fewer than 3 runs or steady durations', () => {
    expect(ids(diagnose([100, 400].map((k, i) => synthetic(`r${i}`, { phases: { kernel: k } }))))).not.toContain('runs-spread');
    expect(ids(diagnose([100, 110, 120].map((k, i) => synthetic(`r${i}`, { phases: { kernel: k } }))))).not.toContain('runs-spread');
  });

  it('phase-missing-in-some-runs: names the runs without the phase', () => {
    const runs = [synthetic('a', { phases: { kernel: 10, user: 5 } }), synthetic('b', { phases: { kernel: 10 } })];
    const f = find(diagnose(runs), 'phase-missing-in-some-runs')!;
    expect(f.evidence[0].data).toEqual({ user_missing_in: ['b'] });
    expect(ids(diagnose([synthetic('a', { phases: { kernel: 10 } }), synthetic('b', { phases: { kernel: 12 } })]))).not.toContain('phase-missing-in-some-runs');
  });

  it('merges one rule\'s per-run findings into one finding with evidence per run', () => {
    const runs = ['r1', 'r2'].map((l) => synthetic(l, { hypervisor: 'qemu tcg', phases: { toolstack: 10, kernel: 90 } }));
    const f = find(diagnose(runs), 'accelerator-tcg')!;
    expect(f.runs).toEqual(['r1', 'r2']);
    expect(f.evidence.map((e) => e.run)).toEqual(['r1', 'r2']);
    const text = formatDiagnosisText([f], ['r1', 'r2']);
    expect(text).toMatch(/evidence {2}r1: meta.hypervisor = "qemu tcg"/);
    expect(text).toMatch(/\n {12}r2: meta.hypervisor = "qemu tcg"/);
  });
});

describe('unionDuration', () => {
  it('counts overlapping intervals once', () => {
    expect(unionDuration([{ start: 0, end: 10 }, { start: 5, end: 15 }, { start: 20, end: 25 }, { start: 21, end: 22 }])).toBe(20);
    expect(unionDuration([])).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// The recorded fixtures (fixtures/README.md): numbers checked against the raw trace JSON.

interface RawTrace {
  spans: { lane: string; name: string; start: number; end: number }[];
  instants: { lane: string; name: string; at: number; args?: { text?: string } }[];
}

function raw(dir: string): RawTrace & { dir: string } {
  return { ...(JSON.parse(readFileSync(join(FIXTURES, dir, 'run.hvtrace.json'), 'utf8')) as RawTrace), dir };
}
/** The phases as read: the committed files are version 1, whose phases are derived again from their markers. */
const phaseSpan = (t: RawTrace & { dir?: string }, phase: string) =>
  readTrace(join(FIXTURES, t.dir!, 'run.hvtrace.json')).spans.find((s) => s.lane === 'phases' && s.name === phase)!;
const consoleAt = (t: RawTrace, pattern: RegExp) => t.instants.find((i) => i.lane === 'guest-console' && pattern.test(i.args?.text ?? i.name))!;

describe('fixture qemu-tcg-pc-linux (TCG, -M pc, SeaBIOS, bzImage)', () => {
  const runs = readRuns([join(FIXTURES, 'qemu-tcg-pc-linux/run.hvtrace.json')]);
  const findings = diagnose(runs);
  const t = raw('qemu-tcg-pc-linux');
  const total = phaseSpan(t, 'user').end - phaseSpan(t, 'toolstack').start;

  it('finds TCG, decompression, console gaps, SeaBIOS firmware and the TSC fallback — nothing about Xen or bridges', () => {
    expect(new Set(ids(findings))).toEqual(new Set(['accelerator-tcg', 'kernel-decompression', 'kernel-console-gaps', 'firmware-seabios', 'tsc-calibration']));
    expect(ids(findings)[0]).toBe('accelerator-tcg'); // warnings first, most time at stake first
  });

  it('quotes the firmware phase as recorded', () => {
    const fw = phaseSpan(t, 'firmware');
    expect(find(findings, 'firmware-seabios')!.evidence[0].data).toMatchObject({ duration_ns: fw.end - fw.start, share: (fw.end - fw.start) / total, total_ns: total, machine: 'pc' });
    expect(find(findings, 'firmware-seabios')!.severity).toBe('info'); // ~1% of a TCG boot
  });

  it('measures decompression from the setup code\'s line to the kernel banner', () => {
    const setup = consoleAt(t, /^Probing EDD/);
    const banner = consoleAt(t, /Linux version \d/);
    expect(find(findings, 'kernel-decompression')!.evidence[0].data).toMatchObject({ start_ns: setup.at, end_ns: banner.at, duration_ns: banner.at - setup.at });
  });

  it('names the largest console silence after the banner', () => {
    const kernel = phaseSpan(t, 'kernel');
    const banner = consoleAt(t, /Linux version \d/);
    const lines = t.instants.filter((i) => i.lane === 'guest-console' && i.at >= banner.at && i.at <= kernel.end).sort((a, b) => a.at - b.at);
    let best = { gap: -1, before: '' };
    for (let i = 1; i < lines.length; i++) if (lines[i].at - lines[i - 1].at > best.gap) best = { gap: lines[i].at - lines[i - 1].at, before: lines[i - 1].args?.text ?? lines[i - 1].name };
    const data = find(findings, 'kernel-console-gaps')!.evidence[0].data;
    expect((data.gaps_ns as number[])[0]).toBe(best.gap);
    expect((data.gap_before_lines as string[])[0]).toBe(best.before);
    expect(data.window_ns).toBe(kernel.end - banner.at);
  });

  it('proposes the lpj and TSC kHz this boot measured', () => {
    const lpj = /lpj=(\d+)/.exec(consoleAt(t, /Calibrating delay loop/).name)![1];
    const mhz = /Detected ([\d.]+) MHz/.exec(consoleAt(t, /tsc: Detected/).name)![1];
    const f = find(findings, 'tsc-calibration')!;
    expect(f.fix.flags).toEqual([`tsc_early_khz=${Math.round(Number(mhz) * 1000)}`, `lpj=${lpj}`]);
    expect(f.severity).toBe('info'); // HPET fallback, reached init
    // TCG QEMU: the profile it points at really has the knob that passes the rate
    expect(f.fix.profile).toBe('qemu-microvm-min');
    expect(readFileSync(join(FIXTURES, '../tuning-profiles/qemu-microvm-min.yaml'), 'utf8')).toMatch(/^ {2}tcg-tsc-khz:\n {4}value: host$/m);
  });
});

describe('fixture qemu-tcg-microvm-linux (TCG, -M microvm)', () => {
  const findings = diagnose(readRuns([join(FIXTURES, 'qemu-tcg-microvm-linux/run.hvtrace.json')]));

  it('finds TCG and decompression but no SeaBIOS (microvm) or TSC finding (calibration succeeded)', () => {
    expect(ids(findings)).toContain('accelerator-tcg');
    expect(ids(findings)).toContain('kernel-decompression');
    expect(ids(findings)).not.toContain('firmware-seabios');
    expect(ids(findings)).not.toContain('tsc-calibration');
    expect(ids(findings)).not.toContain('toolstack-dominates');
  });

  it('the two fixtures together: per-run findings merged, one evidence entry per run', () => {
    const both = diagnose(readRuns([join(FIXTURES, 'qemu-tcg-pc-linux/run.hvtrace.json'), join(FIXTURES, 'qemu-tcg-microvm-linux/run.hvtrace.json')]));
    expect(find(both, 'accelerator-tcg')!.runs).toEqual(['qemu-tcg-pc-linux/run', 'qemu-tcg-microvm-linux/run']);
    expect(find(both, 'firmware-seabios')!.runs).toEqual(['qemu-tcg-pc-linux/run']);
    expect(ids(both)).not.toContain('runs-spread'); // two runs: below SPREAD_MIN_RUNS
  });
});

describe('fixtures xen-lab-experiment (real `hvscope lab xen run` recordings: dom0 ftrace of xl create)', () => {
  const labRuns = (name: string): Run[] => {
    const dir = join(FIXTURES, 'xen-lab-experiment');
    const result = parseXenExperimentText(readFileSync(join(dir, `${name}.xen-experiment.txt`), 'utf8'), name);
    const ftrace = ftraceRuns(parseFtrace(readFileSync(join(dir, `${name}.dom0-ftrace.txt`), 'utf8')));
    return result.runs.map((r) => {
      const profile = result.profiles[r.profile].dir;
      return { label: `${profile}/run-${r.run}`, trace: xenRunTrace(r, ftrace.get(`${r.profile}/${r.run}`), { profile, recorded: name, hypervisor: 'xen 4.17 (lab)' }) };
    });
  };
  /** Creation-time hotplug script time inside the devices phase, from the trace itself. */
  const hotplugShare = (run: Run) => {
    const devices = run.trace.spans.find((s) => s.lane === PHASE_LANE_ID && s.name === 'devices')!;
    const creating = run.trace.spans.filter((s) => s.lane === 'hotplug' && s.args?.when === 'create');
    const busy = unionDuration(creating.map((s) => ({ start: Math.max(s.start, devices.start), end: Math.min(s.end, devices.end) })).filter((i) => i.end > i.start));
    return { busy, share: busy / (devices.end - devices.start) };
  };

  it('stock vs unikernel: the stock vif-bridge runs get xen-fast-hotplug with the trace\'s numbers; runs below the threshold do not', () => {
    const runs = labRuns('stock-vs-unikernel');
    const f = find(diagnose(runs), 'xen-hotplug-scripts')!;
    const expected = runs.filter((r) => hotplugShare(r).share >= 0.5).map((r) => r.label);
    expect(f.runs).toEqual(expected);
    expect(f.runs.every((l) => l.startsWith('xen-stock/'))).toBe(true);
    expect(f.fix.profile).toBe('xen-fast-hotplug');
    for (const e of f.evidence) {
      const { busy, share } = hotplugShare(runs.find((r) => r.label === e.run)!);
      expect(e.data.duration_ns).toBe(busy);
      expect(e.data.share).toBeCloseTo(share, 12);
      expect(e.data.script_runs).toEqual(['vif-bridge (create)']);
    }
    // two runs per profile: no spread finding, and stock vs tuned is not "noise"
    expect(ids(diagnose(runs))).not.toContain('runs-spread');
  });

  it('--domains 3: scaling runs are separate configurations (no spread finding); each creation\'s hotplug time is reported', () => {
    const runs = labRuns('domains-3');
    const findings = diagnose(runs);
    expect(ids(findings)).not.toContain('runs-spread');
    expect(find(findings, 'xen-hotplug-scripts')!.evidence.map((e) => e.data.duration_ns)).toEqual(runs.map((r) => hotplugShare(r).busy));
  });
});

describe('probes/xen_example.txt (real `xl create` traced with the xen probe set in the Xen lab)', () => {
  const text = readFileSync(join(FIXTURES, '../probes/xen_example.txt'), 'utf8');
  const ndjson = text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .join('\n');
  const trace = importBpftrace(ndjson + '\n', 'xen_example.txt');
  const findings = diagnose([{ label: 'xl-create', trace }]);
  const phase = (name: string) => trace.spans.find((s) => s.lane === PHASE_LANE_ID && s.name === name)!;

  it('finds the vif-bridge hotplug script over most of the devices phase (offline at teardown not counted)', () => {
    const f = find(findings, 'xen-hotplug-scripts')!;
    const devices = phase('devices');
    const online = trace.spans.filter((s) => typeof s.args?.file === 'string' && s.args.file.startsWith('/etc/xen/scripts/') && / online /.test(String(s.args.argv)));
    const busy = unionDuration(online.map((s) => ({ start: Math.max(s.start, devices.start), end: Math.min(s.end, devices.end) })));
    expect(f.evidence[0].data).toMatchObject({ duration_ns: busy, script_runs: ['vif-bridge online'], of: 'devices' });
    expect(f.fix.profile).toBe('xen-fast-hotplug');
  });

  it('counts the XenStore requests the importer counted per phase', () => {
    const f = find(findings, 'xenstore-operations')!;
    const perPhase = trace.spans.filter((s) => s.lane === PHASE_LANE_ID).reduce((n, s) => n + Number(s.args?.[XENSTORE_COUNTER] ?? 0), 0);
    expect(f.evidence[0].data.requests).toBe(perPhase);
    expect(f.evidence[0].data.creations).toBe(1);
  });

  it('says nothing about QEMU, TCG, firmware or the kernel', () => {
    expect(ids(findings).filter((id) => /accelerator|firmware|kernel|tsc|toolstack/.test(id))).toEqual([]);
  });
});
