// Runs commands and reads/writes kernel files, inside a network namespace when
// one is given (`--netns NAME` → `ip netns exec NAME ...`). Arguments are always
// arrays: nothing a user typed ever goes through a shell.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import type { TuneContext } from './knob.js';

/** Namespace names `ip netns` accepts (it makes a file /run/netns/NAME). */
const NETNS_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Checks that `--netns NAME` is a sane name of an existing namespace. */
export function checkNetns(name: string): void {
  if (!NETNS_NAME.test(name) || name === '.' || name === '..')
    throw new UserError(`--netns ${JSON.stringify(name)}: not a valid network namespace name`);
  if (!existsSync(`/run/netns/${name}`))
    throw new UserError(`--netns ${name}: no such network namespace (see \`ip netns list\`)`);
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs `file args...`, inside ctx.netns when set. Never throws on a non-zero exit. */
export async function runInNetns(ctx: Pick<TuneContext, 'netns'>, file: string, args: string[], input?: string): Promise<CommandResult> {
  const [cmd, argv] = ctx.netns ? ['ip', ['netns', 'exec', ctx.netns, file, ...args]] : [file, args];
  const r = await execa(cmd, argv, { reject: false, input: input ?? '', stripFinalNewline: true });
  if (r.failed && r.exitCode === undefined)
    throw new UserError(`cannot run ${cmd}: ${r.shortMessage ?? 'failed to start'}`);
  return { stdout: String(r.stdout), stderr: String(r.stderr), exitCode: r.exitCode ?? 1 };
}

/** Like runInNetns, but a non-zero exit becomes a UserError naming the command. */
export async function mustRun(ctx: Pick<TuneContext, 'netns'>, file: string, args: string[], input?: string): Promise<string> {
  const r = await runInNetns(ctx, file, args, input);
  if (r.exitCode !== 0) {
    const where = ctx.netns ? ` (in netns ${ctx.netns})` : '';
    throw new UserError(`${[file, ...args].join(' ')}${where} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  return r.stdout;
}

/**
 * Reads a kernel file (sysfs, /proc/sys) as seen from ctx.netns; null when it
 * does not exist. /sys and /proc/sys/net differ per namespace, so inside one we
 * read through `ip netns exec NAME cat`, which remounts /sys for that namespace.
 */
export async function readKernelFile(ctx: Pick<TuneContext, 'netns'>, path: string): Promise<string | null> {
  if (!ctx.netns) {
    try {
      return (await readFile(path, 'utf8')).replace(/\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new UserError(`cannot read ${path}: ${(err as Error).message}`);
    }
  }
  const r = await runInNetns(ctx, 'cat', [path]);
  if (r.exitCode === 0) return r.stdout.replace(/\n$/, '');
  if (/No such file|Not a directory/.test(r.stderr)) return null;
  throw new UserError(`cannot read ${path} in netns ${ctx.netns}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
}

/** Writes a kernel file (/proc/sys) as seen from ctx.netns. Kernel files are written in place: no rename in procfs. */
export async function writeKernelFile(ctx: Pick<TuneContext, 'netns'>, path: string, value: string): Promise<void> {
  if (!ctx.netns) {
    try {
      await writeFile(path, value + '\n');
    } catch (err) {
      throw new UserError(`cannot write ${path}: ${(err as Error).message}`);
    }
    return;
  }
  // tee reads the value from stdin; its stdout is discarded.
  await mustRun(ctx, 'tee', [path], value + '\n');
}
