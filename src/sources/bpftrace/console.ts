// Console line assembly from the console bytes the probes saw (QEMU's writes
// of the guest console, xenconsoled's writes of a Xen guest's): one place, so
// that every probe set's console is cut into lines and timed the same way.
// A line is timed at the write of its first byte and ends at a newline; bytes
// come per stream (a process's fd), in time order. Bytes that come after a
// pause (CONSOLE_PAUSE_NS) start a new segment, timed at its own first byte,
// even mid-line: a segment is what markers are matched against.
import { CONSOLE_PAUSE_NS } from '../../model/console-text.js';
import { decodeEscapedBytes } from './parse.js';

/** Bytes in one console_packed chunk (probes/qemu.bt packs QEMU's one-byte console writev()s in BPF). */
export const PACKED_CONSOLE_MAX_BYTES = 56;
const PACKED_WORD_BYTES = 7;
const PACKED_WORD_DIGITS = 14;
const PACKED_WORDS = 9;

/**
 * Decodes a console_packed `hex` field: nine words of 7 bytes, each printed as
 * 14 hex digits (%014llx), a word's bytes little-endian (byte k of a word is
 * bits 8k..8k+7). Words 0-7 are the chunk's complete words, word 8 its last,
 * partial one: the chunk's len bytes are floor(len/7) complete words, then
 * len % 7 bytes of word 8. Complete words past those are stale. Null when the
 * field is not 126 hex digits or len is not 1..56.
 */
export function decodePackedConsoleBytes(hex: string, len: number): Buffer | null {
  if (!/^[0-9a-fA-F]{126}$/.test(hex) || !Number.isInteger(len) || len < 1 || len > PACKED_CONSOLE_MAX_BYTES) return null;
  const words = Array.from({ length: PACKED_WORDS }, (_, w) => hex.slice(w * PACKED_WORD_DIGITS, (w + 1) * PACKED_WORD_DIGITS));
  const complete = Math.floor(len / PACKED_WORD_BYTES);
  const bytes = Buffer.alloc(len);
  for (let k = 0; k < len; k++) {
    const word = k < complete * PACKED_WORD_BYTES ? words[Math.floor(k / PACKED_WORD_BYTES)] : words[PACKED_WORDS - 1];
    const at = PACKED_WORD_DIGITS - 2 - (k % PACKED_WORD_BYTES) * 2;
    bytes[k] = parseInt(word.slice(at, at + 2), 16);
  }
  return bytes;
}

/** bpftrace's buf() reads at most 64 bytes: a write is printed in chunks at off 0 and off 64, and only those. */
export const TRACED_CHUNK_BYTES = 64;

export interface ConsoleLine {
  /** The stream it came from, e.g. `qemu:PID:FD`. */
  stream: string;
  pid: number;
  /** ns since t0: the write of its first byte */
  at: number;
  /** Raw text (escape sequences not yet removed). */
  text: string;
  /** Bytes of a write longer than the traced 128 were not seen. */
  truncated: boolean;
  /** It ended at a pause, not at a newline: the rest of the line is the next segment. */
  paused?: boolean;
}

interface Open {
  bytes: number[];
  at: number;
  /** When its last bytes were written (a packed chunk: its first byte's write). */
  last: number;
  pid: number;
  truncated: boolean;
}

export class ConsoleAssembler {
  private readonly open = new Map<string, Open>();
  private readonly done: ConsoleLine[] = [];

  /**
   * Adds a write's bytes to the stream's current segment. A segment still open
   * ends first when these bytes come more than CONSOLE_PAUSE_NS after its last
   * ones; `packed` chunks skip that check: their `at` is the chunk's first
   * byte, and probes/qemu.bt reports their pauses itself (pause()).
   */
  append(stream: string, bytes: Uint8Array, at: number, pid: number, opts: { packed?: boolean } = {}): void {
    let line = this.open.get(stream);
    if (line && !opts.packed && at - line.last > CONSOLE_PAUSE_NS) {
      this.flush(stream, line, true);
      line = undefined;
    }
    for (const byte of bytes) {
      if (!line) {
        line = { bytes: [], at, last: at, pid, truncated: false };
        this.open.set(stream, line);
      }
      line.last = at;
      if (byte === 0x0a) {
        this.flush(stream, line);
        line = undefined;
      } else line.bytes.push(byte);
    }
  }

  /** The stream paused (console_pause): its open segment ends; the next bytes start a new one. */
  pause(stream: string): void {
    const line = this.open.get(stream);
    if (line) this.flush(stream, line, true);
  }

  /**
   * A chunk of a write as the probes print it (%r-escaped text at `off` of a
   * `len`-byte write): bytes past the traced 128 are lost, and the line they
   * belonged to (still open, or the stream's last) is marked truncated.
   */
  appendChunk(stream: string, escaped: string, off: number, len: number, at: number, pid: number): void {
    const bytes = decodeEscapedBytes(escaped);
    this.append(stream, bytes, at, pid);
    if (off === TRACED_CHUNK_BYTES && TRACED_CHUNK_BYTES + bytes.length < len) {
      const open = this.open.get(stream);
      const last = [...this.done].reverse().find((l) => l.stream === stream);
      if (open) open.truncated = true;
      else if (last) last.truncated = true;
    }
  }

  private flush(stream: string, line: Open, paused = false): void {
    this.done.push({ stream, pid: line.pid, at: line.at, text: Buffer.from(line.bytes).toString('utf8'), truncated: line.truncated, ...(paused ? { paused } : {}) });
    this.open.delete(stream);
  }

  /** Every line, the unfinished last ones included (a last line without a newline is kept). */
  finish(): ConsoleLine[] {
    for (const [stream, line] of [...this.open]) this.flush(stream, line);
    return this.done;
  }
}
