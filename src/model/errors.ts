// One error type for everything a user can get wrong (bad file, missing binary,
// no root). The CLI prints its message alone, without a stack, and exits 1.

export class UserError extends Error {
  constructor(
    message: string,
    /** Shell-style exit code the CLI should use. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
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
