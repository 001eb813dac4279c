// `hvscope lab xen run --guest PATH`: the user's own Xen PV kernel (an ELF with
// the Xen PV notes), with optional --ramdisk, --memory, --cmdline and --marker.
// Everything is checked on the host before the lab boots. dom0 reaches the files
// through the host root it shares read-only, bound whole at DOM0_HOST_ROOT_DIR
// (dom0's own /run and /var/log are tmpfs, so plain host paths would not always do);
// the experiment links them into its work directory, so a file name with spaces,
// quotes or `$()` never reaches xl's config parser, and the shell sees it quoted.
// The marker regex travels as a file (grep -E -f), never inside the script.
import { constants, accessSync, openSync, readSync, closeSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { UserError, fileError } from '../../model/errors.js';
import { readXenElfNotes } from '../elf-notes.js';
import { DOM0_HOST_ROOT_DIR, DOM0_LAB_DIR, type LabInputFile } from './dom0-initramfs.js';
import type { XenExperimentOptions } from './experiment.js';

/** Default memory of a --guest PATH domain: enough for a small unikernel; a Linux kernel wants --memory 128. */
export const PATH_GUEST_MEMORY_MB = 32;
/** Most a guest may ask for: Xen keeps ~480 MiB beside dom0's 512 in the lab's 1 GiB. */
export const MAX_GUEST_MEMORY_MB = 448;
/** Seconds a --guest PATH gets to print its --marker after `xl create` returned. */
export const PATH_GUEST_MARKER_TIMEOUT_S = 90;
/** The input file holding --marker in dom0 (DOM0_LAB_DIR/...). */
export const GUEST_MARKER_FILE = 'guest-marker.regex';

export interface PathGuestOptions {
  /** --guest PATH as given (relative to cwd). */
  kernel: string;
  ramdisk?: string;
  memoryMb?: number;
  cmdline?: string;
  /** Extended regex (grep -E) matching the console line that means "ready". */
  marker?: string;
  cwd?: string;
}

export interface PathGuest {
  /** The kernel's real path on the host (symlinks resolved: dom0 resolves absolute links in its own tree). */
  kernel: string;
  ramdisk?: string;
  /** The same files as dom0 sees them. */
  dom0Kernel: string;
  dom0Ramdisk?: string;
  memoryMb: number;
  cmdline?: string;
  marker?: string;
  /** Options for renderXenExperiment (without profiles/runs/domains/hvscope). */
  experiment: Pick<
    XenExperimentOptions,
    'kernel' | 'ramdisk' | 'memoryMb' | 'extra' | 'markerRegexFile' | 'noMarker' | 'destroyAfterReady' | 'linkGuestFiles' | 'markerTimeoutS'
  >;
  /** Input files for runInXenLab (the marker regex). */
  files: LabInputFile[];
}

/** A host file's path in dom0 (through the bound host root). */
export function dom0PathOf(hostPath: string): string {
  return `${DOM0_HOST_ROOT_DIR}${hostPath}`;
}

/** Absolute real path of a readable regular file; one clear UserError naming the option and file otherwise. */
export function readableHostFile(path: string, flag: string, cwd: string = process.cwd()): string {
  if (path === '') throw new UserError(`${flag}: empty path`);
  const absolute = resolve(cwd, path);
  let real: string;
  try {
    real = realpathSync(absolute);
  } catch {
    throw new UserError(`${flag} ${absolute}: no such file`);
  }
  let stat;
  try {
    stat = statSync(real);
    accessSync(real, constants.R_OK);
  } catch (err) {
    throw new UserError(`${flag} ${absolute}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!stat.isFile()) throw new UserError(`${flag} ${absolute}: not a regular file`);
  return real;
}

/** The first bytes of a file (fewer when it is shorter). */
function head(file: string, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    return buf.subarray(0, readSync(fd, buf, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

/** A Linux x86 boot image: the setup header's "HdrS" at 0x202. */
export function isBzImage(start: Buffer): boolean {
  return start.length >= 0x206 && start.toString('latin1', 0x202, 0x206) === 'HdrS';
}

/**
 * UserError naming the file unless it is an x86 ELF kernel with Xen PV notes
 * (what libxenguest's PV loader needs). A bzImage gets a hint to its vmlinux.
 */
export async function checkPvKernel(file: string): Promise<void> {
  const start = head(file, 0x400);
  if (isBzImage(start))
    throw fileError(
      file,
      undefined,
      'a compressed bzImage, not a PV kernel ELF: give --guest the uncompressed vmlinux (from the kernel build tree, or extracted with the kernel\'s scripts/extract-vmlinux)',
    );
  if (start.length < 4 || start.readUInt32BE(0) !== 0x7f454c46) throw fileError(file, undefined, 'not an ELF file: --guest needs a Xen PV kernel (an ELF with Xen PV notes)');
  const { machine, notes } = await readXenElfNotes(file);
  if (machine !== 62 && machine !== 3) throw fileError(file, undefined, `an ELF for machine ${machine}, not x86: Xen in the lab runs x86 PV guests`);
  if (notes.length === 0) throw fileError(file, undefined, 'an ELF without Xen PV notes (not a Xen PV kernel; a Linux kernel needs CONFIG_XEN_PV)');
}

/** UserError unless grep -E (dom0 runs the host's grep) accepts the regex; one line only. */
export async function checkMarkerRegex(marker: string): Promise<void> {
  if (marker === '') throw new UserError('--marker: empty; give the regex of the console line that means the guest is ready');
  if (/[\n\r\0]/.test(marker)) throw new UserError('--marker: must be one line (a regex for one console line)');
  // Argument array, no shell; empty input: exit 1 = valid and no match, 2 = bad regex.
  const r = await execa('grep', ['-E', '-q', '-e', marker], { input: '', reject: false });
  if (r.exitCode !== 0 && r.exitCode !== 1)
    throw new UserError(`--marker: not a valid extended regular expression (grep -E: ${String(r.stderr).trim().replace(/^grep: /, '') || `exit ${r.exitCode}`})`);
}

/** Text xl reads back unchanged inside double quotes (its config parser has no escape we rely on). */
export function checkXlText(value: string, flag: string): string {
  if (!/^[\x20-\x7e]*$/.test(value) || /["\\]/.test(value))
    throw new UserError(`${flag}: must be printable ASCII without double quotes or backslashes (it goes into xl's config as a quoted string): ${JSON.stringify(value)}`);
  return value;
}

/** Checks every --guest PATH option on the host; what the experiment and the lab need. */
export async function resolvePathGuest(opts: PathGuestOptions): Promise<PathGuest> {
  const cwd = opts.cwd ?? process.cwd();
  const kernel = readableHostFile(opts.kernel, '--guest', cwd);
  await checkPvKernel(kernel);
  const ramdisk = opts.ramdisk === undefined ? undefined : readableHostFile(opts.ramdisk, '--ramdisk', cwd);
  const memoryMb = opts.memoryMb ?? PATH_GUEST_MEMORY_MB;
  if (!Number.isInteger(memoryMb) || memoryMb < 4 || memoryMb > MAX_GUEST_MEMORY_MB)
    throw new UserError(`--memory must be a whole number of MiB from 4 to ${MAX_GUEST_MEMORY_MB} (the lab's Xen has ~480 MiB beside dom0), got ${memoryMb}`);
  const cmdline = opts.cmdline === undefined ? undefined : checkXlText(opts.cmdline, '--cmdline');
  if (opts.marker !== undefined) await checkMarkerRegex(opts.marker);
  const dom0Kernel = dom0PathOf(kernel);
  const dom0Ramdisk = ramdisk === undefined ? undefined : dom0PathOf(ramdisk);
  return {
    kernel,
    ramdisk,
    dom0Kernel,
    dom0Ramdisk,
    memoryMb,
    cmdline,
    marker: opts.marker,
    experiment: {
      kernel: dom0Kernel,
      ...(dom0Ramdisk !== undefined ? { ramdisk: dom0Ramdisk } : {}),
      memoryMb,
      ...(cmdline !== undefined ? { extra: cmdline } : {}),
      ...(opts.marker !== undefined ? { markerRegexFile: `${DOM0_LAB_DIR}/${GUEST_MARKER_FILE}`, markerTimeoutS: PATH_GUEST_MARKER_TIMEOUT_S } : { noMarker: true }),
      destroyAfterReady: true,
      linkGuestFiles: true,
    },
    files: opts.marker !== undefined ? [{ name: GUEST_MARKER_FILE, data: `${opts.marker}\n` }] : [],
  };
}
