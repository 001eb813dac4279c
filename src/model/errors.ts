// One error type for everything a user can get wrong (bad file, missing binary,
// no root). The CLI prints its message alone, without a stack, and exits with
// its code: 1 for what went wrong at run time, 2 for a usage mistake.

/** hvscope's exit statuses (documented in `hvscope --help`). */
export const EXIT = {
  ok: 0,
  /** Bad input, a missing tool, a failed run. */
  error: 1,
  /** The command line itself is wrong: unknown command or option, bad option value, missing argument. */
  usage: 2,
  /** A bug in hvscope (message with stack). */
  internal: 70,
  /** Ctrl-C (128 + SIGINT); SIGTERM gives 143. */
  interrupted: 130,
  /** stdout or stderr was closed early (e.g. `| head`), as for tools killed by SIGPIPE. */
  brokenPipe: 141,
} as const;

export class UserError extends Error {
  constructor(
    message: string,
    /** Shell-style exit code the CLI should use. */
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** A mistake on the command line (exit 2). */
export function usageError(message: string): UserError {
  return new UserError(message, EXIT.usage);
}

/** `file:line: message` (or `file: message` when the line is unknown). */
export function fileError(file: string, line: number | undefined, message: string): UserError {
  return new UserError(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
}

/** 1-based line number of a character offset in text. */
export function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Longest excerpt of input an error message quotes. */
export const QUOTE_MAX = 80;

/**
 * A piece of user input as an error message may quote it: in double quotes, cut
 * to `max` characters (…), with every line break, control character and
 * Unicode line/paragraph separator escaped, so the message stays one line
 * however long or strange the input is.
 */
export function quoteInput(text: string, max = QUOTE_MAX): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  // Escape what could split or garble a terminal line; JSON.stringify leaves U+2028/9 and DEL alone.
  const escaped = JSON.stringify(cut).replace(/[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${escaped.slice(0, -1)}…"` : escaped;
}

/** A parsed input value as an error message shows it: strings quoted and cut, other values as short JSON. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return quoteInput(v);
  const json = JSON.stringify(v) ?? String(v);
  return json.length > QUOTE_MAX ? `${printableMessage(json.slice(0, QUOTE_MAX))}…` : printableMessage(json);
}

/** Longest line the CLI prints for an error; a longer one is cut (…). */
const ERROR_LINE_MAX = 1000;

/**
 * Makes an error message safe to print: each intended line (\n) is kept, but
 * CR, other control characters and U+2028/9 inside a line are escaped, and an
 * overlong line is cut. The last guard for messages that quote input unescaped.
 */
export function printableMessage(message: string): string {
  return message
    .split('\n')
    .map((line) => {
      const clean = line.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => (c === '\t' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
      return clean.length > ERROR_LINE_MAX ? `${clean.slice(0, ERROR_LINE_MAX)}…` : clean;
    })
    .join('\n');
}
