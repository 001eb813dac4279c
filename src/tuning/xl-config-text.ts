// A small editor for xl.conf(5) / xl.cfg(5) text, shared by the xen-xl-conf and
// xen-domain targets. It edits the text in place and never re-serialises it, so
// comments, blank lines, unknown keys and the user's quoting stay byte-for-byte.
//
// The grammar follows Xen's own parser (tools/libs/util/libxlu_cfg_{l.l,y.y}):
//   statement := IDENT ('=' | '+=') value (NEWLINE | ';' | EOF)
//   value     := STRING | NUMBER | '[' items ']'   (lists may span lines, trailing ',' allowed)
//   IDENT [a-z][._0-9a-z]*, NUMBER 0x.. or decimal, STRING '...' or "..." with \ escapes, '#' comment.
// The later of two assignments wins (checked against libxlutil).
//
// Byte-identical rollback works from values alone (the journal keeps values, not text):
// - a present key: only its value token changes, in the same quote style; writing the
//   old value back restores the old bytes;
// - an absent key: a new line `key=value # added by hvscope tune` goes right after a
//   commented-out default (`#key=...`) or at the end; removing that line again deletes it
//   (and the newline it needed), restoring the old bytes;
// - removing a key that was the user's: its lines are commented out with `#hvscope-unset: `
//   (continuations `#hvscope-unset+ `); writing a value back uncomments them first.
// - a file created here starts with CREATED_HEADER and is deleted when only that is left.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileError, lineOfOffset, UserError } from '../model/errors.js';
import { readInputTextIfExists } from '../model/input.js';

export const ADDED_MARKER = '# added by hvscope tune';
export const UNSET_PREFIX = '#hvscope-unset: ';
export const UNSET_CONTINUATION = '#hvscope-unset+ ';
export const CREATED_HEADER = '# Created by hvscope tune; deleted again when its last setting is removed.\n';

export type XlAtom =
  | { kind: 'string'; text: string; quote: '"' | "'"; start: number; end: number }
  | { kind: 'number'; text: string; start: number; end: number };
export type XlValue = XlAtom | { kind: 'list'; items: XlAtom[]; start: number; end: number };

export interface XlStatement {
  key: string;
  op: '=' | '+=';
  value: XlValue;
  /** Offset of the key. */
  start: number;
  /** Offset just after the value. */
  end: number;
  /** 1-based line of the key. */
  line: number;
}

const IDENT = /[a-z][._0-9a-z]*/y;
const NUMBER = /(?:0x[0-9a-fA-F]+|[0-9]+)(?![._0-9a-zA-Z])/y;

/** Decodes the body of a quoted string the way libxlutil's dequote does (common escapes). */
function unescape(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[e] ?? e;
  });
}

/** Parses xl config text; throws fileError(file, line) on anything libxlutil would reject. */
export function parseXlConfig(text: string, file: string): XlStatement[] {
  const statements: XlStatement[] = [];
  let i = 0;
  const fail = (at: number, msg: string): never => {
    throw fileError(file, lineOfOffset(text, at), msg);
  };
  // Skips blanks, and (inside lists) newlines and comments too.
  const skip = (newlines: boolean): void => {
    for (;;) {
      const c = text[i];
      if (c === ' ' || c === '\t' || c === '\r') i++;
      else if (newlines && c === '\n') i++;
      else if (newlines && c === '#') while (i < text.length && text[i] !== '\n') i++;
      else return;
    }
  };
  const atom = (): XlAtom => {
    const start = i;
    const c = text[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) {
        if (text[j] === '\n') fail(j, 'unterminated string');
        j += text[j] === '\\' ? 2 : 1;
      }
      if (j >= text.length) fail(start, 'unterminated string');
      i = j + 1;
      return { kind: 'string', text: unescape(text.slice(start + 1, j)), quote: c, start, end: i };
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail(i, `expected a quoted string, a number or '[' near \`${text.slice(i, i + 20).split('\n')[0]}'`);
    i += m[0].length;
    return { kind: 'number', text: m[0], start, end: i };
  };
  while (i < text.length) {
    skip(false);
    const c = text[i];
    if (c === undefined) break;
    if (c === '\n' || c === ';') { i++; continue; }
    if (c === '#') { while (i < text.length && text[i] !== '\n') i++; continue; }
    IDENT.lastIndex = i;
    const id = IDENT.exec(text);
    if (!id) fail(i, `expected a setting name (lower-case letters, digits, '.', '_') near \`${text.slice(i, i + 20).split('\n')[0]}'`);
    const start = i;
    i += id![0].length;
    skip(false);
    let op: '=' | '+=';
    if (text[i] === '=') { op = '='; i++; } else if (text.startsWith('+=', i)) { op = '+='; i += 2; } else return fail(i, `expected '=' after ${id![0]}`);
    skip(false);
    let value: XlValue;
    if (text[i] === '[') {
      const lstart = i;
      i++;
      const items: XlAtom[] = [];
      for (;;) {
        skip(true);
        if (text[i] === ']') { i++; break; }
        if (i >= text.length) fail(lstart, `list for ${id![0]} is not closed with ']'`);
        items.push(atom());
        skip(true);
        if (i >= text.length) fail(lstart, `list for ${id![0]} is not closed with ']'`);
        if (text[i] === ',') i++;
        else if (text[i] !== ']') fail(i, `expected ',' or ']' in list for ${id![0]}`);
      }
      value = { kind: 'list', items, start: lstart, end: i };
    } else value = atom();
    const end = i;
    skip(false);
    if (i < text.length && text[i] !== '\n' && text[i] !== ';' && text[i] !== '#') fail(i, `unexpected text after ${id![0]}`);
    statements.push({ key: id![0], op: op!, value, start, end, line: lineOfOffset(text, start) });
  }
  return statements;
}

/** The statement that takes effect for key (the last one), if any. */
export function findSetting(statements: XlStatement[], key: string): XlStatement | undefined {
  for (let k = statements.length - 1; k >= 0; k--) if (statements[k].key === key) return statements[k];
  return undefined;
}

/** Value of an atom setting as text; null when absent. Lists are an error (they need getList). */
export function getAtom(text: string, file: string, key: string): string | null {
  const st = findSetting(parseXlConfig(text, file), key);
  if (!st) return null;
  if (st.value.kind === 'list') throw fileError(file, st.line, `${key} is a list, expected a single value`);
  return st.value.text;
}

/** Raw source text of a setting's value (e.g. a whole list), null when absent. */
export function getRaw(text: string, file: string, key: string): string | null {
  const st = findSetting(parseXlConfig(text, file), key);
  return st ? text.slice(st.value.start, st.value.end) : null;
}

const isNumberText = (v: string): boolean => /^(?:0x[0-9a-fA-F]+|[0-9]+)$/.test(v);

/** Renders value as an atom token: quoted with `quote` (escaping), or bare when a number and allowed. */
export function atomToken(value: string, quote: '"' | "'" | 'bare'): string {
  if (/[\n\r\0]/.test(value)) throw new UserError(`value ${JSON.stringify(value)} contains a line break, which xl config files cannot hold`);
  if (quote === 'bare' && isNumberText(value)) return value;
  const q = quote === 'bare' ? '"' : quote;
  return q + value.replace(/\\/g, '\\\\').split(q).join('\\' + q) + q;
}

interface LineSpan { start: number; end: number } // end includes the '\n' when there is one

function lineAt(text: string, offset: number): LineSpan {
  const start = text.lastIndexOf('\n', offset - 1) + 1;
  const nl = text.indexOf('\n', offset);
  return { start, end: nl < 0 ? text.length : nl + 1 };
}

/** Deletes whole lines [start,end); a last line without '\n' also takes the '\n' before it. */
function deleteLines(text: string, span: LineSpan): string {
  const noFinalNewline = span.end === text.length && !text.endsWith('\n');
  const start = noFinalNewline && span.start > 0 ? span.start - 1 : span.start;
  return text.slice(0, start) + text.slice(span.end);
}

/** Inserts a line after the line ending at `at` (a line end offset), coping with a missing final '\n'. */
function insertLine(text: string, at: number, line: string): string {
  if (at === text.length && text.length > 0 && !text.endsWith('\n')) return text + '\n' + line;
  return text.slice(0, at) + line + '\n' + text.slice(at);
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Uncomments the statements of key that an earlier removal commented out. */
function restoreUnset(text: string, key: string): string {
  const lines = text.split(/(?<=\n)/);
  const head = new RegExp('^' + escapeRe(UNSET_PREFIX) + '\\s*' + escapeRe(key) + '\\s*\\+?=');
  let changed = false;
  for (let k = 0; k < lines.length; k++) {
    if (!head.test(lines[k])) continue;
    changed = true;
    lines[k] = lines[k].slice(UNSET_PREFIX.length);
    for (let c = k + 1; c < lines.length && lines[c].startsWith(UNSET_CONTINUATION); c++) lines[c] = lines[c].slice(UNSET_CONTINUATION.length);
  }
  return changed ? lines.join('') : text;
}

/** Removes every statement of key: lines we added are deleted, the user's are commented out. */
function removeSetting(text: string, file: string, key: string): string {
  const mine = parseXlConfig(text, file).filter((s) => s.key === key);
  // Work from the end so earlier offsets stay valid.
  for (const st of mine.reverse()) {
    const first = lineAt(text, st.start);
    const last = lineAt(text, Math.max(st.end - 1, st.start));
    const before = text.slice(first.start, st.start);
    const after = text.slice(st.end, last.end).replace(/\n$/, '');
    if (before.trim() !== '' || !/^\s*;?\s*(#.*)?$/.test(after)) {
      throw fileError(file, st.line, `${key} shares its line with other settings; put it on its own line so hvscope can remove it`);
    }
    if (after.includes(ADDED_MARKER)) {
      text = deleteLines(text, { start: first.start, end: last.end });
    } else {
      const body = text.slice(first.start, last.end);
      const commented = body.split(/(?<=\n)/).map((l, n) => (n === 0 ? UNSET_PREFIX : UNSET_CONTINUATION) + l).join('');
      text = text.slice(0, first.start) + commented + text.slice(last.end);
    }
  }
  return text;
}

/**
 * Sets key to a value token/raw value text, or removes it (null). `render(existing)` gets the
 * current value (when the key is present) and returns the replacement value text.
 */
function setSetting(
  text: string,
  file: string,
  key: string,
  render: ((existing: XlValue | undefined, commentedDefault: string | undefined, current: string) => string) | null,
): string {
  if (render === null) return removeSetting(text, file, key);
  text = restoreUnset(text, key);
  const statements = parseXlConfig(text, file);
  const st = findSetting(statements, key);
  if (st) {
    if (st.op === '+=') throw fileError(file, st.line, `${key} is set with '+=', which hvscope does not edit; use '='`);
    const replacement = render(st.value, undefined, text);
    return text.slice(0, st.value.start) + replacement + text.slice(st.value.end);
  }
  // Absent: add a line after a commented-out default (`#key="..."`), else at the end.
  const commented = new RegExp('^#[ \\t]*' + escapeRe(key) + '[ \\t]*=[ \\t]*(.*)$', 'm');
  const m = commented.exec(text);
  const line = `${key}=${render(undefined, m?.[1], text)} ${ADDED_MARKER}`;
  if (m) return insertLine(text, lineAt(text, m.index).end, line);
  return insertLine(text, text.length, line);
}

/** Quote style of an existing atom, or of a commented default's value text. */
function quoteOf(existing: XlValue | undefined, commentedDefault: string | undefined): '"' | "'" | 'bare' {
  if (existing?.kind === 'string') return existing.quote;
  if (existing?.kind === 'number') return 'bare';
  const c = commentedDefault?.trim()[0];
  if (c === '"' || c === "'") return c;
  return 'bare';
}

/** Sets an atom (string or number) setting; null removes it. Same value → text unchanged. */
export function setAtom(text: string, file: string, key: string, value: string | null): string {
  if (value === null) return setSetting(text, file, key, null);
  return setSetting(text, file, key, (existing, commentedDefault, current) => {
    if (existing && existing.kind !== 'list' && existing.text === value) return current.slice(existing.start, existing.end);
    return atomToken(value, quoteOf(existing, commentedDefault));
  });
}

/** Sets a setting's raw value text (validated as an xl value), null removes it. */
export function setRaw(text: string, file: string, key: string, raw: string | null): string {
  if (raw !== null) parseXlConfig(`${key}=${raw}\n`, `${file} (value for ${key})`);
  return setSetting(text, file, key, raw === null ? null : () => raw);
}

/** Replaces list item `index` of key with `value` (keeping its quotes), appends it when index == length. */
export function setListItem(text: string, file: string, key: string, index: number, value: string | null): string {
  const st = findSetting(parseXlConfig(text, file), key);
  if (!st) {
    if (value === null) return text;
    if (index !== 0) throw new UserError(`${file}: ${key} has no item ${index}`);
    return setSetting(text, file, key, () => `[ ${atomToken(value, "'")} ]`);
  }
  if (st.value.kind !== 'list') throw fileError(file, st.line, `${key} is a single value, expected a list`);
  const items = st.value.items;
  if (index > items.length || (index === items.length && value === null)) {
    if (value === null) return text;
    throw fileError(file, st.line, `${key} has ${items.length} item(s); cannot set item ${index}`);
  }
  if (value === null) {
    // Remove item `index` with its separating comma; an emptied list we added goes away entirely.
    if (items.length === 1) {
      const lineEnd = lineAt(text, st.end).end;
      if (text.slice(st.end, lineEnd).includes(ADDED_MARKER)) return removeSetting(text, file, key);
      return text.slice(0, items[0].start) + text.slice(items[0].end);
    }
    const it = items[index];
    if (index === items.length - 1) return text.slice(0, items[index - 1].end) + text.slice(it.end);
    return text.slice(0, it.start) + text.slice(items[index + 1].start);
  }
  if (index === items.length) {
    const token = atomToken(value, items[0]?.kind === 'string' ? items[0].quote : "'");
    if (items.length === 0) {
      const open = st.value.start + 1;
      return text.slice(0, open) + ' ' + token + ' ' + text.slice(open).replace(/^\s*/, '');
    }
    const lastEnd = items[items.length - 1].end;
    return text.slice(0, lastEnd) + ', ' + token + text.slice(lastEnd);
  }
  const it = items[index];
  if (it.text === value) return text;
  return text.slice(0, it.start) + atomToken(value, it.kind === 'string' ? it.quote : "'") + text.slice(it.end);
}

/** Items of a list setting, null when absent. */
export function getList(text: string, file: string, key: string): string[] | null {
  const st = findSetting(parseXlConfig(text, file), key);
  if (!st) return null;
  if (st.value.kind !== 'list') throw fileError(file, st.line, `${key} is a single value, expected a list`);
  return st.value.items.map((a) => a.text);
}

// ---- files -------------------------------------------------------------------------------

/** File text, or null when the file does not exist. */
export async function readConfigFile(file: string): Promise<string | null> {
  return readInputTextIfExists(file, 'config file', 'config');
}

let tempFileListener: ((tmp: string) => void) | undefined;

/**
 * Called with each temp file's path before it is created: the apply engine
 * journals it, so a crash between create and rename leaves nothing behind
 * once the next command has recovered.
 */
export function onTempFile(listener: ((tmp: string) => void) | undefined): void {
  tempFileListener = listener;
}

/** Writes atomically (temp file in the same directory + rename), keeping the old file's mode. */
export async function writeFileAtomic(file: string, text: string, mode?: number): Promise<void> {
  const dir = path.dirname(file);
  let keepMode = mode;
  if (keepMode === undefined) {
    try {
      keepMode = (await fs.stat(file)).mode & 0o7777;
    } catch {
      keepMode = 0o644;
    }
  }
  await fs.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.hvscope-${process.pid}-${Date.now()}.tmp`);
  tempFileListener?.(tmp);
  try {
    const handle = await fs.open(tmp, 'wx', keepMode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.chmod(keepMode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw new UserError(`${file}: cannot write: ${(err as Error).message}`);
  }
}

/**
 * Applies `edit` to a config file. A missing file is created (with CREATED_HEADER); a file we
 * created that is left with only its header is deleted, so a rollback leaves no trace.
 */
export async function editConfigFile(file: string, edit: (text: string) => string): Promise<void> {
  const old = await readConfigFile(file);
  const next = edit(old ?? CREATED_HEADER);
  if (next === CREATED_HEADER) {
    if (old !== null) await fs.rm(file, { force: true });
    return;
  }
  if (next === old) return;
  await writeFileAtomic(file, next);
}
