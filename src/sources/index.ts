// Registry of importers: one per source format, each text → Trace (see DESIGN.md "Layout").
import { readFileSync } from 'node:fs';
import { UserError } from '../model/errors.js';
import type { ImportOptions } from '../model/builder.js';
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
  const importer = importerFor(format);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return importer(text, file, opts);
}
