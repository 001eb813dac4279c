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
import type { Trace } from '../../model/trace.js';
import type { Facts } from './candidates.js';
import { LIBVIRT_TARGETS, libvirtWorkload } from './libvirt-workload.js';

/** One run: the phases (ns) and the time to ready, or why it broke. */
export type RunOutcome =
  | { ok: true; readyNs: number; phasesNs: Record<string, number>; files: string[] }
  | { ok: false; why: string; files: string[] };

export interface RunRequest {
  /** The profile to run (a file). */
  profile: string;
  /** Directory for this run's evidence (created). */
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
   * Checks a candidate profile's merged sections beyond their schema; a UserError makes the
   * candidate invalid, unmeasured. Absent: the targets must build their knobs (search.ts).
   */
  check?(sections: Record<string, unknown>): void;
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
  try {
    result = await runBoots({ guest, profile: req.profile, runs: 1, outDir: req.dir, mode: 'rootless', timeoutMs: req.timeoutMs, signal: req.signal });
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    // runBoots' message goes on to say where the runs are kept: the log has the files.
    return { ok: false, why: err.message.split('\n')[0].split('; ')[0], files: [req.dir] };
  }
  const run = result.runs[0];
  if (result.interrupted || !run) return { ok: false, why: 'interrupted', files: [req.dir] };
  return readyOutcome(run.trace, result.report.runs[0]?.phases ?? [], run.file);
}

function bootWorkload(spec: string, guest: string): Workload {
  const w: Workload = {
    spec,
    measurable: ['qemu'],
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
    facts: {},
    async prepare() {},
    async run(req) {
      mkdirSync(req.dir, { recursive: true });
      const args = words.map((w) => w.replaceAll('{profile}', req.profile));
      const started = process.hrtime.bigint();
      const r = await execa(args[0], args.slice(1), { reject: false, timeout: req.timeoutMs, cancelSignal: req.signal, env: { HVSCOPE_PROFILE: req.profile }, stdin: 'ignore', all: true, forceKillAfterDelay: 2000 });
      const ns = Number(process.hrtime.bigint() - started);
      const record = join(req.dir, 'run.json');
      writeFileSync(record, `${JSON.stringify({ command: args, exitCode: r.exitCode ?? null, signal: r.signal ?? null, timedOut: r.timedOut, wall_ns: ns }, null, 1)}\n`);
      writeFileSync(join(req.dir, 'output.txt'), String(r.all ?? ''));
      if (r.timedOut) return { ok: false, why: `did not exit within ${req.timeoutMs / 1000} s`, files: [record] };
      if (r.exitCode !== 0) return { ok: false, why: `exit ${r.exitCode ?? r.signal}`, files: [record] };
      return { ok: true, readyNs: ns, phasesNs: { total: ns }, files: [record] };
    },
  };
}

/** Per-run limit of lab-xen: the lab's boot, `tune apply` in dom0 (minutes on a loaded host), one creation, rollback. */
export const LAB_RUN_TIMEOUT_MS = 600_000;

/** The Xen lab: one `hvscope lab xen run` per run (it boots Xen + dom0 each time: minutes). */
function labXenWorkload(spec: string, guest: string): Workload {
  if (guest !== 'tiny-pv') throw new UserError(`--workload lab-xen:${guest}: only lab-xen:tiny-pv`, 2);
  const bin = join(packageRoot(), 'bin', 'hvscope');
  return {
    spec,
    measurable: ['xen-xl-conf', 'xen-hotplug', 'xen-domain'],
    facts: {},
    async prepare() {},
    // A run boots Xen and dom0, applies the profile there, creates tiny-pv once: minutes, whatever its objective.
    runTimeoutMs: LAB_RUN_TIMEOUT_MS,
    async run(req) {
      const labTimeoutS = String(Math.max(60, Math.round(req.timeoutMs / 1000) - 30)); // the lab gives up (and cleans up) first
      const r = await execa(bin, ['lab', 'xen', 'run', '--profile', req.profile, '--guest', 'tiny-pv', '--timeout', labTimeoutS, '-o', req.dir, '--json'], { reject: false, timeout: req.timeoutMs, cancelSignal: req.signal, stdin: 'ignore', forceKillAfterDelay: 5000 });
      if (r.exitCode !== 0) return { ok: false, why: String(r.stderr).trim().split('\n').at(-1) ?? `exit ${r.exitCode}`, files: [req.dir] };
      const out = JSON.parse(String(r.stdout)) as { tinyPv?: { xlCreateMs: number; markerSeen: boolean; markerMs?: number } };
      const t = out.tinyPv;
      if (!t?.markerSeen || t.markerMs === undefined) return { ok: false, why: 'guest marker not seen', files: [req.dir] };
      return { ok: true, readyNs: t.markerMs * 1e6, phasesNs: { toolstack: t.xlCreateMs * 1e6 }, files: [req.dir] };
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

/** The objectives: ready (default), p90 (of ready), or the duration of one phase. */
export function checkObjective(objective: string): void {
  if (objective === 'ready' || objective === 'p90' || (PHASES as readonly string[]).includes(objective) || objective === 'total') return;
  throw new UserError(`--objective ${objective}: expected ready, p90 or a phase (${PHASES.join(', ')})`, 2);
}

/** The value a run contributes to the objective (ns), or why it has none. */
export function objectiveValue(outcome: Extract<RunOutcome, { ok: true }>, objective: string): number | string {
  if (objective === 'ready' || objective === 'p90') return outcome.readyNs;
  const v = outcome.phasesNs[objective];
  return v === undefined ? `no ${objective} phase in this run` : v;
}
