// YAML the user wrote (profiles, figure specs), parsed with bounds: nesting
// (flow brackets before parsing, block depth after), duplicate keys found in
// linear time (the library's own check is quadratic in the keys of a mapping),
// and alias expansion ("billion laughs") capped — each refusal one line
// `file:line: ...`. Read the text with readInputText (src/model/input.ts).
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import { fileError, lineOfOffset, quoteInput } from './errors.js';
import { MAX_NESTING } from './input.js';

/** Alias expansions allowed when building values (the yaml library's default). */
export const MAX_ALIAS_EXPANSIONS = 100;

export interface ParsedYaml {
  doc: Document;
  lc: LineCounter;
  /** The document as plain values. */
  data: unknown;
}

/** Can a quote or comment start here in YAML? (after a line start, space, or a flow indicator). */
function tokenStart(text: string, i: number): boolean {
  if (i === 0) return true;
  const p = text[i - 1];
  return p === ' ' || p === '\t' || p === '\n' || p === '\r' || p === '[' || p === '{' || p === ',' || p === ':' || p === '-' || p === '?';
}

/** Offset where flow collections ([ and {) first nest deeper than `max`, or -1. Quoted scalars and comments are skipped. */
export function yamlFlowNestingOffset(text: string, max = MAX_NESTING): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if ((c === '"' || c === "'") && tokenStart(text, i)) {
      let j = i + 1;
      for (; j < text.length; j++) {
        if (c === '"' && text[j] === '\\') j++;
        else if (text[j] === c) {
          if (c === "'" && text[j + 1] === "'") j++;
          else break;
        }
      }
      i = j;
    } else if (c === '#' && tokenStart(text, i)) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) return -1;
      i = nl;
    } else if (c === '[' || c === '{') {
      if (++depth > max) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

const lineOf = (lc: LineCounter, node: { range?: [number, number, number] | null } | null | undefined): number | undefined =>
  node?.range ? lc.linePos(node.range[0]).line : undefined;

/**
 * Walks the parsed tree without recursion: refuses nesting deeper than `max`
 * and a key given twice in one mapping; returns the first alias node (for the
 * line of an alias bomb).
 */
function checkTree(root: Node | null, file: string, lc: LineCounter, max: number): Node | undefined {
  let firstAlias: Node | undefined;
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    // The first alias in the text (the walk is depth-first from the end).
    if (isAlias(node) && (!firstAlias || (node.range?.[0] ?? Infinity) < (firstAlias.range?.[0] ?? Infinity))) firstAlias = node;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= max) throw fileError(file, lineOf(lc, node), `nested deeper than ${max} levels; hvscope does not read such input`);
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if ((isScalar(pair.key) || pair.key === null) && seen.has(key))
          throw fileError(file, lineOf(lc, pair.key as Node), `key ${quoteInput(String(key))} is given twice in this mapping`);
        seen.add(key);
        stack.push({ node: pair.value, depth: depth + 1 });
        if (!isScalar(pair.key)) stack.push({ node: pair.key, depth: depth + 1 });
      }
    } else {
      for (const item of node.items) stack.push({ node: isPair(item) ? item.value : item, depth: depth + 1 });
    }
  }
  return firstAlias;
}

/** Parses YAML text read from `file`; every problem is one `file:line: ...` UserError. */
export function parseYamlInput(text: string, file: string): ParsedYaml {
  const flowAt = yamlFlowNestingOffset(text);
  if (flowAt >= 0) throw fileError(file, lineOfOffset(text, flowAt), `nested deeper than ${MAX_NESTING} levels; hvscope does not read such input`);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw fileError(file, lc.linePos(e.pos[0]).line, `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const firstAlias = checkTree(doc.contents as Node | null, file, lc, MAX_NESTING);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message))
      throw fileError(file, lineOf(lc, firstAlias), `YAML aliases expand to too much (over ${MAX_ALIAS_EXPANSIONS} expansions, as in a "billion laughs"); write the values out instead`);
    if (err instanceof ReferenceError) throw fileError(file, lineOf(lc, firstAlias), `not valid YAML: ${err.message.split('\n')[0]}`);
    throw err;
  }
  return { doc, lc, data };
}
