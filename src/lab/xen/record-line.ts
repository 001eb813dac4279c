// One line of the `KIND key=value ...` records the lab's dom0 scripts write
// (xen-experiment.txt, the libvirt experiment's record): split once, with
// typed getters that fail with one line naming the file and line.
import { fileError } from '../../model/errors.js';

export interface RecordLine {
  kind: string;
  get(key: string): string | undefined;
  /** An integer field; missing or not an integer is an error at this line. */
  int(key: string): number;
  /** A non-empty field; missing is an error at this line. */
  str(key: string): string;
}

/** Parses a non-empty, trimmed record line (`lineNo` 1-based). */
export function parseRecordLine(line: string, file: string, lineNo: number): RecordLine {
  const [kind, ...fields] = line.split(/\s+/);
  const kv = new Map<string, string>();
  for (const f of fields) {
    const m = /^([a-z_]+)=(\S*)$/.exec(f);
    if (!m) throw fileError(file, lineNo, `expected key=value, got ${JSON.stringify(f)}`);
    kv.set(m[1], m[2]);
  }
  return {
    kind,
    get: (key) => kv.get(key),
    int(key) {
      const v = kv.get(key);
      if (v === undefined || !/^-?\d+$/.test(v)) throw fileError(file, lineNo, `${kind}: ${key} must be an integer, got ${JSON.stringify(v ?? null)}`);
      return Number(v);
    },
    str(key) {
      const v = kv.get(key);
      if (!v) throw fileError(file, lineNo, `${kind}: missing ${key}`);
      return v;
    },
  };
}
