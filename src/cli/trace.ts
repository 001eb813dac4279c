// hvscope trace [--probes SET,...] [--read-interval MS] [-o run.hvtrace.json] [--svg out.svg] [--json] -- COMMAND...
// Runs COMMAND under bpftrace (src/tracer/session.ts), writes the trace and its
// timeline, and exits with COMMAND's exit status.
import type { CAC } from 'cac';
import { basename, resolve } from 'node:path';
import { UserError } from '../model/errors.js';
import { writeTrace } from '../model/io.js';
import { PHASE_LANE_ID, type Trace } from '../model/trace.js';
import { ALL_PROBE_SET_NAMES, DEFAULT_PROBE_SET_NAMES, parseProbeSets } from '../tracer/probes.js';
import { DEFAULT_READ_INTERVAL_MS, checkCommand, interruptedExitCode, requireTracing, traceCommand, withInterrupts } from '../tracer/session.js';
import { writeRendered } from '../render/index.js';
import { ExitStatus, command, printJson, progress } from './run-command.js';

export const DEFAULT_PROBE_SETS = DEFAULT_PROBE_SET_NAMES.join(',');

interface TraceOptions {
  probes: string;
  output: string;
  svg?: string;
  json?: boolean;
  attachTimeout: number | string;
  readInterval: number | string;
  '--'?: string[];
}

/** Phase name → duration in ms, for the summary line and --json. */
function phaseSummary(trace: Trace): { phase: string; ms: number }[] {
  return trace.spans
    .filter((s) => s.lane === PHASE_LANE_ID)
    .map((s) => ({ phase: s.name, ms: Math.round((s.end - s.start) / 1e4) / 100 }));
}

export function register(cli: CAC): void {
  cli
    .command('trace [...args]', 'Run a command under bpftrace probes and write its trace (needs root): hvscope trace -- COMMAND...')
    .option('--probes <sets>', `Probe sets, comma-separated: ${ALL_PROBE_SET_NAMES.join(', ')} (xen is opt-in: ~64 uprobes on the Xen libraries)`, { default: DEFAULT_PROBE_SETS })
    .option('--attach-timeout <seconds>', 'How long bpftrace may take to attach its probes (nested/emulated hosts need more)', { default: 30 })
    .option(
      '--read-interval <ms>',
      'How often bpftrace reads its event buffers while the command runs; it is paused in between, because its per-event wake-ups slow the traced command (0: read each event as it comes)',
      { default: DEFAULT_READ_INTERVAL_MS },
    )
    .option('-o, --output <file>', 'Trace file to write', { default: 'run.hvtrace.json' })
    .option('--svg <file>', 'Also write the timeline SVG here')
    .option('--json', 'Print a JSON summary on stdout (the command\'s stdout goes to stderr then)')
    .action(
      command(async (args: string[], opts: TraceOptions) => {
        const sets = parseProbeSets(String(opts.probes));
        const attachTimeoutSeconds = Number(opts.attachTimeout);
        if (!(attachTimeoutSeconds > 0)) throw new UserError(`--attach-timeout ${opts.attachTimeout}: expected a number of seconds > 0`);
        const readIntervalMs = Number(opts.readInterval);
        if (!Number.isInteger(readIntervalMs) || readIntervalMs < 0) throw new UserError(`--read-interval ${opts.readInterval}: expected a whole number of milliseconds ≥ 0`);
        if (args.length > 0) {
          throw new UserError(`put the command to trace after --, e.g. hvscope trace -- ${args.join(' ')}`);
        }
        const argv = (opts['--'] ?? []).map(String);
        checkCommand(argv);
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
        if (phases.length > 0) progress(`phases: ${phases.map((p) => `${p.phase} ${p.ms} ms`).join(', ')}`);
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
