// What `tune optimize` may try next: one-setting changes of the current best profile, taken
// from the candidates each target declares beside its settings (knob.ts KnobCandidates),
// minus values already in force and changes already decided. A value whose conditions
// (requires / valueRequires: conflicts and dependencies as data) the best profile does not
// meet brings along the settings that meet them, as one change; one it cannot meet is left out.
import { UserError } from '../../model/errors.js';
import type { KnobCandidates, SettingCondition, SettingValue, TargetDefinition } from '../knob.js';

/** One change: a setting of a target's section set to a value. */
export interface Change {
  target: string;
  /** Path in the target's section, e.g. ['machine'] or ['kernel-params', 'quiet']. */
  path: string[];
  value: SettingValue;
  about: string;
  /**
   * Settings this value needs and the best profile lacks (its valueRequires, e.g. microvm needs
   * tcg-tsc-khz; xl.conf's vif-bridge-fast needs xen-hotplug to install it): set together with
   * it, measured and kept as one change. `target`: another target's setting (absent: the same).
   */
  with?: { target?: string; path: string[]; value: SettingValue }[];
}

type With = NonNullable<Change['with']>[number];
/** `path=value` for a setting of the change's own target, `target/path=value` for another's. */
const withText = (c: Pick<Change, 'target'>, w: With): string => `${w.target !== undefined && w.target !== c.target ? `${w.target}/` : ''}${w.path.join('/')}=${showValue(w.value)}`;

/** Workload facts a condition may name ('@pvh-kernel'); absent: unknown. */
export type Facts = Record<string, SettingValue>;

/** `qemu/machine`: the knob a change sets. */
export const knobName = (c: Pick<Change, 'target' | 'path'>): string => `${c.target}/${c.path.join('/')}`;

/** Text of a value as a person reads it: null is "absent", a list `[a,b]`. */
export const showValue = (v: SettingValue): string => (v === null ? 'absent' : Array.isArray(v) ? `[${v.join(',')}]` : String(v));

/** `qemu/machine=microvm`: a change's identity in the search log. */
export const changeKey = (c: Pick<Change, 'target' | 'path' | 'value' | 'with'>): string =>
  [`${knobName(c)}=${showValue(c.value)}`, ...(c.with ?? []).map((w) => withText(c, w))].join('+');

/** Every knob a change sets (itself and what it brings along). */
export const knobsOf = (c: Change): string[] => [knobName(c), ...(c.with ?? []).map((w) => knobName({ target: w.target ?? c.target, path: w.path }))];

/** The settings a change writes: itself first, then what it brings along (each with its target). */
export const settingsOf = (c: Change): { target: string; path: string[]; value: SettingValue; about: string }[] => [
  { target: c.target, path: c.path, value: c.value, about: c.about },
  ...(c.with ?? []).map((w) => ({ target: w.target ?? c.target, path: w.path, value: w.value, about: `needed by ${knobName(c)}=${showValue(c.value)}` })),
];

/** Values compare as knob text: booleans as on/off (as the targets render them), null as absent, lists as [a,b]. */
function norm(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (Array.isArray(v)) return `[${v.map(String).join(',')}]`;
  return String(v);
}

/** A setting's value in a (merged, validated) section, unwrapping `{ value, why }`; undefined when absent. */
export function settingAt(section: unknown, path: string[]): SettingValue | undefined {
  let node: unknown = section;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (node !== null && typeof node === 'object' && 'value' in node) node = (node as { value: unknown }).value;
  return node as SettingValue | undefined;
}

/** The value in force: the section's, else the declared default, else absent. */
function current(section: unknown, decl: Pick<KnobCandidates, 'path' | 'default'>): SettingValue {
  const v = settingAt(section, decl.path);
  return v === undefined ? (decl.default ?? null) : v;
}

/** Where a condition is evaluated: the target it belongs to, the profile's sections, the facts, every target's declarations. */
interface Scope {
  target: string;
  sections: Record<string, unknown>;
  facts: Facts;
  targets: readonly TargetDefinition[];
}

function conditionHolds(cond: SettingCondition, scope: Scope): boolean {
  if (cond.path[0]?.startsWith('@')) {
    const fact = scope.facts[cond.path[0]];
    return fact === undefined || cond.values.some((v) => norm(v) === norm(fact));
  }
  const t = cond.target ?? scope.target;
  const section = scope.sections[t] ?? {};
  const decl = (scope.targets.find((x) => x.name === t)?.candidates ?? []).find((d) => d.path.join('/') === cond.path.join('/'));
  const seen = decl ? current(section, decl) : (settingAt(section, cond.path) ?? null);
  return cond.values.some((v) => norm(v) === norm(seen));
}

export interface CandidateQuery {
  targets: readonly TargetDefinition[];
  /** The best profile's merged sections. */
  sections: Record<string, unknown>;
  /** Targets the workload can measure (a boot measures qemu only). */
  measurable: readonly string[];
  facts: Facts;
  /** --knobs: knob names (qemu/machine) or their last part (machine, quiet). */
  knobs?: readonly string[];
  /** --target */
  target?: string;
  /** changeKey of every change already decided. */
  decided: ReadonlySet<string>;
  /** Knobs (knobName) already changed by a kept change: each knob is changed once. */
  changed?: ReadonlySet<string>;
}

/** Does a --knobs entry name this knob (full name, or its path, or its last part)? */
function selected(knobs: readonly string[] | undefined, target: string, path: string[]): boolean {
  if (!knobs) return true;
  const full = `${target}/${path.join('/')}`;
  return knobs.some((k) => k === full || k === path.join('/') || k === path[path.length - 1]);
}

/**
 * Every change worth trying now, in the targets' declaration order (the rows are ordered by
 * expected effect: the machine and the kernel entry first).
 */
export function candidateChanges(q: CandidateQuery): Change[] {
  const out: Change[] = [];
  for (const t of q.targets) {
    if (!q.measurable.includes(t.name) || (q.target !== undefined && q.target !== t.name)) continue;
    const declared = t.candidates ?? [];
    for (const decl of declared) {
      if (!selected(q.knobs, t.name, decl.path) || q.changed?.has(knobName({ target: t.name, path: decl.path }))) continue;
      for (const value of decl.values) {
        const change = withNeeds({ target: t.name, path: decl.path, value, about: decl.about }, decl, q);
        if (change === null || q.decided.has(changeKey(change))) continue;
        out.push(change);
      }
    }
  }
  // --knobs in the order given is the order tried (stable: values keep their declared order).
  const rank = (c: Change) => (q.knobs ? q.knobs.findIndex((k) => selected([k], c.target, c.path)) : 0);
  return out.map((c, i) => ({ c, i })).sort((a, b) => rank(a.c) - rank(b.c) || a.i - b.i).map((x) => x.c);
}

/** A copy of the sections with one setting of one target set. */
function withSetting(sections: Record<string, unknown>, target: string, path: string[], value: SettingValue): Record<string, unknown> {
  const copy = structuredClone((sections[target] ?? {}) as Record<string, unknown>);
  let node = copy;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]] = value;
  return { ...sections, [target]: copy };
}

/** The conditions one value of a declared setting puts on the rest: the setting's requires, then the value's. */
const conditionsOf = (decl: KnobCandidates, value: SettingValue): SettingCondition[] => [
  ...(decl.requires ?? []),
  ...(decl.valueRequires ?? []).filter((vr) => norm(vr.value) === norm(value)).flatMap((vr) => vr.requires),
];

/** Brought-along settings may bring their own (bios qboot.rom → machine microvm → tcg-tsc-khz host); a bound against cycles. */
const MAX_NEEDS = 6;

/**
 * The change, bringing along what it needs: each requires or valueRequires condition on
 * another declared setting (of this target, or of another the workload measures) that is
 * not met, not changed already and that the search may set (its first listed non-absent
 * value), and in turn what those bring along; all measured and kept as one change, so a
 * value needing another (x-option-roms off needs microvm, microvm needs tcg-tsc-khz) is
 * reachable even when the other alone made no resolved difference. null: blocked (a fact
 * that does not hold, a knob changed already, two needs that disagree).
 */
function withNeeds(change: Change, decl: KnobCandidates, q: CandidateQuery): Change | null {
  if (norm(current(q.sections[change.target] ?? {}, decl)) === norm(change.value)) return null;
  let sections = q.sections;
  const needs: With[] = [];
  const todo: { target: string; cond: SettingCondition }[] = conditionsOf(decl, change.value).map((cond) => ({ target: change.target, cond }));
  while (todo.length > 0) {
    const { target: from, cond } = todo.shift()!;
    const scope: Scope = { target: from, sections, facts: q.facts, targets: q.targets };
    if (conditionHolds(cond, scope)) continue;
    const target = cond.target ?? from;
    const other = (q.targets.find((t) => t.name === target)?.candidates ?? []).find((d) => d.path.join('/') === cond.path.join('/'));
    const value = cond.values.find((v) => v !== null);
    const key = knobName({ target, path: cond.path });
    const clash = key === knobName(change) || needs.some((w) => knobName({ target: w.target ?? change.target, path: w.path }) === key);
    if (!other || value === undefined || clash || needs.length >= MAX_NEEDS || !q.measurable.includes(target) || q.changed?.has(key)) return null;
    sections = withSetting(sections, target, cond.path, value);
    needs.push({ ...(target !== change.target ? { target } : {}), path: cond.path, value });
    todo.push(...conditionsOf(other, value).map((c) => ({ target, cond: c })));
  }
  // Every setting written must hold its conditions in the profile as changed (a later need may not undo an earlier one's).
  const declOf = (target: string, path: string[]) => (q.targets.find((t) => t.name === target)?.candidates ?? []).find((d) => d.path.join('/') === path.join('/'))!;
  const written = [{ target: change.target, decl, value: change.value }, ...needs.map((w) => ({ target: w.target ?? change.target, decl: declOf(w.target ?? change.target, w.path), value: w.value }))];
  const holds = (w: (typeof written)[number]) => conditionsOf(w.decl, w.value).every((c) => conditionHolds(c, { target: w.target, sections, facts: q.facts, targets: q.targets }));
  if (!written.every(holds)) return null;
  return needs.length > 0 ? { ...change, with: needs } : change;
}

/** Checks --knobs and --target against what the targets declare: an unknown name is a usage error. */
export function checkSelection(targets: readonly TargetDefinition[], measurable: readonly string[], knobs?: readonly string[], target?: string): void {
  const searchable = targets.filter((t) => measurable.includes(t.name) && (t.candidates?.length ?? 0) > 0);
  if (searchable.length === 0) throw new UserError(`this workload measures ${measurable.join(', ')}, and none of these targets declares candidate values to search`);
  if (target !== undefined && !searchable.some((t) => t.name === target))
    throw new UserError(`--target ${target}: this workload can search ${searchable.map((t) => t.name).join(', ') || 'no target'}`, 2);
  for (const k of knobs ?? []) {
    const known = searchable.some((t) => (t.candidates ?? []).some((d) => selected([k], t.name, d.path)));
    if (!known) {
      const names = searchable.flatMap((t) => (t.candidates ?? []).map((d) => `${t.name}/${d.path.join('/')}`));
      throw new UserError(`--knobs: no searchable knob "${k}" (known: ${names.join(', ')})`, 2);
    }
  }
}
