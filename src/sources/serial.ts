// Importer for a timestamped serial console capture: hvscope's own format
// (src/lab/qemu-record.ts) or any `<seconds>.<fraction> <text>` lines, such as
// `ts "%.s"` (moreutils) writes. Optional first line:
//   # hvscope-serial 1 clock=realtime exec_us=<µs>
// exec_us (when QEMU was spawned) becomes t0; without it t0 is the first line.
// Other lines starting with `#` are comments. Each console line becomes an
// instant on the `guest console` lane; known lines become boot markers.
import { fileError } from '../model/errors.js';
import { forEachLine, parseSecondsStamp } from './text-lines.js';
import { emptyTrace, type Instant, type Trace } from '../model/trace.js';
import { MARKER_RANK, markerArgs, withBootPhases, type MarkerKind } from './merge.js';

// `s`: the text may hold a bare \r where the guest's \n was lost (UART overruns under load).
const RECORD = /^(\d+)\.(\d{1,9})(?:[ \t](.*))?$/s;
const HEADER = /^#\s*hvscope-serial\s+(\S+)(.*)$/;
const CONSOLE_LANE = 'guest-console';
const MAX_NAME = 160;

/**
 * Console lines that mark a boot step (matched on the text with escape sequences
 * removed). The firmware ones only matter when the QEMU log is not merged in.
 */
export const SERIAL_MARKERS: { marker: MarkerKind; pattern: RegExp }[] = [
  // SeaBIOS banner / its boot message, qboot
  { marker: 'firmware', pattern: /SeaBIOS \(version|Booting from ROM|^qboot/ },
  // x86 setup code (before decompression), decompressor, kernel banner
  { marker: 'kernel-start', pattern: /Probing EDD|Decompressing Linux|Linux version \d/ },
  // the kernel's last line before exec'ing init, and the linux guest's /init marker
  { marker: 'user-start', pattern: /Run \S+ as init process|hvscope-marker user-start/ },
  { marker: 'ready', pattern: /hvscope-marker ready/ },
];

// CSI (ESC [ ... final), other two-byte ESC sequences, remaining control characters.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_a-z]|[\x00-\x08\x0b-\x1f\x7f]/g;

export function cleanConsoleText(text: string): string {
  return text.replace(ESCAPES, '').replace(/\s+$/, '');
}

export interface SerialImportOptions {
  /** Extra line pattern marking the guest as ready (ends the user phase), e.g. a service's banner. */
  readyPattern?: RegExp;
  /** Extra line pattern marking user-space start, for guests without the hvscope markers. */
  userStartPattern?: RegExp;
}

export function importSerial(text: string, file: string, options: SerialImportOptions = {}): Trace {
  const markers: { marker: MarkerKind; pattern: RegExp }[] = [
    ...SERIAL_MARKERS,
    ...(options.userStartPattern ? [{ marker: 'user-start' as const, pattern: options.userStartPattern }] : []),
    ...(options.readyPattern ? [{ marker: 'ready' as const, pattern: options.readyPattern }] : []),
  ];
  const trace = emptyTrace({ source: 'serial', clock: 'realtime', inputs: [file] });
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
        if (key === 'clock' && value) trace.meta.clock = value;
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
  trace.meta.t0ClockUs = t0Us;
  trace.lanes = [{ id: CONSOLE_LANE, kind: 'guest', name: 'guest console (serial)' }];

  const instants: Instant[] = [];
  const seen = new Set<MarkerKind>();
  for (const r of records) {
    if (r.us < t0Us) throw fileError(file, r.line, `line is stamped ${t0Us - r.us} µs before exec_us in the header`);
    const clean = cleanConsoleText(r.text);
    if (clean.trim().length === 0) continue;
    const name = clean.length > MAX_NAME ? clean.slice(0, MAX_NAME - 1) + '…' : clean;
    const instant: Instant = { lane: CONSOLE_LANE, name, at: (r.us - t0Us) * 1000 + r.ns };
    if (name !== clean) instant.args = { text: clean };
    // Only the first line of each kind is a marker: later ones (a second banner) say nothing new.
    const marker = markers.find((k) => !seen.has(k.marker) && k.pattern.test(clean));
    if (marker) {
      seen.add(marker.marker);
      instant.args = { ...instant.args, ...markerArgs(marker.marker, 'serial console', MARKER_RANK.console) };
    }
    instants.push(instant);
  }
  trace.instants = instants.sort((a, b) => a.at - b.at);
  return withBootPhases(trace);
}
