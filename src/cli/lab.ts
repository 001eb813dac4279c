// hvscope lab xen run [--profile NAME]... [--guest tiny-pv|linux|PATH] [--runs N] [--domains K]
//   [--ramdisk FILE] [--memory MB] [--cmdline TEXT] [--marker REGEX] [--accel tcg|kvm] [-o DIR] [--json]
// hvscope lab xen run --via libvirt [--profile NAME]... [--runs N]: the same lab, tiny-pv created through
//   libvirtd's libxl driver in dom0 (src/cli/lab-libvirt.ts).
// One Xen-in-QEMU lab: per profile, `hvscope tune apply` in dom0, N timed creations
// of the guest (or K tiny-pv left running), rollback; then traces, timelines, report and
// the stock-vs-tuned / scaling figures on the host (src/lab/xen/experiment.ts, compare.ts).
// --guest PATH is the user's own PV kernel (src/lab/xen/guest-path.ts).
import { formatDuration } from '../model/duration.js';
import type { CAC } from 'cac';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, usageError } from '../model/errors.js';
import { parseReadyRule, type ReadyRule } from '../model/ready-rule.js';
import { TINY_PV_MARKER, buildTinyPvGuest } from '../lab/tiny-pv-guest.js';
import { LINUX_PV_EXTRA, LINUX_PV_MARKER, LINUX_PV_MEMORY_MB, prepareLinuxPvGuest } from '../lab/xen/linux-pv-guest.js';
import { requireLabAccel, requireLabRoot, runInXenLab, type XenLabResult } from '../lab/xen/run.js';
import { resolvePathGuest, MAX_GUEST_MEMORY_MB, PATH_GUEST_MEMORY_MB, PATH_GUEST_MARKER_TIMEOUT_S } from '../lab/xen/guest-path.js';
import type { LabInputFile } from '../lab/xen/dom0-initramfs.js';
import type { XenLabAccel } from '../lab/xen/qemu-xen.js';
import type { TinyPvResult } from '../lab/xen/tiny-pv-experiment.js';
import { MAX_LAB_DOMAINS, UNTUNED, renderXenExperiment, type ExperimentProfile } from '../lab/xen/experiment.js';
import { parseXenExperiment, type XenExperimentResult, type XenRunResult } from '../lab/xen/experiment-result.js';
import { comparisonText, labGroups, readLabFtrace, writeLabOutputs } from '../lab/xen/compare.js';
import { loadProfile } from '../tuning/profile.js';
import { allTargets } from '../tuning/targets/index.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';
import { subcommands } from './subcommands.js';
import { labXenRunViaLibvirt } from './lab-libvirt.js';

export interface LabOptions {
  profile?: string | string[];
  guest: string;
  runs?: string | number;
  domains?: string | number;
  accel?: string;
  ramdisk?: string;
  memory?: string | number;
  cmdline?: string | number;
  marker?: string | number;
  ready?: unknown;
  output: string;
  timeout?: string | number;
  via?: unknown;
  json?: boolean;
}

function wholeNumber(value: string | number, flag: string, min: number, max?: number): number {
  const text = String(value);
  if (!/^[0-9]+$/.test(text) || Number(text) < min || (max !== undefined && Number(text) > max))
    throw usageError(`${flag} must be a whole number${max !== undefined ? ` from ${min} to ${max}` : ` ≥ ${min}`}, got '${text}'`);
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
    if (seen.has(dir)) throw usageError(`--profile ${ref}: profile ${loaded.name} is given twice`);
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
export function experimentFailure(lab: XenLabResult, result: XenExperimentResult, labels: string[], scaling: boolean, noMarker = false): string | undefined {
  const name = (p: number) => labels[p] ?? UNTUNED;
  for (const p of result.profiles) {
    if (p.tuneApply && p.tuneApply.exit !== 0)
      return `hvscope tune apply ${name(p.index)} failed in dom0 with status ${p.tuneApply.exit} (see ${join(lab.outDir, p.dir, 'tune-apply.log')})`;
  }
  for (const r of result.runs) {
    const where = `${name(r.profile)} run ${r.run}`;
    if (r.createExit !== 0) return `${where}: xl create failed with status ${r.createExit} (see ${join(lab.outDir, result.profiles.find((p) => p.index === r.profile)?.dir ?? '', `run-${r.run}.xl.log`)})`;
    const consoleLog = join(lab.outDir, result.profiles.find((p) => p.index === r.profile)?.dir ?? '', `run-${r.run}.console.log`);
    if (noMarker && r.readyNs === undefined) return `${where}: the domain was not running once xl create returned (it crashed or shut down at once; see ${consoleLog} and ${join(lab.outDir, 'dom0-logs')})`;
    if (!noMarker && r.markerNs === undefined) return `${where}: the guest never printed its marker on its console (see ${consoleLog} and ${join(lab.outDir, 'dom0-logs')})`;
    if (!scaling && r.goneNs === undefined)
      return r.destroyed ? `${where}: the domain was still there after xl destroy` : `${where}: the domain was still there after the guest powered off (it was destroyed)`;
  }
  for (const p of result.profiles) {
    if (p.tuneRollback && p.tuneRollback.exit !== 0)
      return `hvscope tune rollback after ${name(p.index)} failed in dom0 with status ${p.tuneRollback.exit} (see ${join(lab.outDir, p.dir, 'tune-rollback.log')})`;
  }
  if (!result.finished) return `the experiment stopped before its end (exit ${lab.exitCode}; see ${lab.experimentLog})`;
  if (lab.exitCode !== 0) return `the experiment exited with status ${lab.exitCode} (see ${lab.experimentLog})`;
  return undefined;
}

const seconds = (ms: number) => formatDuration(ms * 1e6);

/** The guest option: a built-in guest's name, or else the path of the user's PV kernel. */
export function guestKind(guest: string): 'tiny-pv' | 'linux' | 'path' {
  return guest === 'tiny-pv' || guest === 'linux' ? guest : 'path';
}

/** Options that only a --guest PATH takes. */
const PATH_ONLY = ['ramdisk', 'memory', 'cmdline', 'marker', 'ready'] as const;

/**
 * --ready for the lab: console:REGEX only, with --guest PATH (the built-in guests
 * bring their marker), as the marker the lab waits for in dom0. The guest's
 * console lives in dom0, where the lab's poll matches it with grep -E: the regex
 * must read the same in JavaScript and as an extended regex (checked before booting).
 */
export function labReadyRule(value: unknown, marker: unknown): ReadyRule | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw usageError('--ready: give one rule');
  const rule = parseReadyRule(typeof value === 'string' ? value : undefined);
  if (rule.kind !== 'console')
    throw usageError(`--ready ${rule.text}: lab xen run takes console:REGEX only (it watches the guest's console in dom0); exit, pio and tcp are for trace and boot`);
  if (marker !== undefined) throw usageError('--ready and --marker both say when the guest is ready: give one');
  return rule;
}

/** --via: xl (default) or libvirt; with libvirt, the options that only the xl path takes are refused. */
export function labVia(opts: LabOptions): 'xl' | 'libvirt' {
  if (opts.via === undefined) return 'xl';
  if (Array.isArray(opts.via) || typeof opts.via === 'boolean' || (opts.via !== 'xl' && opts.via !== 'libvirt'))
    throw usageError(`--via must be xl or libvirt, got '${Array.isArray(opts.via) ? opts.via.join(',') : String(opts.via)}'`);
  if (opts.via === 'xl') return 'xl';
  if (String(opts.guest) !== 'tiny-pv') throw usageError('--via libvirt: only --guest tiny-pv (its domain XML is libvirt\'s own translation of the lab\'s tiny-pv config)');
  if (opts.domains !== undefined) throw usageError('--via libvirt: --domains is for xl create; use --runs');
  if (String(opts.accel ?? 'tcg') !== 'tcg') throw usageError(`--via libvirt: only --accel tcg (the libxl driver needs a CPU model it can decode; measured with -cpu Nehalem under TCG)`);
  return 'libvirt';
}

export async function labXenRun(opts: LabOptions): Promise<void> {
  const refs = opts.profile === undefined ? [] : (Array.isArray(opts.profile) ? opts.profile : [opts.profile]).map(String);
  if (labVia(opts) === 'libvirt') {
    const runs = opts.runs === undefined ? 1 : wholeNumber(opts.runs, '--runs', 1, 100);
    const timeoutS = opts.timeout === undefined ? undefined : wholeNumber(opts.timeout, '--timeout', 1);
    return labXenRunViaLibvirt({ refs, runs, timeoutS, output: String(opts.output), json: opts.json });
  }
  const guestName = String(opts.guest);
  const kind = guestKind(guestName);
  if (guestName === '') throw usageError('--guest: empty; give tiny-pv, linux or the path of a Xen PV kernel');
  for (const key of PATH_ONLY)
    if (kind !== 'path' && opts[key] !== undefined) throw usageError(`--${key}: only with --guest PATH (your own kernel); ${guestName} brings its own`);
  const accelText = String(opts.accel ?? 'tcg');
  if (accelText !== 'tcg' && accelText !== 'kvm') throw usageError(`--accel must be tcg or kvm, got '${accelText}'`);
  const accel: XenLabAccel = accelText;
  const runs = opts.runs === undefined ? 1 : wholeNumber(opts.runs, '--runs', 1, 100);
  const domains = opts.domains === undefined ? undefined : wholeNumber(opts.domains, '--domains', 1, MAX_LAB_DOMAINS);
  if (domains !== undefined && opts.runs !== undefined) throw usageError('--runs and --domains exclude each other: --domains K creates K domains per profile and keeps them running');
  if (domains !== undefined && kind !== 'tiny-pv') throw usageError('--domains: only the tiny-pv guest stays up after its marker; use --guest tiny-pv');
  const memoryMb = opts.memory === undefined ? undefined : wholeNumber(opts.memory, '--memory', 4, MAX_GUEST_MEMORY_MB);
  // cac turns numeric-looking values into numbers and repeated options into arrays.
  const once = (value: unknown, flag: string): string | undefined => {
    if (value === undefined) return undefined;
    if (Array.isArray(value) || typeof value === 'boolean') throw usageError(`${flag}: give it once, with a value (quote it as one argument)`);
    return String(value);
  };
  const ready = labReadyRule(opts.ready, opts.marker);
  const marker = ready?.kind === 'console' ? ready.pattern.source : once(opts.marker, '--marker');
  const cmdline = once(opts.cmdline, '--cmdline');
  const ramdisk = once(opts.ramdisk, '--ramdisk');
  // The user's files are checked here, before anything boots (the lab's dom0 reads them through 9p).
  const pathGuest =
    kind === 'path'
      ? await resolvePathGuest({ kernel: guestName, ramdisk, memoryMb, cmdline, marker })
      : undefined;
  const profiles = resolveLabProfiles(refs);
  const creations = Math.max(1, profiles.length) * (domains ?? runs);
  // Boot ≈ 10–30 s, tune apply/rollback a few s each, a creation ≈ 6–15 s under TCG; generous.
  const perCreationS = kind === 'tiny-pv' ? 45 : kind === 'linux' ? 90 : 30 + PATH_GUEST_MARKER_TIMEOUT_S;
  const timeoutS = opts.timeout === undefined ? 180 + profiles.length * 90 + creations * perCreationS : wholeNumber(opts.timeout, '--timeout', 1);
  requireLabRoot();
  await requireLabAccel(accel);
  const hvscope = profiles.length > 0 ? hvscopeForDom0() : undefined;
  let files: LabInputFile[] = [];
  let guest: Omit<Parameters<typeof renderXenExperiment>[0], 'profiles' | 'runs' | 'domains' | 'hvscope'>;
  if (pathGuest) {
    guest = pathGuest.experiment;
    files = pathGuest.files;
    progress(`guest ${pathGuest.kernel}${pathGuest.ramdisk ? ` with ramdisk ${pathGuest.ramdisk}` : ''}, ${pathGuest.memoryMb} MiB; destroyed once ready`);
    if (pathGuest.marker === undefined)
      progress('no --marker: ready = the domain is running once xl create returned; the guest\'s boot (kernel phase) is not measured');
  } else if (kind === 'linux') {
    guest = await prepareLinuxPvGuest().then((g) => ({ kernel: g.kernel, ramdisk: g.ramdisk, extra: LINUX_PV_EXTRA, memoryMb: LINUX_PV_MEMORY_MB, marker: LINUX_PV_MARKER, markerTimeoutS: 90 }));
  } else {
    guest = { kernel: (await buildTinyPvGuest()).kernel, marker: TINY_PV_MARKER, markerTimeoutS: 30 };
  }
  const script = renderXenExperiment({ ...guest, profiles, runs, domains, hvscope });
  const outDir = String(opts.output);
  const { value: lab, signal } = await withInterrupts((abort) =>
    runInXenLab({
      script,
      outDir,
      timeoutMs: timeoutS * 1000,
      files,
      machine: { accel },
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
  const accelName = accel.toUpperCase();
  const groups = labGroups(result, labels, ftrace, {
    recorded: `hvscope lab xen run in dom0 of Debian's Xen 4.17 nested under QEMU ${accelName} (${lab.packages.join(', ')}), guest ${pathGuest ? pathGuest.kernel : guestName}, ${new Date().toISOString()}`,
    hypervisor: `xen 4.17 (PV dom0, nested in QEMU ${accelName})`,
    marker: pathGuest ? pathGuest.marker : guest.marker,
    firstOutputIsMarker: kind === 'tiny-pv',
    kernelMeasured: !(pathGuest && pathGuest.marker === undefined),
    ...(ready ? { ready } : {}),
  });
  const guestLabel = pathGuest ? 'guest' : guestName;
  for (const g of groups) {
    for (const r of g.results) {
      const tiny = asTinyPv(r);
      const ready =
        pathGuest && pathGuest.marker === undefined
          ? r.readyNs !== undefined ? `running at ${formatDuration(r.readyNs)}` : 'NOT running'
          : `marker ${tiny.markerSeen ? `seen at ${formatDuration(tiny.markerMs! * 1e6)}` : 'NOT seen'}`;
      const end = domains !== undefined ? `${r.runningDomains} already running` : `domain ${tiny.domainGone ? (r.destroyed ? 'destroyed' : 'gone') : 'NOT gone'}`;
      const line = `${guestLabel}: xl create ${formatDuration(tiny.xlCreateMs * 1e6)} (exit ${r.createExit}), ${ready}, ${end}`;
      progress(profiles.length > 0 || domains !== undefined || runs > 1 ? `${g.profile} run ${r.run}: ${line}` : line);
    }
  }
  const failure = experimentFailure(lab, result, labels, domains !== undefined, pathGuest !== undefined && pathGuest.marker === undefined);
  const anyRun = groups.some((g) => g.runs.length > 0);
  const outputs = anyRun ? writeLabOutputs(lab.outDir, groups, { scaling: domains !== undefined, ftrace: result.ftrace }) : undefined;
  if (outputs?.comparison) for (const line of comparisonText(outputs.comparison).split('\n')) progress(line);
  if (outputs) progress(`wrote ${outputs.traces.length} traces, ${[outputs.report.text, outputs.compareSvg, outputs.scalingSvg, ...(outputs.diffs?.files ?? [])].filter(Boolean).join(', ')}`);
  if (opts.json) {
    const first = result.runs[0];
    const { diffs, ...rest } = outputs ?? {};
    printJson({ lab, tinyPv: first ? asTinyPv(first) : undefined, experiment: result, comparison: outputs?.comparison, outputs: outputs ? { ...rest, diffs: diffs?.files } : undefined, diffs: diffs?.diffs ?? [] });
  } else if (outputs?.diffs) process.stdout.write(outputs.diffs.text);
  if (failure) throw new UserError(`lab xen run: ${failure}`);
}

export function register(cli: CAC): void {
  const lab = cli
    .command('lab <hypervisor> <action>', 'Xen-in-QEMU lab: `lab xen run` boots Xen 4.17 + dom0 under QEMU, applies profiles and times real `xl create`s (root)')
    .option('--profile <name>', 'Tuning profile to apply in dom0 before its creations (repeat: stock vs tuned, in order)', { type: [String] })
    .option('--guest <guest>', 'Guest to create: tiny-pv (PV unikernel), linux (Debian kernel + busybox, xen-netfront), or PATH of your own Xen PV kernel (an ELF with Xen PV notes, e.g. an uncompressed vmlinux; destroyed once ready)', { default: 'tiny-pv' })
    .option('--ramdisk <file>', 'With --guest PATH: the guest\'s initramfs')
    .option('--memory <mb>', `With --guest PATH: guest memory in MiB (default ${PATH_GUEST_MEMORY_MB}; a Linux kernel needs 128; ≤ ${MAX_GUEST_MEMORY_MB})`)
    .option('--cmdline <text>', 'With --guest PATH: the guest kernel\'s command line (xl extra=)')
    .option('--marker <regex>', `With --guest PATH: extended regex (grep -E) of the console line that means ready, waited for ≤ ${PATH_GUEST_MARKER_TIMEOUT_S} s; without it ready = running once xl create returned, and the guest's boot is not measured`)
    .option('--ready <rule>', 'With --guest PATH: console:REGEX, the console line that means ready (as --marker; the regex must read the same in JavaScript and grep -E)')
    .option('--runs <n>', 'Creations per profile (create, marker, gone; default 1)')
    .option('--domains <k>', `Scaling: create K domains per profile one after another and keep them running (≤ ${MAX_LAB_DOMAINS})`)
    .option('--accel <accel>', 'QEMU accelerator for the lab: tcg, or kvm (-cpu host; needs a /dev/kvm that runs guests, nested; checked before booting)', { default: 'tcg' })
    .option('-o, --output <dir>', 'Output directory (traces, figures, report, logs)', { default: 'lab-out' })
    .option('--timeout <seconds>', 'Give up on the whole lab after this long (default from the work asked for)')
    .option('--via <how>', 'How domains are created: xl (default), or libvirt: `virsh -c xen:///system create` through libvirtd\'s libxl driver in dom0, tiny-pv\'s stock domain XML vs each --profile\'s libvirt-domain section, alternating; traces start at virsh (orchestrate phase)')
    .option('--json', 'Print the lab result as JSON on stdout')
    .example('sudo hvscope lab xen run --profile xen-stock --profile xen-unikernel --runs 3 -o lab/')
    .example('sudo hvscope lab xen run --via libvirt --profile libvirt-unikernel --runs 3 -o lab-libvirt/   # stock vs tuned domain XML through libvirtd (libxl)')
    .action(
      command(async (hypervisor: string, action: string, opts: LabOptions) => {
        if (hypervisor !== 'xen' || action !== 'run') throw usageError(`lab: expected \`lab xen run\`, got \`lab ${hypervisor} ${action}\``);
        await labXenRun(opts);
      }),
    );
  subcommands(lab, [
    {
      name: 'xen run',
      summary: 'Boot Xen 4.17 and a dom0 under QEMU (TCG, or KVM with --accel kvm), apply each --profile in dom0, time real `xl create`s of the guest, then write traces, timelines, a report and comparison figures (root)',
    },
  ]);
}
