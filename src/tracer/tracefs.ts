// tracefs at /sys/kernel/tracing: bpftrace needs it for tracepoints (and kprobe
// events). Minimal hosts and containers often boot without it mounted.
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';

export const TRACEFS_PATH = '/sys/kernel/tracing';
export const MOUNT_TRACEFS_COMMAND = `mount -t tracefs nodev ${TRACEFS_PATH}`;

/** True when /proc/mounts lists a tracefs at `path` (not merely the empty directory). */
export async function tracefsMounted(path = TRACEFS_PATH, mountsFile = '/proc/mounts'): Promise<boolean> {
  let mounts: string;
  try {
    mounts = await readFile(mountsFile, 'utf8');
  } catch {
    return false;
  }
  return parseMounts(mounts).some((m) => m.type === 'tracefs' && m.target === path);
}

/** Lines of /proc/mounts: "source target type options 0 0" (octal escapes in paths). */
export function parseMounts(text: string): { source: string; target: string; type: string }[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 3)
    .map(([source, target, type]) => ({ source: unescape(source), target: unescape(target), type }));
}

/**
 * Makes sure tracefs is mounted at /sys/kernel/tracing. Mounts it when it is
 * not and we are root; otherwise throws a UserError saying what to run.
 * The mount is left in place afterwards: it is the kernel's normal state and
 * other tracing tools expect it.
 */
export async function ensureTracefs(): Promise<{ mounted: boolean; mountedNow: boolean }> {
  if (await tracefsMounted()) return { mounted: true, mountedNow: false };
  const root = typeof process.geteuid === 'function' && process.geteuid() === 0;
  if (!root) {
    throw new UserError(`tracefs is not mounted at ${TRACEFS_PATH} and mounting it needs root: run \`sudo ${MOUNT_TRACEFS_COMMAND}\``);
  }
  const result = await execa('mount', ['-t', 'tracefs', 'nodev', TRACEFS_PATH], { reject: false, stdin: 'ignore' });
  // Another process may have mounted it between our check and our mount.
  if (await tracefsMounted()) return { mounted: true, mountedNow: result.exitCode === 0 };
  const why = String(result.stderr || result.message || '').trim().split('\n')[0];
  throw new UserError(
    `could not mount tracefs at ${TRACEFS_PATH}${why ? ` (${why})` : ''}: the kernel may lack CONFIG_TRACING, ` +
      `or this container may forbid mounts; run \`${MOUNT_TRACEFS_COMMAND}\` on the host`,
  );
}
