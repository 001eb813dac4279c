// `hvscope boot`: builds a guest, assembles the QEMU command line (a tuning
// profile's qemu section, or QEMU's defaults), boots it N times and writes one
// trace per boot, a timeline of all runs and a report.
//
// Each boot is traced with bpftrace when the host allows it (root, bpftrace,
// tracefs); otherwise from the rootless sources: QEMU's own timestamped trace
// log (-trace/-D) and the serial console, timestamped line by line as it
// arrives. Traced boots record QEMU's trace log too and merge it in (on
// bpftrace's clock): under TCG no KVM_RUN exists, and QEMU's `runstate_set
// running` is the vCPU start the phase model uses (docs/design.md) — without it the
// firmware phase, which runs silently, would be invisible. The model derives
// the phases from the markers of both (model/derive.ts).
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { phaseSummaryText } from '../analysis/phases.js';
import { buildReport, formatReportText, type Report } from '../analysis/report.js';
import { writeRendered } from '../render/index.js';
import { UserError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import type { Run, Trace, Unavailable } from '../model/trace.js';
import { readyVocabulary, type ReadyRule } from '../model/ready-rule.js';
import { mergeTraces, onClock } from '../sources/merge.js';
import { importQemuLog } from '../sources/qemu-log.js';
import { recordRootless } from './boot-rootless.js';
import { accelWorks, requireAccel } from '../tracer/accel-probe.js';
import { traceCommand, tracingBlocker } from '../tracer/session.js';
import { bootsThroughPvh, qemuCommandLine } from '../tuning/targets/qemu.js';
import { allTargets } from '../tuning/targets/index.js';
import { loadProfile } from '../tuning/profile.js';
import { LINUX_GUEST_APPEND, defaultCacheDir, prepareLinuxGuest } from './linux-guest.js';
import { pvhKernelFor } from './pvh-kernel.js';
import { KVM_TRACE_EVENTS, QEMU_BINARY, TCG_TRACE_EVENTS, realtimeMinusMonotonicUs } from './qemu-record.js';
import { TINY_EXIT_OK_STATUS, buildTinyGuest, defaultTinyCacheDir, tinyQemuArgs } from './tiny-guest.js';
import { profileDirNames, writeBootReports } from './boot-outputs.js';
import type { ProfileDiffs } from './profile-diffs.js';

export type Machine = 'microvm' | 'pc';
export type Accel = 'kvm' | 'tcg';
export const MACHINES: readonly Machine[] = ['microvm', 'pc'];
export const ACCELS: readonly Accel[] = ['kvm', 'tcg'];

/** Probe sets a traced boot uses: QEMU and KVM events, and every helper QEMU forks. */
export const BOOT_PROBE_SETS = ['qemu', 'exec'];

export interface Guest {
  kind: 'tiny' | 'linux' | 'path';
  /** What the user named: tiny, linux or the kernel's path. */
  name: string;
  kernel: string;
  /** The kernel as an uncompressed ELF with a PVH entry note, for profiles with kernel-entry: pvh (see pvhKernelFor). */
  pvhKernel?: string;
  initrd?: string;
  append?: string;
  /** Machine used when --machine is not given (and the profile names none). */
  defaultMachine: Machine;
  /** QEMU exit statuses that mean the guest finished normally. */
  okExitCodes: number[];
  /** Guest memory (MiB) unless the profile sets it. */
  memoryMiB: number;
  description: string;
}

/** Resolves --guest (and --initrd) to files, building or fetching our own guests into the cache. */
export async function resolveGuest(spec: string, initrd?: string, onProgress: (m: string) => void = () => undefined): Promise<Guest> {
  if (initrd !== undefined && !existsSync(initrd)) throw new UserError(`--initrd ${initrd}: no such file`);
  if (spec === 'tiny') {
    if (initrd !== undefined) throw new UserError('--initrd: the tiny guest takes no initrd');
    onProgress('building the tiny guest (gcc, cached)');
    const build = await buildTinyGuest(defaultTinyCacheDir());
    return {
      kind: 'tiny',
      name: 'tiny',
      kernel: build.kernel,
      pvhKernel: build.kernel, // tiny is an ELF with a PVH note: QEMU always starts it there
      defaultMachine: 'microvm',
      okExitCodes: [TINY_EXIT_OK_STATUS],
      memoryMiB: 32,
      description: `tiny unikernel (guests/tiny, PVH entry, build ${build.sourceHash})`,
    };
  }
  if (spec === 'linux') {
    onProgress('preparing the linux guest (Debian kernel + busybox initramfs, cached)');
    const guest = await prepareLinuxGuest(defaultCacheDir());
    return {
      kind: 'linux',
      name: 'linux',
      kernel: guest.kernel,
      pvhKernel: guest.pvhKernel,
      initrd: initrd ?? guest.initrd,
      append: LINUX_GUEST_APPEND,
      // microvm + this kernel under TCG can hang in TSC calibration (fixtures/README.md)
      defaultMachine: 'pc',
      okExitCodes: [0],
      memoryMiB: 256,
      description: `linux guest (${guest.kernelPackage}, busybox initramfs)`,
    };
  }
  const path = resolve(spec);
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UserError(`unknown guest '${spec}': expected tiny, linux or the path of a kernel file`);
  }
  return {
    kind: 'path',
    name: spec,
    kernel: path,
    ...(initrd !== undefined ? { initrd: resolve(initrd) } : {}),
    append: 'console=ttyS0 panic=-1',
    defaultMachine: 'pc',
    okExitCodes: [0],
    memoryMiB: 256,
    description: `kernel ${path}${initrd ? ` with initrd ${resolve(initrd)}` : ''}`,
  };
}

export interface CommandLineOptions {
  machine?: Machine;
  accel: Accel;
  /** A profile's qemu section (validated), or undefined for QEMU's defaults. */
  profileSection?: unknown;
}

const has = (args: string[], flag: string) => args.includes(flag);

/**
 * The QEMU command line for one boot of `guest`. With a profile: its qemu
 * section rendered by the qemu target, plus only what a measured boot needs
 * (serial on stdio, -no-reboot, tiny's exit device). Without: QEMU's defaults
 * with no default devices and the console on stdio.
 */
export function bootCommandLine(guest: Guest, opts: CommandLineOptions): string[] {
  let args: string[];
  if (opts.profileSection !== undefined) {
    let section = opts.profileSection as Record<string, unknown>;
    if (opts.machine !== undefined) section = { ...section, machine: { value: opts.machine, why: 'hvscope boot --machine' } };
    args = qemuCommandLine(section, { kernel: guest.kernel, pvhKernel: guest.pvhKernel, initrd: guest.initrd, append: guest.append, accel: opts.accel });
  } else {
    const machine = opts.machine ?? guest.defaultMachine;
    args = [QEMU_BINARY, '-M', machine, '-accel', opts.accel, ...(opts.accel === 'kvm' ? ['-cpu', 'host'] : []), '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none'];
    args.push('-kernel', guest.kernel);
    if (guest.initrd) args.push('-initrd', guest.initrd);
    if (guest.append) args.push('-append', guest.append);
  }
  if (!has(args, '-m')) args.push('-m', String(guest.memoryMiB));
  // A boot run must end: a guest reboot (or panic) ends QEMU instead.
  if (!has(args, '-no-reboot')) args.push('-no-reboot');
  if (!has(args, '-serial')) args.push('-serial', 'stdio');
  if (guest.kind === 'tiny') {
    const machine = (args[args.indexOf('-M') + 1] ?? '').split(',')[0] as Machine;
    // tinyQemuArgs: the console (already set above) and the isa-debug-exit device
    const tiny = tinyQemuArgs(machine === 'pc' ? 'pc' : 'microvm');
    args.push(...tiny.slice(tiny.indexOf('-device')));
  }
  return args;
}

/**
 * QEMU's trace log of a boot: the options that record it. A `--ready pio:` rule
 * adds memory_region_ops_write: the guest's port writes (a port without a
 * device shows as region 'io' at its own address, guests/tiny/README.md).
 */
export function qemuLogArgs(accel: Accel, logFile: string, ready?: ReadyRule): string[] {
  const events = [...(accel === 'kvm' ? KVM_TRACE_EVENTS : TCG_TRACE_EVENTS), ...(ready?.kind === 'pio' ? ['memory_region_ops_write'] : [])];
  return ['-msg', 'timestamp=on', '-D', logFile, ...events.flatMap((e) => ['-trace', e])];
}

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

/** Default accelerator: KVM when a real test guest boots under it here, else TCG. */
export async function defaultAccel(): Promise<{ accel: Accel; why: string }> {
  const kvm = await accelWorks('kvm');
  return kvm.ok ? { accel: 'kvm', why: 'KVM works here' } : { accel: 'tcg', why: `KVM unusable: ${kvm.reason}` };
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

/**
 * Boots the guest `runs` times per profile and writes DIR/run-N.hvtrace.json, DIR/timeline.svg,
 * DIR/report.txt and report.json; with several profiles, alternating, each profile's runs and
 * timeline under DIR/<profile>/, the report per profile, and the diffs (DIR/diff.txt, …).
 */
export async function runBoots(opts: BootOptions): Promise<BootResult> {
  const progress = opts.onProgress ?? (() => undefined);
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

  const mode = opts.mode ?? 'auto';
  const unavailable: Unavailable[] = [];
  let traced = mode !== 'rootless';
  if (mode !== 'rootless') {
    const blocker = await tracingBlocker();
    if (blocker && mode === 'traced') throw blocker;
    if (blocker) {
      traced = false;
      unavailable.push({ what: `bpftrace probes (${BOOT_PROBE_SETS.join(', ')})`, why: blocker.message });
      progress(`probes ${BOOT_PROBE_SETS.join(', ')} unavailable: ${blocker.message}; tracing from QEMU's trace log and the serial console instead`);
    }
  }
  for (const plan of plans) mkdirSync(plan.dir, { recursive: true });
  const per = several ? ` per profile, alternating ${plans.map((p) => p.group).join(' / ')}` : '';
  progress(`${guest.description}: ${opts.runs} boot${opts.runs > 1 ? 's' : ''}${per}, ${traced ? 'traced with bpftrace' : 'rootless'}, output in ${outDir}`);
  for (const plan of plans) progress(`command${plan.group ? ` (${plan.group})` : ''}: ${plan.command.join(' ')}`);

  const results: BootRunResult[] = [];
  const byPlan = new Map<BootPlan, BootRunResult[]>(plans.map((p) => [p, []]));
  let interrupted = false;
  let failure: unknown;
  boots: for (let i = 1; i <= opts.runs; i++) {
    for (const plan of plans) {
      if (opts.signal?.aborted) {
        interrupted = true;
        break boots;
      }
      const label = `run-${i}`;
      const shown = plan.group ? `${plan.group}/${label}` : label;
      try {
        const one = await bootOnce(plan, label, accel, traced, unavailable, opts, progress);
        if (one.interrupted) interrupted = true;
        const file = join(plan.dir, `${label}.hvtrace.json`);
        writeTrace(file, one.trace);
        const result: BootRunResult = { label: shown, file, exitCode: one.exitCode, trace: one.trace, partial: one.partial, ...(plan.group ? { group: plan.group } : {}) };
        results.push(result);
        byPlan.get(plan)!.push(result);
        if (interrupted) {
          progress(`${shown}: interrupted; partial trace in ${file}`);
          break boots;
        }
        if (one.timedOut) throw new UserError(`${shown}: QEMU did not exit within ${(opts.timeoutMs ?? 120_000) / 1000} s and was ended; partial trace in ${file}`);
        if (!guest.okExitCodes.includes(one.exitCode)) {
          const why = one.stderrTail.slice(-2).join('; ');
          throw new UserError(`${shown}: QEMU exited with status ${one.exitCode}${why ? `: ${why}` : ''} (trace in ${file})`);
        }
        progress(`${shown}: ${phaseSummaryText(one.trace)}`);
      } catch (err) {
        // Ctrl-C can also end a run by making a step fail (bpftrace's attach is cancelled): still an interrupt.
        if (opts.signal?.aborted) {
          interrupted = true;
          progress(`${shown}: interrupted (${(err as Error).message})`);
        } else failure = err;
        break boots;
      }
    }
  }
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
