// `hvscope boot --via libvirt`: the guest created N times through libvirtd's
// QEMU driver, each creation traced from the API call to the guest's end.
// hvscope starts its own libvirtd and virtlogd (libvirtd.ts: private mount
// namespace, private sockets), warms them up with one connection (libvirtd
// probes QEMU's capabilities on the first: ~5 s, not part of any run), writes
// the domain XML (domain-xml.ts), and traces `virsh -c URI create dom.xml`
// with the libvirt, qemu and exec sets; libvirtd's forks join the traced tree,
// so QEMU's exec, console and exit are in the same trace. virsh returns once
// the domain runs: tracing goes on until its QEMU is gone (reaped) and
// libvirtd's teardown had a moment to finish. Both daemons are stopped and
// their files removed afterwards, also on Ctrl-C and on failure.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { phaseSummaryText } from '../analysis/phases.js';
import { buildReport } from '../analysis/report.js';
import { resolveGuest } from '../lab/boot.js';
import type { BootGroup, BootRunResult } from '../lab/boot-series.js';
import { writeBootReports } from '../lab/boot-outputs.js';
import { UserError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import type { Trace } from '../model/trace.js';
import { writeRendered } from '../render/index.js';
import { requireTracing, traceCommand } from '../tracer/session.js';
import { domainXml } from './domain-xml.js';
import { applyLibvirtProfile, loadLibvirtProfile } from './libvirt-profile.js';
import { qemuPidsOfDomain, startPrivateLibvirtd, trackDomain, type PrivateLibvirtd } from './libvirtd.js';

/** Probe sets of a traced creation through libvirt. */
export const LIBVIRT_BOOT_PROBE_SETS = ['libvirt', 'qemu', 'exec'];
/** After QEMU is gone, how long libvirtd's teardown (qemuProcessStop) is still traced. */
const TEARDOWN_GRACE_MS = 300;

export interface LibvirtBootOptions {
  guest: string;
  initrd?: string;
  profile?: string;
  runs: number;
  outDir: string;
  /** Per-run limit (ms, default 120 s): the domain is destroyed after it. */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
  /**
   * A private libvirtd already started with this profile's qemu.conf and bridges
   * (`tune optimize` keeps one per qemu.conf across runs: its start costs ~6 s);
   * the caller stops it. Absent: one is started and stopped here.
   */
  daemon?: PrivateLibvirtd;
}

export interface LibvirtBootResult {
  runs: BootRunResult[];
  group: BootGroup;
  domainXml: string;
  svg?: string;
  reportText: string;
  reportJson: string;
  interrupted: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Traces until the domain's QEMU (found by name) is gone from /proc (reaped), then TEARDOWN_GRACE_MS more. */
function untilDomainGone(name: string, timeoutMs: number): (signal?: AbortSignal) => Promise<void> {
  return async (signal) => {
    const deadline = Date.now() + timeoutMs;
    const pids = qemuPidsOfDomain(name);
    while (pids.some((p) => existsSync(`/proc/${p}`)) && Date.now() < deadline && !signal?.aborted) await sleep(50);
    if (!signal?.aborted) await sleep(TEARDOWN_GRACE_MS);
  };
}

async function createOnce(daemon: PrivateLibvirtd, xmlFile: string, name: string, label: string, opts: LibvirtBootOptions, progress: (m: string) => void) {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const r = await traceCommand({
    command: ['virsh', '-c', daemon.uri, 'create', xmlFile],
    sets: LIBVIRT_BOOT_PROBE_SETS,
    libvirtdPid: daemon.libvirtdPid,
    stdout: 'ignore',
    stderr: 'capture',
    timeoutMs,
    signal: opts.signal,
    inputName: `${label} (bpftrace live)`,
    // 60 uprobes/USDT probes attach in a few seconds here; a loaded host needs more
    attachTimeoutMs: 90_000,
    afterExit: untilDomainGone(name, timeoutMs),
    onProgress: (m) => {
      if (/probes attached|unavailable|lost/.test(m)) progress(`${label}: ${m}`);
    },
  });
  return r;
}

/** Creates the guest `runs` times through a private libvirtd, tracing each; writes traces, timeline and report to outDir. */
export async function runLibvirtBoots(opts: LibvirtBootOptions): Promise<LibvirtBootResult> {
  const progress = opts.onProgress ?? (() => undefined);
  if (!Number.isSafeInteger(opts.runs) || opts.runs < 1 || opts.runs > 1000) throw new UserError(`--runs must be an integer from 1 to 1000, got ${opts.runs}`);
  // What the user can get wrong is checked before any daemon starts.
  const profile = opts.profile === undefined ? undefined : await loadLibvirtProfile(opts.profile);
  await requireTracing();
  const guest = await resolveGuest(opts.guest, opts.initrd, progress);
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const daemon = opts.daemon ?? (await startPrivateLibvirtd({ onProgress: progress, signal: opts.signal, qemuConf: profile?.qemuConf, bridges: profile?.bridges }));
  const runs: BootRunResult[] = [];
  let interrupted = false;
  let failure: unknown;
  let xml = '';
  try {
    // QEMU runs as libvirt's qemu user: the guest files must be reachable (libvirt relabels the files themselves).
    chmodSync(daemon.dir, 0o755);
    // A directory (and a domain name) per call: a daemon given by the caller serves many calls.
    const guestDir = mkdtempSync(join(daemon.dir, 'guest-'));
    chmodSync(guestDir, 0o755);
    const kernel = join(guestDir, basename(guest.kernel));
    copyFileSync(guest.kernel, kernel);
    const initrd = guest.initrd ? join(guestDir, `initrd-${basename(guest.initrd)}`) : undefined;
    if (initrd) copyFileSync(guest.initrd!, initrd);
    const name = `hvscope-${guest.kind}-${basename(daemon.dir).replace(/^hvscope-libvirt-/, '')}${opts.daemon ? `-${basename(guestDir).replace(/^guest-/, '')}` : ''}`;
    trackDomain(daemon, name);
    xml = applyLibvirtProfile(domainXml(guest, { name, kernel, initrd }), profile);
    if (profile?.qemuConf !== undefined) writeFileSync(join(outDir, 'qemu.conf'), profile.qemuConf);
    const xmlFile = join(guestDir, 'domain.xml');
    writeFileSync(xmlFile, xml);
    writeFileSync(join(outDir, 'domain.xml'), xml);
    progress(`${guest.description}: ${opts.runs} creation${opts.runs > 1 ? 's' : ''} through libvirtd, traced (${LIBVIRT_BOOT_PROBE_SETS.join(', ')}), domain XML in ${join(outDir, 'domain.xml')}`);
    for (let i = 1; i <= opts.runs; i++) {
      if (opts.signal?.aborted) {
        interrupted = true;
        break;
      }
      const label = `run-${i}`;
      const r = await createOnce(daemon, xmlFile, name, label, opts, progress);
      const trace: Trace = r.trace;
      Object.assign(trace.meta, { host: hostname(), kernel: release(), hypervisor: 'qemu tcg via libvirt', ...(opts.profile ? { profile: opts.profile } : {}) });
      const file = join(outDir, `${label}.hvtrace.json`);
      writeTrace(file, trace);
      const partial = r.interrupted || r.timedOut || r.tracerFailure !== undefined;
      runs.push({ label, file, exitCode: r.exitCode, trace, partial });
      if (r.interrupted || opts.signal?.aborted) {
        interrupted = true;
        progress(`${label}: interrupted; partial trace in ${file}`);
        break;
      }
      if (r.tracerFailure) throw new UserError(`${label}: ${r.tracerFailure}`);
      if (r.timedOut) throw new UserError(`${label}: virsh create did not return within ${(opts.timeoutMs ?? 120_000) / 1000} s; partial trace in ${file}`);
      if (r.exitCode !== 0) throw new UserError(`${label}: virsh create failed (status ${r.exitCode})${r.stderrTail.length ? `: ${r.stderrTail.slice(-2).join('; ')}` : ''}`);
      progress(`${label}: ${phaseSummaryText(trace)}`);
    }
  } catch (err) {
    if (opts.signal?.aborted) interrupted = true;
    else failure = err;
  } finally {
    if (!opts.daemon) {
      progress('stopping the private libvirtd and virtlogd');
      await daemon.stop();
    }
  }
  const command = ['virsh', '-c', 'qemu:///system?socket=PRIVATE', 'create', 'domain.xml'];
  const group: BootGroup = { profile: opts.profile, dir: outDir, command, runs, report: buildReport(runs.map((r) => ({ label: r.label, trace: r.trace }))) };
  if (runs.length > 0) {
    group.svg = join(outDir, 'timeline.svg');
    writeRendered(group.svg, runs.map((r) => ({ label: r.label, trace: r.trace })), 'svg', { title: `hvscope boot --via libvirt: ${guest.name}` });
  }
  const outputs = writeBootReports(outDir, [group], [{ profile: opts.profile, dir: outDir, command }]);
  if (failure !== undefined) throw failure;
  return { runs, group, domainXml: xml, svg: group.svg, reportText: outputs.reportText, reportJson: outputs.reportJson, interrupted };
}
