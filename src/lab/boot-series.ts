// A series of boots (`hvscope boot`): plans per profile, bpftrace or rootless, the runs
// alternating between profiles, each run's trace written, then per profile the timeline
// and report, and the diffs between profiles (boot-outputs.ts).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { phaseSummaryText } from '../analysis/phases.js';
import { buildReport, type Report } from '../analysis/report.js';
import { writeRendered } from '../render/index.js';
import { UserError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import type { Trace, Unavailable } from '../model/trace.js';
import { readyVocabulary, type ReadyRule } from '../model/ready-rule.js';
import { mergeTraces, onClock } from '../sources/merge.js';
import { importQemuLog } from '../sources/qemu-log.js';
import { recordRootless } from './boot-rootless.js';
import { requireAccel } from '../tracer/accel-probe.js';
import { traceCommand, tracingBlocker } from '../tracer/session.js';
import { bootsThroughPvh } from '../tuning/targets/qemu.js';
import { allTargets } from '../tuning/targets/index.js';
import { loadProfile } from '../tuning/profile.js';
import { pvhKernelFor } from './pvh-kernel.js';
import { realtimeMinusMonotonicUs } from './qemu-record.js';
import { profileDirNames, writeBootReports } from './boot-outputs.js';
import type { ProfileDiffs } from './profile-diffs.js';
import { ACCELS, BOOT_PROBE_SETS, MACHINES, bootCommandLine, defaultAccel, qemuLogArgs, resolveGuest, type Accel, type Guest, type Machine } from './boot.js';

export type BootMode = 'auto' | 'traced' | 'rootless';

export interface BootOptions {
  guest: string;
  initrd?: string;
  /** One profile (the same as `profiles: [profile]`). */
  profile?: string;
  /**
   * Several profiles: boots alternate between them run by run (run 1 of each, then run 2 …),
   * so host load drifts alike over all; each profile's runs go to DIR/<profile>/, and the
   * first profile is diffed against each other one. A profile may be given twice (an A/A
   * test of the noise): its second set goes to DIR/<profile>-2/.
   */
  profiles?: string[];
  machine?: Machine;
  accel?: Accel;
  runs: number;
  outDir: string;
  /** auto: traced when the host allows it, else rootless (said once). */
  mode?: BootMode;
  /** Per-boot limit (ms, default 120 s): QEMU is ended after it. */
  timeoutMs?: number;
  /** The user's readiness rule (--ready): ends the last phase instead of the built-in ready markers. */
  ready?: ReadyRule;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface BootRunResult {
  label: string;
  file: string;
  exitCode: number;
  trace: Trace;
  partial: boolean;
  /** The profile's directory name (several profiles), else undefined. */
  group?: string;
}

export interface BootGroup {
  /** The profile as given; undefined: QEMU's defaults. */
  profile?: string;
  /** Where its runs are: the output directory itself with one profile, DIR/<dir> with several. */
  dir: string;
  command: string[];
  runs: BootRunResult[];
  report: Report;
  svg?: string;
}

export interface BootResult {
  /** All runs in the order they were made. */
  runs: BootRunResult[];
  /** One per profile, in the order given (one when no or one profile). */
  groups: BootGroup[];
  traced: boolean;
  /** Why tracing was not used (rootless runs), once. */
  unavailable: Unavailable[];
  /** The first profile's command line. */
  command: string[];
  accel: Accel;
  guest: string;
  svg: string;
  reportText: string;
  reportJson: string;
  /** The report of the first profile's runs (the only one with one profile). */
  report: Report;
  /** With several profiles: the first profile diffed against each other. */
  diffs?: ProfileDiffs;
  interrupted: boolean;
}

function checkRunCount(runs: number): void {
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 1000) throw new UserError(`--runs must be an integer from 1 to 1000, got ${runs}`);
}

export interface BootPlan {
  profile?: string;
  /** Directory name under the output (several profiles). */
  group?: string;
  dir: string;
  command: string[];
}

interface OneBoot {
  trace: Trace;
  exitCode: number;
  partial: boolean;
  stderrTail: string[];
  timedOut: boolean;
  interrupted: boolean;
}

/** One boot of a plan: traced with bpftrace, or from the rootless sources. */
async function bootOnce(plan: BootPlan, label: string, accel: Accel, traced: boolean, unavailable: Unavailable[], opts: BootOptions, progress: (m: string) => void): Promise<OneBoot> {
  const logFile = join(plan.dir, `${label}.qemu.log`);
  const runCommand = [...plan.command, ...qemuLogArgs(accel, logFile, opts.ready)];
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const meta = { profile: plan.profile, host: hostname(), kernel: release() };
  const shown = plan.group ? `${plan.group}/${label}` : label;
  if (!traced) {
    const r = await recordRootless(runCommand, logFile, join(plan.dir, `${label}.serial.txt`), timeoutMs, opts.signal, opts.ready);
    Object.assign(r.trace.meta, meta, { unavailable: [...unavailable] });
    return r;
  }
  const clock = clockOffset();
  const r = await traceCommand({
    command: runCommand,
    sets: BOOT_PROBE_SETS,
    stdout: 'ignore',
    stderr: 'capture',
    timeoutMs,
    signal: opts.signal,
    inputName: `${shown} (bpftrace live)`,
    ready: opts.ready,
    onProgress: (m) => {
      if (/probes attached|unavailable|lost|--ready/.test(m)) progress(`${shown}: ${m}`);
    },
  });
  const trace = withQemuLog(r.trace, logFile, clock, opts.ready);
  Object.assign(trace.meta, meta, { hypervisor: `qemu ${accel}`, command: runCommand });
  if (r.tracerFailure) throw new UserError(`${shown}: ${r.tracerFailure}`);
  return { trace, exitCode: r.exitCode, partial: r.interrupted || r.timedOut || r.tracerFailure !== undefined, stderrTail: r.stderrTail, timedOut: r.timedOut, interrupted: r.interrupted };
}

/** The plans, one per profile: output directory and QEMU command line; the guest built, the accelerator chosen. */
async function planBoots(opts: BootOptions, progress: (m: string) => void): Promise<{ guest: Guest; accel: Accel; plans: BootPlan[] }> {
  checkRunCount(opts.runs);
  if (opts.machine !== undefined && !MACHINES.includes(opts.machine)) throw new UserError(`--machine must be one of ${MACHINES.join(', ')}, got '${opts.machine}'`);
  if (opts.accel !== undefined && !ACCELS.includes(opts.accel)) throw new UserError(`--accel must be one of ${ACCELS.join(', ')}, got '${opts.accel}'`);
  if (opts.profile !== undefined && opts.profiles !== undefined) throw new UserError('runBoots: give profile or profiles, not both');
  const profiles: (string | undefined)[] = opts.profiles ?? [opts.profile];
  if (profiles.length === 0) throw new UserError('runBoots: profiles is empty');
  // Everything the user can get wrong is checked before anything is built or booted.
  const sections = profiles.map((p) => (p !== undefined ? loadQemuSection(p) : undefined));
  // An accelerator asked for must work before the guest is built and bpftrace attached.
  if (opts.accel !== undefined) await requireAccel(opts.accel);
  const guest = await resolveGuest(opts.guest, opts.initrd, progress);
  if (sections.some(bootsThroughPvh) && guest.pvhKernel === undefined) guest.pvhKernel = await pvhKernelFor(guest.kernel, progress);
  let accel = opts.accel;
  if (accel === undefined) {
    const chosen = await defaultAccel();
    accel = chosen.accel;
    progress(`accelerator: ${accel} (${chosen.why})`);
  }
  const outDir = resolve(opts.outDir);
  const several = profiles.length > 1;
  const dirNames = several ? profileDirNames(profiles as string[]) : [undefined];
  const plans: BootPlan[] = profiles.map((profile, i) => ({
    profile,
    group: dirNames[i],
    dir: several ? join(outDir, dirNames[i]!) : outDir,
    command: bootCommandLine(guest, { machine: opts.machine, accel: accel!, profileSection: sections[i] }),
  }));
  return { guest, accel, plans };
}

/** Traced with bpftrace unless rootless was asked for, or (auto) bpftrace cannot run here: then what is unavailable. */
async function chooseTracing(mode: BootMode, progress: (m: string) => void): Promise<{ traced: boolean; unavailable: Unavailable[] }> {
  if (mode === 'rootless') return { traced: false, unavailable: [] };
  const blocker = await tracingBlocker();
  if (!blocker) return { traced: true, unavailable: [] };
  if (mode === 'traced') throw blocker;
  progress(`probes ${BOOT_PROBE_SETS.join(', ')} unavailable: ${blocker.message}; tracing from QEMU's trace log and the serial console instead`);
  return { traced: false, unavailable: [{ what: `bpftrace probes (${BOOT_PROBE_SETS.join(', ')})`, why: blocker.message }] };
}

/** The boots of a series, alternating between the plans; how it ended. */
interface Series {
  results: BootRunResult[];
  byPlan: Map<BootPlan, BootRunResult[]>;
  interrupted: boolean;
  failure?: unknown;
}

/** One boot of a plan, its trace written; throws what ends the series (timeout, a bad exit status). */
async function bootAndKeep(series: Series, plan: BootPlan, i: number, ctx: { guest: Guest; accel: Accel; traced: boolean; unavailable: Unavailable[] }, opts: BootOptions, progress: (m: string) => void): Promise<void> {
  const label = `run-${i}`;
  const shown = plan.group ? `${plan.group}/${label}` : label;
  const one = await bootOnce(plan, label, ctx.accel, ctx.traced, ctx.unavailable, opts, progress);
  if (one.interrupted) series.interrupted = true;
  const file = join(plan.dir, `${label}.hvtrace.json`);
  writeTrace(file, one.trace);
  const result: BootRunResult = { label: shown, file, exitCode: one.exitCode, trace: one.trace, partial: one.partial, ...(plan.group ? { group: plan.group } : {}) };
  series.results.push(result);
  series.byPlan.get(plan)!.push(result);
  if (series.interrupted) return progress(`${shown}: interrupted; partial trace in ${file}`);
  if (one.timedOut) throw new UserError(`${shown}: QEMU did not exit within ${(opts.timeoutMs ?? 120_000) / 1000} s and was ended; partial trace in ${file}`);
  if (!ctx.guest.okExitCodes.includes(one.exitCode)) {
    const why = one.stderrTail.slice(-2).join('; ');
    throw new UserError(`${shown}: QEMU exited with status ${one.exitCode}${why ? `: ${why}` : ''} (trace in ${file})`);
  }
  progress(`${shown}: ${phaseSummaryText(one.trace)}`);
}

async function bootSeries(plans: BootPlan[], ctx: { guest: Guest; accel: Accel; traced: boolean; unavailable: Unavailable[] }, opts: BootOptions, progress: (m: string) => void): Promise<Series> {
  const series: Series = { results: [], byPlan: new Map(plans.map((p) => [p, []])), interrupted: false };
  for (let i = 1; i <= opts.runs; i++) {
    for (const plan of plans) {
      if (opts.signal?.aborted) series.interrupted = true;
      if (series.interrupted) return series;
      try {
        await bootAndKeep(series, plan, i, ctx, opts, progress);
      } catch (err) {
        // Ctrl-C can also end a run by making a step fail (bpftrace's attach is cancelled): still an interrupt.
        if (opts.signal?.aborted) {
          series.interrupted = true;
          progress(`${plan.group ? `${plan.group}/` : ''}run-${i}: interrupted (${(err as Error).message})`);
        } else series.failure = err;
        return series;
      }
    }
  }
  return series;
}

/**
 * Boots the guest `runs` times per profile and writes DIR/run-N.hvtrace.json, DIR/timeline.svg,
 * DIR/report.txt and report.json; with several profiles, alternating, each profile's runs and
 * timeline under DIR/<profile>/, the report per profile, and the diffs (DIR/diff.txt, …).
 */
export async function runBoots(opts: BootOptions): Promise<BootResult> {
  const progress = opts.onProgress ?? (() => undefined);
  const { guest, accel, plans } = await planBoots(opts, progress);
  const outDir = resolve(opts.outDir);
  const { traced, unavailable } = await chooseTracing(opts.mode ?? 'auto', progress);
  for (const plan of plans) mkdirSync(plan.dir, { recursive: true });
  const per = plans.length > 1 ? ` per profile, alternating ${plans.map((p) => p.group).join(' / ')}` : '';
  progress(`${guest.description}: ${opts.runs} boot${opts.runs > 1 ? 's' : ''}${per}, ${traced ? 'traced with bpftrace' : 'rootless'}, output in ${outDir}`);
  for (const plan of plans) progress(`command${plan.group ? ` (${plan.group})` : ''}: ${plan.command.join(' ')}`);

  const { results, byPlan, interrupted, failure } = await bootSeries(plans, { guest, accel, traced, unavailable }, opts, progress);
  // Whatever ended the series, the runs that finished keep their timelines and reports.
  const title = (plan: BootPlan) => `hvscope boot: ${guest.name}, ${accel}${plan.profile ? `, profile ${plan.profile}` : ''}`;
  const groups: BootGroup[] = plans.map((plan) => {
    const runs = byPlan.get(plan)!;
    const group: BootGroup = { profile: plan.profile, dir: plan.dir, command: plan.command, runs, report: buildReport(runs.map((r) => ({ label: r.label, trace: r.trace }))) };
    if (runs.length > 0) {
      group.svg = join(plan.dir, 'timeline.svg');
      writeRendered(group.svg, runs.map((r) => ({ label: r.label, trace: r.trace })), 'svg', { title: title(plan) });
    }
    return group;
  });
  const outputs = writeBootReports(outDir, groups, plans);
  const partial = results.filter((r) => r.partial).length;
  const kept =
    `${results.length} run${results.length === 1 ? '' : 's'} of ${opts.runs * plans.length}${partial > 0 ? ` (${partial} partial)` : ''}` +
    (results.length > 0 ? ` kept in ${outDir} (traces, timeline.svg, report.txt, report.json)` : '');
  if (interrupted) progress(`interrupted: ${kept}`);
  if (failure !== undefined) {
    if (results.length > 0 && failure instanceof UserError) throw new UserError(`${failure.message}; ${kept}`, failure.exitCode);
    throw failure;
  }
  return { runs: results, groups, traced, unavailable, command: plans[0].command, accel, guest: guest.name, svg: groups[0].svg ?? join(outDir, 'timeline.svg'), ...outputs, report: groups[0].report, interrupted };
}

/** Loads a profile and returns its qemu section; a profile without one is a user error. */
export function loadQemuSection(profile: string): unknown {
  const loaded = loadProfile(profile, allTargets);
  const section = loaded.sections.qemu;
  if (section === undefined) throw new UserError(`profile ${profile} has no qemu section; hvscope boot needs one (e.g. qemu-default, qemu-microvm-min)`);
  return section;
}

// ---------------------------------------------------------------- clocks

/** CLOCK_REALTIME µs minus CLOCK_MONOTONIC µs (bpftrace's nsecs), sampled together. */
interface ClockOffset {
  realMinusMonoUs: number;
}

function clockOffset(): ClockOffset {
  return { realMinusMonoUs: realtimeMinusMonotonicUs() };
}

/**
 * The bpftrace trace merged with QEMU's trace log of the same boot, the log
 * moved onto bpftrace's monotonic clock: the log knows the vCPU start under
 * TCG (no KVM_RUN) and the firmware's hand-over to the kernel. Unchanged when
 * the log is missing or unreadable (the boot then still has bpftrace's evidence).
 */
export function withQemuLog(trace: Trace, logFile: string, clock: ClockOffset, ready?: ReadyRule): Trace {
  if (!existsSync(logFile) || trace.meta.t0ClockUs === undefined) return trace;
  let log: Trace;
  try {
    log = importQemuLog(readFileSync(logFile, 'utf8'), logFile, { vocabulary: readyVocabulary(ready) });
  } catch {
    return trace;
  }
  // Still a bpftrace trace (its t0, lanes and events), with the log's evidence beside them.
  return mergeTraces([trace, onClock(log, trace.meta.clock, -clock.realMinusMonoUs)], {
    source: trace.meta.source,
    recorded: [trace.meta.recorded, `QEMU trace log ${basename(logFile)} merged on the monotonic clock`].filter(Boolean).join('; '),
  });
}
