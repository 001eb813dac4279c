// What every diagnose rule reads: the thresholds its text states, the facts of a run
// (phases, console lines, the QEMU command line) and small formatting helpers.
import { basename } from 'node:path';
import { formatDuration } from '../model/duration.js';
import type { Phase, Run, Trace } from '../model/trace.js';
import type { ConsoleLine, QemuCommand, RunFacts, Severity } from './diagnose-types.js';
import { phaseBreakdown, totalDuration } from './phases.js';

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
export const WARN_SHARE = 0.25;

// ---------------------------------------------------------------------------------------------
// Facts every rule reads


export const QEMU_PROGRAM = /^qemu-(system-|kvm)/;

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

export const phaseOf = (run: RunFacts, phase: Phase) => run.phases.find((p) => p.phase === phase);
export const share = (part: number, whole: number) => (whole > 0 ? part / whole : 0);
export const pct = (fraction: number) => `${(fraction * 100).toFixed(1)}%`;
export const ms = (ns: number) => formatDuration(ns);
/** A console line as quoted in evidence: its time since t0 and (shortened) text. */
export const quote = (line: ConsoleLine) => `"${line.text.length > 90 ? `${line.text.slice(0, 89)}…` : line.text}" (at ${ms(line.at)})`;
export const severityFor = (fraction: number): Severity => (fraction >= WARN_SHARE ? 'warn' : 'info');

export function qemuCommand(run: RunFacts): QemuCommand | undefined {
  return run.command?.isQemu ? run.command : undefined;
}

export function sawKvm(trace: Trace): boolean {
  return trace.spans.some((s) => s.name === 'KVM_CREATE_VM') || trace.instants.some((i) => i.name === 'first KVM_RUN');
}
