// Which importer a file is for, told from its first lines (`hvscope import`
// without --from). One row per signature, most specific first; the first row
// that matches wins, and its `why` is said to the user.
import { fileError } from '../model/errors.js';

export interface Detected {
  format: string;
  /** What in the content gave it away (said to the user). */
  why: string;
}

/** The part of a file detection looks at. */
const HEAD_CHARS = 64 * 1024;
const HEAD_LINES = 50;

interface Signature {
  format: string;
  why: string;
  matches(head: string, lines: string[]): boolean;
}

const STAMPED = /^\d+\.\d{1,9}(?:[ \t]|$)/;
const XL_MESSAGE = /^\d+\.\d{1,9}[ \t](?:Parsing config from |(?:libxl|xc|xl|domainbuilder|libxl-save-helper): (?:debug|verbose|detail|progress|info|notice|warning|error|critical): )/;
const XL_T_STAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+ (?:\[\d+\] )?\S/;
const QEMU_LOG_LINE = /^\d+@\d+\.\d{1,9}:[A-Za-z_][A-Za-z0-9_]*/;
const BPFTRACE_LINE = /^\{\s*"type"\s*:\s*"[a-z_]+"/;

const SIGNATURES: Signature[] = [
  { format: 'xl-log', why: 'its "# hvscope-xl-log" header', matches: (_, lines) => /^#\s*hvscope-xl-log\s/.test(lines[0] ?? '') },
  { format: 'serial', why: 'its "# hvscope-serial" header', matches: (_, lines) => /^#\s*hvscope-serial\s/.test(lines[0] ?? '') },
  { format: 'bpftrace', why: 'JSON lines with a "type" (bpftrace -f json)', matches: (_, lines) => BPFTRACE_LINE.test(lines[0] ?? '') },
  { format: 'chrome', why: 'a JSON array of trace events', matches: (head) => /^\s*\[\s*(\{|\]|$)/.test(head) },
  { format: 'chrome', why: 'a JSON object with "traceEvents"', matches: (head) => /^\s*\{/.test(head) && head.includes('"traceEvents"') },
  { format: 'qemu-log', why: 'lines of TID@SECONDS:EVENT (QEMU -trace with -msg timestamp=on)', matches: (_, lines) => lines.some((l) => QEMU_LOG_LINE.test(l)) },
  { format: 'xl-log', why: 'stamped lines of xl/libxl messages', matches: (_, lines) => lines.some((l) => XL_MESSAGE.test(l) || XL_T_STAMP.test(l)) },
  { format: 'serial', why: 'lines of SECONDS.FRACTION TEXT (a timestamped console)', matches: (_, lines) => lines.length > 0 && lines.every((l) => STAMPED.test(l)) },
];

/** The importer format for `text` read from `file`; a UserError when nothing matches. */
export function detectFormat(text: string, file: string): Detected {
  const head = text.slice(0, HEAD_CHARS).replace(/^\uFEFF/, '');
  const lines = head
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l, i) => l.trim() !== '' && !(i > 0 && l.startsWith('#')))
    .slice(0, text.length > HEAD_CHARS ? -1 : undefined) // the last line of a cut head is partial
    .slice(0, HEAD_LINES);
  for (const s of SIGNATURES) if (s.matches(head, lines)) return { format: s.format, why: s.why };
  throw fileError(file, undefined, `cannot tell its format from the content; give it with --from (${[...new Set(SIGNATURES.map((s) => s.format))].join('|')}) or a FORMAT:FILE prefix`);
}
