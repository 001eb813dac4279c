// Batched reading of a running bpftrace (BpftraceSession.batchReads): bpftrace is
// paused with SIGSTOP and, every interval, let run until its output goes quiet, so
// its per-event wake-ups do not compete with the traced workload (bench probe-effect).
import { execa, type ResultPromise } from 'execa';

/** After resuming a paused bpftrace: how long before checking whether it has gone quiet (ms). */
const DRAIN_FIRST_MS = 20;
/** It has gone quiet once no message arrived for this long (ms). */
const DRAIN_QUIET_MS = 10;

/**
 * If we die while batching (even by SIGKILL, when no handler of ours runs),
 * this keeper sees its stdin close, continues bpftrace and interrupts it, so a
 * paused bpftrace never outlives us with its probes attached. It checks that
 * the pid is still a bpftrace first (pids get reused), and ignores terminal
 * signals (it has its own session: a Ctrl-C is ours to handle). We SIGKILL it
 * when batching ends normally. The pid travels as a positional parameter.
 */
const KEEPER_SCRIPT =
  'trap "" INT TERM HUP; read _; [ "$(cat "/proc/$1/comm" 2>/dev/null)" = bpftrace ] && kill -CONT "$1" && kill -INT "$1"';

/** The batching state of one bpftrace process (pid); `done` and `messages` read its session's state. */
export class BatchReader {
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  // The keeper (KEEPER_SCRIPT) runs exactly while batching: it is the batching state.
  private keeper: ResultPromise | undefined;

  constructor(
    private readonly pid: number,
    private readonly done: () => boolean,
    private readonly messages: () => number,
  ) {}

  /** Starts batching every intervalMs (not when bpftrace is gone, already batching, or intervalMs ≤ 0); returns end. */
  start(intervalMs: number): () => void {
    const end = () => this.end();
    if (this.done() || this.keeper || !(intervalMs > 0)) return end;
    this.keeper = execa('sh', ['-c', KEEPER_SCRIPT, 'hvscope-bpftrace-keeper', String(this.pid)], {
      stdin: 'pipe',
      stdout: 'ignore',
      stderr: 'ignore',
      reject: false,
      cleanup: false,
      detached: true,
    });
    this.pause();
    this.timer = setTimeout(() => this.drain(intervalMs), intervalMs);
    return end;
  }

  /** Ends batching: bpftrace runs freely again. */
  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.resume();
    this.keeper?.kill('SIGKILL');
    this.keeper = undefined;
  }

  /** Lets bpftrace run until no message arrived for DRAIN_QUIET_MS, then pauses it until the next interval. */
  private drain(intervalMs: number): void {
    if (!this.keeper) return;
    this.resume();
    let seen = this.messages();
    const quiet = () => {
      if (!this.keeper) return;
      if (this.messages() !== seen) {
        seen = this.messages();
        this.timer = setTimeout(quiet, DRAIN_QUIET_MS);
        return;
      }
      this.pause();
      this.timer = setTimeout(() => this.drain(intervalMs), intervalMs);
    };
    this.timer = setTimeout(quiet, DRAIN_FIRST_MS);
  }

  private pause(): void {
    if (this.done() || this.paused) return;
    this.paused = true;
    this.signal('SIGSTOP');
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.signal('SIGCONT');
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      process.kill(this.pid, sig);
    } catch {
      // gone
    }
  }
}
