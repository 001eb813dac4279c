// Turns bpftrace's failure text into one clear UserError: what went wrong and
// what to run. Patterns come from real bpftrace 0.17 output recorded under
// testdata/bpftrace-0.17/ (see its README for how each was provoked), plus the
// wording of newer releases where it is known to differ.
import { UserError } from '../model/errors.js';

/** Host facts that decide between causes that print the same text. */
export interface BpftraceFailureContext {
  /** tracefs mounted at /sys/kernel/tracing (0.17 says "tracepoint not found" without it). */
  tracefsMounted?: boolean;
  /** /sys/kernel/btf/vmlinux exists. */
  btfPresent?: boolean;
  /** We run as root (euid 0). */
  isRoot?: boolean;
}

export interface BpftraceFailure {
  stderr: string;
  /** bpftrace 0.17 prints some failures ("No probes to attach") on stdout. */
  stdout?: string;
  exitCode?: number | null;
  signal?: string | null;
}

/** Kinds of failure, for callers (doctor) that branch on the cause rather than the text. */
export type BpftraceFailureKind =
  | 'not-root'
  | 'tracefs'
  | 'no-tracepoint'
  | 'kprobe-unsupported'
  | 'unknown-probe-type'
  | 'uprobe-target'
  | 'uprobe-symbol'
  | 'btf'
  | 'kfunc-unsupported'
  | 'attach'
  | 'program'
  | 'not-installed'
  | 'other';

export class BpftraceError extends UserError {
  constructor(
    readonly kind: BpftraceFailureKind,
    message: string,
    /** The bpftrace lines the message was derived from. */
    readonly detail: string[] = [],
  ) {
    super(message);
    this.name = 'BpftraceError';
  }
}

const MOUNT_TRACEFS = 'mount -t tracefs nodev /sys/kernel/tracing';

/**
 * bpftrace 0.17 prints this as "ERROR" on every start when `ulimit -l` cannot be
 * raised (containers, some VMs), then works normally: never a failure by itself.
 */
export function isMemlockWarning(line: string): boolean {
  return /couldn't set RLIMIT_MEMLOCK/.test(line);
}

/** stderr lines that carry an error, without the RLIMIT_MEMLOCK noise, warnings and source excerpts. */
export function errorLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !isMemlockWarning(l))
    .filter((l) => /\bERROR\b|FATAL|^No probes to attach|^create_probe_event|Could not|could not|not found|does not exist/.test(l));
}

/** "stdin:1:1-37: ERROR: tracepoint not found: x" → "tracepoint not found: x". */
function stripLocation(line: string): string {
  return line.replace(/^(?:[^\s:]+:\d+:\d+(?:-\d+)?:\s*)?(?:ERROR|FATAL):\s*/, '').trim();
}

export function bpftraceNotInstalled(binary = 'bpftrace'): BpftraceError {
  return new BpftraceError(
    'not-installed',
    `${binary} is not installed (or not on PATH): install it with \`apt-get install -y bpftrace\` (Debian/Ubuntu)`,
  );
}

/** One known failure: the stderr/stdout line it shows, and the error it means (undefined: not this one after all). */
interface FailureRule {
  pattern: RegExp;
  explain: (m: RegExpMatchArray, ctx: BpftraceFailureContext, lines: string[], find: (re: RegExp) => RegExpMatchArray | null) => BpftraceError | undefined;
}

/** Known bpftrace failures, tried in order: the first whose pattern matches a line and that explains it wins. */
const FAILURE_RULES: FailureRule[] = [
  {
    pattern: /only supports running as the root user|must be run as root|Operation not permitted|Permission denied/,
    explain: (_m, ctx, lines) => (ctx.isRoot !== true ? new BpftraceError('not-root', 'bpftrace needs root: run hvscope as root (e.g. `sudo hvscope ...`)', lines) : undefined),
  },
  {
    pattern: /create_probe_event: open\(([^)]*kprobe_events)\)/,
    explain: (m, ctx, lines) =>
      ctx.tracefsMounted === false
        ? tracefsError(lines)
        : new BpftraceError(
            'kprobe-unsupported',
            `kprobes cannot attach on this kernel (${m[1]} is missing: kernel built without CONFIG_KPROBE_EVENTS); use tracepoint or uprobe probes instead`,
            lines,
          ),
  },
  {
    pattern: /tracepoint not found: (\S+)/,
    explain: (m, ctx, lines) =>
      ctx.tracefsMounted === false
        ? tracefsError(lines)
        : new BpftraceError('no-tracepoint', `no tracepoint ${m[1]} on this kernel (list what exists with \`bpftrace -l 'tracepoint:${m[1].split(':')[0]}:*'\`)`, lines),
  },
  {
    pattern: /Invalid probe type|Unrecognized probe type|Invalid provider/i,
    explain: (_m, _ctx, lines, find) => {
      const first = find(/^\s*([A-Za-z_]+):[^\s{]*\s*\{/);
      return new BpftraceError(
        'unknown-probe-type',
        `bpftrace does not know a probe type in the program${first ? ` ("${first[1]}")` : ''}; probe types are e.g. tracepoint, uprobe, uretprobe, kprobe, usdt, interval, BEGIN/END`,
        lines,
      );
    },
  },
  {
    pattern: /uprobe target file '([^']*)' does not exist or is not executable/,
    explain: (m, _ctx, lines) => new BpftraceError('uprobe-target', `uprobe target ${m[1]} does not exist or is not executable`, lines),
  },
  {
    pattern: /Could not resolve symbol: (\S+)|couldn't get symbol "?([^"\s]+)/,
    explain: (m, _ctx, lines) =>
      new BpftraceError(
        'uprobe-symbol',
        `uprobe symbol ${m[1] ?? m[2]} not found: the binary is stripped or has no such function (check with \`nm -D BINARY\`; install its debug symbols or trace an unstripped build)`,
        lines,
      ),
  },
  {
    pattern: /^No probes to attach/,
    explain: (_m, _ctx, lines) =>
      new BpftraceError(
        'uprobe-symbol',
        'no probe could be attached: a uprobe names a function missing from its binary (stripped binary or misspelt name?) or a wildcard matched nothing; check symbols with `nm -D BINARY`',
        lines,
      ),
  },
  {
    pattern: /kfunc\/kretfunc not available|fentry.*not available|kfunc.*not supported/i,
    explain: (_m, ctx, lines) =>
      ctx.btfPresent === false ? btfError(lines) : new BpftraceError('kfunc-unsupported', 'kfunc/fentry probes are not available on this kernel; use tracepoints or uprobes instead', lines),
  },
  { pattern: /BTF|Unknown struct|unknown type|vmlinux/i, explain: (_m, ctx, lines) => (ctx.btfPresent === false ? btfError(lines) : undefined) },
  {
    pattern: /Error attaching probe: '?([^']+)'?/,
    explain: (m, ctx, lines) => (ctx.tracefsMounted === false ? tracefsError(lines) : new BpftraceError('attach', `bpftrace could not attach probe ${m[1]}`, lines)),
  },
  {
    pattern: /(?:ERROR|FATAL): (syntax error.*|.*)$/,
    explain: (m, _ctx, lines) => {
      const text = stripLocation(m[0]);
      return /syntax error|Undefined|unknown function|Unknown identifier|cannot|invalid/i.test(text) ? new BpftraceError('program', `bpftrace rejected the probe program: ${text}`, lines) : undefined;
    },
  },
];

/** Maps a failed bpftrace run to one UserError. Always returns an error (a generic one when no pattern matches). */
export function explainBpftraceFailure(failure: BpftraceFailure, ctx: BpftraceFailureContext = {}): BpftraceError {
  const all = `${failure.stderr}\n${failure.stdout ?? ''}`;
  const lines = errorLines(all);
  const find = (re: RegExp): RegExpMatchArray | null => {
    for (const l of all.split('\n')) {
      if (isMemlockWarning(l)) continue;
      const m = l.match(re);
      if (m) return m;
    }
    return null;
  };
  for (const rule of FAILURE_RULES) {
    const m = find(rule.pattern);
    const error = m ? rule.explain(m, ctx, lines, find) : undefined;
    if (error) return error;
  }
  const status = failure.signal != null ? `killed by ${failure.signal}` : failure.exitCode != null ? `exit status ${failure.exitCode}` : 'failed';
  const summary = lines.length > 0 ? `: ${lines.map(stripLocation).join('; ')}` : '';
  return new BpftraceError('other', `bpftrace failed (${status})${summary}`, lines);
}

function tracefsError(lines: string[]): BpftraceError {
  return new BpftraceError(
    'tracefs',
    `tracefs is not mounted at /sys/kernel/tracing, so bpftrace finds no tracepoints: run \`${MOUNT_TRACEFS}\` as root ` +
      '(hvscope trace does this itself when run as root)',
    lines,
  );
}

function btfError(lines: string[]): BpftraceError {
  return new BpftraceError(
    'btf',
    'kernel BTF is missing (/sys/kernel/btf/vmlinux): the probes need a kernel built with CONFIG_DEBUG_INFO_BTF=y ' +
      '(stock Debian/Ubuntu kernels have it)',
    lines,
  );
}
