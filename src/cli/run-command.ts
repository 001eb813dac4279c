// Shared wiring for commands: one-line errors, JSON output, progress on stderr.
import { UserError } from '../model/errors.js';

/** Set by a command that wants a specific exit status without throwing (e.g. verify failed). */
export class ExitStatus extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export type Action<A extends unknown[]> = (...args: A) => Promise<void> | void;

/** Wraps a command action so failures become one line on stderr and an exit code. */
export function command<A extends unknown[]>(action: Action<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}

export function reportError(err: unknown): number {
  if (err instanceof ExitStatus) return err.code;
  if (err instanceof UserError) {
    process.stderr.write(`hvscope: ${err.message}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`hvscope: internal error: ${e?.stack ?? String(err)}\n`);
  return 70;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Progress for long work goes to stderr, so stdout stays clean for --json. */
export function progress(message: string): void {
  process.stderr.write(`hvscope: ${message}\n`);
}
