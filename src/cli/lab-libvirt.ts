// hvscope lab xen run --via libvirt [--profile P]... [--runs N]: tiny-pv created
// through libvirtd's libxl driver in the lab's dom0 (`virsh -c xen:///system
// create`), the stock domain XML and each profile's XML alternating run by run;
// traces from virsh's start to the guest's first line (orchestrate, toolstack,
// devices, kernel), timelines, report, comparison (src/lab/xen/libvirt-*.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { phaseBreakdown } from '../analysis/phases.js';
import { formatDuration } from '../model/duration.js';
import { UserError, usageError } from '../model/errors.js';
import { TINY_PV_MARKER, TINY_PV_MEMORY_MB, buildTinyPvGuest } from '../lab/tiny-pv-guest.js';
import { requireLabAccel, requireLabRoot, runInXenLab, type XenLabResult } from '../lab/xen/run.js';
import { DOM0_FTRACE } from '../lab/xen/experiment.js';
import { parseFtrace } from '../lab/xen/dom0-ftrace.js';
import { parseXenExperiment, type XenExperimentResult } from '../lab/xen/experiment-result.js';
import { comparisonText, labGroups, writeLabOutputs } from '../lab/xen/compare.js';
import { LIBVIRT_LIBS, libvirtUprobeLines, parseLibvirtExperiment, renderLibvirtExperiment, type LibvirtExperimentResult, type LibvirtGroup } from '../lab/xen/libvirt-experiment.js';
import { STOCK_XML, renderTinyPvDomainXml, xenLibvirtProfile, type XenLibvirtProfile } from '../lab/xen/libvirt-xml.js';
import { libvirtRecord, libvirtRunTrace } from '../lab/xen/libvirt-trace.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { ExitStatus, printJson, progress } from './run-command.js';

/**
 * libvirt's libxl driver decodes the host CPU when it starts (libxlCapsInitCPU) and refuses
 * to run when no CPU model of its map fits: the lab's default qemu64 and `-cpu max` gave
 * "x86Decode: Cannot find suitable CPU model for given data"; Nehalem starts it
 * (fixtures/libvirt/xen-lab-2026-12-04/libvirtd-qemu64-cpu.log).
 */
export const LIBVIRT_LAB_CPU = 'Nehalem';

export interface LabLibvirtOptions {
  refs: string[];
  runs: number;
  timeoutS?: number;
  output: string;
  json?: boolean;
}

const DAEMONS = ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh'];

/** One line naming what is missing on the host (dom0 runs the host's libvirt), before anything boots. */
export function requireHostLibvirtXen(exists: (path: string) => boolean = existsSync): void {
  const missing = [...DAEMONS, LIBVIRT_LIBS.libxlDriver].filter((p) => !exists(p));
  if (missing.length > 0)
    throw new UserError(
      `lab xen run --via libvirt: ${missing.join(', ')} missing; dom0 runs the host's libvirt: apt-get install libvirt-daemon-system libvirt-clients libvirt-daemon-driver-xen`,
    );
}

/** Results directory of a profile's group: its name, made safe; never the stock XML's. */
function groupDir(name: string, taken: Set<string>): string {
  const dir = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'profile';
  if (taken.has(dir)) throw usageError(`--profile ${name}: ${dir === STOCK_XML ? 'stock is the name of the stock XML, always measured' : 'given twice'}`);
  taken.add(dir);
  return dir;
}

/** Why the experiment failed, in one sentence, or undefined when everything worked. */
export function libvirtFailure(lab: XenLabResult, result: XenExperimentResult, lv: LibvirtExperimentResult, labels: string[]): string | undefined {
  if (!lv.daemonReady)
    return `libvirtd's libxl driver in dom0 did not answer virsh (see ${join(lab.outDir, 'virsh-version.txt')} and ${join(lab.outDir, 'libvirtd.log')})`;
  if (result.warmup && result.warmup.exit !== 0) return `the warm-up virsh create failed with status ${result.warmup.exit} (see ${lab.experimentLog})`;
  for (const r of result.runs) {
    const dir = result.profiles.find((p) => p.index === r.profile)?.dir ?? '';
    const where = `${labels[r.profile] ?? dir} run ${r.run}`;
    if (r.createExit !== 0) return `${where}: virsh create failed with status ${r.createExit} (see ${join(lab.outDir, dir, `run-${r.run}.virsh.log`)})`;
    if (r.markerNs === undefined) return `${where}: the guest never printed its marker on its console (see ${join(lab.outDir, dir, `run-${r.run}.console.log`)})`;
    if (r.goneNs === undefined) return `${where}: the domain was still there after the guest powered off (it was destroyed)`;
  }
  if (!result.finished) return `the experiment stopped before its end (exit ${lab.exitCode}; see ${lab.experimentLog})`;
  if (lab.exitCode !== 0) return `the experiment exited with status ${lab.exitCode} (see ${lab.experimentLog})`;
  return undefined;
}

/** The groups: the stock XML first (the baseline), then each profile's XML. */
export function libvirtGroups(stockXml: string, profiles: XenLibvirtProfile[]): LibvirtGroup[] {
  const taken = new Set<string>([STOCK_XML]);
  return [{ label: STOCK_XML, dir: STOCK_XML, xml: stockXml }, ...profiles.map((p) => ({ label: p.name, dir: groupDir(p.name, taken), xml: p.xml }))];
}

export async function labXenRunViaLibvirt(opts: LabLibvirtOptions): Promise<void> {
  const guest = await buildTinyPvGuest();
  const stockXml = renderTinyPvDomainXml({ kernel: guest.kernel, memoryMb: TINY_PV_MEMORY_MB });
  // Profiles are checked on the host before anything boots.
  const profiles = opts.refs.map((ref) => xenLibvirtProfile(ref, stockXml));
  const groups = libvirtGroups(stockXml, profiles);
  requireLabRoot();
  await requireLabAccel('tcg');
  requireHostLibvirtXen();
  for (const p of profiles) {
    progress(`${p.name} on tiny-pv's domain XML: ${p.applied.length > 0 ? p.applied.join(', ') : 'nothing applies'}`);
    for (const o of p.leftOut) progress(`${p.name}: ${o.key} left out for Xen: ${o.why}`);
  }
  const uprobes = libvirtUprobeLines();
  if (uprobes.missing.length > 0) progress(`no uprobe on ${uprobes.missing.join(', ')}`);
  const script = renderLibvirtExperiment({ groups, runs: opts.runs, uprobes: uprobes.lines, marker: TINY_PV_MARKER });
  // Boot ≈ 10–30 s, libvirtd's first answer ≈ 10–60 s under TCG, a creation ≈ 8–25 s; generous.
  const timeoutS = opts.timeoutS ?? 300 + (groups.length * opts.runs + 1) * 60;
  const { value: lab, signal } = await withInterrupts((abort) =>
    runInXenLab({
      script,
      outDir: opts.output,
      timeoutMs: timeoutS * 1000,
      machine: { accel: 'tcg', cpu: LIBVIRT_LAB_CPU },
      onProgress: progress,
      onConsoleLine: (line) => {
        if (/^(starting libvirtd.*|libvirtd ready after \d+ ms|libvirtd died|virsh cannot reach .*|no uprobes in dom0.*|warm-up virsh create: .*|run \d+ of \S+: virsh create .*)$/.test(line)) progress(line);
      },
      signal: abort,
    }),
  );
  if (signal) throw new ExitStatus(interruptedExitCode(signal));
  progress(`lab: boot ${formatDuration(lab.timings.bootMs * 1e6)}, experiment ${formatDuration(lab.timings.experimentMs * 1e6)}, total ${formatDuration(lab.timings.totalMs * 1e6)}; results in ${lab.outDir}`);
  const lv = await parseLibvirtExperiment(lab.outDir);
  const result = await parseXenExperiment(lab.outDir);
  const ftraceFile = join(lab.outDir, DOM0_FTRACE);
  const events = existsSync(ftraceFile) ? parseFtrace(readFileSync(ftraceFile, 'utf8')) : [];
  const { ft, lv: lvRuns } = libvirtRecord(events);
  const labels = groups.map((g) => g.label);
  const labGroupsOut = labGroups(
    result,
    labels,
    ft,
    {
      recorded: `hvscope lab xen run --via libvirt in dom0 of Debian's Xen 4.17 nested under QEMU TCG -cpu ${LIBVIRT_LAB_CPU} (${lab.packages.join(', ')}), libvirtd's libxl driver, guest tiny-pv, ${new Date().toISOString()}`,
      hypervisor: 'xen 4.17 (PV dom0, nested in QEMU TCG)',
      marker: TINY_PV_MARKER,
      firstOutputIsMarker: true,
    },
    (run, f, ctx) => libvirtRunTrace(run, f, lvRuns.get(`${run.profile}/${run.run}`), ctx),
  );
  if (!lv.uprobes) progress('dom0 had no uprobe events: libvirtd\'s libxl_domain_create_new was not seen, so orchestrate and toolstack are not told apart');
  for (const g of labGroupsOut) {
    g.results.forEach((r, i) => {
      const phases = phaseBreakdown(g.runs[i].trace).map((p) => `${p.phase} ${formatDuration(p.duration)}`).join(', ');
      progress(
        `${g.profile} run ${r.run}: virsh create ${formatDuration(r.createNs)} (exit ${r.createExit}), marker ${r.markerNs !== undefined ? `seen at ${formatDuration(r.markerNs)}` : 'NOT seen'}, domain ${r.goneNs !== undefined ? 'gone' : 'NOT gone'}${phases ? `; ${phases}` : ''}`,
      );
    });
  }
  const failure = libvirtFailure(lab, result, lv, labels);
  const anyRun = labGroupsOut.some((g) => g.runs.length > 0);
  const outputs = anyRun ? writeLabOutputs(lab.outDir, labGroupsOut, { scaling: false, ftrace: result.ftrace, command: 'virsh create' }) : undefined;
  if (outputs?.comparison) for (const line of comparisonText(outputs.comparison, 'virsh create').split('\n')) progress(line);
  if (outputs) progress(`wrote ${outputs.traces.length} traces, ${[outputs.report.text, outputs.compareSvg, ...(outputs.diffs?.files ?? [])].filter(Boolean).join(', ')}`);
  if (opts.json) {
    const { diffs, ...rest } = outputs ?? {};
    printJson({
      lab,
      via: 'libvirt',
      libvirt: lv,
      profiles: profiles.map((p) => ({ profile: p.name, file: p.file, applied: p.applied, left_out: p.leftOut })),
      experiment: result,
      comparison: outputs?.comparison,
      outputs: outputs ? { ...rest, diffs: diffs?.files } : undefined,
      diffs: diffs?.diffs ?? [],
    });
  } else if (outputs?.diffs) process.stdout.write(outputs.diffs.text);
  if (failure) throw new UserError(`lab xen run --via libvirt: ${failure}`);
}
