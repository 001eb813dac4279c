// Helpers for the trace/boot/demo e2e tests: compile the CLI entry
// (trace-cli-entry.ts) with tsc and run it as a real child process, as root or
// as an unprivileged user, and inspect what is left running afterwards.
import { existsSync, mkdtempSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, execaSync, type Options } from 'execa';

export const repo = resolve(import.meta.dirname, '../..');
const buildDir = join(repo, 'node_modules/.cache/hvscope-trace-e2e');
export const entry = join(buildDir, 'test/e2e/trace-cli-entry.js');

/** Compiles the entry; type errors in modules other tests own still emit JavaScript. */
export async function buildCli(): Promise<void> {
  const tsc = await execa(
    'node',
    [
      join(repo, 'node_modules/typescript/bin/tsc'), '--outDir', buildDir, '--rootDir', repo, '--module', 'NodeNext',
      '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node',
      '--esModuleInterop', join(repo, 'test/e2e/trace-cli-entry.ts'),
    ],
    { cwd: repo, reject: false },
  );
  if (!existsSync(entry)) throw new Error(`cannot compile the CLI for this test:\n${tsc.stdout}\n${tsc.stderr}`);
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
