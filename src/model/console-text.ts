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
