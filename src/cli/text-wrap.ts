// Wrapping text to the terminal: help and tables with long prose (tune plan's WHY).

/** Columns to wrap to: the terminal's, else $COLUMNS, else 100 (pipes, CI logs). */
export function terminalWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env >= 20 ? env : 100;
}

/**
 * Splits text into lines of at most `width` characters at spaces; a word
 * longer than the width is cut. Existing line breaks are kept.
 */
export function wrapText(text: string, width: number): string[] {
  const w = Math.max(10, width);
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/ +/)) {
      let rest = word;
      while (rest.length > w) {
        if (line) out.push(line);
        line = '';
        out.push(rest.slice(0, w));
        rest = rest.slice(w);
      }
      if (!line) line = rest;
      else if (line.length + 1 + rest.length <= w) line += ' ' + rest;
      else {
        out.push(line);
        line = rest;
      }
    }
    out.push(line);
  }
  return out;
}

/** `label` then text wrapped to `width`, continuation lines indented to the text's column. */
export function hangingIndent(label: string, text: string, labelWidth: number, width: number): string[] {
  const pad = ' '.repeat(labelWidth);
  const lines = wrapText(text, width - labelWidth);
  return lines.map((l, i) => (i === 0 ? label.padEnd(labelWidth) : pad) + l).map((l) => l.trimEnd());
}
