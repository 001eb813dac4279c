// What `tune optimize` measures, as a table: each workload kind (--workload KIND:ARG) says
// which targets it can measure, the facts its candidates' conditions may name, and how one
// run of one profile goes. Every run writes its evidence under the directory it is given
// (boots: the trace, QEMU's log, the serial console, a timeline and a report).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { runBoots } from '../../lab/boot-series.js';
import { resolveGuest } from '../../lab/boot.js';
import { UserError } from '../../model/errors.js';
import { PHASES } from '../../model/trace.js';
import { packageRoot } from '../../package-root.js';
import { reapedChildrenCpuMs } from '../../tracer/children-cpu.js';
import type { Trace } from '../../model/trace.js';
import type { Facts } from './candidates.js';
import { LIBVIRT_TARGETS, libvirtWorkload } from './libvirt-workload.js';

/** One run: the phases (ns), the time to ready and, where the run is our child, its CPU time; or why it broke. */
export type RunOutcome =
  | { ok: true; readyNs: number; phasesNs: Record<string, number>; files: string[]; cpuNs?: number }
  | { ok: false; why: string; files: string[] };

export interface RunRequest {
  /** The profile to run (a file). */
  profile: string;
  /** Directory for this run's evidence (created). */
  dir: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Both arms of a pair, to run in this order in one go. */
export interface PairRequest {
  profiles: readonly [string, string];
  /** Directory for the pair's evidence (created). */
  dir: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Workload {
  spec: string;
  /** Targets whose settings this workload's runs depend on. */
  measurable: readonly string[];
  facts: Facts;
  /** Builds or fetches what runs need (once, before the search); fills facts. */
  prepare(progress: (m: string) => void): Promise<void>;
  run(req: RunRequest): Promise<RunOutcome>;
  /**
   * Runs a pair's two profiles in one go, in the order given, their outcomes in that order
   * (the Xen lab: one lab boot applies each in turn, so a pair costs one boot, not two).
   * Absent: run() per arm.
   */
  runPair?(req: PairRequest): Promise<[RunOutcome, RunOutcome]>;
  /**
   * Checks a candidate profile's merged sections beyond their schema; a UserError makes the
   * candidate invalid, unmeasured. Absent: the targets must build their knobs (search.ts).
   */
  check?(sections: Record<string, unknown>): void;
  /** Whether its runs report their CPU time (cpuNs): they are hvscope's reaped children. */
  measuresCpu?: boolean;
  /** A fixed per-run limit (ms), for runs whose wall time is no multiple of their objective (the lab boots Xen first). */
  runTimeoutMs?: number;
  /** Stops what runs keep between them (libvirt's daemons); called once when the search ends, also on Ctrl-C. */
  close?(): Promise<void>;
}

/** The time to ready of a traced run: the end of its last phase, only when a ready marker was seen. */
export function readyOutcome(trace: Trace, phases: readonly { phase: string; end_ns: number; duration_ns: number }[], file: string): RunOutcome {
  if (!(trace.markers ?? []).some((mk) => mk.boundary === 'ready') || phases.length === 0) return { ok: false, why: 'no ready marker on the console', files: [file] };
  return { ok: true, readyNs: Math.max(...phases.map((p) => p.end_ns)), phasesNs: Object.fromEntries(phases.map((p) => [p.phase, p.duration_ns])), files: [file] };
}

/** One rootless boot of the guest with the profile. */
async function bootRun(guest: string, req: RunRequest): Promise<RunOutcome> {
  let result;
  const cpuBeforeMs = reapedChildrenCpuMs();
  try {
    result = await runBoots({ guest, profile: req.profile, runs: 1, outDir: req.dir, mode: 'rootless', timeoutMs: req.timeoutMs, signal: req.signal });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    // runBoots' message goes on to say where the runs are kept: the log has the files.
    return { ok: false, why: err.message.split('\n')[0].split('; ')[0], files: [req.dir] };
  }
  const run = result.runs[0];
  if (result.interrupted || !run) return { ok: false, why: 'interrupted', files: [req.dir] };
  const outcome = readyOutcome(run.trace, result.report.runs[0]?.phases ?? [], run.file);
  // A rootless boot's QEMU is our child, reaped before runBoots returns.
  return outcome.ok ? { ...outcome, cpuNs: (reapedChildrenCpuMs() - cpuBeforeMs) * 1e6 } : outcome;
}

function bootWorkload(spec: string, guest: string): Workload {
  const w: Workload = {
    spec,
    measurable: ['qemu'],
    measuresCpu: true,
    facts: {},
    async prepare(progress) {
      const g = await resolveGuest(guest, undefined, progress);
      // A kernel given by path may lack a PVH note: unknown until extracted (a broken run says so).
      if (g.kind !== 'path') w.facts['@pvh-kernel'] = g.pvhKernel !== undefined || g.kind === 'linux';
    },
    run: (req) => bootRun(guest, req),
  };
  return w;
}

/** Splits `cmd:` text into words (no shell: quotes are not interpreted). */
function commandWords(text: string): string[] {
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new UserError('--workload cmd: give a command, e.g. cmd:./boot-once.sh {profile}', 2);
  return words;
}

/**
 * Any command: `{profile}` in its words (or $HVSCOPE_PROFILE) is the candidate profile's
 * file; exit 0 is a good run, its wall time the objective (ready), its output kept.
 */
function commandWorkload(spec: string, text: string): Workload {
  const words = commandWords(text);
  return {
    spec,
    measurable: ['qemu', 'bridge', 'sysctl', 'xen-xl-conf', 'xen-hotplug', 'xen-domain', ...LIBVIRT_TARGETS],
    measuresCpu: true,
    facts: {},
    async prepare() {},
    async run(req) {
      mkdirSync(req.dir, { recursive: true });
      const args = words.map((w) => w.replaceAll('{profile}', req.profile));
      const started = process.hrtime.bigint();
      const cpuBeforeMs = reapedChildrenCpuMs();
      const r = await execa(args[0], args.slice(1), { reject: false, timeout: req.timeoutMs, cancelSignal: req.signal, env: { HVSCOPE_PROFILE: req.profile }, stdin: 'ignore', all: true, forceKillAfterDelay: 2000 });
      const ns = Number(process.hrtime.bigint() - started);
      const cpuNs = (reapedChildrenCpuMs() - cpuBeforeMs) * 1e6;
      const record = join(req.dir, 'run.json');
      writeFileSync(record, `${JSON.stringify({ command: args, exitCode: r.exitCode ?? null, signal: r.signal ?? null, timedOut: r.timedOut, wall_ns: ns }, null, 1)}\n`);
      writeFileSync(join(req.dir, 'output.txt'), String(r.all ?? ''));
      if (r.timedOut) return { ok: false, why: `did not exit within ${req.timeoutMs / 1000} s`, files: [record] };
      if (r.exitCode !== 0) return { ok: false, why: `exit ${r.exitCode ?? r.signal}`, files: [record] };
      return { ok: true, readyNs: ns, phasesNs: { total: ns }, cpuNs, files: [record] };
    },
  };
}

/** What `lab xen run --json` says of its experiment (src/cli/lab.ts), as far as a search reads it. */
interface LabRunJson {
  experiment?: { profiles?: { index: number; tuneApply?: { exit: number } }[]; runs?: { profile: number; createExit: number; createNs: number; markerNs?: number }[] };
}

/** One `hvscope lab xen run` with these profiles applied in turn (one creation each); its exit and JSON. */
async function labXenRun(profiles: readonly string[], req: { dir: string; timeoutMs: number; signal?: AbortSignal }): Promise<{ failure?: string; json?: LabRunJson }> {
  const bin = join(packageRoot(), 'bin', 'hvscope');
  const labTimeoutS = String(Math.max(60, Math.round(req.timeoutMs / 1000) - 30)); // the lab gives up (and cleans up) first
  const args = ['lab', 'xen', 'run', ...profiles.flatMap((p) => ['--profile', p]), '--guest', 'tiny-pv', '--timeout', labTimeoutS, '-o', req.dir, '--json'];
  const r = await execa(bin, args, { reject: false, timeout: req.timeoutMs, cancelSignal: req.signal, stdin: 'ignore', forceKillAfterDelay: 5000 });
  const failure = r.exitCode === 0 ? undefined : String(r.stderr).trim().split('\n').at(-1) || `exit ${r.exitCode}`;
  try {
    // Printed also when the experiment failed for one profile (its tune apply, a creation).
    return { failure, json: JSON.parse(String(r.stdout)) as LabRunJson };
  } catch {
    return { failure: failure ?? 'lab xen run printed no JSON' };
  }
}

/** Profile number `index`'s creation in a lab run: the marker time is ready, xl create the toolstack phase. */
export function labOutcome(got: { failure?: string; json?: LabRunJson }, index: number, dir: string): RunOutcome {
  const files = [dir];
  const apply = got.json?.experiment?.profiles?.find((p) => p.index === index)?.tuneApply;
  if (apply && apply.exit !== 0) return { ok: false, why: `tune apply in dom0 exited ${apply.exit}`, files };
  const run = got.json?.experiment?.runs?.find((r) => r.profile === index);
  if (!run) return { ok: false, why: got.failure ?? 'no creation in the lab run', files };
  if (run.createExit !== 0) return { ok: false, why: `xl create exit ${run.createExit}`, files };
  if (run.markerNs === undefined) return { ok: false, why: 'guest marker not seen', files };
  return { ok: true, readyNs: run.markerNs, phasesNs: { toolstack: run.createNs }, files };
}

/** Per-run limit of lab-xen: the lab's boot, `tune apply` in dom0 (minutes on a loaded host), creations, rollbacks. */
export const LAB_RUN_TIMEOUT_MS = 600_000;

/**
 * The Xen lab: `hvscope lab xen run` boots Xen + dom0 (about a minute under TCG), then applies
 * each profile in dom0 in turn and creates tiny-pv once with it. A pair is one lab boot with
 * both profiles, in the pair's order: half the boots, and both arms on the same booted lab.
 */
function labXenWorkload(spec: string, guest: string): Workload {
  if (guest !== 'tiny-pv') throw new UserError(`--workload lab-xen:${guest}: only lab-xen:tiny-pv`, 2);
  return {
    spec,
    measurable: ['xen-xl-conf', 'xen-hotplug', 'xen-domain'],
    facts: {},
    async prepare() {},
    // A run boots Xen and dom0, applies the profile there, creates tiny-pv: minutes, whatever its objective.
    runTimeoutMs: LAB_RUN_TIMEOUT_MS,
    async run(req) {
      return labOutcome(await labXenRun([req.profile], req), 0, req.dir);
    },
    async runPair(req) {
      const got = await labXenRun(req.profiles, req);
      return [labOutcome(got, 0, req.dir), labOutcome(got, 1, req.dir)];
    },
  };
}

/** The table: KIND → workload from its argument. */
const WORKLOADS: Record<string, (spec: string, arg: string) => Workload> = {
  boot: (spec, arg) => bootWorkload(spec, arg),
  cmd: commandWorkload,
  'lab-xen': labXenWorkload,
  libvirt: (spec, arg) => libvirtWorkload(spec, arg),
};

export function parseWorkload(spec: string): Workload {
  const at = spec.indexOf(':');
  const kind = at < 0 ? spec : spec.slice(0, at);
  const arg = at < 0 ? '' : spec.slice(at + 1);
  const make = WORKLOADS[kind];
  if (!make || arg === '') throw new UserError(`--workload ${spec}: expected boot:tiny, boot:linux, boot:PATH, lab-xen:tiny-pv, libvirt:tiny, libvirt:linux, libvirt:PATH or 'cmd:COMMAND {profile}'`, 2);
  return make(spec, arg);
}

/**
 * The objectives: ready (default), p90 (of ready), cpu (the run's CPU time: boot's QEMU, a
 * cmd's command with its children), or the duration of one phase.
 */
export function checkObjective(objective: string): void {
  if (objective === 'ready' || objective === 'p90' || objective === 'cpu' || (PHASES as readonly string[]).includes(objective) || objective === 'total') return;
  throw new UserError(`--objective ${objective}: expected ready, p90, cpu or a phase (${PHASES.join(', ')})`, 2);
}

/** The value a run contributes to the objective (ns), or why it has none. */
export function objectiveValue(outcome: Extract<RunOutcome, { ok: true }>, objective: string): number | string {
  if (objective === 'ready' || objective === 'p90') return outcome.readyNs;
  if (objective === 'cpu') return outcome.cpuNs ?? 'no CPU time: this workload\'s runs are not our children (boot: and cmd: runs are)';
  const v = outcome.phasesNs[objective];
  return v === undefined ? `no ${objective} phase in this run` : v;
}
