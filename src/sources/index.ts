// Registry of importers: one per source format, each text → Trace (docs/design.md "Layout and data flow").
import { UserError } from '../model/errors.js';
import type { ImportOptions } from '../model/builder.js';
import { checkJsonNesting, readInputText } from '../model/input.js';
import { detectFormat } from './detect.js';
import type { Trace } from '../model/trace.js';
import { importBpftrace } from './bpftrace/index.js';
import { importChrome } from './chrome.js';
import { importQemuLog } from './qemu-log.js';
import { importSerial } from './serial.js';
import { importXlLog } from './xl-log.js';

/** text → Trace; the options carry the marker vocabulary (a user's ready rule is a row in it). */
export type Importer = (text: string, file: string, opts?: ImportOptions) => Trace;

export const IMPORTERS: Record<string, { importer: Importer; describe: string }> = {
  bpftrace: { importer: importBpftrace, describe: 'bpftrace -f json output of hvscope probes (NDJSON)' },
  'qemu-log': { importer: importQemuLog, describe: 'QEMU trace log (-trace EVENT -D FILE): pid@sec.usec:event args' },
  serial: { importer: importSerial, describe: 'timestamped serial console capture (<sec>.<usec> <text> per line)' },
  chrome: { importer: importChrome, describe: 'Chrome Trace Event JSON (array or {traceEvents})' },
  'xl-log': { importer: importXlLog, describe: 'xl -vvv create log, each line stamped (<sec>.<fraction> <line>, e.g. piped through ts %.s)' },
};

/** Formats that are JSON (or JSON lines): their nesting is bounded before parsing. */
const JSON_FORMATS = ['bpftrace', 'chrome'];

/** Formats named in the CLI contract that a later issue fills in. */
const PLANNED: Record<string, string> = {};

export function formatNames(): string[] {
  return [...Object.keys(IMPORTERS), ...Object.keys(PLANNED)];
}

export function importerFor(format: string): Importer {
  const entry = IMPORTERS[format];
  if (entry) return entry.importer;
  if (PLANNED[format]) throw new UserError(`--from ${format}: not available yet: ${PLANNED[format]}`);
  throw new UserError(`--from ${format}: unknown format; one of ${formatNames().join(', ')}`);
}

export function importFile(file: string, format: string, opts: ImportOptions = {}): Trace {
  return importFileAs(file, format, opts).trace;
}

/** Imports `file` as `format`, or, without one, as the format its content shows (`detected` says why). */
export function importFileAs(file: string, format: string | undefined, opts: ImportOptions = {}): { trace: Trace; format: string; detected?: string } {
  if (format !== undefined) importerFor(format);
  const text = readInputText(file, `${format ?? 'input'} file`);
  const detection = format === undefined ? detectFormat(text, file) : undefined;
  const chosen = format ?? detection!.format;
  if (JSON_FORMATS.includes(chosen)) checkJsonNesting(text, file);
  return { trace: importerFor(chosen)(text, file, opts), format: chosen, ...(detection ? { detected: detection.why } : {}) };
}
