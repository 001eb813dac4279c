// `tune optimize --workload libvirt:GUEST`: each run is one traced creation of the guest
// through hvscope's private libvirtd (`hvscope boot --via libvirt --profile P --runs 1`,
// src/vim/boot.ts), the candidate's libvirt-domain section editing the domain XML and its
// libvirt-qemu-conf section the qemu.conf the daemon reads. Objective: time to ready (the
// guest's ready marker, e.g. "tiny: done", on the trace's clock, as boot: measures it).
//
// Daemons: libvirtd reads qemu.conf only when it starts, and a start costs ~6 s (the first
// connection probes QEMU's capabilities), so the workload keeps one daemon per distinct
// qemu.conf (and bridge set), at most DAEMONS_KEPT alive — the best profile's and the
// candidate's. A candidate that only edits the domain XML runs on the very daemon its base
// runs on (both arms alike); one that changes qemu.conf gets a daemon of its own, started
// once for all its runs. A run that fails stops its daemon (it may hold a stray domain).
import { UserError } from '../../model/errors.js';
import { resolveGuest, type Guest } from '../../lab/boot.js';
import { runLibvirtBoots } from '../../vim/boot.js';
import { domainXml } from '../../vim/domain-xml.js';
import { loadLibvirtProfile } from '../../vim/libvirt-profile.js';
import { libvirtMissing, startPrivateLibvirtd, type PrivateLibvirtd } from '../../vim/libvirtd.js';
import { tracingBlocker } from '../../tracer/session.js';
import { tuneDomainXml } from '../targets/libvirt-domain.js';
import { readyOutcome, type RunOutcome, type RunRequest, type Workload } from './workloads.js';

/** Sections a creation through libvirt applies (src/vim/libvirt-profile.ts). */
export const LIBVIRT_TARGETS = ['libvirt-domain', 'libvirt-qemu-conf'] as const;
/** Daemons kept between runs: the best's and the candidate's. */
export const DAEMONS_KEPT = 2;

/** What the pool keeps: anything started once and stopped once (a private libvirtd). */
interface Stoppable {
  stop(): Promise<void>;
}

/** A small pool of daemons keyed by what each is started with, least recently used stopped first. */
export class DaemonPool<D extends Stoppable = PrivateLibvirtd> {
  private readonly live = new Map<string, D>();
  /** How many were started so far. */
  started = 0;
  constructor(
    private readonly start: (key: { qemuConf?: string; bridges: string[] }, progress: (m: string) => void, signal?: AbortSignal) => Promise<D>,
    private readonly kept = DAEMONS_KEPT,
  ) {}

  static keyOf(qemuConf: string | undefined, bridges: readonly string[]): string {
    return JSON.stringify([qemuConf ?? null, [...bridges].sort()]);
  }

  /** The daemon for this qemu.conf and bridge set: the one kept, else a new one (beyond `kept`, the least recently used is stopped first). */
  async get(qemuConf: string | undefined, bridges: string[], progress: (m: string) => void = () => undefined, signal?: AbortSignal): Promise<D> {
    const key = DaemonPool.keyOf(qemuConf, bridges);
    const have = this.live.get(key);
    if (have) {
      this.live.delete(key); // re-inserted: Map order is use order
      this.live.set(key, have);
      return have;
    }
    while (this.live.size >= this.kept) await this.drop([...this.live.keys()][0]);
    const d = await this.start({ ...(qemuConf !== undefined ? { qemuConf } : {}), bridges }, progress, signal);
    this.started++;
    this.live.set(key, d);
    return d;
  }

  /** Stops the daemon of this key (after a failed run), if kept. */
  async drop(key: string): Promise<void> {
    const d = this.live.get(key);
    this.live.delete(key);
    await d?.stop();
  }

  /** Keys of the daemons alive, least recently used first. */
  keys(): string[] {
    return [...this.live.keys()];
  }

  async close(): Promise<void> {
    for (const key of [...this.live.keys()]) await this.drop(key);
  }
}

/** The guest names libvirt: takes (those boot --via libvirt boots). */
const GUESTS = 'libvirt:tiny, libvirt:linux or libvirt:PATH (a kernel)';

export function libvirtWorkload(spec: string, guestSpec: string): Workload {
  let guest: Guest | undefined;
  let progress: (m: string) => void = () => undefined;
  const pool = new DaemonPool((key, p, signal) => startPrivateLibvirtd({ onProgress: p, signal, ...key }));
  if (guestSpec.trim() === '') throw new UserError(`--workload ${spec}: expected ${GUESTS}`, 2);
  return {
    spec,
    measurable: LIBVIRT_TARGETS,
    facts: {},
    async prepare(p) {
      progress = p;
      const missing = libvirtMissing();
      if (missing) throw new UserError(`--workload ${spec}: ${missing}`);
      const blocker = await tracingBlocker();
      if (blocker) throw new UserError(`--workload ${spec}: each run is traced (boot --via libvirt): ${blocker.message}`);
      guest = await resolveGuest(guestSpec, undefined, p);
    },
    check(sections) {
      const other = Object.keys(sections).filter((s) => !(LIBVIRT_TARGETS as readonly string[]).includes(s));
      if (other.length > 0) throw new UserError(`section${other.length > 1 ? 's' : ''} ${other.join(', ')} cannot be applied to a creation through libvirt (only ${LIBVIRT_TARGETS.join(' and ')})`);
      if (guest === undefined || sections['libvirt-domain'] === undefined) return;
      // The domain section must apply to the XML the runs create (e.g. a setting needing an element that is not there).
      tuneDomainXml(domainXml(guest, { name: 'hvscope-check', kernel: guest.kernel }), sections['libvirt-domain']);
    },
    run: (req) => libvirtRun(guestSpec, pool, req, progress),
    close: () => pool.close(),
  };
}

async function libvirtRun(guestSpec: string, pool: DaemonPool, req: RunRequest, progress: (m: string) => void): Promise<RunOutcome> {
  let key: string | undefined;
  try {
    const profile = await loadLibvirtProfile(req.profile);
    key = DaemonPool.keyOf(profile.qemuConf, profile.bridges);
    const daemon = await pool.get(profile.qemuConf, profile.bridges, progress, req.signal);
    const r = await runLibvirtBoots({ guest: guestSpec, profile: req.profile, runs: 1, outDir: req.dir, timeoutMs: req.timeoutMs, signal: req.signal, daemon });
    const run = r.runs[0];
    if (r.interrupted || !run) return { ok: false, why: 'interrupted', files: [req.dir] };
    if (run.partial) {
      await pool.drop(key);
      return { ok: false, why: 'the trace is partial (tracer lost or run cut short)', files: [run.file] };
    }
    const outcome = readyOutcome(run.trace, r.group.report.runs[0]?.phases ?? [], run.file);
    if (!outcome.ok) await pool.drop(key); // its domain may not have ended
    return outcome;
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    if (key !== undefined) await pool.drop(key);
    return { ok: false, why: err.message.split('\n')[0], files: [req.dir] };
  }
}
