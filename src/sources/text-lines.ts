// Walks a text file line by line without splitting it into an array first, so
// importers of logs with millions of lines stay proportional to their output.

/** Calls `visit(line, lineNo)` for every line (1-based), a trailing \r removed. */
export function forEachLine(text: string, visit: (line: string, lineNo: number) => void): void {
  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    visit(line, lineNo);
  }
}

/** `<seconds>.<fraction>` (up to ns) → whole µs plus the sub-µs ns, exact for epoch times. */
export function parseSecondsStamp(seconds: string, fraction: string): { us: number; ns: number } {
  return {
    us: Number(seconds) * 1e6 + Number(fraction.slice(0, 6).padEnd(6, '0')),
    ns: fraction.length > 6 ? Number(fraction.slice(6).padEnd(3, '0').slice(0, 3)) : 0,
  };
}
