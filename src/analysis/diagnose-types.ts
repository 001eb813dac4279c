// The shapes of `hvscope diagnose`: findings with evidence and a fix, the facts each rule
// reads per run, and the rule itself (a pure function of one run or of all runs).
import type { Trace } from '../model/trace.js';
import type { PhaseExtent } from './phases.js';
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
