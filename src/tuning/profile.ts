// Tuning profiles: YAML with `name`, `summary`, `include` (several parents,
// later wins, child wins), `variables` (`${name}`), and one section per target.
// Loading keeps the file and line of every key, so any mistake — unknown key,
// wrong type, include cycle, unknown variable, unreadable file — is reported
// as `file:line: key: message` before anything on the host is touched.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, isMap, isScalar, isSeq, stringify, type Node } from 'yaml';
import { readInputText } from '../model/input.js';
import { parseYamlInput } from '../model/yaml-input.js';
import { UserError, describeValue, fileError } from '../model/errors.js';
import type { TargetDefinition } from './knob.js';

/** Top-level keys every profile may have besides target sections. */
const META_KEYS = ['name', 'summary', 'include', 'variables'] as const;

// ---------------------------------------------------------------- knob entries

/** A knob's entry in a section: a scalar, or `{ value, why, source }` so plan/verify can say why. */
export interface KnobEntry<V = unknown> {
  value: V;
  why?: string;
  source?: string;
}

/** JSON Schema for a knob entry whose value has schema `valueSchema` (for targets' sectionSchemas). */
export function entrySchema(valueSchema: Record<string, unknown>): Record<string, unknown> {
  return {
    anyOf: [
      valueSchema,
      {
        type: 'object',
        required: ['value'],
        additionalProperties: false,
        properties: { value: valueSchema, why: { type: 'string' }, source: { type: 'string' } },
      },
    ],
  };
}

/** Reads a knob entry in either form. */
export function unwrapEntry<V = unknown>(entry: unknown): KnobEntry<V> {
  if (entry !== null && typeof entry === 'object' && !Array.isArray(entry) && 'value' in entry) {
    const e = entry as { value: V; why?: string; source?: string };
    return { value: e.value, why: e.why, source: e.source };
  }
  return { value: entry as V };
}

// ---------------------------------------------------------------- locating

export { packageRoot } from '../package-root.js';
import { packageRoot } from '../package-root.js';

export function shippedProfilesDir(): string {
  return join(packageRoot(), 'tuning-profiles');
}

function looksLikePath(ref: string): boolean {
  return ref.includes('/') || /\.ya?ml$/i.test(ref);
}

/**
 * A profile reference → file. A path (has `/` or ends in .yaml) is taken as is
 * (relative to `fromDir`); a bare NAME is `fromDir/NAME.yaml` when that exists
 * (for includes), else the shipped tuning-profiles/NAME.yaml.
 */
export function resolveProfileRef(ref: string, fromDir?: string): string {
  if (looksLikePath(ref)) return resolve(fromDir ?? process.cwd(), ref);
  if (fromDir) {
    const sibling = join(fromDir, `${ref}.yaml`);
    if (existsSync(sibling)) return sibling;
  }
  return join(shippedProfilesDir(), `${ref}.yaml`);
}

export interface ProfileSummary {
  name: string;
  summary: string;
  file: string;
}

/** Shipped profiles, sorted by name (a broken one is listed with its error as summary). */
export function listProfiles(dir = shippedProfilesDir()): ProfileSummary[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  } catch {
    return [];
  }
  return names.sort().map((f) => {
    const file = join(dir, f);
    try {
      const data = parseYamlInput(readInputText(file, 'profile', 'config'), file).data as { summary?: unknown } | null;
      return { name: basename(f, '.yaml'), summary: typeof data?.summary === 'string' ? data.summary : '', file };
    } catch (err) {
      return { name: basename(f, '.yaml'), summary: `(unreadable: ${(err as Error).message})`, file };
    }
  });
}

export { levenshtein, suggest } from '../model/suggest.js';
import { suggest } from '../model/suggest.js';

// ---------------------------------------------------------------- loading

type Mapping = Record<string, unknown>;
interface Origin {
  file: string;
  line: number;
}

/** JSON pointer of a key path, escaped as ajv's instancePath is. */
function pointer(path: (string | number)[]): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

function isMapping(v: unknown): v is Mapping {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Records the line of every key and sequence item of a parsed YAML node. */
function recordOrigins(node: Node | null | undefined, path: (string | number)[], file: string, lc: LineCounter, out: Map<string, Origin>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const range = (pair.key as Node | null)?.range;
      const childPath = [...path, key];
      if (range) out.set(pointer(childPath), { file, line: lc.linePos(range[0]).line });
      recordOrigins(pair.value as Node, childPath, file, lc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const range = (item as Node | null)?.range;
      const childPath = [...path, i];
      if (range) out.set(pointer(childPath), { file, line: lc.linePos(range[0]).line });
      recordOrigins(item as Node, childPath, file, lc, out);
    });
  }
}

/** Deep merge of mappings: `over` wins; sequences and scalars are replaced whole. */
function deepMerge(base: Mapping, over: Mapping): Mapping {
  const out: Mapping = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMapping(v) && isMapping(out[k]) ? deepMerge(out[k] as Mapping, v) : v;
  return out;
}

interface ParsedFile {
  file: string;
  data: Mapping;
  origins: Map<string, Origin>;
}

function parseProfileFile(file: string, readFrom?: Origin): ParsedFile {
  let text: string;
  try {
    text = readInputText(file, 'profile', 'config');
  } catch (err) {
    // An include that cannot be read is reported at the include line.
    if (readFrom && err instanceof UserError) throw fileError(readFrom.file, readFrom.line, `include: ${err.message}`);
    throw err;
  }
  const { doc, lc, data } = parseYamlInput(text, file);
  if (!isMapping(data)) throw fileError(file, 1, 'a profile must be a YAML mapping (name:, summary:, sections...)');
  const origins = new Map<string, Origin>();
  recordOrigins(doc.contents as Node, [], file, lc, origins);
  return { file, data, origins };
}

export interface LoadedProfile {
  name: string;
  summary: string;
  /** The file the profile was loaded from. */
  file: string;
  /** Every file read, parents first, the profile itself last. */
  files: string[];
  variables: Record<string, string | number | boolean>;
  /** Target sections, merged and variable-expanded, validated against each target's sectionSchema. */
  sections: Record<string, unknown>;
}

/** Checks what a single file may hold at the top level (sections are validated after merging). */
function checkTopLevel(p: ParsedFile, targetNames: string[]): void {
  const at = (key: string) => p.origins.get(pointer([key]))?.line;
  const allowed = [...META_KEYS, ...targetNames];
  for (const key of Object.keys(p.data))
    if (!allowed.includes(key)) throw fileError(p.file, at(key), `unknown key "${key}"${suggest(key, allowed)}`);
  const expected = basename(p.file).replace(/\.ya?ml$/i, '');
  if (typeof p.data.name !== 'string') throw fileError(p.file, at('name') ?? 1, `name: required, a string equal to the file's basename ("${expected}")`);
  if (p.data.name !== expected) throw fileError(p.file, at('name'), `name: "${p.data.name}" must equal the file's basename "${expected}"`);
  if (p.data.summary !== undefined && typeof p.data.summary !== 'string') throw fileError(p.file, at('summary'), 'summary: must be a string');
  const inc = p.data.include;
  if (inc !== undefined && !(Array.isArray(inc) && inc.every((x) => typeof x === 'string')))
    throw fileError(p.file, at('include'), 'include: must be a list of profile names or paths');
  const vars = p.data.variables;
  if (vars !== undefined) {
    if (!isMapping(vars)) throw fileError(p.file, at('variables'), 'variables: must be a mapping of name: value');
    for (const [k, v] of Object.entries(vars)) {
      const line = p.origins.get(pointer(['variables', k]))?.line;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw fileError(p.file, line, `variables.${k}: a variable name is letters, digits and _`);
      if (!['string', 'number', 'boolean'].includes(typeof v)) throw fileError(p.file, line, `variables.${k}: must be a string, number or boolean`);
    }
  }
}

const VARIABLE = /\$\{([^}]*)\}/g;

/**
 * Expands `${name}` in every string value; a value that is exactly `${name}`
 * takes the variable's own type. `used` gets, per expanded value's pointer, the
 * variables it came from (so a bad value is reported where the variable is set).
 */
function expandVariables(
  value: unknown,
  path: (string | number)[],
  vars: Record<string, unknown>,
  originOf: (p: (string | number)[]) => Origin | undefined,
  used: Map<string, string[]> = new Map(),
): unknown {
  if (typeof value === 'string') {
    const names = [...value.matchAll(VARIABLE)].map((m) => m[1]);
    if (names.length > 0) used.set(pointer(path), names);
    const check = (name: string) => {
      if (!(name in vars)) {
        const o = originOf(path);
        const key = path.join('.');
        const known = Object.keys(vars);
        const hint = known.length === 0 ? ' (no variables are defined)' : suggest(name, known).replace('valid keys', 'defined variables');
        throw fileError(o?.file ?? '?', o?.line, `${key}: unknown variable \${${name}}${hint}`);
      }
    };
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole) {
      check(whole[1]);
      return vars[whole[1]];
    }
    return value.replace(VARIABLE, (_, name: string) => {
      check(name);
      return String(vars[name]);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandVariables(v, [...path, i], vars, originOf, used));
  if (isMapping(value)) {
    const out: Mapping = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandVariables(v, [...path, k], vars, originOf, used);
    return out;
  }
  return value;
}

const validators = new WeakMap<TargetDefinition[], ValidateFunction>();

function sectionsValidator(targets: TargetDefinition[]): ValidateFunction {
  let v = validators.get(targets);
  if (!v) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: false });
    const properties = Object.fromEntries(targets.map((t) => [t.name, t.sectionSchema]));
    v = ajv.compile({ type: 'object', properties, additionalProperties: false });
    validators.set(targets, v);
  }
  return v;
}

function dataAt(data: unknown, instancePath: string): unknown {
  let cur = data;
  for (const raw of instancePath.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = isMapping(cur) || Array.isArray(cur) ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}

function typeIncludesObject(e: ErrorObject): boolean {
  const t = (e.params as { type?: string | string[] }).type;
  return Array.isArray(t) ? t.includes('object') : t === 'object';
}

/** Of ajv's errors (several per anyOf), the one that best tells the user what is wrong. */
function bestError(errors: ErrorObject[], data: unknown): ErrorObject {
  let list = errors.filter((e) => !['anyOf', 'oneOf', 'if', 'not'].includes(e.keyword));
  if (list.length === 0) list = errors;
  const samePathOthers = (e: ErrorObject) => list.some((o) => o !== e && o.instancePath === e.instancePath);
  const filtered = list.filter((e) => {
    const value = dataAt(data, e.instancePath);
    // Entries are "scalar or {value, why, source}": keep only the branch matching what the user wrote.
    if (e.keyword === 'type' && isMapping(value) !== typeIncludesObject(e) && samePathOthers(e)) return false;
    return true;
  });
  if (filtered.length > 0) list = filtered;
  const rank = (e: ErrorObject) => (e.keyword === 'additionalProperties' ? 0 : e.keyword === 'required' ? 2 : 1);
  return [...list].sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length || rank(a) - rank(b))[0];
}

/**
 * When the bad value came from a variable that another file set (a child
 * overriding a parent's variable), the mistake is at the variable: report it
 * there, naming where it is used.
 */
function variableError(e: ErrorObject, keyError: UserError, used: Map<string, string[]>, originOf: (p: string) => Origin | undefined): UserError | undefined {
  // The value itself, or the entry holding it ({ value: ${x}, why: ... }).
  const names = used.get(e.instancePath) ?? used.get(`${e.instancePath}/value`);
  if (!names || names.length !== 1) return undefined;
  const setAt = originOf(pointer(['variables', names[0]]));
  const usedAt = originOf(e.instancePath) ?? originOf(`${e.instancePath}/value`);
  if (!setAt || !usedAt || (setAt.file === usedAt.file)) return undefined;
  const detail = keyError.message.replace(/^.*?:\d+: /, '');
  return fileError(setAt.file, setAt.line, `variables.${names[0]}: bad value for ${detail} (used at ${usedAt.file}:${usedAt.line})`);
}

function schemaError(errors: ErrorObject[], data: Mapping, originOf: (p: string) => Origin | undefined, fallbackFile: string, used: Map<string, string[]> = new Map()): UserError {
  const e = bestError(errors, data);
  const keyPath = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const key = keyPath.join('.');
  const where = (ptr: string) => {
    // The nearest recorded key: the offending one, else its closest parent.
    let p = ptr;
    for (;;) {
      const o = originOf(p);
      if (o || p === '') return o;
      p = p.slice(0, p.lastIndexOf('/'));
    }
  };
  let origin = where(e.instancePath);
  let message: string;
  const value = dataAt(data, e.instancePath);
  const badName = (e as ErrorObject & { propertyName?: string }).propertyName;
  if (badName !== undefined) {
    origin = where(`${e.instancePath}/${badName.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    message = `${key ? key + ': ' : ''}invalid key "${badName}"${e.keyword === 'pattern' ? ` (must match ${(e.params as { pattern: string }).pattern})` : ''}`;
  } else if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty;
    const props = Object.keys(((e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties) ?? {});
    origin = where(`${e.instancePath}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    message = `${key ? key + ': ' : ''}unknown key "${extra}"${suggest(extra, props)}`;
  } else if (e.keyword === 'type') {
    message = `${key}: must be ${[(e.params as { type: string | string[] }).type].flat().join(' or ')}, got ${describeValue(value)}`;
  } else if (e.keyword === 'enum') {
    message = `${key}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((x) => JSON.stringify(x)).join(', ')}, got ${describeValue(value)}`;
  } else if (e.keyword === 'required') {
    message = `${key ? key + ': ' : ''}missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
  } else {
    message = `${key}: ${e.message ?? 'invalid'}, got ${describeValue(value)}`;
  }
  const atKey = fileError(origin?.file ?? fallbackFile, origin?.line, message);
  return variableError(e, atKey, used, originOf) ?? atKey;
}

/**
 * Loads a profile by name or path: reads it and its includes (depth first,
 * parents before child), merges, expands variables and validates every
 * section against its target's schema. Throws a UserError naming file and line.
 */
export function loadProfile(ref: string, targets: TargetDefinition[]): LoadedProfile {
  const targetNames = targets.map((t) => t.name);
  const file = resolveProfileRef(ref);
  if (!looksLikePath(ref) && !existsSync(file)) {
    const names = listProfiles().map((p) => p.name);
    throw new UserError(`no profile named "${ref}"${suggest(ref, names).replace('valid keys', 'shipped profiles')}; give a path to use your own file`);
  }
  const origins = new Map<string, Origin>();
  const files: string[] = [];
  let merged: Mapping = {};

  // Depth-first: parents merged in include order, each before the file including it.
  const visit = (path: string, stack: string[], from?: Origin): ParsedFile => {
    const p = parseProfileFile(path, from);
    checkTopLevel(p, targetNames);
    const includes = (p.data.include as string[] | undefined) ?? [];
    includes.forEach((inc, i) => {
      const at = { file: path, line: p.origins.get(pointer(['include', i]))?.line ?? 1 };
      const parent = resolveProfileRef(inc, dirname(path));
      if (parent === path || stack.includes(parent)) {
        const cycle = [...stack, path, parent].map((f) => basename(f, extname(f))).join(' → ');
        throw fileError(at.file, at.line, `include cycle: ${cycle}`);
      }
      visit(parent, [...stack, path], at);
    });
    const { include: _inc, ...rest } = p.data;
    merged = deepMerge(merged, rest);
    for (const [k, o] of p.origins) if (!k.startsWith('/include')) origins.set(k, o);
    if (!files.includes(path)) files.push(path);
    return p;
  };
  const top = visit(file, []);

  const variables = (merged.variables as Record<string, string | number | boolean> | undefined) ?? {};
  const sectionsRaw: Mapping = {};
  for (const [k, v] of Object.entries(merged)) if (!(META_KEYS as readonly string[]).includes(k)) sectionsRaw[k] = v;
  const originOfPath = (p: (string | number)[]) => origins.get(pointer(p));
  const used = new Map<string, string[]>();
  const sections = expandVariables(sectionsRaw, [], variables, originOfPath, used) as Mapping;

  const validate = sectionsValidator(targets);
  if (!validate(sections)) throw schemaError(validate.errors ?? [], sections, (p) => origins.get(p), file, used);

  return {
    name: top.data.name as string,
    summary: typeof merged.summary === 'string' ? merged.summary : '',
    file,
    files,
    variables,
    sections,
  };
}

/** The merged profile as YAML (what `profile dump` prints). */
export function dumpProfile(p: LoadedProfile): string {
  const header = `# ${p.name}, merged from: ${p.files.map((f) => basename(f)).join(', ')}\n`;
  const body: Mapping = { name: p.name, summary: p.summary };
  if (Object.keys(p.variables).length > 0) body.variables = p.variables;
  return header + stringify({ ...body, ...p.sections }, { lineWidth: 0 });
}
