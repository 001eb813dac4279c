// Independent checker of the Chrome Trace Event Format rules that viewers
// (Perfetto, chrome://tracing) rely on, written from the format document
// (docs/references.md#trace-formats), not from hvscope's importer or exporter.
// Returns every violation found, as "path: problem" lines; [] means valid.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const PHASES = new Set(['B', 'E', 'X', 'i', 'I', 'C', 'b', 'n', 'e', 's', 't', 'f', 'P', 'N', 'O', 'D', 'M', 'R', 'S', 'T', 'F', 'V', 'v', 'c', '(', ')']);
const METADATA = new Set(['process_name', 'process_labels', 'process_sort_index', 'thread_name', 'thread_sort_index']);

/** µs → whole ns, as viewers store them. */
const ns = (us: number) => Math.round(us * 1000);

export interface ChromeRuleOptions {
  /** Require process_name / thread_name metadata for every process and thread with events (default true). */
  requireNames?: boolean;
}

export function chromeTraceViolations(value: unknown, options: ChromeRuleOptions = {}): string[] {
  const requireNames = options.requireNames ?? true;
  const problems: string[] = [];
  // What a viewer reads is the JSON text: check the value after serialisation.
  let doc: unknown;
  try {
    doc = JSON.parse(JSON.stringify(value));
  } catch (err) {
    return [`(top level): not serialisable as JSON: ${(err as Error).message}`];
  }
  let events: unknown[];
  let base = '';
  if (Array.isArray(doc)) events = doc;
  else if (isObject(doc) && Array.isArray(doc.traceEvents)) {
    events = doc.traceEvents;
    base = 'traceEvents';
    if (doc.displayTimeUnit !== undefined && doc.displayTimeUnit !== 'ms' && doc.displayTimeUnit !== 'ns')
      problems.push(`displayTimeUnit: must be "ms" or "ns", got ${JSON.stringify(doc.displayTimeUnit)}`);
  } else return ['(top level): must be an array of events or an object with a traceEvents array'];

  const processNames = new Set<string>();
  const threadNames = new Set<string>();
  const processesUsed = new Map<string, string>();
  const threadsUsed = new Map<string, string>();
  const complete = new Map<string, { start: number; end: number; path: string; order: number }[]>();
  const durations = new Map<string, { ph: 'B' | 'E'; ts: number; name: unknown; path: string; order: number }[]>();
  const flowSteps = new Map<string, { ph: string; ts: number; thread: string; enclosing: boolean; path: string; order: number }[]>();

  events.forEach((ev, i) => {
    const path = `${base}[${i}]`;
    if (!isObject(ev)) return void problems.push(`${path}: event must be an object`);
    const ph = ev.ph;
    if (typeof ph !== 'string' || !PHASES.has(ph)) return void problems.push(`${path}.ph: unknown phase ${JSON.stringify(ph)}`);
    if (ph !== 'E' && typeof ev.name !== 'string') problems.push(`${path}.name: must be a string`);
    if (!Number.isInteger(ev.pid)) problems.push(`${path}.pid: must be an integer`);
    if (!Number.isInteger(ev.tid)) problems.push(`${path}.tid: must be an integer`);
    if (ev.args !== undefined && !isObject(ev.args)) problems.push(`${path}.args: must be an object`);
    const thread = `${ev.pid}/${ev.tid}`;
    if (ph === 'M') {
      if (typeof ev.name === 'string' && METADATA.has(ev.name)) {
        const args = isObject(ev.args) ? ev.args : {};
        if (ev.name === 'process_name' || ev.name === 'thread_name') {
          if (typeof args.name !== 'string' || args.name === '') problems.push(`${path}.args.name: ${ev.name} needs a non-empty string`);
          else if (ev.name === 'process_name') processNames.add(String(ev.pid));
          else threadNames.add(thread);
        }
        if ((ev.name === 'process_sort_index' || ev.name === 'thread_sort_index') && !Number.isInteger(args.sort_index))
          problems.push(`${path}.args.sort_index: must be an integer`);
      }
      return;
    }
    if (!isNum(ev.ts)) return void problems.push(`${path}.ts: must be a number (µs)`);
    if (ev.ts < 0) problems.push(`${path}.ts: negative timestamp ${ev.ts}`);
    if (!processesUsed.has(String(ev.pid))) processesUsed.set(String(ev.pid), path);
    switch (ph) {
      case 'X': {
        if (!isNum(ev.dur) || ev.dur < 0) problems.push(`${path}.dur: X needs a number >= 0, got ${JSON.stringify(ev.dur)}`);
        else {
          if (!complete.has(thread)) complete.set(thread, []);
          complete.get(thread)!.push({ start: ns(ev.ts), end: ns(ev.ts) + ns(ev.dur), path, order: i });
        }
        if (!threadsUsed.has(thread)) threadsUsed.set(thread, path);
        break;
      }
      case 'B':
      case 'E': {
        if (!durations.has(thread)) durations.set(thread, []);
        durations.get(thread)!.push({ ph, ts: ns(ev.ts), name: ev.name, path, order: i });
        if (!threadsUsed.has(thread)) threadsUsed.set(thread, path);
        break;
      }
      case 'i':
      case 'I': {
        if (ev.s !== undefined && ev.s !== 'g' && ev.s !== 'p' && ev.s !== 't') problems.push(`${path}.s: instant scope must be g, p or t`);
        if ((ev.s ?? 't') === 't' && !threadsUsed.has(thread)) threadsUsed.set(thread, path);
        break;
      }
      case 's':
      case 't':
      case 'f': {
        // Flow events (format document, "Flow Events"): an id ties the steps together; each
        // step binds to a slice on its thread: the enclosing one, except a final step without
        // bp "e", which binds to the next slice that begins.
        if (ev.id === undefined || (typeof ev.id !== 'string' && !isNum(ev.id))) problems.push(`${path}.id: flow event needs an id`);
        if (typeof ev.cat !== 'string') problems.push(`${path}.cat: flow event needs a category`);
        if (ev.bp !== undefined && ev.bp !== 'e') problems.push(`${path}.bp: binding point must be "e"`);
        const key = `${String(ev.cat)}\u0000${String(ev.id)}`;
        if (!flowSteps.has(key)) flowSteps.set(key, []);
        flowSteps.get(key)!.push({ ph, ts: ns(ev.ts), thread, enclosing: ph !== 'f' || ev.bp === 'e', path, order: i });
        break;
      }
      case 'C': {
        if (!isObject(ev.args) || Object.keys(ev.args).length === 0) problems.push(`${path}.args: C needs an object of series values`);
        else for (const [k, v] of Object.entries(ev.args)) if (!isNum(v)) problems.push(`${path}.args.${k}: counter value must be a number`);
        break;
      }
    }
  });

  // Complete events of one thread must nest: sorted by start (longer first), each one lies
  // inside the innermost still-open event or after it has ended.
  for (const [thread, list] of complete) {
    list.sort((a, b) => a.start - b.start || b.end - a.end || a.order - b.order);
    const open: typeof list = [];
    for (const e of list) {
      while (open.length > 0 && open[open.length - 1].end <= e.start) open.pop();
      const top = open[open.length - 1];
      if (top && e.end > top.end)
        problems.push(`${e.path}: X event [${e.start}, ${e.end}] ns partially overlaps ${top.path} [${top.start}, ${top.end}] ns on thread ${thread}`);
      open.push(e);
    }
  }
  // B/E: in time order per thread, every E closes the innermost B; none left open.
  for (const [thread, list] of durations) {
    list.sort((a, b) => a.ts - b.ts || a.order - b.order);
    const open: typeof list = [];
    for (const e of list) {
      if (e.ph === 'B') open.push(e);
      else if (!open.pop()) problems.push(`${e.path}: E without a matching B on thread ${thread}`);
    }
    for (const b of open) problems.push(`${b.path}: B never ended on thread ${thread}`);
  }
  // Flows: one start, then steps, one finish, in time order; each step has a slice to bind to.
  for (const steps of flowSteps.values()) {
    steps.sort((a, b) => a.ts - b.ts || a.order - b.order);
    const phs = steps.map((s) => s.ph).join('');
    if (!/^st*f$/.test(phs)) problems.push(`${steps[0].path}: flow must be one "s", any "t", one "f" in time order, got "${phs}"`);
    for (const step of steps) {
      const slices = complete.get(step.thread) ?? [];
      const bound = step.enclosing ? slices.some((x) => x.start <= step.ts && step.ts <= x.end) : slices.some((x) => x.start >= step.ts);
      if (!bound) problems.push(`${step.path}: flow step at ${step.ts} ns has no slice to bind to on thread ${step.thread}`);
    }
  }
  if (requireNames) {
    for (const [pid, path] of processesUsed) if (!processNames.has(pid)) problems.push(`${path}: process ${pid} has no process_name metadata`);
    for (const [thread, path] of threadsUsed) if (!threadNames.has(thread)) problems.push(`${path}: thread ${thread} has no thread_name metadata`);
  }
  return problems;
}
