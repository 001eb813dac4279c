// The figure spec: a YAML file listing paper figures and the runs behind them.
//
//   title: Boot time by machine type      # default title of every figure ("" for none)
//   size: 3.5in                           # 3.5in (IEEE column) or 7.16in (two columns), or pt / px
//   height: 2.2in                         # optional; default from the width
//   font: 8                               # pt, 8–10
//   figures:
//     - kind: stacked-bars                # median per phase, stacked; whiskers on the total
//       output: phases.svg                # relative to the output directory (-o, default: the spec's)
//       whiskers: min-max                 # min-max | p10-p90 | none
//       groups:
//         - { label: pc, traces: [../../fixtures/qemu-tcg-pc-linux] }   # files or dirs, relative to the spec
//       time-label: creation time          # title of the time axis (unit added); any kind
//     - kind: cdf                         # fraction of runs within x
//       value: total                      # total or a phase name
//     - kind: scaling                     # y = value per run against x per run
//       x: { from: arg, key: running_domains, label: domains already running }   # arg | meta | order
//       y-scale: log                      # linear (default) | log
//
// Loading checks everything a render would trip on (unknown keys and kinds, wrong
// types, sizes, missing trace paths, duplicate outputs) and reports `file:line: key: message`.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, normalize, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, isMap, isScalar, isSeq, type Node } from 'yaml';
import { readInputText } from '../../model/input.js';
import { parseYamlInput } from '../../model/yaml-input.js';
import { UserError, describeValue, fileError } from '../../model/errors.js';
import { PHASES, type Phase } from '../../model/trace.js';
import { suggest } from '../../model/suggest.js';
import { DEFAULT_FONT_PT, DEFAULT_SIZE, MAX_FONT_PT, MIN_FONT_PT, pageOf, type FrameSize } from './frame.js';
import type { XSource } from './scaling.js';
import { WHISKERS, type Whiskers } from './stacked-bars.js';
import type { ValueName } from './values.js';

export const FIGURE_KINDS = ['stacked-bars', 'cdf', 'scaling'] as const;
export type FigureKind = (typeof FIGURE_KINDS)[number];

export interface GroupSpec {
  label: string;
  /** Absolute paths of trace files or directories. */
  traces: string[];
}

interface CommonFigure {
  /** Position in the spec's figures list. */
  index: number;
  /** Line of the figure's entry in the spec. */
  specLine: number;
  /** Relative path under the output directory. */
  output: string;
  title?: string;
  size: string;
  height?: string;
  fontPt: number;
  groups: GroupSpec[];
  /** Title of the time axis (y for bars and scaling, x for a CDF); the unit is added. */
  timeLabel?: string;
}

export type FigureEntry = CommonFigure &
  (
    | { kind: 'stacked-bars'; whiskers: Whiskers; values: boolean; phases?: Phase[] }
    | { kind: 'cdf'; value: ValueName; fromZero: boolean }
    | { kind: 'scaling'; x: XSource; xLabel: string; value: ValueName; line: boolean; logY: boolean }
  );

export interface FigureSpec {
  file: string;
  figures: FigureEntry[];
}

// ---------------------------------------------------------------- schema

const sizeSchema = { type: ['string', 'number'] } as const;
const valueSchema = { enum: ['total', ...PHASES] } as const;
const common = {
  kind: { type: 'string' },
  output: { type: 'string', minLength: 1 },
  title: { type: 'string' },
  size: sizeSchema,
  height: sizeSchema,
  font: { type: 'number', minimum: MIN_FONT_PT, maximum: MAX_FONT_PT },
  'time-label': { type: 'string', minLength: 1 },
  groups: {
    type: 'array',
    minItems: 1,
    items: {
      type: 'object',
      required: ['label', 'traces'],
      additionalProperties: false,
      properties: {
        label: { type: 'string', minLength: 1 },
        traces: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
      },
    },
  },
} as const;

const figureSchemas: Record<FigureKind, Record<string, unknown>> = {
  'stacked-bars': {
    type: 'object',
    required: ['kind', 'output', 'groups'],
    additionalProperties: false,
    properties: { ...common, whiskers: { enum: [...WHISKERS] }, values: { type: 'boolean' }, phases: { type: 'array', minItems: 1, items: { enum: [...PHASES] } } },
  },
  cdf: {
    type: 'object',
    required: ['kind', 'output', 'groups'],
    additionalProperties: false,
    properties: { ...common, value: valueSchema, 'from-zero': { type: 'boolean' } },
  },
  scaling: {
    type: 'object',
    required: ['kind', 'output', 'groups', 'x'],
    additionalProperties: false,
    properties: {
      ...common,
      value: valueSchema,
      line: { type: 'boolean' },
      'y-scale': { enum: ['linear', 'log'] },
      x: {
        type: 'object',
        required: ['from'],
        additionalProperties: false,
        properties: { from: { enum: ['arg', 'meta', 'order'] }, key: { type: 'string', minLength: 1 }, label: { type: 'string' } },
      },
    },
  },
};

const topSchema = {
  type: 'object',
  required: ['figures'],
  additionalProperties: false,
  properties: {
    title: { type: 'string' },
    size: sizeSchema,
    height: sizeSchema,
    font: { type: 'number', minimum: MIN_FONT_PT, maximum: MAX_FONT_PT },
    figures: { type: 'array', minItems: 1, items: { type: 'object', required: ['kind'], properties: { kind: { type: 'string' } } } },
  },
} as const;

const ajv = new Ajv({ allErrors: false, verbose: true, strict: false });
const validateTop = ajv.compile(topSchema);
const validateFigure = Object.fromEntries(FIGURE_KINDS.map((k) => [k, ajv.compile(figureSchemas[k])])) as Record<FigureKind, ReturnType<typeof ajv.compile>>;

// ---------------------------------------------------------------- locating

type Path = (string | number)[];

function pointer(path: Path): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

/** Line of every key and sequence item, by JSON pointer. */
function recordLines(node: Node | null | undefined, path: Path, lc: LineCounter, out: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const range = (pair.key as Node | null)?.range;
      if (range) out.set(pointer([...path, key]), lc.linePos(range[0]).line);
      recordLines(pair.value as Node, [...path, key], lc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const range = (item as Node | null)?.range;
      if (range) out.set(pointer([...path, i]), lc.linePos(range[0]).line);
      recordLines(item as Node, [...path, i], lc, out);
    });
  }
}

function dataAt(data: unknown, ptr: string): unknown {
  let cur = data;
  for (const raw of ptr.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined;
  }
  return cur;
}

// ---------------------------------------------------------------- loading

/** Errors that name the spec's file and the line of a JSON pointer into it (or of its nearest parent). */
interface SpecErrors {
  lineOf: (ptr: string) => number | undefined;
  fail: (ptr: string, message: string) => UserError;
  schemaFail: (e: ErrorObject, base: string) => UserError;
}

function specErrors(file: string, lines: Map<string, number>, data: unknown): SpecErrors {
  const lineOf = (ptr: string): number | undefined => {
    for (let p = ptr; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const l = lines.get(p);
      if (l !== undefined || p === '') return l;
    }
  };
  const fail = (ptr: string, message: string): UserError => {
    const key = ptr.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~')).join('.');
    return fileError(file, lineOf(ptr), key ? `${key}: ${message}` : message);
  };
  const schemaFail = (e: ErrorObject, base: string): UserError => {
    const ptr = base + e.instancePath;
    const value = dataAt(data, ptr);
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      return fail(`${ptr}/${extra.replace(/~/g, '~0').replace(/\//g, '~1')}`, `unknown key${suggest(extra, known)}`);
    }
    if (e.keyword === 'required') return fail(ptr, `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`);
    if (e.keyword === 'type') return fail(ptr, `must be ${[(e.params as { type: string | string[] }).type].flat().join(' or ')}, got ${describeValue(value)}`);
    if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const near = typeof value === 'string' ? suggest(value, allowed) : '';
      return fail(ptr, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}${near.startsWith(' (did') ? near : ''}`);
    }
    return fail(ptr, `${e.message ?? 'invalid'}, got ${describeValue(value)}`);
  };
  return { lineOf, fail, schemaFail };
}

type SpecTop = { title?: string; size?: string | number; height?: string | number; font?: number; figures: Record<string, unknown>[] };
type Raw = Record<string, unknown>;

/** Reads and checks a figure spec; trace paths resolve against the spec's directory. */
export function loadFigureSpec(file: string): FigureSpec {
  const { doc, lc, data } = parseYamlInput(readInputText(file, 'figure spec', 'config'), file);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw fileError(file, 1, 'a figure spec is a YAML mapping (title:, size:, figures: [...])');
  const lines = new Map<string, number>();
  recordLines(doc.contents as Node, [], lc, lines);
  const errors = specErrors(file, lines, data);
  if (!validateTop(data)) throw errors.schemaFail(validateTop.errors![0], '');
  const top = data as SpecTop;
  const dir = dirname(resolve(file));
  const outputs = new Map<string, number>();
  const figures = top.figures.map((raw, index) => readFigure(raw, index, { top, dir, outputs, errors }));
  return { file, figures };
}

interface FigureContext {
  top: SpecTop;
  dir: string;
  /** Outputs so far → the figure index that writes it. */
  outputs: Map<string, number>;
  errors: SpecErrors;
}

function readFigure(raw: Raw, index: number, ctx: FigureContext): FigureEntry {
  const { top, errors } = ctx;
  const base = `/figures/${index}`;
  const kind = raw.kind as string;
  if (!(FIGURE_KINDS as readonly string[]).includes(kind)) throw errors.fail(`${base}/kind`, `unknown kind "${kind}"${suggest(kind, [...FIGURE_KINDS]).replace('valid keys', 'kinds')}`);
  const validate = validateFigure[kind as FigureKind];
  if (!validate(raw)) throw errors.schemaFail(validate.errors![0], base);
  const output = checkOutput(String(raw.output), index, ctx);
  const size = String(raw.size ?? top.size ?? DEFAULT_SIZE);
  const heightRaw = raw.height ?? top.height;
  const height = heightRaw === undefined ? undefined : String(heightRaw);
  const fontPt = (raw.font as number | undefined) ?? top.font ?? DEFAULT_FONT_PT;
  checkPage(errors, raw.size !== undefined ? `${base}/size` : '/size', { size });
  checkPage(errors, raw.height !== undefined ? `${base}/height` : '/height', { size, height, fontPt });
  const titleRaw = (raw.title as string | undefined) ?? top.title;
  const commonPart: CommonFigure = {
    index,
    specLine: errors.lineOf(base) ?? 1,
    output,
    ...(titleRaw ? { title: titleRaw } : {}),
    size,
    ...(height !== undefined ? { height } : {}),
    fontPt,
    groups: readGroups(raw, base, ctx),
    ...(raw['time-label'] !== undefined ? { timeLabel: raw['time-label'] as string } : {}),
  };
  return { ...commonPart, ...kindFields(kind as FigureKind, raw, base, errors) };
}

/** A relative .svg path inside the output directory, written by no other figure; returned normalised. */
function checkOutput(output: string, index: number, { outputs, errors }: FigureContext): string {
  const ptr = `/figures/${index}/output`;
  if (isAbsolute(output) || normalize(output).startsWith('..') || !/\.svg$/i.test(output))
    throw errors.fail(ptr, `"${output}": a relative path ending in .svg, inside the output directory`);
  const earlier = outputs.get(normalize(output));
  if (earlier !== undefined) throw errors.fail(ptr, `"${output}" is also the output of figures.${earlier}`);
  outputs.set(normalize(output), index);
  return normalize(output);
}

/** pageOf's complaint about a size or height, as an error at the key that set it. */
function checkPage(errors: SpecErrors, ptr: string, size: FrameSize): void {
  try {
    pageOf(size);
  } catch (err) {
    if (err instanceof UserError) throw errors.fail(ptr, err.message);
    throw err;
  }
}

/** The groups, each trace path resolved against the spec's directory and present; labels unique. */
function readGroups(raw: Raw, base: string, { dir, errors }: FigureContext): CommonFigure['groups'] {
  const groups = (raw.groups as { label: string; traces: string[] }[]).map((g, gi) => ({
    label: g.label,
    traces: g.traces.map((t, ti) => {
      const abs = resolve(dir, t);
      if (!existsSync(abs)) throw errors.fail(`${base}/groups/${gi}/traces/${ti}`, `no such file or directory: ${t} (resolved to ${abs}; paths are relative to the spec file)`);
      return abs;
    }),
  }));
  const labels = groups.map((g) => g.label);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup !== undefined) throw errors.fail(`${base}/groups/${labels.lastIndexOf(dup)}/label`, `label "${dup}" is used by two groups`);
  return groups;
}

/** Each kind's own part of its entry (distributed over the union). */
type KindFields = FigureEntry extends infer F ? (F extends unknown ? Omit<F, keyof CommonFigure> : never) : never;

/** What only one kind of figure has, defaults filled in. */
function kindFields(kind: FigureKind, raw: Raw, base: string, errors: SpecErrors): KindFields {
  if (kind === 'stacked-bars')
    return {
      kind,
      whiskers: (raw.whiskers as Whiskers | undefined) ?? 'min-max',
      values: (raw.values as boolean | undefined) ?? true,
      ...(raw.phases ? { phases: raw.phases as Phase[] } : {}),
    };
  if (kind === 'cdf') return { kind, value: (raw.value as ValueName | undefined) ?? 'total', fromZero: (raw['from-zero'] as boolean | undefined) ?? true };
  const xRaw = raw.x as { from: 'arg' | 'meta' | 'order'; key?: string; label?: string };
  if (xRaw.from !== 'order' && !xRaw.key) throw errors.fail(`${base}/x`, `missing required key "key" (the ${xRaw.from} name holding each run's x)`);
  const x: XSource = xRaw.from === 'order' ? { from: 'order' } : { from: xRaw.from, key: xRaw.key! };
  const xLabel = xRaw.label ?? (xRaw.from === 'order' ? 'run index in group' : xRaw.key!.replace(/_/g, ' '));
  return { kind: 'scaling', x, xLabel, value: (raw.value as ValueName | undefined) ?? 'total', line: (raw.line as boolean | undefined) ?? true, logY: raw['y-scale'] === 'log' };
}
