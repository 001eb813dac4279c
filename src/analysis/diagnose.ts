// `hvscope diagnose`: rules that explain a slow boot from what a trace shows and point at the fix.
//
// Each rule is a small pure function: one run (per-run rules) or all runs (across-run
// rules) → findings. A rule fires only on evidence the trace carries (phases, console
// lines, process spans, meta) and stays silent otherwise; every number it quotes is
// taken from the trace. Thresholds are named constants below so the text can state them.
import { basename } from 'node:path';
import { PHASES, type Instant, type Phase, type Run, type Span, type Trace } from '../model/trace.js';
import { phaseBreakdown, totalDuration, type PhaseExtent } from './phases.js';
import { formatDuration } from '../model/duration.js';
import { consolePattern } from '../model/markers.js';
import { summarize } from './stats.js';
import { LIBVIRT_RULES } from './diagnose-libvirt.js';

export type Severity = 'warn' | 'info';
export type EvidenceValue = string | number | boolean | null | string[] | number[];

/** What one run (or, for across-run rules, the set of runs: run = null) showed. */
export interface Evidence {
  run: string | null;
  /** Across-run evidence when the runs had several configurations: which one (e.g. "profile xen-stock on xen 4.17"). */
  group?: string;
  /** Human lines, numbers included. */
  lines: string[];
  /** The same numbers, machine-readable (durations in ns, shares as fractions 0..1). */
  data: Record<string, EvidenceValue>;
}

export interface Fix {
  text: string;
  /** A shipped tuning profile (tuning-profiles/NAME.yaml) that applies the fix. */
  profile?: string;
  /** Concrete flags, kernel parameters or environment settings. */
  flags?: string[];
}

export interface Finding {
  /** Rule id. */
  id: string;
  severity: Severity;
  /** Trace-quality findings qualify every other number, so they are listed first. */
  category: 'trace-quality' | 'boot';
  title: string;
  /** Labels of the runs it was seen in. */
  runs: string[];
  evidence: Evidence[];
  why: string;
  /** Where the fact in `why` comes from. */
  source?: string;
  fix: Fix;
  /** Boot time at stake (ns), the largest over the runs; orders findings of one severity. */
  impact_ns: number;
}

/** A finding as one rule returns it for one run (or for the set of runs). */
export type RuleFinding = Omit<Finding, 'id' | 'category' | 'runs' | 'evidence'> & {
  evidence: Omit<Evidence, 'run' | 'group'>;
};

export interface RunFacts {
  label: string;
  trace: Trace;
  phases: PhaseExtent[];
  /** ns, see totalDuration */
  total: number;
  console: ConsoleLine[];
  command?: QemuCommand | { program: string; argv: string[]; complete: boolean; isQemu: false };
}

export interface ConsoleLine {
  at: number;
  text: string;
}

export type Rule =
  | { id: string; category: Finding['category']; summary: string; scope: 'run'; check: (run: RunFacts) => RuleFinding | null }
  | { id: string; category: Finding['category']; summary: string; scope: 'runs'; check: (runs: RunFacts[]) => RuleFinding | null };

// ---------------------------------------------------------------------------------------------
// Thresholds (stated in the findings' text)

/** Firmware (SeaBIOS on pc/q35) is reported when it takes at least this long or this share. */
export const FIRMWARE_MIN_NS = 50e6;
export const FIRMWARE_MIN_SHARE = 0.1;
/** A phase "dominates" from this share of the run's total. */
export const DOMINANT_SHARE = 0.5;
/** The setup-code → kernel-banner gap (decompression) is reported from this share of the total. */
export const DECOMPRESSION_MIN_SHARE = 0.1;
/** The largest console silence in the kernel is reported from this share of the kernel's time after its banner. */
export const CONSOLE_GAP_MIN_SHARE = 0.1;
/** ... and lasts at least this long (a few ms of silence in a fast boot is not worth chasing). */
export const CONSOLE_GAP_MIN_NS = 20e6;
export const CONSOLE_GAPS_SHOWN = 3;
/** Hotplug scripts are reported from this share of the devices phase (or of the total without one). */
export const HOTPLUG_MIN_SHARE_OF_DEVICES = 0.5;
export const HOTPLUG_MIN_SHARE_OF_TOTAL = 0.2;
/** XenStore tools (xenstore-read/-write/...) are reported from this share of the total. */
export const XENSTORE_MIN_SHARE = 0.1;
/** Linux bridge default forward_delay (15 s); a silence of at least this long after a port attach matches it. */
export const BRIDGE_FORWARD_DELAY_NS = 15e9;
export const BRIDGE_SILENCE_MIN_NS = 14e9;
/** Several runs: a duration whose p90/median exceeds this is noisy (needs at least SPREAD_MIN_RUNS runs). */
export const SPREAD_RATIO = 1.5;
export const SPREAD_MIN_RUNS = 3;
/** Severity steps: a finding is a warning from this share of the run's total. */
const WARN_SHARE = 0.25;

// ---------------------------------------------------------------------------------------------
// Facts every rule reads

export interface QemuCommand {
  program: string;
  argv: string[];
  /** false when the traced argv was cut short (bpftrace reads 128 bytes): absent flags prove nothing then. */
  complete: boolean;
  isQemu: true;
  /** -M / -machine value's type ("pc", "q35", "microvm"), undefined when not given. */
  machine?: string;
  /** -M / -machine options (e.g. x-option-roms=off). */
  machineOptions: string[];
  /** Accelerators named by -accel, -machine accel=, -enable-kvm, in order. */
  accels: string[];
  has: (flag: string) => boolean;
}

const QEMU_PROGRAM = /^qemu-(system-|kvm)/;

export function parseCommand(argv: string[]): RunFacts['command'] {
  if (argv.length === 0) return undefined;
  const complete = !argv.includes('…');
  const program = basename(argv[0]);
  if (!QEMU_PROGRAM.test(program)) return { program, argv, complete, isQemu: false };
  let machine: string | undefined;
  const machineOptions: string[] = [];
  const accels: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const value = argv[i + 1];
    if ((a === '-M' || a === '-machine' || a === '--machine') && value !== undefined) {
      for (const part of value.split(',')) {
        if (part.startsWith('type=')) machine = part.slice(5);
        else if (part.startsWith('accel=')) accels.push(...part.slice(6).split(':'));
        else if (!part.includes('=') && machine === undefined) machine = part;
        else machineOptions.push(part);
      }
    } else if ((a === '-accel' || a === '--accel') && value !== undefined) accels.push(value.split(',')[0]);
    else if (a === '-enable-kvm' || a === '--enable-kvm') accels.push('kvm');
  }
  return { program, argv, complete, isQemu: true, machine, machineOptions, accels, has: (flag) => argv.includes(flag) };
}

/** Console lines of a trace: serial importer's `guest-console` lane, bpftrace importer's `console: true` instants. */
export function consoleLines(trace: Trace): ConsoleLine[] {
  const lines: ConsoleLine[] = [];
  for (const i of trace.instants) {
    if (i.lane !== 'guest-console' && i.args?.console !== true) continue;
    const text = typeof i.args?.text === 'string' ? i.args.text : i.name;
    lines.push({ at: i.at, text });
  }
  return lines.sort((a, b) => a.at - b.at);
}

export function runFacts(run: Run): RunFacts {
  return {
    label: run.label,
    trace: run.trace,
    phases: phaseBreakdown(run.trace),
    total: totalDuration(run.trace),
    console: consoleLines(run.trace),
    command: run.trace.meta.command ? parseCommand(run.trace.meta.command) : undefined,
  };
}

const phaseOf = (run: RunFacts, phase: Phase) => run.phases.find((p) => p.phase === phase);
const share = (part: number, whole: number) => (whole > 0 ? part / whole : 0);
const pct = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;
const ms = (ns: number) => formatDuration(ns);
/** A console line as quoted in evidence: its time since t0 and (shortened) text. */
const quote = (line: ConsoleLine) => `"${line.text.length > 90 ? `${line.text.slice(0, 89)}…` : line.text}" (at ${ms(line.at)})`;
const severityFor = (fraction: number): Severity => (fraction >= WARN_SHARE ? 'warn' : 'info');

function qemuCommand(run: RunFacts): QemuCommand | undefined {
  return run.command?.isQemu ? run.command : undefined;
}

function sawKvm(trace: Trace): boolean {
  return trace.spans.some((s) => s.name === 'KVM_CREATE_VM') || trace.instants.some((i) => i.name === 'first KVM_RUN');
}

// ---------------------------------------------------------------------------------------------
// Trace quality

const lostEvents: Rule = {
  id: 'trace-lost-events',
  category: 'trace-quality',
  summary: 'bpftrace lost events (meta.lostEvents > 0)',
  scope: 'run',
  check(run) {
    const lost = run.trace.meta.lostEvents ?? 0;
    if (!(lost > 0)) return null;
    return {
      severity: 'warn',
      title: 'bpftrace lost events: this trace is incomplete',
      evidence: { lines: [`meta.lostEvents = ${lost}`], data: { lost_events: lost } },
      why:
        "bpftrace's perf ring buffer overflowed and dropped events; a dropped console byte or marker can move or remove a phase boundary, so durations and the other findings may be wrong.",
      source: 'probes/README.md (Lost events: ~2,000 lost with the default 64 pages, none with 1024); docs/references.md#bpftrace-json',
      fix: { text: 'Trace again with a larger perf buffer in bpftrace\'s environment.', flags: ['BPFTRACE_PERF_RB_PAGES=1024'] },
      impact_ns: run.total,
    };
  },
};

const probesUnavailable: Rule = {
  id: 'trace-probes-unavailable',
  category: 'trace-quality',
  summary: 'probes or sources that could not be used (meta.unavailable)',
  scope: 'run',
  check(run) {
    const missing = run.trace.meta.unavailable ?? [];
    if (missing.length === 0) return null;
    return {
      severity: 'info',
      title: 'Some probes were unavailable: what they measure is missing from this trace',
      evidence: { lines: missing.map((u) => `${u.what}: ${u.why}`), data: { unavailable: missing.map((u) => u.what) } },
      why: 'Phases and events those probes would have produced are absent or taken from coarser sources (QEMU trace log, serial console); a finding that needs them cannot fire.',
      fix: { text: 'Run `hvscope doctor` to see what this host lacks for them (root, tracefs, BTF, the kvm module) and trace again.' },
      impact_ns: 0,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Hypervisor / QEMU

const acceleratorTcg: Rule = {
  id: 'accelerator-tcg',
  category: 'boot',
  summary: 'the run used TCG (software emulation), not KVM',
  scope: 'run',
  check(run) {
    const hypervisor = run.trace.meta.hypervisor ?? '';
    const cmd = qemuCommand(run);
    const byHypervisor = /\btcg\b/i.test(hypervisor);
    const byCommand = cmd !== undefined && cmd.accels.length > 0 && cmd.accels.every((a) => a === 'tcg');
    if (!(byHypervisor || byCommand) || sawKvm(run.trace)) return null;
    const lines: string[] = [];
    if (byHypervisor) lines.push(`meta.hypervisor = "${hypervisor}"`);
    if (byCommand) lines.push(`command line selects ${cmd!.accels.map((a) => a).join(', ')} (${cmd!.argv.includes('-accel') ? '-accel tcg' : 'accel=tcg'})`);
    const guest = run.phases.filter((p) => p.phase === 'firmware' || p.phase === 'kernel' || p.phase === 'user');
    const guestNs = guest.reduce((n, p) => n + p.duration, 0);
    if (guest.length > 0) lines.push(`guest phases (${guest.map((p) => p.phase).join(' + ')}) ${ms(guestNs)} of ${ms(run.total)} total (${pct(share(guestNs, run.total))})`);
    else lines.push(`total ${ms(run.total)}`);
    return {
      // Emulation matters as much as the guest phases weigh in the boot.
      severity: severityFor(guest.length > 0 ? share(guestNs, run.total) : 1),
      title: 'The run used TCG (every guest instruction emulated), not KVM',
      evidence: {
        lines,
        data: { hypervisor: hypervisor || null, accels: cmd?.accels ?? [], guest_ns: guestNs, total_ns: run.total },
      },
      why:
        'Under TCG the firmware, kernel and user phases are emulation times: far longer than on KVM and varying with host load, so they say little about a real boot. For scale, qemu-boot-time measured a whole q35 + SeaBIOS + bzImage boot at 245 ms under KVM.',
      source: 'docs/references.md#qemu-boot-time (example under KVM); fixtures/README.md (TCG kernel phase takes seconds and varies with host load)',
      fix: {
        text: 'Boot with KVM (needs /dev/kvm and a CPU with VT-x/AMD-V; `hvscope doctor` checks accel.kvm): `hvscope boot --accel kvm`, or -accel kvm on the QEMU command line.',
        flags: ['-accel kvm'],
      },
      impact_ns: guestNs > 0 ? guestNs : run.total,
    };
  },
};

/** x86 setup code and decompressor lines, and the kernel banner: the marker vocabulary's (model/markers.ts). */
const SETUP_LINE = consolePattern('x86-setup');
const KERNEL_BANNER = consolePattern('linux-banner');
const PC_MACHINE = /^(pc|q35|isapc)(-|$)/;

const firmwareSeabios: Rule = {
  id: 'firmware-seabios',
  category: 'boot',
  summary: `long firmware phase on a pc/q35 machine (SeaBIOS): ≥ ${ms(FIRMWARE_MIN_NS)} or ≥ ${pct(FIRMWARE_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const fw = phaseOf(run, 'firmware');
    if (!fw) return null;
    const cmd = qemuCommand(run);
    const seabios = run.console.find((l) => /SeaBIOS \(version/.test(l.text));
    // The machine: -M on the command line; without one QEMU's x86 default is pc (only trusted on a complete argv).
    const machine = cmd?.machine ?? (cmd?.complete ? 'pc' : undefined);
    if (machine !== undefined ? !PC_MACHINE.test(machine) : !seabios) return null;
    // The phase may also hold the x86 setup code and decompression (bpftrace starts the kernel at its banner):
    // firmware proper ends at the first setup-code line inside it.
    const setup = run.console.find((l) => l.at > fw.start && l.at < fw.end && SETUP_LINE.test(l.text));
    const end = setup ? setup.at : fw.end;
    const duration = end - fw.start;
    const fraction = share(duration, run.total);
    if (duration < FIRMWARE_MIN_NS && fraction < FIRMWARE_MIN_SHARE) return null;
    const lines = [
      `firmware ${ms(duration)} (${ms(fw.start)} → ${ms(end)}), ${pct(fraction)} of the ${ms(run.total)} boot`,
      `machine: ${machine ?? 'not on the command line'}${cmd ? ` (-M ${cmd.machine ?? '(default)'}${cmd.machineOptions.length ? `,${cmd.machineOptions.join(',')}` : ''})` : ''}`,
    ];
    if (seabios) lines.push(`firmware banner ${quote(seabios)}`);
    const roms = run.trace.instants.map((i) => /^fw_cfg add (genroms\/\S+)/.exec(i.name)?.[1]).filter((r): r is string => r !== undefined);
    if (roms.length > 0) lines.push(`option ROMs QEMU handed the firmware: ${roms.join(', ')}`);
    const banner = run.console.find((l) => KERNEL_BANNER.test(l.text));
    const silent = !setup && banner !== undefined && Math.abs(banner.at - fw.end) < 1e6 && !run.console.some((l) => l.at >= fw.start && l.at < fw.end);
    if (silent) lines.push('no console line inside the phase: it also holds the x86 setup code and kernel decompression, which print nothing here (only with -nographic/sercon)');
    return {
      severity: severityFor(fraction),
      title: silent
        ? 'Firmware (SeaBIOS, option ROMs) with the kernel\'s setup and decompression (no console line between them) takes a large part of the boot'
        : 'Firmware (SeaBIOS and option ROMs on a pc/q35 machine) takes a visible part of the boot',
      evidence: {
        lines,
        data: { phase: 'firmware', duration_ns: duration, start_ns: fw.start, end_ns: end, share: fraction, total_ns: run.total, machine: machine ?? null, option_roms: roms, includes_setup_and_decompression: silent },
      },
      why:
        'On pc/q35 QEMU boots SeaBIOS, which initialises the chipset and PCI and runs option ROMs (linuxboot_dma.bin loads a -kernel) before the kernel runs; microvm with qboot/bios-microvm and no option ROMs, or a PVH entry straight into an uncompressed vmlinux, skip most of it. qemu-boot-time: q35 + SeaBIOS + bzImage reached linux_start_kernel ≈123 ms after exec, PVH + qboot at 56.7 ms.',
      source: 'docs/references.md#qemu-boot-time; docs/references.md#qemu-microvm (QEMU docs/system/i386/microvm.rst)',
      fix: {
        text: 'Use the microvm machine without option ROMs (profile qemu-microvm-min), or boot an uncompressed vmlinux built with CONFIG_PVH=y through its PVH entry (-kernel vmlinux).',
        profile: 'qemu-microvm-min',
        flags: ['-M microvm,x-option-roms=off', '-kernel vmlinux (PVH)'],
      },
      impact_ns: duration,
    };
  },
};

const toolstackDominates: Rule = {
  id: 'toolstack-dominates',
  category: 'boot',
  summary: `toolstack phase (VMM/xl start → first vCPU run) ≥ ${pct(DOMINANT_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const ts = phaseOf(run, 'toolstack');
    if (!ts) return null;
    const fraction = share(ts.duration, run.total);
    if (fraction < DOMINANT_SHARE) return null;
    const lines = [`toolstack ${ms(ts.duration)}, ${pct(fraction)} of the ${ms(run.total)} boot`];
    const others = run.phases.filter((p) => p.phase !== 'toolstack').map((p) => `${p.phase} ${ms(p.duration)}`);
    if (others.length > 0) lines.push(`other phases: ${others.join(', ')}`);
    const cmd = qemuCommand(run);
    const isXen = /xen/i.test(run.trace.meta.hypervisor ?? '') || run.command?.program === 'xl';
    const data: Record<string, EvidenceValue> = { phase: 'toolstack', duration_ns: ts.duration, share: fraction, total_ns: run.total };
    const kvmCreate = run.trace.spans.filter((s) => s.name === 'KVM_CREATE_VM');
    if (kvmCreate.length > 0) {
      const slowest = kvmCreate.reduce((a, b) => (b.end - b.start > a.end - a.start ? b : a));
      lines.push(`KVM_CREATE_VM took ${ms(slowest.end - slowest.start)}`);
      data.kvm_create_vm_ns = slowest.end - slowest.start;
    }
    let fix: Fix;
    let why =
      'The seed study found the VMM/toolstack side, not the guest, dominates instantiation of small guests such as unikernels: the guest itself is ready in milliseconds.';
    let source = 'docs/references.md#ventre-2018; docs/references.md#lightvm';
    if (cmd) {
      const missing: string[] = [];
      if (cmd.complete || cmd.machine !== undefined) if (cmd.machine !== 'microvm') missing.push('-M microvm');
      if (cmd.machine === 'microvm' && !cmd.machineOptions.includes('x-option-roms=off')) missing.push('x-option-roms=off');
      if (cmd.complete) for (const flag of ['-nodefaults', '-no-user-config']) if (!cmd.has(flag)) missing.push(flag);
      data.missing_flags = missing;
      if (missing.length > 0) {
        lines.push(`QEMU command line lacks ${missing.join(', ')}`);
        why += ' QEMU creates default devices (VGA, NIC, floppy, CD-ROM, monitor) and reads config files unless told not to, and a pc machine builds a legacy chipset.';
        source += '; QEMU docs/system/i386/microvm.rst minimal line (tuning-profiles/qemu-microvm-min.yaml)';
        fix = { text: `Start QEMU with the minimal microvm line (${missing.join(', ')}).`, profile: 'qemu-microvm-min', flags: missing };
      } else {
        lines.push('QEMU command line already has qemu-microvm-min\'s main settings (microvm, option ROMs off, -nodefaults, -no-user-config)');
        fix = {
          text:
            kvmCreate.length > 0
              ? 'What remains is QEMU\'s own start-up; on Linux 6.1+ hosts KVM_CREATE_VM itself can be slow (see Firecracker\'s prod-host-setup notes on nx-lpage-recovery).'
              : 'What remains is QEMU\'s own start-up (loading, accelerator set-up); a lighter VMM or a pre-started (snapshotted) VM is the next step.',
        };
        if (kvmCreate.length > 0) source += '; docs/references.md#kvm-create-vm';
      }
    } else if (isXen) {
      fix = {
        text: 'Use a minimal domain description (PV, kernel only, no disk, small memory, one vCPU), fast vif hotplug and no dom0 ballooning: the seed study\'s tunings.',
        profile: 'xen-unikernel',
      };
      source = 'docs/references.md#ventre-2018 (minimal domain description, no block devices); docs/references.md#lightvm';
    } else {
      fix = { text: 'Look at the toolstack phase\'s spans in `hvscope render` to see which step of the VMM start takes the time.' };
    }
    return {
      severity: 'warn',
      title: 'The toolstack (VMM start-up before the guest runs) dominates the boot',
      evidence: { lines, data },
      why,
      source,
      fix,
      impact_ns: ts.duration,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Guest kernel

const kernelDecompression: Rule = {
  id: 'kernel-decompression',
  category: 'boot',
  summary: `bzImage setup and decompression (setup-code line → kernel banner) ≥ ${pct(DECOMPRESSION_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    const bannerIndex = run.console.findIndex((l) => KERNEL_BANNER.test(l.text));
    if (bannerIndex <= 0) return null;
    const banner = run.console[bannerIndex];
    const before = run.console[bannerIndex - 1];
    // Only when the line right before the banner is the setup code's or the decompressor's: then nothing else ran between.
    if (!SETUP_LINE.test(before.text)) return null;
    const decompressing = run.console.slice(0, bannerIndex).find((l) => /Decompressing Linux/.test(l.text));
    const start = decompressing ?? before;
    const gap = banner.at - start.at;
    const fraction = share(gap, run.total);
    if (fraction < DECOMPRESSION_MIN_SHARE) return null;
    const inPhases = run.phases.filter((p) => p.end > start.at && p.start < banner.at).map((p) => p.phase);
    const kernel = phaseOf(run, 'kernel');
    const lines = [
      `${ms(gap)} (${pct(fraction)} of the ${ms(run.total)} boot) between ${quote(start)} and the kernel banner ${quote(banner)}`,
      `in phase${inPhases.length === 1 ? '' : 's'} ${inPhases.join(', ') || '(none)'}${kernel ? `; kernel phase ${ms(kernel.duration)} (${pct(share(kernel.duration, run.total))})` : ''}`,
      'this stretch is the bzImage decompressor plus the kernel\'s earliest init before its console is registered (lines printed then reach the console in one burst)',
    ];
    return {
      severity: severityFor(fraction),
      title: 'bzImage setup and decompression (before the kernel\'s first console line) take a large share of the boot',
      evidence: {
        lines,
        data: { duration_ns: gap, start_ns: start.at, end_ns: banner.at, share: fraction, total_ns: run.total, from_line: start.text, to_line: banner.text, phases: inPhases },
      },
      why:
        'A bzImage is booted through its 16-bit setup code and decompresses itself before start_kernel; an uncompressed vmlinux entered through PVH skips both (qemu-boot-time: linux_start_kernel ≈123 ms after exec with q35 + SeaBIOS + bzImage, 56.7 ms with PVH + qboot). Under TCG the decompression is emulated and takes seconds.',
      source: 'docs/references.md#qemu-boot-time',
      fix: {
        text: 'Boot an uncompressed vmlinux (CONFIG_PVH=y) with -kernel vmlinux, or build the kernel with a fast decompressor (CONFIG_KERNEL_LZ4).',
        flags: ['-kernel vmlinux (PVH)', 'CONFIG_KERNEL_LZ4=y'],
      },
      impact_ns: gap,
    };
  },
};

const kernelConsoleGaps: Rule = {
  id: 'kernel-console-gaps',
  category: 'boot',
  summary: `kernel phase ≥ ${pct(DOMINANT_SHARE)} of the boot and a console silence ≥ ${pct(CONSOLE_GAP_MIN_SHARE)} of the kernel's time after its banner and ≥ ${ms(CONSOLE_GAP_MIN_NS)}`,
  scope: 'run',
  check(run) {
    const kernel = phaseOf(run, 'kernel');
    if (!kernel) return null;
    const kernelShare = share(kernel.duration, run.total);
    if (kernelShare < DOMINANT_SHARE) return null;
    // From the banner on (the stretch before it is kernel-decompression's), up to the kernel phase's end.
    const banner = run.console.find((l) => KERNEL_BANNER.test(l.text) && l.at >= kernel.start && l.at <= kernel.end);
    const from = banner ? banner.at : kernel.start;
    const window = kernel.end - from;
    const inside = run.console.filter((l) => l.at >= from && l.at <= kernel.end);
    if (inside.length < 2 || window <= 0) return null;
    const gaps = inside.slice(1).map((line, i) => ({ before: inside[i], after: line, gap: line.at - inside[i].at }));
    gaps.sort((a, b) => b.gap - a.gap);
    const top = gaps.slice(0, CONSOLE_GAPS_SHOWN).filter((g) => g.gap > 0);
    if (top.length === 0 || share(top[0].gap, window) < CONSOLE_GAP_MIN_SHARE || top[0].gap < CONSOLE_GAP_MIN_NS) return null;
    const lines = [
      `kernel phase ${ms(kernel.duration)}, ${pct(kernelShare)} of the ${ms(run.total)} boot; ${ms(window)} of it from ${banner ? 'the kernel banner' : 'the phase start'} to init`,
      ...top.map((g) => `${ms(g.gap)} (${pct(share(g.gap, window))}) with no console output between ${quote(g.before)} and ${quote(g.after)}`),
    ];
    return {
      severity: severityFor(share(top[0].gap, run.total)),
      title: 'The kernel phase dominates; its longest console silences show where',
      evidence: {
        lines,
        data: {
          phase: 'kernel',
          duration_ns: kernel.duration,
          share: kernelShare,
          total_ns: run.total,
          window_ns: window,
          gaps_ns: top.map((g) => g.gap),
          gap_before_lines: top.map((g) => g.before.text),
          gap_after_lines: top.map((g) => g.after.text),
        },
      },
      why: 'Console lines are stamped when they reach the host, and once the kernel\'s console is registered its lines reach the host as they are printed: a long silence is kernel work between the line before it and the line after it.',
      source: 'fixtures/README.md (how console lines are timestamped)',
      fix: {
        text: 'Add initcall_debug to the kernel command line to time each initcall and find the slow one; disable or build out the driver or subsystem it belongs to.',
        flags: ['initcall_debug'],
      },
      impact_ns: top[0].gap,
    };
  },
};

const TSC_TROUBLE = /Marking TSC unstable|Fast TSC calibration failed|Unable to calibrate against PIT|No reference \(HPET\/PMTIMER\) available/;

const tscCalibration: Rule = {
  id: 'tsc-calibration',
  category: 'boot',
  summary: 'TSC calibration failed or the delay loop was calibrated by measurement (console lines)',
  scope: 'run',
  check(run) {
    const trouble = run.console.filter((l) => TSC_TROUBLE.test(l.text));
    const measuredDelay = run.console.find((l) => /Calibrating delay loop\.\.\./.test(l.text) && !/\(skipped\)/.test(l.text));
    if (trouble.length === 0 && !measuredDelay) return null;
    const unstable = trouble.find((l) => /Marking TSC unstable/.test(l.text));
    const user = phaseOf(run, 'user');
    const lastLine = run.console[run.console.length - 1];
    // The hang fixtures/README.md describes: calibration failed and the boot never reached init.
    const hung = !user && lastLine !== undefined && trouble.some((l) => l.at >= lastLine.at - 1e9 || l === lastLine);
    const detected = run.console.map((l) => /tsc: Detected ([\d.]+) MHz/.exec(l.text)?.[1]).find((v) => v !== undefined);
    const lpj = run.console.map((l) => /\blpj=(\d+)/.exec(l.text)?.[1]).find((v) => v !== undefined);
    const fallback = run.console.find((l) => /using (HPET|PMTIMER) reference calibration/.test(l.text));
    const lines = [...trouble, ...(measuredDelay ? [measuredDelay] : [])].sort((a, b) => a.at - b.at).map((l) => quote(l));
    if (fallback) lines.push(`recovered: ${quote(fallback)}`);
    if (hung) lines.push(`no user phase: the console ends with ${quote(lastLine)} and the run ended ${ms(run.total - lastLine.at)} later`);
    else if (user) lines.push(`the boot reached init at ${ms(user.start)}`);
    const khz = detected !== undefined ? Math.round(Number(detected) * 1000) : undefined;
    if (khz !== undefined || lpj !== undefined)
      lines.push(`this run measured${khz !== undefined ? ` the TSC at ${khz} kHz` : ''}${khz !== undefined && lpj !== undefined ? ' and' : ''}${lpj !== undefined ? ` lpj=${lpj}` : ''}`);
    const flags = [`tsc_early_khz=${khz ?? 'KHZ'}`, `lpj=${lpj ?? 'N'}`];
    // Under TCG a QEMU profile can pass the rate (tuning-profiles/qemu-microvm-min.yaml, tcg-tsc-khz).
    const cmd = qemuCommand(run);
    const tcgQemu = cmd !== undefined && (/\btcg\b/i.test(run.trace.meta.hypervisor ?? '') || (cmd.accels.length > 0 && cmd.accels.every((a) => a === 'tcg')));
    return {
      severity: unstable || hung ? 'warn' : 'info',
      title: hung ? 'TSC calibration failed and the boot never reached init' : 'The guest kernel had trouble calibrating the TSC',
      evidence: {
        lines,
        data: {
          lines: trouble.map((l) => l.text),
          marked_unstable: unstable !== undefined,
          delay_loop_measured: measuredDelay !== undefined,
          reached_init: user !== undefined,
          fallback: fallback?.text ?? null,
          detected_mhz: detected !== undefined ? Number(detected) : null,
          lpj: lpj !== undefined ? Number(lpj) : null,
        },
      },
      why:
        'The kernel calibrates the TSC against the PIT in a short window; a descheduled vCPU thread (TCG, loaded host) makes it fail. pc falls back to its HPET or ACPI PM timer; microvm has neither (and with pit=off no PIT either), so the kernel marks the TSC unstable and calibrate_delay() waits for timer ticks that do not come: the boot hangs.',
      source: 'fixtures/README.md (microvm under TCG on a loaded host: `notsc lpj=…` boots through); Linux Documentation/admin-guide/kernel-parameters.txt (lpj=, tsc_early_khz= since 5.8)',
      fix: {
        text:
          'Tell the kernel the TSC rate so it skips calibration: tsc_early_khz= (Linux 5.8+; under TCG the guest TSC ticks at the host\'s rate, so the host\'s TSC kHz' +
          (khz !== undefined ? ', which this run measured as shown' : ', or what a successful boot\'s "tsc: Detected … MHz" line says') +
          '; the delay loop is then derived from it), or lpj= alone, which skips only calibrate_delay(). On KVM the rate comes from the hypervisor (kvmclock).' +
          (tcgQemu ? ' Profile qemu-microvm-min does this under TCG (its tcg-tsc-khz knob passes the host\'s TSC rate as tsc_early_khz=).' : ''),
        ...(tcgQemu ? { profile: 'qemu-microvm-min' } : {}),
        flags,
      },
      impact_ns: hung ? run.total : 0,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Xen toolstack and networking (process spans from the exec probe set)

function processSpans(trace: Trace): Span[] {
  const processLanes = new Set(trace.lanes.filter((l) => l.kind === 'process').map((l) => l.id));
  return trace.spans.filter((s) => processLanes.has(s.lane) && typeof s.args?.pid === 'number');
}

/** Total time covered by a set of intervals (overlaps counted once). */
export function unionDuration(intervals: { start: number; end: number }[]): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  let total = 0;
  let curStart = -Infinity;
  let curEnd = -Infinity;
  for (const i of sorted) {
    if (i.start > curEnd) {
      if (curEnd > curStart) total += curEnd - curStart;
      curStart = i.start;
      curEnd = i.end;
    } else curEnd = Math.max(curEnd, i.end);
  }
  if (curEnd > curStart) total += curEnd - curStart;
  return total;
}

/**
 * A hotplug script run: an exec of a file under .../xen/scripts/ (bpftrace exec probes; the
 * script's forked subshells have no file: they are its children), or a span on the `hotplug`
 * lane of `hvscope lab xen run` traces (dom0 ftrace; src/lab/xen/experiment.ts).
 */
const HOTPLUG_SCRIPT = (s: Span) =>
  typeof s.args?.file === 'string' ? /\/xen\/scripts\/[^/]+$/.test(s.args.file) : s.lane === 'hotplug';
const FIREWALL_TOOL = /^(iptables|ip6tables|arptables|ebtables)(-legacy|-nft|-restore|-save)?$/;

/** Intervals cut to a window (those outside it dropped). */
function clip(intervals: { start: number; end: number }[], from: number, to: number): { start: number; end: number }[] {
  return intervals.map((i) => ({ start: Math.max(i.start, from), end: Math.min(i.end, to) })).filter((i) => i.end > i.start);
}

/** "vif-bridge online" from a script's argv ("/bin/bash /etc/xen/scripts/vif-bridge online type_if=vif"). */
function scriptAction(s: Span): string {
  const argv = typeof s.args?.argv === 'string' ? s.args.argv.split(' ') : [];
  const at = argv.findIndex((w) => w.endsWith(`/${s.name}`));
  const action = at >= 0 ? argv[at + 1] : undefined;
  if (action && /^[a-z]+$/.test(action)) return `${s.name} ${action}`;
  return typeof s.args?.when === 'string' ? `${s.name} (${s.args.when})` : s.name;
}

/** A script run that takes a device down (argv action offline/remove, or the lab's when=teardown): not creation work. */
const TEARDOWN = (s: Span) => s.args?.when === 'teardown' || /^\S+ (offline|remove)$/.test(scriptAction(s));

const xenHotplug: Rule = {
  id: 'xen-hotplug-scripts',
  category: 'boot',
  summary: `Xen hotplug scripts (vif-bridge …) busy ≥ ${pct(HOTPLUG_MIN_SHARE_OF_DEVICES)} of the devices phase (≥ ${pct(HOTPLUG_MIN_SHARE_OF_TOTAL)} of the boot without one)`,
  scope: 'run',
  check(run) {
    const procs = processSpans(run.trace);
    const scripts = procs.filter(HOTPLUG_SCRIPT);
    if (scripts.length === 0) return null;
    // Children of the scripts, through args.ppid (the exec probe set records fork parents).
    const scriptPids = new Set(scripts.map((s) => s.args!.pid as number));
    const descendants: Span[] = [];
    let grew = true;
    while (grew) {
      grew = false;
      for (const s of procs) {
        const pid = s.args!.pid as number;
        if (!scriptPids.has(pid) && typeof s.args?.ppid === 'number' && scriptPids.has(s.args.ppid)) {
          scriptPids.add(pid);
          descendants.push(s);
          grew = true;
        }
      }
    }
    // Only the time inside the window counts: a script can outlive it (vif-bridge offline when the domain is destroyed).
    const devices = phaseOf(run, 'devices');
    const window = devices ?? (run.phases.length > 0 ? { start: Math.min(...run.phases.map((p) => p.start)), end: Math.max(...run.phases.map((p) => p.end)) } : undefined);
    const windowNs = devices ? devices.duration : run.total;
    const creating = scripts.filter((s) => !TEARDOWN(s));
    const busy = window ? unionDuration(clip(creating, window.start, window.end)) : unionDuration(creating);
    const fraction = share(busy, windowNs);
    if (fraction < (devices ? HOTPLUG_MIN_SHARE_OF_DEVICES : HOTPLUG_MIN_SHARE_OF_TOTAL)) return null;
    const inWindow = window ? creating.filter((s) => s.end > window.start && s.start < window.end) : creating;
    const outside = scripts.filter((s) => !inWindow.includes(s));
    const firewall = descendants.filter((s) => FIREWALL_TOOL.test(s.name));
    const names = [...new Set(scripts.map((s) => s.name))];
    const lines = [
      `hotplug scripts busy for ${ms(busy)}, ${pct(fraction)} of the ${devices ? `devices phase (${ms(devices.duration)})` : `${ms(run.total)} boot (no devices phase in this trace)`}`,
      ...inWindow.map((s) => `${scriptAction(s)}: ${ms(s.start)} → ${ms(s.end)} (${ms(s.end - s.start)})`),
    ];
    if (outside.length > 0) lines.push(`not counted (teardown, or outside the ${devices ? 'devices phase' : 'boot'}): ${outside.map((s) => `${scriptAction(s)} at ${ms(s.start)}`).join(', ')}`);
    const childExecs = inWindow.reduce((n, s) => n + (typeof s.args?.child_execs === 'number' ? s.args.child_execs : 0), 0);
    if (descendants.length === 0 && childExecs > 0) lines.push(`${childExecs} programs exec'd by the scripts`);
    if (descendants.length > 0)
      lines.push(
        `${descendants.length} child process${descendants.length === 1 ? '' : 'es'} of the scripts${firewall.length > 0 ? `, ${firewall.length} of them ${[...new Set(firewall.map((s) => s.name))].join('/')} (${ms(unionDuration(firewall))})` : ''}`,
      );
    const allFast = inWindow.every((s) => s.name === 'vif-bridge-fast');
    return {
      // Already the fast script: still worth knowing, but no shipped profile goes further.
      severity: allFast ? 'info' : 'warn',
      title: allFast ? 'The fast vif hotplug script still takes most of the device set-up' : 'Xen hotplug scripts take most of the device set-up',
      evidence: {
        lines,
        data: {
          scripts: names,
          script_runs: inWindow.map(scriptAction),
          duration_ns: busy,
          share: fraction,
          of: devices ? 'devices' : 'total',
          children: descendants.length,
          child_execs: childExecs,
          firewall_children: firewall.length,
          firewall_ns: unionDuration(firewall),
        },
      },
      why:
        "Xen's vif-bridge is a bash script that sources helper libraries and reads XenStore through forked tools; upstream it also runs handle_iptable under a global claim_lock \"iptables\" (Debian's package disables that part). jitsu's fast-vif-bridge only does ip link + bridge attach, and LightVM replaced the scripts with a C daemon (xendevd).",
      source: 'docs/references.md#xen-hotplug; docs/references.md#lightvm',
      fix: allFast
        ? {
            text: 'The scripts are already hvscope\'s vif-bridge-fast (one ip link call); what remains is starting a script per vif from xl. LightVM\'s xendevd (a C daemon on udev events) or pre-created vifs take that off the creation path too.',
          }
        : { text: 'Attach vifs with the fast script (ip link set dev VIF master BRIDGE up): profile xen-fast-hotplug.', profile: 'xen-fast-hotplug', flags: ['vif.default.script="vif-bridge-fast"'] },
      impact_ns: busy,
    };
  },
};

/** XenStore requests as the xen probe set records them: spans named xs_<op> (libxenstore entry → return). */
const XS_REQUEST = /^xs_[a-z_]+$/;
const XS_TOOL = /^xenstore-[a-z]+$/;

/** Domain creations in the trace: libxl_domain_create_new calls (xen probes), else `xl create` processes. */
function xenCreations(trace: Trace): number {
  const libxl = trace.spans.filter((s) => s.name === 'libxl_domain_create_new').length;
  if (libxl > 0) return libxl;
  return processSpans(trace).filter((s) => s.name === 'xl' && typeof s.args?.argv === 'string' && /\bcreate\b/.test(s.args.argv)).length;
}

const xenstoreOperations: Rule = {
  id: 'xenstore-operations',
  category: 'boot',
  summary: `XenStore requests (xs_* spans of the xen probes, xenstore-* tool runs) busy ≥ ${pct(XENSTORE_MIN_SHARE)} of the boot`,
  scope: 'run',
  check(run) {
    // Only the boot's window counts (teardown after the guest is up is not on the creation path).
    const from = run.phases.length > 0 ? Math.min(...run.phases.map((p) => p.start)) : -Infinity;
    const to = run.phases.length > 0 ? Math.max(...run.phases.map((p) => p.end)) : Infinity;
    const inBoot = (s: Span) => s.start < to && s.end >= from;
    const requests = run.trace.spans.filter((s) => XS_REQUEST.test(s.name) && inBoot(s));
    const tools = processSpans(run.trace).filter((s) => XS_TOOL.test(s.name) && inBoot(s));
    if (requests.length === 0 && tools.length === 0) return null;
    // A xenstore-* tool's own requests are xs_* spans too when the probes saw them: time counted once.
    const union = unionDuration(clip([...requests, ...tools], from, to));
    const fraction = share(union, run.total);
    if (fraction < XENSTORE_MIN_SHARE) return null;
    const creations = xenCreations(run.trace);
    const byOp = new Map<string, number>();
    for (const s of requests) byOp.set(s.name, (byOp.get(s.name) ?? 0) + 1);
    const byTool = new Map<string, number>();
    for (const s of tools) byTool.set(s.name, (byTool.get(s.name) ?? 0) + 1);
    const lines = [`XenStore busy for ${ms(union)}, ${pct(fraction)} of the ${ms(run.total)} boot`];
    if (requests.length > 0) lines.push(`${requests.length} requests: ${[...byOp].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ×${c}`).join(', ')}`);
    if (tools.length > 0) lines.push(`${tools.length} XenStore tool runs (fork + exec each): ${[...byTool].map(([n, c]) => `${n} ×${c}`).join(', ')}`);
    if (creations > 0 && requests.length > 0) lines.push(`${creations} domain creation${creations === 1 ? '' : 's'}: ${(requests.length / creations).toFixed(1)} requests per creation`);
    return {
      severity: severityFor(fraction),
      title: 'XenStore requests take a large share of domain creation',
      evidence: {
        lines,
        data: { requests: requests.length, tool_runs: tools.length, duration_ns: union, share: fraction, total_ns: run.total, creations },
      },
      why:
        'LightVM found that, once the guest is small, XenStore interaction and device creation dominate Xen domain creation, and that stock Xen slows as more domains run; every request is a round trip to xenstored, and each xenstore-* tool run (from the bash hotplug scripts) adds a fork and exec.',
      source: 'docs/references.md#lightvm',
      fix: {
        text: "Take the bash hotplug scripts (the xenstore-* callers) off the creation path with the fast vif script, and keep the domain description minimal (fewer devices, fewer XenStore entries); LightVM's noxs removes XenStore from creation altogether.",
        profile: 'xen-fast-hotplug',
      },
      impact_ns: union,
    };
  },
};

/** dom0's balloon target in XenStore: written by libxl_set_memory_target(0) when xl balloons dom0 down (autoballoon). */
const DOM0_MEMORY_TARGET = /^\/local\/domain\/0\/memory\/target$/;

const xenAutoballoon: Rule = {
  id: 'xen-autoballoon',
  category: 'boot',
  summary: 'xl ballooned dom0 down before creating the domain (XenStore write of /local/domain/0/memory/target)',
  scope: 'run',
  check(run) {
    const writes = run.trace.spans.filter((s) => s.name === 'xs_write' && typeof s.args?.path === 'string' && DOM0_MEMORY_TARGET.test(s.args.path));
    if (writes.length === 0) return null;
    const first = writes[0];
    // xl frees memory before it asks libxl to create the domain: the wait ends at the create call.
    const create = run.trace.spans.filter((s) => s.name === 'libxl_domain_create_new' && s.start >= first.start).sort((a, b) => a.start - b.start)[0];
    const waited = create ? create.start - first.start : undefined;
    const lines = [`${writes.length} write${writes.length === 1 ? '' : 's'} of dom0's memory target (${String(first.args!.path)}), the first at ${ms(first.start)}`];
    if (waited !== undefined) lines.push(`${ms(waited)} from that write to libxl_domain_create_new (${pct(share(waited, run.total))} of the ${ms(run.total)} boot)`);
    return {
      severity: waited !== undefined ? severityFor(share(waited, run.total)) : 'info',
      title: 'dom0 was ballooned down to make room for the new domain (autoballoon)',
      evidence: { lines, data: { writes: writes.length, first_write_ns: first.start, wait_ns: waited ?? null, total_ns: run.total } },
      why: 'With autoballoon on (or auto with dom0 owning all memory), xl shrinks dom0 and waits for the memory to be freed before every creation; a dom0 sized at boot (dom0_mem=) leaves free memory there up front.',
      source: 'xl.conf(5) autoballoon, docs/references.md#xl-conf; tuning-profiles/xen-unikernel.yaml',
      fix: { text: 'Give dom0 a fixed size on the Xen command line and turn autoballoon off (profile xen-unikernel).', profile: 'xen-unikernel', flags: ['autoballoon="off"', 'dom0_mem=SIZE,max:SIZE'] },
      impact_ns: waited ?? 0,
    };
  },
};

const bridgeForwardDelay: Rule = {
  id: 'bridge-forward-delay',
  category: 'boot',
  summary: `a silence ≥ ${ms(BRIDGE_SILENCE_MIN_NS)} right after a bridge port attach (forward_delay ${ms(BRIDGE_FORWARD_DELAY_NS)}, 2× with STP)`,
  scope: 'run',
  check(run) {
    const attaches = run.trace.instants.filter((i) => /^bridge attach\b/.test(i.name));
    if (attaches.length === 0) return null;
    const times: { at: number; what: string }[] = [];
    const phaseLanes = new Set(run.trace.lanes.filter((l) => l.kind === 'phases').map((l) => l.id));
    for (const i of run.trace.instants) if (!phaseLanes.has(i.lane)) times.push({ at: i.at, what: `"${i.name}"` });
    for (const s of run.trace.spans) {
      if (phaseLanes.has(s.lane)) continue;
      times.push({ at: s.start, what: `start of ${s.name}` }, { at: s.end, what: `end of ${s.name}` });
    }
    times.sort((a, b) => a.at - b.at);
    let best: { attach: Instant; gap: number; after: { at: number; what: string } } | undefined;
    for (const attach of attaches) {
      // The largest silence that starts at the attach or at an event within one forward delay of it.
      const horizon = attach.at + 2 * BRIDGE_FORWARD_DELAY_NS + 5e9;
      const window = times.filter((t) => t.at >= attach.at && t.at <= horizon);
      for (let k = 0; k < window.length; k++) {
        const next = times.find((t) => t.at > window[k].at);
        if (!next || window[k].at - attach.at > BRIDGE_FORWARD_DELAY_NS) continue;
        const gap = next.at - window[k].at;
        if (!best || gap > best.gap) best = { attach, gap, after: next };
      }
    }
    if (!best || best.gap < BRIDGE_SILENCE_MIN_NS) return null;
    const multiple = best.gap / BRIDGE_FORWARD_DELAY_NS;
    return {
      severity: 'warn',
      title: 'A new bridge port waited out the bridge\'s forward delay',
      evidence: {
        lines: [
          `"${best.attach.name}" at ${ms(best.attach.at)}`,
          `then nothing for ${ms(best.gap)} (≈ ${multiple.toFixed(2)} × the default 15 s forward_delay) until ${best.after.what} at ${ms(best.after.at)}`,
        ],
        data: { attach: best.attach.name, attach_ns: best.attach.at, silence_ns: best.gap, forward_delay_multiple: multiple },
      },
      why: 'A port added to a Linux bridge forwards only after forward_delay in learning (and listening, with STP on: 2 × 15 s by default); until then the guest\'s first packets go nowhere.',
      source: 'docs/references.md#linux-bridge; tuning-profiles/bridge-fast.yaml',
      fix: { text: 'Turn STP off and set forward_delay to 0 on the VM bridge (profile bridge-fast).', profile: 'bridge-fast', flags: ['ip link set dev BRIDGE type bridge stp_state 0 forward_delay 0'] },
      impact_ns: best.gap,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Several runs

const runsSpread: Rule = {
  id: 'runs-spread',
  category: 'boot',
  summary: `several runs (≥ ${SPREAD_MIN_RUNS}): a phase or the total with p90/median > ${SPREAD_RATIO}`,
  scope: 'runs',
  check(runs) {
    if (runs.length < SPREAD_MIN_RUNS) return null;
    const series: { what: string; values: { label: string; ns: number }[] }[] = [
      ...PHASES.map((phase) => ({
        what: phase as string,
        values: runs.flatMap((r) => r.phases.filter((p) => p.phase === phase).map((p) => ({ label: r.label, ns: p.duration }))),
      })),
      { what: 'total', values: runs.map((r) => ({ label: r.label, ns: r.total })) },
    ];
    const noisy = series
      .filter((s) => s.values.length >= SPREAD_MIN_RUNS)
      .map((s) => {
        const sum = summarize(s.values.map((v) => v.ns));
        const slowest = s.values.reduce((a, b) => (b.ns > a.ns ? b : a));
        return { ...s, sum, ratio: sum.median > 0 ? sum.p90 / sum.median : Infinity, slowest };
      })
      .filter((s) => s.ratio > SPREAD_RATIO);
    if (noisy.length === 0) return null;
    const totalNoisy = noisy.some((s) => s.what === 'total');
    return {
      severity: totalNoisy ? 'warn' : 'info',
      title: totalNoisy ? 'Boot times vary widely between runs: the host is noisy' : 'Some phases vary widely between runs',
      evidence: {
        lines: noisy.map(
          (s) =>
            `${s.what}: median ${ms(s.sum.median)}, p90 ${ms(s.sum.p90)} (p90/median ${s.ratio.toFixed(2)} > ${SPREAD_RATIO}), max ${ms(s.sum.max)} in ${s.slowest.label}, n = ${s.sum.n}`,
        ),
        data: Object.fromEntries(
          noisy.flatMap((s) => [
            [`${s.what}_median_ns`, Math.round(s.sum.median)],
            [`${s.what}_p90_ns`, Math.round(s.sum.p90)],
            [`${s.what}_ratio`, s.ratio],
            [`${s.what}_n`, s.sum.n],
          ]),
        ),
      },
      why: `With p90 more than ${SPREAD_RATIO}× the median, one run's number says little and differences between configurations can drown in the noise; on a shared host other jobs deschedule QEMU's threads (percentiles: linear interpolation, as hvscope report).`,
      source: 'fixtures/README.md (TCG times vary with host load)',
      fix: {
        text: 'Quiet the host (stop other load), pin QEMU to an idle CPU, run more boots and compare medians rather than single runs.',
        flags: ['taskset -c CPU qemu-system-x86_64 …', 'hvscope boot --runs 10'],
      },
      impact_ns: Math.max(...noisy.map((s) => s.sum.p90 - s.sum.median)),
    };
  },
};

const phaseInSomeRuns: Rule = {
  id: 'phase-missing-in-some-runs',
  category: 'trace-quality',
  summary: 'several runs: a phase present in some runs only',
  scope: 'runs',
  check(runs) {
    if (runs.length < 2) return null;
    const partial = PHASES.map((phase) => ({
      phase,
      have: runs.filter((r) => phaseOf(r, phase)).map((r) => r.label),
      lack: runs.filter((r) => !phaseOf(r, phase)).map((r) => r.label),
    })).filter((p) => p.have.length > 0 && p.lack.length > 0);
    if (partial.length === 0) return null;
    return {
      severity: 'warn',
      title: 'A phase is present in some runs only',
      evidence: {
        lines: partial.map((p) => `${p.phase}: in ${p.have.length} of ${runs.length} runs; missing in ${p.lack.join(', ')}`),
        data: Object.fromEntries(partial.map((p) => [`${p.phase}_missing_in`, p.lack])),
      },
      why: 'A phase starts at a marker (a port write or console line); a run without it lost the marker (lost events, different console settings) or ended before it (hang, timeout), so its statistics cover fewer runs and the runs do not compare like for like.',
      fix: { text: 'Look at those runs\' console lines and meta (hvscope render RUN --format text) before comparing them with the others.' },
      impact_ns: 0,
    };
  },
};

/** Every rule, in the order their findings are listed when nothing else orders them. */
export const RULES: readonly Rule[] = [
  lostEvents,
  probesUnavailable,
  phaseInSomeRuns,
  acceleratorTcg,
  toolstackDominates,
  firmwareSeabios,
  kernelDecompression,
  kernelConsoleGaps,
  tscCalibration,
  xenHotplug,
  xenstoreOperations,
  xenAutoballoon,
  bridgeForwardDelay,
  runsSpread,
  ...LIBVIRT_RULES,
];

/**
 * Runs grouped by configuration, in first-seen order: meta.profile, meta.hypervisor, and for
 * `hvscope lab xen run --domains K` traces how many domains were already running (the
 * `xl create` span's running_domains: scaling runs differ by design).
 */
export function configGroups(runs: RunFacts[]): { name: string; runs: RunFacts[] }[] {
  const groups = new Map<string, { name: string; runs: RunFacts[] }>();
  for (const run of runs) {
    const { profile, hypervisor } = run.trace.meta;
    const running = run.trace.spans.find((s) => s.name === 'xl create' && typeof s.args?.running_domains === 'number')?.args?.running_domains;
    const key = `${profile ?? ''}\0${hypervisor ?? ''}\0${running ?? ''}`;
    const name = [
      profile !== undefined ? `profile ${profile}` : 'no profile',
      hypervisor !== undefined ? `on ${hypervisor}` : '',
      running !== undefined ? `with ${running} domains running` : '',
    ]
      .filter(Boolean)
      .join(' ');
    const g = groups.get(key);
    if (g) g.runs.push(run);
    else groups.set(key, { name, runs: [run] });
  }
  return [...groups.values()];
}

/**
 * Runs every rule: per-run rules on each run (findings of one rule with the same fix are
 * merged into one finding with evidence per run), across-run rules once per configuration. Ordered: warnings first;
 * within a severity, trace-quality findings first, then by boot time at stake, then rule order.
 */
export function diagnose(runs: Run[], rules: readonly Rule[] = RULES): Finding[] {
  const facts = runs.map(runFacts);
  const groups = configGroups(facts);
  const findings: (Finding & { order: number })[] = [];
  rules.forEach((rule, order) => {
    // One finding per rule and fix: runs whose evidence calls for the same fix share it, each with its own evidence.
    const merged = new Map<string, Finding & { order: number }>();
    const add = (f: RuleFinding, labels: string[], evidence: Evidence) => {
      const key = `${f.fix.profile ?? ''}\0${f.fix.text}`;
      const m = merged.get(key);
      if (!m) {
        merged.set(key, { ...f, id: rule.id, category: rule.category, runs: [...labels], evidence: [evidence], order });
        return;
      }
      m.runs.push(...labels);
      m.evidence.push(evidence);
      if (f.severity === 'warn') m.severity = 'warn';
      if (f.impact_ns > m.impact_ns) m.impact_ns = f.impact_ns;
    };
    if (rule.scope === 'runs') {
      // Across runs only within one configuration: runs of different profiles differ by design, not by noise.
      for (const g of groups) {
        const f = rule.check(g.runs);
        if (f) add(f, g.runs.map((r) => r.label), { run: null, ...(groups.length > 1 ? { group: g.name } : {}), ...f.evidence });
      }
    } else {
      for (const run of facts) {
        const f = rule.check(run);
        if (f) add(f, [run.label], { run: run.label, ...f.evidence });
      }
    }
    findings.push(...merged.values());
  });
  // A fix whose profile the runs were already made with says so (meta.profile, e.g. from hvscope boot / lab xen run).
  for (const f of findings) {
    if (!f.fix.profile) continue;
    const profiles = f.runs.map((label) => facts.find((r) => r.label === label)?.trace.meta.profile);
    if (profiles.every((p) => p === f.fix.profile)) f.fix = { ...f.fix, text: `${f.fix.text} Note: ${f.runs.length === 1 ? 'this run was' : 'these runs were'} already made with profile ${f.fix.profile}.` };
  }
  const rank = (f: Finding) => (f.severity === 'warn' ? 0 : 1);
  findings.sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.category === b.category ? 0 : a.category === 'trace-quality' ? -1 : 1) ||
      b.impact_ns - a.impact_ns ||
      a.order - b.order,
  );
  // Fixed key order, so --json reads id first.
  return findings.map((f) => ({
    id: f.id,
    severity: f.severity,
    category: f.category,
    title: f.title,
    runs: f.runs,
    evidence: f.evidence,
    why: f.why,
    ...(f.source !== undefined ? { source: f.source } : {}),
    fix: f.fix,
    impact_ns: f.impact_ns,
  }));
}

/** Human text: one block per finding, most important first; says so plainly when nothing fired. */
export function formatDiagnosisText(findings: Finding[], runLabels: string[], rules: readonly Rule[] = RULES): string {
  const runsText = `${runLabels.length} run${runLabels.length === 1 ? '' : 's'} (${runLabels.join(', ')})`;
  if (findings.length === 0)
    return `no findings: none of the ${rules.length} rules matched ${runsText}.\nRules checked: ${rules.map((r) => r.id).join(', ')}\n`;
  const out: string[] = [`${findings.length} finding${findings.length === 1 ? '' : 's'} for ${runsText}`];
  const indent = (label: string, text: string) => {
    const pad = ' '.repeat(12);
    return `  ${label.padEnd(10)}${text.split('\n').join(`\n${pad}`)}`;
  };
  for (const f of findings) {
    out.push('');
    out.push(`[${f.severity}] ${f.id}: ${f.title}`);
    for (const e of f.evidence) {
      const prefix = e.run !== null && runLabels.length > 1 ? `${e.run}: ` : e.group !== undefined ? `${e.group}: ` : '';
      e.lines.forEach((line, i) => out.push(indent(i === 0 && e === f.evidence[0] ? 'evidence' : '', `${i === 0 ? prefix : ' '.repeat(prefix.length)}${line}`)));
    }
    out.push(indent('why', f.why));
    if (f.source) out.push(indent('source', f.source));
    const fixParts = [f.fix.text];
    if (f.fix.profile) fixParts.push(`profile: ${f.fix.profile} (hvscope profile show ${f.fix.profile})`);
    if (f.fix.flags && f.fix.flags.length > 0) fixParts.push(`flags: ${f.fix.flags.join('  ')}`);
    out.push(indent('fix', fixParts.join('\n')));
  }
  return out.join('\n') + '\n';
}
