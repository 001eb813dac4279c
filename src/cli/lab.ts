// hvscope lab xen run [--profile NAME]... [--guest tiny-pv] [--runs N] [--domains K] [-o DIR] [--json]
// One Xen-in-QEMU lab: per profile, `hvscope tune apply` in dom0, N timed creations
// of tiny-pv (or K left running), rollback; then traces, timelines, report and the
// stock-vs-tuned / scaling figures on the host (src/lab/xen/experiment.ts, compare.ts).
import type { CAC } from 'cac';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../model/errors.js';
import { TINY_PV_MARKER, buildTinyPvGuest } from '../lab/tiny-pv-guest.js';
import { LINUX_PV_EXTRA, LINUX_PV_MARKER, LINUX_PV_MEMORY_MB, prepareLinuxPvGuest } from '../lab/xen/linux-pv-guest.js';
import { requireLabRoot, runInXenLab, type XenLabResult } from '../lab/xen/run.js';
import type { TinyPvResult } from '../lab/xen/tiny-pv-experiment.js';
import {
  MAX_LAB_DOMAINS,
  UNTUNED,
  parseXenExperiment,
  renderXenExperiment,
  type ExperimentProfile,
  type XenExperimentResult,
  type XenRunResult,
} from '../lab/xen/experiment.js';
import { comparisonText, labGroups, readLabFtrace, writeLabOutputs } from '../lab/xen/compare.js';
import { loadProfile } from '../tuning/profile.js';
import { allTargets } from '../tuning/targets/index.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';

export interface LabOptions {
  profile?: string | string[];
  guest: string;
  runs?: string | number;
  domains?: string | number;
  accel?: string;
  output: string;
  timeout?: string | number;
  json?: boolean;
}

function wholeNumber(value: string | number, flag: string, min: number, max?: number): number {
  const text = String(value);
  if (!/^[0-9]+$/.test(text) || Number(text) < min || (max !== undefined && Number(text) > max))
    throw new UserError(`${flag} must be a whole number${max !== undefined ? ` from ${min} to ${max}` : ` ≥ ${min}`}, got '${text}'`);
  return Number(text);
}

/** argv that runs this checkout's built CLI; dom0 sees the host's root, so host paths work there. */
export function hvscopeForDom0(): string[] {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const bin = join(dir, 'bin', 'hvscope');
    if (existsSync(bin) && existsSync(join(dir, 'package.json'))) {
      if (!existsSync(join(dir, 'dist', 'src', 'cli', 'index.js')))
        throw new UserError(`lab xen run --profile: dom0 runs ${bin}, which is not built; run \`npm run build\` in ${dir} first`);
      return [process.execPath, bin];
    }
    const parent = dirname(dir);
    if (parent === dir) throw new UserError('lab xen run --profile: cannot find bin/hvscope next to this hvscope');
    dir = parent;
  }
}

/** Profiles as given, checked on the host before anything boots. */
export function resolveLabProfiles(refs: string[]): (ExperimentProfile & { label: string })[] {
  const seen = new Set<string>();
  return refs.map((ref) => {
    const loaded = loadProfile(ref, allTargets);
    const dir = loaded.name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '') || 'profile';
    if (seen.has(dir)) throw new UserError(`--profile ${ref}: profile ${loaded.name} is given twice`);
    seen.add(dir);
    const isPath = ref.includes('/') || /\.ya?ml$/.test(ref);
    return { name: isPath ? resolve(loaded.file) : ref, dir, domainSection: loaded.sections['xen-domain'] !== undefined, label: loaded.name };
  });
}

/** One creation as the older single-run summary shape (JSON `tinyPv`). */
function asTinyPv(r: XenRunResult): TinyPvResult {
  return {
    xlCreateExit: r.createExit,
    xlCreateMs: r.createNs / 1e6,
    markerSeen: r.markerNs !== undefined,
    markerMs: r.markerNs === undefined ? undefined : r.markerNs / 1e6,
    domainGone: r.goneNs !== undefined,
    goneMs: r.goneNs === undefined ? undefined : r.goneNs / 1e6,
  };
}

/** Why the experiment failed, in one sentence, or undefined when everything worked. */
export function experimentFailure(lab: XenLabResult, result: XenExperimentResult, labels: string[], scaling: boolean): string | undefined {
  const name = (p: number) => labels[p] ?? UNTUNED;
  for (const p of result.profiles) {
    if (p.tuneApply && p.tuneApply.exit !== 0)
      return `hvscope tune apply ${name(p.index)} failed in dom0 with status ${p.tuneApply.exit} (see ${join(lab.outDir, p.dir, 'tune-apply.log')})`;
  }
  for (const r of result.runs) {
    const where = `${name(r.profile)} run ${r.run}`;
    if (r.createExit !== 0) return `${where}: xl create failed with status ${r.createExit} (see ${join(lab.outDir, result.profiles.find((p) => p.index === r.profile)?.dir ?? '', `run-${r.run}.xl.log`)})`;
    if (r.markerNs === undefined) return `${where}: the guest never printed its marker on its console (see ${join(lab.outDir, 'dom0-logs')})`;
    if (!scaling && r.goneNs === undefined) return `${where}: the domain was still there after the guest powered off (it was destroyed)`;
  }
  for (const p of result.profiles) {
    if (p.tuneRollback && p.tuneRollback.exit !== 0)
      return `hvscope tune rollback after ${name(p.index)} failed in dom0 with status ${p.tuneRollback.exit} (see ${join(lab.outDir, p.dir, 'tune-rollback.log')})`;
  }
  if (!result.finished) return `the experiment stopped before its end (exit ${lab.exitCode}; see ${lab.experimentLog})`;
  if (lab.exitCode !== 0) return `the experiment exited with status ${lab.exitCode} (see ${lab.experimentLog})`;
  return undefined;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function labXenRun(opts: LabOptions): Promise<void> {
  const refs = opts.profile === undefined ? [] : (Array.isArray(opts.profile) ? opts.profile : [opts.profile]).map(String);
  const guestName = String(opts.guest);
  if (guestName !== 'tiny-pv' && guestName !== 'linux')
    throw new UserError(`--guest: the Xen lab creates tiny-pv or linux (a kernel PATH is not supported yet), got '${guestName}'`);
  const accel = String(opts.accel ?? 'tcg');
  if (accel === 'kvm') throw new UserError('--accel kvm: not yet supported by the Xen lab (its QEMU machine runs Xen under TCG); use --accel tcg');
  if (accel !== 'tcg') throw new UserError(`--accel must be tcg or kvm, got '${accel}'`);
  const runs = opts.runs === undefined ? 1 : wholeNumber(opts.runs, '--runs', 1, 100);
  const domains = opts.domains === undefined ? undefined : wholeNumber(opts.domains, '--domains', 1, MAX_LAB_DOMAINS);
  if (domains !== undefined && opts.runs !== undefined) throw new UserError('--runs and --domains exclude each other: --domains K creates K domains per profile and keeps them running');
  if (domains !== undefined && guestName !== 'tiny-pv') throw new UserError('--domains: only the tiny-pv guest stays up after its marker; use --guest tiny-pv');
  const profiles = resolveLabProfiles(refs);
  const creations = Math.max(1, profiles.length) * (domains ?? runs);
  // Boot ≈ 10–30 s, tune apply/rollback a few s each, a creation ≈ 6–15 s under TCG; generous.
  const timeoutS = opts.timeout === undefined ? 180 + profiles.length * 90 + creations * (guestName === 'linux' ? 90 : 45) : wholeNumber(opts.timeout, '--timeout', 1);
  requireLabRoot();
  const hvscope = profiles.length > 0 ? hvscopeForDom0() : undefined;
  const guest =
    guestName === 'linux'
      ? await prepareLinuxPvGuest().then((g) => ({ kernel: g.kernel, ramdisk: g.ramdisk, extra: LINUX_PV_EXTRA, memoryMb: LINUX_PV_MEMORY_MB, marker: LINUX_PV_MARKER }))
      : { kernel: (await buildTinyPvGuest()).kernel, marker: TINY_PV_MARKER };
  const script = renderXenExperiment({ ...guest, profiles, runs, domains, hvscope, markerTimeoutS: guestName === 'linux' ? 90 : 30 });
  const outDir = String(opts.output);
  const { value: lab, signal } = await withInterrupts((abort) =>
    runInXenLab({
      script,
      outDir,
      timeoutMs: timeoutS * 1000,
      onProgress: progress,
      // The experiment's own progress lines (src/lab/xen/experiment.ts echoes them).
      onConsoleLine: (line) => {
        if (/^(applying \S+|run \d+ of profile \d+: .*|warm-up xl create: .*)$/.test(line)) progress(line);
      },
      signal: abort,
    }),
  );
  if (signal) throw new ExitStatus(interruptedExitCode(signal));
  progress(`lab: boot ${seconds(lab.timings.bootMs)}, experiment ${seconds(lab.timings.experimentMs)}, total ${seconds(lab.timings.totalMs)}; results in ${lab.outDir}`);
  const result = await parseXenExperiment(lab.outDir);
  const labels = profiles.length > 0 ? profiles.map((p) => p.label) : [UNTUNED];
  const ftrace = readLabFtrace(lab.outDir);
  const groups = labGroups(result, labels, ftrace, {
    recorded: `hvscope lab xen run in dom0 of Debian's Xen 4.17 nested under QEMU TCG (${lab.packages.join(', ')}), ${new Date().toISOString()}`,
    hypervisor: 'xen 4.17 (PV dom0, nested in QEMU TCG)',
    marker: guest.marker,
    firstOutputIsMarker: guestName === 'tiny-pv',
  });
  for (const g of groups) {
    for (const r of g.results) {
      const tiny = asTinyPv(r);
      const line = `${guestName}: xl create ${tiny.xlCreateMs.toFixed(0)} ms (exit ${r.createExit}), marker ${tiny.markerSeen ? `seen at ${tiny.markerMs!.toFixed(0)} ms` : 'NOT seen'}, ${domains !== undefined ? `${r.runningDomains} already running` : `domain ${tiny.domainGone ? 'gone' : 'NOT gone'}`}`;
      progress(profiles.length > 0 || domains !== undefined || runs > 1 ? `${g.profile} run ${r.run}: ${line}` : line);
    }
  }
  const failure = experimentFailure(lab, result, labels, domains !== undefined);
  const anyRun = groups.some((g) => g.runs.length > 0);
  const outputs = anyRun ? writeLabOutputs(lab.outDir, groups, { scaling: domains !== undefined, ftrace: result.ftrace }) : undefined;
  if (outputs?.comparison) for (const line of comparisonText(outputs.comparison).split('\n')) progress(line);
  if (outputs) progress(`wrote ${outputs.traces.length} traces, ${[outputs.report.text, outputs.compareSvg, outputs.scalingSvg].filter(Boolean).join(', ')}`);
  if (opts.json) {
    const first = result.runs[0];
    printJson({ lab, tinyPv: first ? asTinyPv(first) : undefined, experiment: result, comparison: outputs?.comparison, outputs });
  }
  if (failure) throw new UserError(`lab xen run: ${failure}`);
}

export function register(cli: CAC): void {
  cli
    .command('lab <hypervisor> <action>', 'Xen-in-QEMU lab: `lab xen run` boots Xen 4.17 + dom0 under QEMU, applies profiles and times real `xl create`s (root)')
    .option('--profile <name>', 'Tuning profile to apply in dom0 before its creations (repeat: stock vs tuned, in order)')
    .option('--guest <guest>', 'Guest to create: tiny-pv (PV unikernel) or linux (Debian kernel + busybox, xen-netfront)', { default: 'tiny-pv' })
    .option('--runs <n>', 'Creations per profile (create, marker, gone; default 1)')
    .option('--domains <k>', `Scaling: create K domains per profile one after another and keep them running (≤ ${MAX_LAB_DOMAINS})`)
    .option('--accel <accel>', 'QEMU accelerator for the lab (tcg)', { default: 'tcg' })
    .option('-o, --output <dir>', 'Output directory (traces, figures, report, logs)', { default: 'lab-out' })
    .option('--timeout <seconds>', 'Give up on the whole lab after this long (default from the work asked for)')
    .option('--json', 'Print the lab result as JSON on stdout')
    .action(
      command(async (hypervisor: string, action: string, opts: LabOptions) => {
        if (hypervisor !== 'xen' || action !== 'run') throw new UserError(`lab: expected \`lab xen run\`, got \`lab ${hypervisor} ${action}\``);
        await labXenRun(opts);
      }),
    );
}
