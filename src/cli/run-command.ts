// Shared wiring for commands: one-line errors, exit statuses, JSON output,
// output to a file or `-` (stdout), progress on stderr, a closed pipe.
import { writeFileAtomic } from '../model/io.js';
import { ExitStatus, reportError } from './report-error.js';

export { ExitStatus, reportError };

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

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Progress for long work goes to stderr, so stdout stays clean for --json. */
export function progress(message: string): void {
  process.stderr.write(`hvscope: ${message}\n`);
}

/** Writes command output to `target`: a file (atomically), or stdout for `-`. Returns whether it went to a file. */
export function writeOutput(target: string, content: string | Buffer): boolean {
  if (target === '-') {
    process.stdout.write(content);
    return false;
  }
  writeFileAtomic(target, content);
  return true;
}

