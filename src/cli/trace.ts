// hvscope trace [--probes SET,...] [--read-interval MS] [-o run.hvtrace.json] [--svg out.svg] [--json] -- COMMAND...
// Runs COMMAND under bpftrace (src/tracer/session.ts), writes the trace and its
// timeline, and exits with COMMAND's exit status.
import type { CAC } from 'cac';
import { basename, resolve } from 'node:path';
import { UserError, usageError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import { phaseSummary, phaseSummaryText } from '../analysis/phases.js';
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
    .option('--libvirtd <pid>', 'libvirtd whose calls the libvirt probe set traces (default: the only libvirtd running)')
    .option('-o, --output <file>', 'Trace file to write', { default: 'run.hvtrace.json' })
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
