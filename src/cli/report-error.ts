// How hvscope ends: the exit status for an error, the one line it prints, and
// a closed pipe. Kept free of heavy imports: the CLI entry loads it for --help too.
import { EXIT, UserError, printableMessage } from '../model/errors.js';

/** Set by a command that wants a specific exit status without throwing (e.g. verify failed). */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export function reportError(err: unknown): number {
  if (err instanceof ExitStatus) return err.code;
  if (err instanceof UserError) {
    process.stderr.write(`hvscope: ${printableMessage(err.message)}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`hvscope: internal error: ${e?.stack ?? String(err)}\n`);
  return EXIT.internal;
}

/**
 * A reader that went away (`hvscope ... | head`) closes our stdout: end at
 * once, quietly, with 141 as a tool killed by SIGPIPE would (git does), instead
 * of an EPIPE stack trace. Same for stderr.
 */
export function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount('error') > 0) continue;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT.brokenPipe);
      throw err;
    });
  }
}
