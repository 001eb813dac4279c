// Importer for a timestamped serial console capture: hvscope's own format
// (src/lab/qemu-record.ts) or any `<seconds>.<fraction> <text>` lines, such as
// `ts "%.s"` (moreutils) writes. Optional first line:
//   # hvscope-serial 1 clock=realtime exec_us=<µs>
// exec_us (when QEMU was spawned) becomes t0 and the toolstack's start; without
// it t0 is the first line. Other lines starting with `#` are comments. Each
// console line becomes an instant on the `guest console` lane, stamped when it
// reached the host; the marker vocabulary (model/markers.ts) finds the boot
// markers among them, the first visible line bounds the vCPU start.
import { fileError } from '../model/errors.js';
import { TraceBuilder, type ImportOptions } from '../model/builder.js';
import { DEFAULT_VOCABULARY, RANK, type MarkerRule } from '../model/markers.js';
import type { Trace } from '../model/trace.js';
import { forEachLine, parseSecondsStamp } from './text-lines.js';

// `s`: the text may hold a bare \r where the guest's \n was lost (UART overruns under load).
const RECORD = /^(\d+)\.(\d{1,9})(?:[ \t](.*))?$/s;
const HEADER = /^#\s*hvscope-serial\s+(\S+)(.*)$/;
const CONSOLE_LANE = 'guest-console';
const MAX_NAME = 160;
const SOURCE = 'serial';

export interface SerialImportOptions extends ImportOptions {
  /** Extra line pattern marking the guest as ready (ends the user phase), e.g. a service's banner. */
  readyPattern?: RegExp;
  /** Extra line pattern marking user-space start, for guests without the hvscope markers. */
  userStartPattern?: RegExp;
}

/** The options' patterns as vocabulary rows. */
function extraRules(options: SerialImportOptions): MarkerRule[] {
  const rules: MarkerRule[] = [];
  if (options.userStartPattern)
    rules.push({ id: 'serial-user-start-option', name: `user start /${options.userStartPattern.source}/`, boundary: 'user-start', rank: RANK.console, match: { on: 'console', pattern: options.userStartPattern } });
  if (options.readyPattern)
    rules.push({ id: 'serial-ready-option', name: `ready /${options.readyPattern.source}/`, boundary: 'ready', rank: RANK.console, match: { on: 'console', pattern: options.readyPattern } });
  return rules;
}

export function importSerial(text: string, file: string, options: SerialImportOptions = {}): Trace {
  const b = new TraceBuilder({ source: 'serial', clock: 'realtime', inputs: [file] }, { vocabulary: (options.vocabulary ?? DEFAULT_VOCABULARY).with(...extraRules(options)) });
  const records: { line: number; us: number; ns: number; text: string }[] = [];
  let execUs: number | undefined;
  forEachLine(text, (line, lineNo) => {
    if (line.length === 0) return;
    if (line.startsWith('#')) {
      const h = HEADER.exec(line);
      if (!h) return;
      if (lineNo !== 1) throw fileError(file, lineNo, 'the hvscope-serial header must be the first line');
      if (h[1] !== '1') throw fileError(file, lineNo, `hvscope-serial format version ${h[1]} is not supported (only 1)`);
      for (const field of h[2].trim().split(/\s+/).filter(Boolean)) {
        const [key, value] = field.split('=', 2);
        if (key === 'clock' && value) b.meta.clock = value;
        else if (key === 'exec_us') {
          if (!value || !/^\d+$/.test(value)) throw fileError(file, lineNo, `exec_us must be microseconds since the epoch, got "${value ?? ''}"`);
          execUs = Number(value);
        }
      }
      return;
    }
    const m = RECORD.exec(line);
    if (!m) throw fileError(file, lineNo, 'expected "<seconds>.<fraction> <text>" (a timestamped console line)');
    const { us, ns } = parseSecondsStamp(m[1], m[2]);
    // A bare \r inside a record separates two console lines that arrived together.
    for (const part of (m[3] ?? '').split('\r')) records.push({ line: lineNo, us, ns, text: part });
  });
  if (records.length === 0) throw fileError(file, undefined, 'no timestamped console lines');

  let t0Us = execUs ?? Infinity;
  if (execUs === undefined) for (const r of records) if (r.us < t0Us) t0Us = r.us;
  b.meta.t0ClockUs = t0Us;
  const lane = b.lane(CONSOLE_LANE, { kind: 'guest', name: 'guest console (serial)' });
  if (execUs !== undefined) b.event('qemu-spawn', 0, { source: SOURCE, detail: `exec_us=${execUs}` });
  for (const r of records) {
    if (r.us < t0Us) throw fileError(file, r.line, `line is stamped ${t0Us - r.us} µs before exec_us in the header`);
    const at = (r.us - t0Us) * 1000 + r.ns;
    const shown = b.consoleLine(lane, r.text, at, { source: SOURCE, timing: 'arrival', maxName: MAX_NAME });
    if (shown) b.event('guest-output', at, { source: SOURCE, lane, detail: shown.name });
  }
  return b.build();
}
