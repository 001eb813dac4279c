// dom0's kernel ftrace record of one experiment (clock mono: exec/fork/exit events and the
// script's trace_marker writes), cut into one run per `xl create`: the hotplug scripts and
// their helpers without any tracer started in dom0.
export interface FtraceEvent {
  comm: string;
  pid: number;
  /** ns on CLOCK_MONOTONIC (µs resolution). */
  ns: number;
  event: string;
  body: string;
}

// Syscall events print as `sys_write(fd: 5, ...)`, the others as `name: fields`.
const FTRACE_LINE = /^\s*(.+)-(\d+)\s+\[\d+\]\s+(?:\S+\s+)?(\d+)\.(\d{6}):\s+([a-z_0-9]+)(?::\s?(.*)|(\(.*))$/;

/** Parses ftrace's text output; comment and unrecognised lines are skipped. */
export function parseFtrace(text: string): FtraceEvent[] {
  const events: FtraceEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = FTRACE_LINE.exec(line);
    if (!m) continue;
    events.push({ comm: m[1].trim(), pid: Number(m[2]), ns: Number(m[3]) * 1e9 + Number(m[4]) * 1e3, event: m[5], body: (m[6] ?? m[7]).trim() });
  }
  return events;
}

export function fields(body: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const m of body.matchAll(/([a-z_]+)=(\S+)/g)) map.set(m[1], m[2]);
  return map;
}

/** What ftrace saw of one creation, ns relative to its create_start marker. */
export interface FtraceRun {
  createExitNs?: number;
  markerNs?: number;
  goneNs?: number;
  /**
   * Hotplug scripts (/etc/xen/scripts/*) exec'd after create start, with their descendants'
   * execs; `create` when `xl create` itself ran it, `teardown` when xl's daemon did (domain gone).
   */
  scripts: { name: string; pid: number; startNs: number; endNs?: number; execs: number; when: 'create' | 'teardown' }[];
  /** When the last hotplug script `xl create` ran had exited (xl then unpauses the domain). */
  devicesDoneNs?: number;
  /** xenconsoled's first write of guest output after that: the guest's first console line reached dom0. */
  guestOutputNs?: number;
  /** exec events between create start and xl's exit. */
  execsDuringCreate: number;
  /** pid of the `xl create` process, when its exec was seen. */
  xlPid?: number;
  /**
   * Every program the hotplug scripts' processes exec'd (ip, brctl, logger, xenstore-*, …):
   * exec → next exec of the pid or its exit; ppid: the nearest ancestor that exec'd (the script
   * or another program), skipping the subshells the script forked without an exec.
   */
  helpers: { name: string; pid: number; ppid?: number; startNs: number; endNs?: number; script: number }[];
}

/**
 * Splits the ftrace record into creations by our markers (`hvscope: create_start p=P r=R`).
 * `creator`: the program the marker's shell ran to create the domain (default xl: a hotplug
 * script is the creation's when xl forked it); null when another daemon runs the scripts
 * (libvirtd): then a script is the creation's when it started before `cutoffNs(key)` (ns from
 * create start, e.g. the unpause: a guest that powers off at once has its teardown scripts
 * run before the command's return is marked), else before the create_exit marker.
 */
export function ftraceRuns(events: FtraceEvent[], opts: { creator?: RegExp | null; cutoffNs?: (key: string) => number | undefined } = {}): Map<string, FtraceRun> {
  const creator = opts.creator === undefined ? /\/xl$/ : opts.creator;
  const runs = new Map<string, FtraceRun>();
  const starts: { key: string; index: number; ns: number }[] = [];
  events.forEach((e, index) => {
    const m = e.event === 'tracing_mark_write' ? /^hvscope: create_start p=(\d+) r=(\d+)/.exec(e.body) : null;
    if (m) starts.push({ key: `${m[1]}/${m[2]}`, index, ns: e.ns });
  });
  starts.forEach((s, si) => {
    const end = si + 1 < starts.length ? starts[si + 1].index : events.length;
    const slice = events.slice(s.index + 1, end);
    const run: FtraceRun = { scripts: [], execsDuringCreate: 0, helpers: [] };
    const [p, r] = s.key.split('/');
    const markerAt = (name: string) => slice.find((e) => e.event === 'tracing_mark_write' && e.body.startsWith(`hvscope: ${name} p=${p} r=${r}`));
    const rel = (e: FtraceEvent | undefined) => (e ? e.ns - s.ns : undefined);
    run.createExitNs = rel(markerAt('create_exit'));
    run.markerNs = rel(markerAt('marker'));
    run.goneNs = rel(markerAt('gone'));
    // Process tree: each script's descendants (fork parent → child) within this slice.
    const children = new Map<number, number[]>();
    for (const e of slice) {
      if (e.event !== 'sched_process_fork') continue;
      const f = fields(e.body);
      const parent = Number(f.get('pid') ?? e.pid);
      const child = Number(f.get('child_pid'));
      if (Number.isInteger(child)) children.set(parent, [...(children.get(parent) ?? []), child]);
    }
    const descendants = (pid: number): Set<number> => {
      const seen = new Set<number>([pid]);
      const todo = [pid];
      while (todo.length) for (const c of children.get(todo.pop()!) ?? []) if (!seen.has(c)) (seen.add(c), todo.push(c));
      return seen;
    };
    // The `xl create` process: the marker writer's child that exec'd xl.
    const shellPid = events[s.index].pid;
    const shellChildren = new Set(children.get(shellPid) ?? []);
    const xlExec = creator === null ? undefined : slice.find((e) => e.event === 'sched_process_exec' && creator.test(fields(e.body).get('filename') ?? '') && shellChildren.has(Number(fields(e.body).get('pid') ?? e.pid)));
    const xlPid = xlExec ? Number(fields(xlExec.body).get('pid') ?? xlExec.pid) : undefined;
    const parentOf = new Map<number, number>();
    for (const [parent, kids] of children) for (const k of kids) parentOf.set(k, parent);
    for (const e of slice) {
      if (e.event !== 'sched_process_exec') continue;
      const f = fields(e.body);
      const filename = f.get('filename') ?? '';
      const pid = Number(f.get('pid') ?? e.pid);
      if (run.createExitNs === undefined || e.ns - s.ns <= run.createExitNs) run.execsDuringCreate++;
      if (!filename.startsWith('/etc/xen/scripts/')) continue;
      const exit = slice.find((x) => x.event === 'sched_process_exit' && x.ns >= e.ns && Number(fields(x.body).get('pid') ?? x.pid) === pid);
      const tree = descendants(pid);
      const execs = slice.filter((x) => x.event === 'sched_process_exec' && x !== e && tree.has(Number(fields(x.body).get('pid') ?? x.pid))).length;
      const cutoff = opts.cutoffNs?.(s.key) ?? run.createExitNs;
      const byXl = xlPid !== undefined ? parentOf.get(pid) === xlPid : cutoff === undefined || e.ns - s.ns <= cutoff;
      run.scripts.push({ name: filename.slice('/etc/xen/scripts/'.length), pid, startNs: e.ns - s.ns, endNs: exit ? exit.ns - s.ns : undefined, execs, when: byXl ? 'create' : 'teardown' });
      run.helpers.push(...helperRuns(slice, tree, pid, e, parentOf).map((h) => ({ ...h, startNs: h.startNs - s.ns, endNs: h.endNs === undefined ? undefined : h.endNs - s.ns })));
    }
    if (xlPid !== undefined) run.xlPid = xlPid;
    const created = run.scripts.filter((x) => x.when === 'create');
    if (created.length > 0 && created.every((x) => x.endNs !== undefined)) {
      run.devicesDoneNs = Math.max(...created.map((x) => x.endNs!));
      // xenconsoled's writes: 16-byte headers go to xenstored's socket, 4 bytes to the event
      // channel device; the first other write after the devices are up is the guest's output.
      const writes = slice.filter((e) => e.event === 'sys_write').map((e) => ({ ns: e.ns, fd: /fd: (\w+)/.exec(e.body)?.[1], count: parseInt(/count: (\w+)/.exec(e.body)?.[1] ?? '0', 16) }));
      const xenstoreFds = new Set(writes.filter((w) => w.count === 0x10).map((w) => w.fd));
      const output = writes.find((w) => w.ns - s.ns >= run.devicesDoneNs! && w.count > 4 && !xenstoreFds.has(w.fd));
      if (output) run.guestOutputNs = output.ns - s.ns;
    }
    runs.set(s.key, run);
  });
  return runs;
}

/** The programs a hotplug script's process tree exec'd (the script's own exec excluded), ns as in the slice. */
function helperRuns(slice: FtraceEvent[], tree: Set<number>, script: number, scriptExec: FtraceEvent, parentOf: Map<number, number>): FtraceRun['helpers'] {
  const pidOf = (e: FtraceEvent) => Number(fields(e.body).get('pid') ?? e.pid);
  const execd = new Set(slice.filter((e) => e.event === 'sched_process_exec').map(pidOf));
  const tracedParent = (pid: number): number | undefined => {
    let p = parentOf.get(pid);
    for (let depth = 0; p !== undefined && depth < 64 && !execd.has(p); depth++) p = parentOf.get(p);
    return p;
  };
  const helpers: FtraceRun['helpers'] = [];
  slice.forEach((e, i) => {
    if (e.event !== 'sched_process_exec' || e === scriptExec) return;
    const pid = pidOf(e);
    if (!tree.has(pid)) return;
    // Until the pid's next exec (it replaced itself) or its exit.
    const end = slice.slice(i + 1).find((x) => (x.event === 'sched_process_exit' || x.event === 'sched_process_exec') && pidOf(x) === pid);
    const filename = fields(e.body).get('filename') ?? e.comm;
    helpers.push({ name: filename.slice(filename.lastIndexOf('/') + 1), pid, ppid: tracedParent(pid), startNs: e.ns, endNs: end?.ns, script });
  });
  return helpers;
}
