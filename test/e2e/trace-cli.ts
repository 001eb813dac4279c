// Helpers for the trace/boot/demo e2e tests: run the built CLI (bin/hvscope) as a
// real child process, as root or as an unprivileged user, and inspect what is
// left running afterwards.
import { existsSync, mkdtempSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, execaSync, type Options } from 'execa';
import { hvscopeBin, repo } from '../helpers/cli.js';

export { repo } from '../helpers/cli.js';
/** The real CLI entry (built by test/global-setup.ts). */
export const entry = hvscopeBin;

/** Kept for the tests' beforeAll: dist/ is built once by the global setup; fail clearly if it is missing. */
export async function buildCli(): Promise<void> {
  if (!existsSync(join(repo, 'dist/src/cli/index.js'))) throw new Error('dist/ is missing: the vitest global setup (test/global-setup.ts) builds it');
}

export const NOBODY = 65534;

/** A HOME an unprivileged user can write (its ~/.cache holds the guest builds). */
export function nobodyHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'hvscope-nobody-'));
  chownSync(home, NOBODY, NOBODY);
  chmodSync(home, 0o755);
  return home;
}

export interface CliOptions {
  /** Run as uid/gid 65534 with this HOME. */
  asNobodyWithHome?: string;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

/** `hvscope ARGS...` as a child process (never throws on a non-zero exit). */
export function hvscope(args: string[], opts: CliOptions = {}) {
  const env = { ...process.env, ...(opts.env ?? {}) };
  const execOpts: Options = { reject: false, env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, stdin: 'ignore' };
  if (opts.asNobodyWithHome) {
    env.HOME = opts.asNobodyWithHome;
    delete env.XDG_CACHE_HOME;
    return execa(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, entry, ...args],
      execOpts,
    );
  }
  return execa(process.execPath, [entry, ...args], execOpts);
}

/** Pids of processes whose command line contains `needle` (ours excluded). */
export function processesMatching(needle: string): { pid: number; cmd: string }[] {
  const r = execaSync('ps', ['-eo', 'pid=,args='], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(needle))
    .map((l) => ({ pid: Number(l.split(/\s+/, 1)[0]), cmd: l.slice(l.indexOf(' ') + 1) }))
    .filter((p) => p.pid !== process.pid && !p.cmd.startsWith('ps '));
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Direct children of pid (from /proc). */
export function childrenOf(pid: number): { pid: number; cmd: string }[] {
  const r = execaSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => ({ pid: Number(l.split(/\s+/, 1)[0]), cmd: l.slice(l.indexOf(' ') + 1) }));
}

/** Waits until `predicate` holds, polling (ms); false on timeout. */
export async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (predicate()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return predicate();
}

/** Validates an SVG with xmllint; returns its complaint, or '' when valid. */
export async function xmllintErrors(file: string): Promise<string> {
  const r = await execa('xmllint', ['--noout', file], { reject: false });
  return r.exitCode === 0 ? '' : String(r.stderr);
}

export const scratchDir = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));
