// Independent checker of the speedscope file format rules
// (https://www.speedscope.app/file-format-schema.json, docs/references.md#trace-formats),
// written from the format, not from hvscope's exporter. Returns every violation
// found as "path: problem"; [] means speedscope can load it.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const SPEEDSCOPE_SCHEMA_URL = 'https://www.speedscope.app/file-format-schema.json';
const UNITS = new Set(['none', 'nanoseconds', 'microseconds', 'milliseconds', 'seconds', 'bytes']);

export function speedscopeViolations(value: unknown): string[] {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(JSON.stringify(value));
  } catch (err) {
    return [`(top level): not serialisable as JSON: ${(err as Error).message}`];
  }
  if (!isObject(doc)) return ['(top level): must be an object'];
  if (doc.$schema !== SPEEDSCOPE_SCHEMA_URL) problems.push(`$schema: must be ${SPEEDSCOPE_SCHEMA_URL}`);
  const frames = isObject(doc.shared) && Array.isArray(doc.shared.frames) ? doc.shared.frames : undefined;
  if (!frames) problems.push('shared.frames: must be an array');
  (frames ?? []).forEach((f, i) => {
    if (!isObject(f) || typeof f.name !== 'string') problems.push(`shared.frames[${i}].name: must be a string`);
  });
  if (!Array.isArray(doc.profiles) || doc.profiles.length === 0) return [...problems, 'profiles: must be a non-empty array'];
  if (doc.activeProfileIndex !== undefined && !(Number.isInteger(doc.activeProfileIndex) && (doc.activeProfileIndex as number) < doc.profiles.length))
    problems.push('activeProfileIndex: must index a profile');
  doc.profiles.forEach((p, pi) => {
    const path = `profiles[${pi}]`;
    if (!isObject(p)) return void problems.push(`${path}: must be an object`);
    if (typeof p.name !== 'string') problems.push(`${path}.name: must be a string`);
    if (typeof p.unit !== 'string' || !UNITS.has(p.unit)) problems.push(`${path}.unit: must be one of ${[...UNITS].join(', ')}`);
    if (p.type !== 'evented') return void problems.push(`${path}.type: this checker covers "evented" profiles only`);
    if (!isNum(p.startValue) || !isNum(p.endValue)) return void problems.push(`${path}: startValue and endValue must be numbers`);
    if (p.endValue < p.startValue) problems.push(`${path}: endValue is before startValue`);
    if (!Array.isArray(p.events)) return void problems.push(`${path}.events: must be an array`);
    const stack: { frame: number; path: string }[] = [];
    let lastAt = -Infinity;
    p.events.forEach((e, ei) => {
      const epath = `${path}.events[${ei}]`;
      if (!isObject(e)) return void problems.push(`${epath}: must be an object`);
      if (e.type !== 'O' && e.type !== 'C') return void problems.push(`${epath}.type: must be "O" or "C"`);
      if (!Number.isInteger(e.frame) || (frames !== undefined && ((e.frame as number) < 0 || (e.frame as number) >= frames.length)))
        return void problems.push(`${epath}.frame: must index shared.frames`);
      if (!isNum(e.at)) return void problems.push(`${epath}.at: must be a number`);
      if (e.at < lastAt) problems.push(`${epath}.at: ${e.at} goes back in time (previous ${lastAt})`);
      if (e.at < (p.startValue as number) || e.at > (p.endValue as number)) problems.push(`${epath}.at: ${e.at} outside startValue..endValue`);
      lastAt = e.at;
      if (e.type === 'O') stack.push({ frame: e.frame as number, path: epath });
      else {
        const top = stack.pop();
        if (!top) problems.push(`${epath}: closes frame ${e.frame} with nothing open`);
        else if (top.frame !== e.frame) problems.push(`${epath}: closes frame ${e.frame} but frame ${top.frame} (${top.path}) is innermost`);
      }
    });
    for (const open of stack) problems.push(`${open.path}: frame ${open.frame} never closed`);
  });
  return problems;
}
