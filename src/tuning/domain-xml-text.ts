// A small editor for libvirt domain XML (formatdomain.html), used by the libvirt-domain target.
// Like ./xl-config-text.ts it edits the text in place and never re-serialises the document, so
// the XML declaration, comments, attribute quoting, indentation and every element a profile does
// not name stay byte-for-byte.
//
// The parser checks well-formedness as XML 1.0 defines it for what domain XML uses (elements,
// attributes in ' or ", the five predefined entities and character references, comments, CDATA,
// processing instructions, a DOCTYPE without internal subset) and reports the first error with
// its line. `xmllint --noout` (libxml2-utils) agrees on the documents the tests feed both.
//
// Byte-identical rollback from values alone (the journal keeps values, not text):
// - an element we add carries ADDED_MARK right after it on its line; removing it deletes the line;
// - an element of the user's that a profile removes is commented out in place as
//   `<!--hvscope-unset: ...-->` (escaped so the comment stays well-formed); writing the old value
//   back uncomments it first;
// - a changed text value or attribute only replaces its own characters.
import { fileError, lineOfOffset, UserError } from '../model/errors.js';

export const ADDED_MARK = '<!-- added by hvscope tune -->';
export const UNSET_OPEN = '<!--hvscope-unset: ';

export interface XmlAttr {
  name: string;
  value: string;
  /** Offsets of the value between the quotes. */
  valueStart: number;
  valueEnd: number;
}

export interface XmlComment {
  start: number;
  end: number;
  body: string;
}

export interface XmlElement {
  name: string;
  attrs: XmlAttr[];
  /** Offset of '<' of the start tag. */
  start: number;
  /** Offset after the start tag's '>'. */
  openEnd: number;
  /** Offset of the end tag's '<' (= openEnd for `<x/>`). */
  closeStart: number;
  /** Offset after the element. */
  end: number;
  selfClosing: boolean;
  children: XmlElement[];
  /** Comments directly inside this element. */
  comments: XmlComment[];
  line: number;
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes entity and character references; `fail(offset, msg)` on a bad one. */
function decode(raw: string, at: number, fail: (offset: number, msg: string) => never): string {
  return raw.replace(/&([^;&\s]*);?/g, (m, ref: string, off: number) => {
    if (!m.endsWith(';')) fail(at + off, `'&' must start an entity reference such as &amp;`);
    if (ref.startsWith('#x') && /^#x[0-9a-fA-F]+$/.test(ref)) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (/^#[0-9]+$/.test(ref)) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    if (ref in ENTITIES) return ENTITIES[ref];
    return fail(at + off, `unknown entity &${ref};`);
  });
}

export const escapeText = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
export const escapeAttr = (s: string, quote: '"' | "'" = "'"): string =>
  escapeText(s).replace(quote === "'" ? /'/g : /"/g, quote === "'" ? '&apos;' : '&quot;');

/** Parses a document; returns its root element. Throws fileError(file, line, ...) when not well-formed. */
export function parseXml(text: string, file: string): XmlElement {
  const fail = (at: number, msg: string): never => {
    throw fileError(file, lineOfOffset(text, Math.min(at, text.length)), `not well-formed XML: ${msg}`);
  };
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipTo = (end: string, what: string): number => {
    const j = text.indexOf(end, i);
    if (j < 0) fail(i, `${what} is not closed with '${end}'`);
    return j;
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk.trim() !== '') {
      if (stack.length === 0) fail(i, root ? 'text after the root element' : 'text before the root element');
      if (chunk.includes('>') && chunk.includes(']]>')) fail(i + chunk.indexOf(']]>'), "']]>' outside CDATA");
      decode(chunk, i, fail);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const j = skipTo('-->', 'comment');
      const body = text.slice(i + 4, j);
      if (body.includes('--')) fail(i + 4 + body.indexOf('--'), "'--' inside a comment");
      const c = { start: i, end: j + 3, body };
      stack[stack.length - 1]?.comments.push(c);
      i = j + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      if (stack.length === 0) fail(i, 'CDATA outside the root element');
      i = skipTo(']]>', 'CDATA section') + 3;
    } else if (text.startsWith('<?', i)) {
      i = skipTo('?>', 'processing instruction') + 2;
    } else if (text.startsWith('<!DOCTYPE', i)) {
      if (root || stack.length) fail(i, 'DOCTYPE after the root element started');
      const j = skipTo('>', 'DOCTYPE');
      if (text.slice(i, j).includes('[')) fail(i, 'a DOCTYPE with an internal subset is not supported in domain XML');
      i = j + 1;
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const m = NAME.exec(text);
      if (!m) return fail(i, 'bad end tag');
      const top = stack.pop();
      if (!top) return fail(i, `end tag </${m[0]}> without a start tag`);
      if (top.name !== m[0]) fail(i, `</${m[0]}> closes <${top.name}> opened on line ${top.line}`);
      let j = i + 2 + m[0].length;
      while (/\s/.test(text[j] ?? '')) j++;
      if (text[j] !== '>') fail(j, `expected '>' to end </${m[0]}>`);
      top.closeStart = i;
      top.end = j + 1;
      i = j + 1;
    } else i = startTag(text, i, stack, fail, (el) => {
      if (stack.length === 0 && root) fail(el.start, `a second root element <${el.name}>`);
      if (stack.length === 0) root = el;
    });
  }
  if (stack.length > 0) fail(stack[stack.length - 1].start, `<${stack[stack.length - 1].name}> is never closed`);
  if (!root) return fail(0, 'no root element');
  return root;
}

/** Parses a start tag at i; returns the offset after it. */
function startTag(text: string, i: number, stack: XmlElement[], fail: (at: number, msg: string) => never, onElement: (el: XmlElement) => void): number {
  const start = i;
  NAME.lastIndex = i + 1;
  const m = NAME.exec(text);
  if (!m) return fail(i, "'<' must start a tag (write &lt; for a literal '<')");
  const el: XmlElement = { name: m[0], attrs: [], start, openEnd: 0, closeStart: 0, end: 0, selfClosing: false, children: [], comments: [], line: lineOfOffset(text, start) };
  onElement(el);
  i += 1 + m[0].length;
  for (;;) {
    const ws = i;
    while (/\s/.test(text[i] ?? '')) i++;
    if (i >= text.length) fail(start, `<${el.name}> start tag is not closed with '>'`);
    if (text[i] === '>' || text.startsWith('/>', i)) break;
    if (ws === i) fail(i, `expected whitespace before attribute in <${el.name}>`);
    NAME.lastIndex = i;
    const a = NAME.exec(text);
    if (!a) fail(i, `bad attribute name in <${el.name}>`);
    i += a![0].length;
    while (/\s/.test(text[i] ?? '')) i++;
    if (text[i] !== '=') fail(i, `expected '=' after attribute ${a![0]} in <${el.name}>`);
    i++;
    while (/\s/.test(text[i] ?? '')) i++;
    const q = text[i];
    if (q !== '"' && q !== "'") fail(i, `attribute ${a![0]} of <${el.name}> needs a quoted value`);
    const close = text.indexOf(q, i + 1);
    if (close < 0) fail(i, `attribute ${a![0]} of <${el.name}>: unterminated value`);
    const raw = text.slice(i + 1, close);
    if (raw.includes('<')) fail(i + 1 + raw.indexOf('<'), `'<' inside attribute ${a![0]}`);
    if (el.attrs.some((x) => x.name === a![0])) fail(i, `attribute ${a![0]} repeated in <${el.name}>`);
    el.attrs.push({ name: a![0], value: decode(raw, i + 1, fail), valueStart: i + 1, valueEnd: close });
    i = close + 1;
  }
  const parent = stack[stack.length - 1];
  parent?.children.push(el);
  if (text[i] === '/') {
    el.selfClosing = true;
    el.openEnd = el.closeStart = el.end = i + 2;
    return i + 2;
  }
  el.openEnd = i + 1;
  stack.push(el);
  return i + 1;
}

export const attr = (el: XmlElement, name: string): string | undefined => el.attrs.find((a) => a.name === name)?.value;

/** The element at a path of child names from the root (first match at each step), if any. */
export function findPath(root: XmlElement, path: string[]): XmlElement | undefined {
  let el: XmlElement | undefined = root;
  for (const name of path) el = el?.children.find((c) => c.name === name);
  return el;
}

/** Character data of an element (decoded; CDATA kept as is), trimmed; null for child elements. */
export function elementText(text: string, el: XmlElement): string {
  const inner = text.slice(el.openEnd, el.closeStart);
  const parts = inner.split(/(<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->)/);
  return parts
    .map((p) => (p.startsWith('<![CDATA[') ? p.slice(9, -3) : p.startsWith('<!--') ? '' : decode(p, 0, () => { throw new UserError('bad entity'); })))
    .join('')
    .trim();
}

/** Replaces an element's content with escaped text (a `<x/>` becomes `<x>text</x>`). */
export function setElementText(text: string, el: XmlElement, value: string): string {
  if (el.selfClosing) {
    const open = text.slice(el.start, el.end).replace(/\s*\/>$/, '>');
    return text.slice(0, el.start) + open + escapeText(value) + `</${el.name}>` + text.slice(el.end);
  }
  return text.slice(0, el.openEnd) + escapeText(value) + text.slice(el.closeStart);
}

/** Sets an existing attribute's value (keeping its quotes), or adds it after the last one. */
export function setAttr(text: string, el: XmlElement, name: string, value: string): string {
  const a = el.attrs.find((x) => x.name === name);
  if (a) {
    const quote = text[a.valueStart - 1] as '"' | "'";
    return text.slice(0, a.valueStart) + escapeAttr(value, quote) + text.slice(a.valueEnd);
  }
  const at = el.attrs.length ? el.attrs[el.attrs.length - 1].valueEnd + 1 : el.start + 1 + el.name.length;
  return text.slice(0, at) + ` ${name}='${escapeAttr(value)}'` + text.slice(at);
}

// ---- comment-out and restore -------------------------------------------------------------

/** Escapes element text for a comment: '\' → '\\', and a '-' before another '-' gets a '\'. */
export function commentEscape(raw: string): string {
  return raw.replace(/\\/g, '\\\\').replace(/-(?=-)/g, '-\\');
}
export function commentUnescape(body: string): string {
  return body.replace(/\\(.)/gs, '$1');
}

const lineStart = (text: string, at: number): number => text.lastIndexOf('\n', at - 1) + 1;
const lineEnd = (text: string, at: number): number => {
  const nl = text.indexOf('\n', at);
  return nl < 0 ? text.length : nl + 1;
};

/** Whether `el` carries ADDED_MARK right after it. */
export const isAdded = (text: string, el: XmlElement): boolean => text.startsWith(ADDED_MARK, el.end);

/**
 * Removes an element: one we added goes with its line; one of the user's is commented out in
 * place. Returns the new text.
 */
export function removeElement(text: string, el: XmlElement): string {
  if (isAdded(text, el)) {
    const ls = lineStart(text, el.start);
    const after = el.end + ADDED_MARK.length;
    const le = lineEnd(text, after);
    if (text.slice(ls, el.start).trim() !== '' || text.slice(after, le).trim() !== '') return text.slice(0, el.start) + text.slice(after);
    const before = text.slice(0, ls);
    const rest = text.slice(le);
    // addChild turned an empty `<x/>` into `<x>\n...\n</x>`: emptied again, it becomes `<x/>` again.
    const open = /<([A-Za-z_:][-\w:.]*)((?:\s+[^<>]*)?)>\n$/.exec(before);
    const close = open ? new RegExp(`^[ \\t]*</${open[1].replace(/[.]/g, '\\.')}>`).exec(rest) : null;
    if (open && close) return before.slice(0, before.length - 2) + '/>' + rest.slice(close[0].length);
    return before + rest;
  }
  return text.slice(0, el.start) + UNSET_OPEN + commentEscape(text.slice(el.start, el.end)) + ' -->' + text.slice(el.end);
}

/** Uncomments, inside `parent`, the elements named `name` that removeElement commented out and `keep` accepts. */
export function restoreUnset(text: string, parent: XmlElement, name: string, keep: (raw: string) => boolean = () => true): string {
  const prefix = UNSET_OPEN.slice(4);
  for (const c of [...parent.comments].reverse()) {
    if (!c.body.startsWith(prefix) || !c.body.endsWith(' ')) continue;
    const raw = commentUnescape(c.body.slice(prefix.length, -1));
    if (!new RegExp(`^<${name}[\\s/>]`).test(raw) || !keep(raw)) continue;
    text = text.slice(0, c.start) + raw + text.slice(c.end);
  }
  return text;
}

/** Indentation of a parent's children: taken from an existing child, else the parent's plus two spaces. */
function childIndent(text: string, parent: XmlElement): string {
  const first = parent.children[0];
  const of = (at: number): string => /^[ \t]*/.exec(text.slice(lineStart(text, at)))![0];
  if (first && text.slice(lineStart(text, first.start), first.start).trim() === '') return of(first.start);
  return of(parent.start) + '  ';
}

/** Adds `fragment` (one element's XML) as the last child of `parent`, on its own line, marked as added. */
export function addChild(text: string, parent: XmlElement, fragment: string): string {
  const indent = childIndent(text, parent);
  if (parent.selfClosing) {
    const open = text.slice(parent.start, parent.end).replace(/\s*\/>$/, '>');
    const outer = /^[ \t]*/.exec(text.slice(lineStart(text, parent.start)))![0];
    return text.slice(0, parent.start) + `${open}\n${indent}${fragment}${ADDED_MARK}\n${outer}</${parent.name}>` + text.slice(parent.end);
  }
  // Before the end tag's line when it is on a line of its own, else right before the end tag.
  const ls = lineStart(text, parent.closeStart);
  if (text.slice(ls, parent.closeStart).trim() === '') return text.slice(0, ls) + `${indent}${fragment}${ADDED_MARK}\n` + text.slice(ls);
  return text.slice(0, parent.closeStart) + `\n${indent}${fragment}${ADDED_MARK}\n` + text.slice(parent.closeStart);
}

/** A start tag with collapsed whitespace, e.g. `<disk type='file' device='disk'>`: how a removed element is shown. */
export function startTagSummary(text: string, el: XmlElement): string {
  return text.slice(el.start, el.openEnd).replace(/\s+/g, ' ').replace(/\s*\/?>$/, '>');
}
