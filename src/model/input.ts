// The one way hvscope reads a file the user names (traces, logs, profiles,
// figure specs, domain configs, kernels): regular files only (a FIFO or
// /dev/zero would hang or never end), at most a size cap (raise it with
// --max-input SIZE or HVSCOPE_MAX_INPUT), and JSON/YAML nesting bounded before
// a parser sees it. Every refusal is one line naming the file.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { UserError, fileError, lineOfOffset, usageError } from './errors.js';

/** data: recordings (traces, logs, kernels); config: what people write by hand (profiles, specs, domain configs). */
export type InputKind = 'data' | 'config';

const MiB = 1024 * 1024;
/** Default caps. A config is kilobytes; the YAML parser needs seconds per MiB on a loaded host. */
export const DEFAULT_MAX_INPUT: Record<InputKind, number> = { data: 256 * MiB, config: MiB / 4 };
/** Deepest JSON/YAML nesting accepted (hvscope's own formats need < 10). */
export const MAX_NESTING = 64;
export const MAX_INPUT_ENV = 'HVSCOPE_MAX_INPUT';

let override: number | undefined;

/** `512M`, `2G`, `64k`, `1000000` (bytes) → bytes; undefined when not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) return undefined;
  const scale = { '': 1, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.floor(Number(m[1]) * scale);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** --max-input SIZE: one cap for every kind of input, for this process (undefined: back to the defaults). */
export function setMaxInput(text: string | undefined): void {
  if (text === undefined) {
    override = undefined;
    return;
  }
  const bytes = parseSize(text);
  if (bytes === undefined) throw usageError(`--max-input ${text}: expected a size such as 512M or 2G`);
  override = bytes;
}

/** The cap for one kind of input: --max-input, else $HVSCOPE_MAX_INPUT, else the default. */
export function maxInputBytes(kind: InputKind): number {
  if (override !== undefined) return override;
  const env = process.env[MAX_INPUT_ENV];
  if (env !== undefined && env !== '') {
    const bytes = parseSize(env);
    if (bytes === undefined) throw usageError(`${MAX_INPUT_ENV}=${env}: expected a size such as 512M or 2G`);
    return bytes;
  }
  return DEFAULT_MAX_INPUT[kind];
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${+(bytes / (1024 * MiB)).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

function fileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function tooBig(file: string, what: string, size: number | undefined, cap: number): UserError {
  const has = size === undefined ? 'more than' : `${formatSize(size)},`;
  return fileError(file, undefined, `${what}: ${has} over the ${formatSize(cap)} input limit; raise it with --max-input SIZE or ${MAX_INPUT_ENV}=SIZE (e.g. 2G)`);
}

function openError(file: string, what: string, err: NodeJS.ErrnoException): UserError {
  const why: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EPERM: 'permission denied', ENOTDIR: 'a path component is not a directory', ELOOP: 'too many symbolic links' };
  return fileError(file, undefined, `cannot read ${what}: ${why[err.code ?? ''] ?? err.code ?? err.message}`);
}

/** An open regular file within the cap for `kind` (fstat-checked); the caller closes fd. */
interface OpenInput {
  fd: number;
  size: number;
  cap: number;
}

/**
 * Opens a regular file of at most the cap for `kind`. Opened non-blocking, so
 * a FIFO without a writer cannot hang the open; anything but a regular file is
 * refused. `what` names the input in messages ("trace", "profile", ...).
 */
function openInput(file: string, what: string, kind: InputKind): OpenInput {
  const notRegular = (st: Stats) => fileError(file, undefined, `cannot read ${what}: ${fileType(st)}, not a regular file (save it to a file first)`);
  // Look before opening: opening some devices has effects of its own.
  let before: Stats;
  try {
    before = statSync(file);
  } catch (err) {
    throw openError(file, what, err as NodeJS.ErrnoException);
  }
  if (!before.isFile()) throw notRegular(before);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw openError(file, what, err as NodeJS.ErrnoException);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular(st);
    const cap = maxInputBytes(kind);
    if (st.size > cap) throw tooBig(file, what, st.size, cap);
    return { fd, size: st.size, cap };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Reads `input` to EOF in pieces (the file may still grow while we read), never
 * past its cap; `onChunk` gets each piece, valid only until it returns (with
 * `reuse`, the next piece is read into the same buffer).
 */
function readPieces(file: string, what: string, input: OpenInput, firstBytes: number, nextBytes: number, reuse: boolean, onChunk: (bytes: Buffer) => void): void {
  const { fd, cap } = input;
  let total = 0;
  let buf = Buffer.allocUnsafe(Math.min(cap + 1, firstBytes));
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, Math.min(buf.length, cap + 1 - total), null);
    } catch (err) {
      throw fileError(file, undefined, `cannot read ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (n === 0) break;
    total += n;
    if (total > cap) throw tooBig(file, what, undefined, cap);
    onChunk(buf.subarray(0, n));
    if (!reuse) buf = Buffer.allocUnsafe(Math.min(cap + 1 - total, nextBytes));
  }
}

/**
 * Reads a regular file of at most the cap for `kind` (see openInput); every
 * refusal is one line naming the file.
 */
export function readInputBytes(file: string, what: string, kind: InputKind = 'data'): Buffer {
  const input = openInput(file, what, kind);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    readPieces(file, what, input, Math.max(input.size + 1, 64 * 1024), 1024 * 1024, false, (bytes) => {
      chunks.push(bytes);
      total += bytes.length;
    });
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
  } finally {
    closeSync(input.fd);
  }
}

/**
 * The same file, checked the same way, handed over in pieces of about
 * `chunkBytes` (each valid only during the call), so that a large input is
 * never held whole. Returns the number of bytes read.
 */
export function readInputChunks(file: string, what: string, kind: InputKind, chunkBytes: number, onChunk: (bytes: Buffer) => void): number {
  const input = openInput(file, what, kind);
  let total = 0;
  try {
    readPieces(file, what, input, chunkBytes, chunkBytes, true, (bytes) => {
      total += bytes.length;
      onChunk(bytes);
    });
  } finally {
    closeSync(input.fd);
  }
  return total;
}

/** readInputBytes as UTF-8 text (invalid sequences become U+FFFD, as readFileSync does). */
export function readInputText(file: string, what: string, kind: InputKind = 'data'): string {
  return readInputBytes(file, what, kind).toString('utf8');
}

/** readInputText, or null when the file does not exist (e.g. a config file that a profile will create). */
export function readInputTextIfExists(file: string, what: string, kind: InputKind = 'config'): string | null {
  try {
    return readInputText(file, what, kind);
  } catch (err) {
    if (err instanceof UserError && err.message.endsWith(`cannot read ${what}: no such file`)) return null;
    throw err;
  }
}

// ---------------------------------------------------------------- nesting

/**
 * Offset where JSON text first nests deeper than `max` ([ and { outside
 * strings), or -1. Linear, and cheap beside JSON.parse: strings are skipped
 * with indexOf.
 */
export function jsonNestingOffset(text: string, max = MAX_NESTING): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string: the next quote not preceded by an odd number of backslashes.
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return -1; // unterminated: JSON.parse reports it
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - k) % 2 === 1) break;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** Throws `file:line: nested deeper than N levels` when JSON text nests too deep. */
export function checkJsonNesting(text: string, file: string, max = MAX_NESTING): void {
  const at = jsonNestingOffset(text, max);
  if (at >= 0) throw fileError(file, lineOfOffset(text, at), `nested deeper than ${max} levels; hvscope does not read such input`);
}
