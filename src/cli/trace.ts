// hvscope trace [--probes SET,...] [--read-interval MS] [-o run.hvtrace.json] [--svg out.svg] [--json] -- COMMAND...
// Runs COMMAND under bpftrace (src/tracer/session.ts), writes the trace and its
// timeline, and exits with COMMAND's exit status.
import type { CAC } from 'cac';
import { basename, resolve } from 'node:path';
import { UserError, usageError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import { phaseSummary, phaseSummaryText } from '../analysis/phases.js';
import { readyOutcome, readyOutcomeText } from '../analysis/ready-outcome.js';
import { READY_RULE_SYNTAX, parseReadyRule, type ReadyRule } from '../model/ready-rule.js';
import { QEMU_BOOT_TIME_PORTS, DEBUG_PORT } from '../model/markers.js';
import { ALL_PROBE_SET_NAMES, DEFAULT_PROBE_SET_NAMES, parseProbeSets } from '../tracer/probes.js';
import { DEFAULT_READ_INTERVAL_MS, checkCommand, interruptedExitCode, requireTracing, traceCommand, withInterrupts } from '../tracer/session.js';
import { writeRendered } from '../render/index.js';
import { findLibvirtd } from '../vim/libvirtd.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';

export const DEFAULT_PROBE_SETS = DEFAULT_PROBE_SET_NAMES.join(',');
/** Longest --attach-timeout: an hour is far beyond any host's attach time, and well inside a Node timer's range. */
export const MAX_ATTACH_TIMEOUT_S = 3600;

interface TraceOptions {
  probes: string;
  output: string;
  svg?: string;
  json?: boolean;
  attachTimeout: number | string;
  readInterval?: number | string;
  ready?: unknown;
  libvirtd?: number | string;
  '--'?: string[];
}

export function register(cli: CAC): void {
  cli
    .command('trace [...args]', 'Run a command under bpftrace probes and write its trace (needs root): hvscope trace -- COMMAND...')
    .option('--probes <sets>', `Probe sets, comma-separated: ${ALL_PROBE_SET_NAMES.join(', ')} (xen and libvirt are opt-in: uprobes on the Xen libraries; libvirtd's API calls, driver steps and QMP traffic)`, { default: DEFAULT_PROBE_SETS })
    .option('--attach-timeout <seconds>', `How long bpftrace may take to attach its probes (nested/emulated hosts need more; ≤ ${MAX_ATTACH_TIMEOUT_S})`, { default: 30 })
    .option(
      '--read-interval <ms>',
      `How often bpftrace reads its event buffers while the command runs, paused in between (0: read each event as it comes). Default: what this host measured to slow the command least, ${DEFAULT_READ_INTERVAL_MS} or 0 (once per host, cached in ~/.cache/hvscope/read-strategy.json)`,
    )
    .option('--ready <rule>', `What ends the last phase (the guest is ready), instead of the built-in ready markers: ${READY_RULE_SYNTAX}`)
    .option('--libvirtd <pid>', 'libvirtd whose calls the libvirt probe set traces (default: the only libvirtd running)')
    .option('-o, --output <file>', 'Trace file to write', { default: 'run.hvtrace.json' })
    .example('sudo hvscope trace --svg run.svg -- qemu-system-x86_64 -M microvm -kernel vmlinux ...')
    .example("sudo hvscope trace --ready 'console:^nginx ready' -- ./start-vm.sh       # the user phase ends at that line")
    .example('sudo hvscope trace --ready tcp:127.0.0.1:8080 -- ./start-vm.sh          # ... when the service answers')
    .option('--svg <file>', 'Also write the timeline SVG here')
    .option('--json', 'Print a JSON summary on stdout (the command\'s stdout goes to stderr then)')
    .action(
      command(async (args: string[], opts: TraceOptions) => {
        const sets = parseProbeSets(String(opts.probes));
        const attachTimeoutSeconds = Number(opts.attachTimeout);
        if (!(attachTimeoutSeconds > 0 && attachTimeoutSeconds <= MAX_ATTACH_TIMEOUT_S))
          throw usageError(`--attach-timeout ${opts.attachTimeout}: expected a number of seconds > 0 and ≤ ${MAX_ATTACH_TIMEOUT_S}`);
        const readIntervalMs = opts.readInterval === undefined ? undefined : Number(opts.readInterval);
        if (readIntervalMs !== undefined && (!Number.isInteger(readIntervalMs) || readIntervalMs < 0))
          throw usageError(`--read-interval ${opts.readInterval}: expected a whole number of milliseconds ≥ 0`);
        if (args.length > 0) {
          throw usageError(`put the command to trace after --, e.g. hvscope trace -- ${args.join(' ')}`);
        }
        const ready = opts.ready === undefined ? undefined : traceReadyRule(opts.ready);
        const argv = (opts['--'] ?? []).map(String);
        checkCommand(argv);
        if (opts.libvirtd !== undefined && !sets.includes('libvirt')) throw usageError('--libvirtd applies to the libvirt probe set: add --probes libvirt,...');
        if (opts.libvirtd !== undefined && !/^[0-9]+$/.test(String(opts.libvirtd))) throw usageError(`--libvirtd ${String(opts.libvirtd)}: expected a process id`);
        const libvirtdPid = sets.includes('libvirt') ? findLibvirtd(opts.libvirtd === undefined ? undefined : Number(opts.libvirtd)) : undefined;
        await requireTracing();
        const output = resolve(String(opts.output));
        const svg = opts.svg !== undefined ? resolve(String(opts.svg)) : undefined;

        const { value: run, signal } = await withInterrupts((abort) =>
          traceCommand({
            command: argv,
            sets,
            signal: abort,
            stdout: opts.json ? 'stderr' : 'inherit',
            onProgress: progress,
            inputName: output,
            attachTimeoutMs: attachTimeoutSeconds * 1000,
            readIntervalMs,
            ready,
            libvirtdPid,
          }),
        );
        writeTrace(output, run.trace);
        progress(`trace: ${output}${run.interrupted || run.tracerFailure ? ' (partial)' : ''}`);
        if (svg) {
          writeRendered(svg, [{ label: basename(output).replace(/\.hvtrace\.json$/, ''), trace: run.trace }], 'svg', { title: `hvscope trace: ${argv.join(' ')}` });
          progress(`timeline: ${svg}`);
        }
        progress(`lost events: ${run.lostEvents}`);
        const phases = phaseSummary(run.trace);
        if (phases.length > 0) progress(`phases: ${phaseSummaryText(run.trace)}`);
        const readiness = readyOutcome(run.trace);
        if (readiness) progress(readyOutcomeText(readiness));
        if (opts.json) {
          printJson({
            trace: output,
            svg: svg ?? null,
            exitCode: run.exitCode,
            exitSignal: run.exitSignal,
            interrupted: run.interrupted,
            partial: run.interrupted || run.tracerFailure !== undefined,
            lostEvents: run.lostEvents,
            unavailable: run.unavailable,
            phases,
            ...(readiness ? { ready: readiness } : {}),
          });
        }
        if (run.tracerFailure) throw new UserError(`${run.tracerFailure}; partial trace written to ${output}`);
        if (signal) throw new ExitStatus(interruptedExitCode(signal));
        if (run.exitCode !== 0) {
          progress(`${argv[0]} exited with status ${run.exitCode}`);
          throw new ExitStatus(run.exitCode);
        }
      }),
    );
}

/** Ports whose guest writes `trace` sees (probes/qemu.bt: kvm:kvm_pio, KVM only); a fixed list, never the user's number in the program. */
export const TRACE_PIO_PORTS: readonly number[] = [...QEMU_BOOT_TIME_PORTS, DEBUG_PORT];

/** --ready for trace: a rule whose evidence trace can see. */
export function traceReadyRule(value: unknown): ReadyRule {
  if (Array.isArray(value)) throw usageError('--ready: give one rule');
  const rule = parseReadyRule(typeof value === 'string' ? value : undefined);
  if (rule.kind === 'pio' && !TRACE_PIO_PORTS.includes(rule.port))
    throw usageError(
      `--ready ${rule.text}: hvscope trace sees guest port writes only to ${TRACE_PIO_PORTS.map((p) => `0x${p.toString(16)}`).join(', ')} (kvm:kvm_pio, under KVM); hvscope boot sees any port without a device (QEMU's trace log)`,
    );
  return rule;
}
