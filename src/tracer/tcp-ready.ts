// `--ready tcp:HOST:PORT`: hvscope connects to the guest's service again and
// again while the workload runs, and the first time it answers is the ready
// time — for a network function, instantiation ends when it serves.
//
// "Answers" is more than an accepted connect: QEMU's user-mode networking
// (hostfwd) and other forwarders accept on the host at once and close the
// connection when the guest refuses it. So a connection counts when the
// service sends data, or is still open ANSWER_GRACE_MS after the connect; one
// closed or reset before that was a forwarder, and the prober tries again.
// What this cannot tell (QEMU 7.2, checked by hand): hostfwd to a guest whose
// network is not up holds the connection open without a word, like a service
// that accepted; a service that speaks first is unambiguous (docs/design.md).
// The ready time is the connect's (CLOCK_MONOTONIC, process.hrtime: the clock
// of bpftrace's nsecs), at most one interval after the service listened.
import { connect, type Socket } from 'node:net';

/** Pause between attempts: the ready time is late by at most this (plus the connect's own time). */
export const TCP_PROBE_INTERVAL_MS = 10;
/** How long an accepted connection must stay open (without data) to count as the service's. */
export const ANSWER_GRACE_MS = 150;
/** Gives up on one attempt after this (a host that drops SYNs). */
const ATTEMPT_TIMEOUT_MS = 1000;

export interface TcpProbeOptions {
  host: string;
  port: number;
  intervalMs?: number;
  graceMs?: number;
  /** Called once, when the service answered. */
  onReady?: (monotonicNs: bigint) => void;
}

export interface TcpProber {
  /** CLOCK_MONOTONIC ns of the first answered connect; undefined until then. */
  readonly readyMonotonicNs: bigint | undefined;
  /** Connects tried so far. */
  readonly attempts: number;
  /** The last reason an attempt failed (ECONNREFUSED, closed by the peer, …). */
  readonly lastFailure: string | undefined;
  /** Stops probing; resolves once no socket or timer of the prober is left. */
  stop(): Promise<void>;
}

/** Starts probing HOST:PORT until it answers or stop() is called. */
export function startTcpProber(opts: TcpProbeOptions): TcpProber {
  const interval = opts.intervalMs ?? TCP_PROBE_INTERVAL_MS;
  const grace = opts.graceMs ?? ANSWER_GRACE_MS;
  let ready: bigint | undefined;
  let attempts = 0;
  let lastFailure: string | undefined;
  let stopped = false;
  let socket: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settle: (() => void) | undefined;
  const idle = new Promise<void>((resolve) => (settle = resolve));

  const finish = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!socket) settle?.();
    else socket.destroy();
  };
  const next = () => {
    if (stopped) return settle?.();
    timer = setTimeout(attempt, interval);
  };
  function attempt(): void {
    timer = undefined;
    if (stopped) return settle?.();
    attempts++;
    let connectedAt: bigint | undefined;
    let answered = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const s = connect({ host: opts.host, port: opts.port });
    socket = s;
    s.setTimeout(ATTEMPT_TIMEOUT_MS, () => {
      lastFailure = `no answer within ${ATTEMPT_TIMEOUT_MS} ms`;
      s.destroy();
    });
    const answer = () => {
      if (answered || connectedAt === undefined || stopped) return;
      answered = true;
      ready = connectedAt;
      opts.onReady?.(connectedAt);
      stopped = true;
      s.destroy();
    };
    s.once('connect', () => {
      connectedAt = process.hrtime.bigint();
      s.setTimeout(0);
      graceTimer = setTimeout(answer, grace);
    });
    s.on('data', answer);
    s.on('end', () => {
      if (!answered) lastFailure = 'accepted, then closed by the peer (a forwarder with no service behind it?)';
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      lastFailure = err.code ?? err.message;
    });
    s.once('close', () => {
      if (graceTimer) clearTimeout(graceTimer);
      socket = undefined;
      if (stopped) settle?.();
      else next();
    });
  }
  attempt();
  return {
    get readyMonotonicNs() {
      return ready;
    },
    get attempts() {
      return attempts;
    },
    get lastFailure() {
      return lastFailure;
    },
    stop() {
      finish();
      return idle;
    },
  };
}
