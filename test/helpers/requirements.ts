// End-to-end tests need real tools. In CI (CI=true) a missing one is a failure;
// elsewhere the test may skip with a one-line reason. Never hide a failure behind a skip.
import { execFileSync } from 'node:child_process';

export const inCI = process.env.CI === 'true';

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Returns a reason string when the requirement is missing outside CI (use with
 * `it.skipIf(reason)`), throws in CI so the test run fails loudly.
 */
export function requireOrSkip(ok: boolean, what: string): string | false {
  if (ok) return false;
  if (inCI) throw new Error(`CI requires ${what}, which is missing on this machine`);
  console.warn(`skip: ${what} missing`);
  return `${what} missing`;
}
