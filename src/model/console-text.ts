// Guest console text as hvscope shows and matches it: one cleaning for every
// source (bpftrace's console writes, serial captures, xenconsoled's writes).

// CSI sequences (ESC [ … final byte), character-set designations (ESC ( B),
// other two-byte ESC sequences (ESC c, ESC 7), then the remaining C0 controls
// and DEL; tab and newline stay (a line never holds a newline here).
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[@-~]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Console text as shown and matched: escape sequences and control characters removed, surrounding blanks trimmed. */
export function cleanConsoleText(text: string): string {
  return text.replace(ESCAPES, '').trim();
}

/**
 * A pause in a guest's console output longer than this ends the current
 * segment: the bytes after it start a new one, timed at its own first byte,
 * even mid-line (firmware's `Booting from ROM..` has no newline, and the
 * guest's first line must not inherit the firmware's time). Markers match per
 * segment. Used by the BPF packing (probes/qemu.bt; a test checks its literal
 * against this), the console assembler (sources/bpftrace/console.ts) and the
 * serial recorder (lab/qemu-record.ts). Measured (docs/boot-paths.md, "Console
 * pauses": Debian 6.1 kernel, busybox init, `quiet`, QEMU 7.2 TCG on this
 * project's 2-core host under load): between two bytes of one line the median
 * gap was 9–40 µs, the largest 7 ms (the 8250 driver writes a line's first
 * byte, the rest after the transmitter interrupt); between a partial line and
 * the next print, 139 ms to seconds. 50 ms stays 7× above the within-line
 * stalls, so a line is not cut under load, and bounds the error of a glued
 * segment to 50 ms.
 */
export const CONSOLE_PAUSE_NS = 50_000_000;
