// hvscope boot --guest tiny|linux|PATH [--initrd FILE] [--profile NAME] [--machine microvm|pc]
//              [--accel kvm|tcg] [--runs N] [-o DIR] [--json]
import type { CAC } from 'cac';
import { usageError } from '../model/errors.js';
import { ACCELS, MACHINES, type Accel, type Machine } from '../lab/boot.js';
import { runBoots } from '../lab/boot-series.js';
import { interruptedExitCode, withInterrupts } from '../tracer/session.js';
import { formatReportText } from '../analysis/report.js';
import { READY_RULE_SYNTAX, parseReadyRule } from '../model/ready-rule.js';
import { runLibvirtBoots } from '../vim/boot.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';

interface BootCliOptions {
  guest: string;
  initrd?: string;
  profile?: string | string[];
  machine?: string;
  accel?: string;
  runs: string | number;
  output: string;
  json?: boolean;
  rootless?: boolean;
  ready?: unknown;
  via?: string;
}

function parseRuns(value: string | number): number {
  const text = String(value);
  if (!/^[0-9]+$/.test(text)) throw usageError(`--runs must be a positive integer, got '${text}'`);
  return Number(text);
}

export function register(cli: CAC): void {
  cli
    .command('boot', 'Boot a guest N times under QEMU, trace each boot, write traces, a timeline and a report')
    .option('--guest <guest>', 'tiny (built here), linux (Debian kernel + busybox), or the path of a kernel', { default: 'tiny' })
    .option('--initrd <file>', 'Initrd for a kernel given by path (or instead of the linux guest\'s)')
    .option('--profile <name>', 'Tuning profile whose qemu section builds the command line (e.g. qemu-default, qemu-microvm-min); repeat to compare profiles: boots alternate between them, each profile\'s runs go to DIR/PROFILE/, and the first is diffed against each other (the same profile twice: an A/A test of the noise)', { type: [String] })
    .option('--machine <machine>', `QEMU machine (${MACHINES.join(', ')}); default: the profile's, else tiny: microvm, others: pc`)
    .option('--accel <accel>', `Accelerator (${ACCELS.join(', ')}); default: kvm when it works here, else tcg`)
    .option('--runs <n>', 'Number of boots', { default: 1 })
    .option('-o, --output <dir>', 'Output directory', { default: 'boot-out' })
    .option('--ready <rule>', `What ends the last phase (the guest is ready), instead of the built-in ready markers: ${READY_RULE_SYNTAX} (pio: a port without a device, seen in QEMU's trace log)`)
    .option('--rootless', 'Do not use bpftrace even when it could run (QEMU trace log + serial console only)')
    .option('--via <vim>', 'Create the guest through a VIM layer: libvirt (hvscope starts a private libvirtd + virtlogd, writes the domain XML, traces each virsh create with the libvirt, qemu and exec sets; needs root). With --profile: its libvirt-domain section edits the domain XML, its libvirt-qemu-conf section the daemon\'s own qemu.conf')
    .option('--json', 'Print the report as JSON on stdout')
    .example('sudo hvscope boot --guest linux --runs 5 -o out/')
    .example('sudo hvscope boot --via libvirt --profile libvirt-unikernel --runs 3 -o uni/')
    .example('sudo hvscope boot --guest tiny --ready exit            # the user phase ends when QEMU exits')
    .example("sudo hvscope boot --guest tiny --ready pio:0x80=0x7f   # ... at the guest's write of 0x7f to port 0x80")
    .action(
      command(async (opts: BootCliOptions) => {
        const runs = parseRuns(opts.runs);
        if (Array.isArray(opts.ready)) throw usageError('--ready: give one rule');
        const ready = opts.ready === undefined ? undefined : parseReadyRule(typeof opts.ready === 'string' ? opts.ready : undefined);
        if (opts.via !== undefined) return bootVia(opts, runs);
        const profiles = opts.profile === undefined ? [] : (Array.isArray(opts.profile) ? opts.profile : [opts.profile]).map(String);
        if (profiles.some((p) => p === '' || p === 'true')) throw usageError('--profile: give a profile name or file');
        if (opts.machine !== undefined && !MACHINES.includes(opts.machine as Machine)) {
          throw usageError(`--machine must be one of ${MACHINES.join(', ')}, got '${opts.machine}'`);
        }
        if (opts.accel !== undefined && !ACCELS.includes(opts.accel as Accel)) {
          throw usageError(`--accel must be one of ${ACCELS.join(', ')}, got '${opts.accel}'`);
        }
        const { value: result, signal } = await withInterrupts((abort) =>
          runBoots({
            guest: String(opts.guest),
            initrd: opts.initrd,
            ...(profiles.length > 1 ? { profiles } : { profile: profiles[0] }),
            machine: opts.machine as Machine | undefined,
            accel: opts.accel as Accel | undefined,
            runs,
            outDir: String(opts.output),
            mode: opts.rootless ? 'rootless' : 'auto',
            ready,
            signal: abort,
            onProgress: progress,
          }),
        );
        if (result.runs.length > 0) {
          progress(`traces: ${result.runs.map((r) => r.file).join(', ')}`);
          progress(`timeline${result.groups.length > 1 ? 's' : ''}: ${result.groups.flatMap((g) => (g.svg ? [g.svg] : [])).join(', ')}`);
          progress(`report: ${result.reportText}, ${result.reportJson}`);
        }
        if (opts.json) {
          printJson({
            traced: result.traced,
            unavailable: result.unavailable,
            accel: result.accel,
            guest: result.guest,
            command: result.command,
            interrupted: result.interrupted,
            traces: result.runs.map((r) => r.file),
            lostEvents: result.runs.map((r) => r.trace.meta.lostEvents ?? 0),
            svg: result.svg,
            report: result.report,
            ...(result.groups.length > 1
              ? { profiles: result.groups.map((g) => ({ profile: g.profile, dir: g.dir, traces: g.runs.map((r) => r.file), svg: g.svg, report: g.report })), diffs: result.diffs?.diffs ?? [] }
              : {}),
          });
        } else if (result.groups.length > 1) {
          for (const g of result.groups) process.stdout.write(`== ${g.profile ?? 'QEMU defaults'} (${g.dir}) ==\n${formatReportText(g.report)}\n`);
          if (result.diffs) process.stdout.write(result.diffs.text);
        } else {
          process.stdout.write(formatReportText(result.report));
        }
        if (result.diffs) progress(`diffs: ${result.diffs.files.join(', ')}`);
        const lost = result.runs.reduce((sum, r) => sum + (r.trace.meta.lostEvents ?? 0), 0);
        if (lost > 0) progress(`bpftrace lost ${lost} events over ${result.runs.length} runs (recorded in each trace's meta.lostEvents)`);
        if (signal) throw new ExitStatus(interruptedExitCode(signal));
      }),
    );
}

/** `boot --via libvirt`: the options that do not apply are refused, not ignored. */
async function bootVia(opts: BootCliOptions, runs: number): Promise<void> {
  if (String(opts.via) !== 'libvirt') throw usageError(`--via must be libvirt, got '${String(opts.via)}'`);
  for (const [flag, value] of [['--machine', opts.machine], ['--accel', opts.accel], ['--rootless', opts.rootless], ['--ready', opts.ready]] as const)
    if (value !== undefined && value !== false) throw usageError(`${flag} does not apply to --via libvirt (the domain XML says it; libvirt runs QEMU under TCG here)`);
  const profiles = opts.profile === undefined ? [] : (Array.isArray(opts.profile) ? opts.profile : [opts.profile]).map(String);
  if (profiles.length > 1) throw usageError('--via libvirt takes one --profile');
  const { value: result, signal } = await withInterrupts((abort) =>
    runLibvirtBoots({ guest: String(opts.guest), initrd: opts.initrd, profile: profiles[0], runs, outDir: String(opts.output), signal: abort, onProgress: progress }),
  );
  if (result.runs.length > 0) progress(`traces: ${result.runs.map((r) => r.file).join(', ')}; timeline: ${result.svg}; report: ${result.reportText}`);
  if (opts.json) printJson({ via: 'libvirt', guest: String(opts.guest), interrupted: result.interrupted, traces: result.runs.map((r) => r.file), svg: result.svg ?? null, report: result.group.report });
  else process.stdout.write(formatReportText(result.group.report));
  if (signal) throw new ExitStatus(interruptedExitCode(signal));
}
