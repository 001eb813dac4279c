// Probe-set registry and program assembly: turns `--probes qemu,net,exec` into
// one bpftrace program plus its positional parameters.
//
// Each probes/NAME.bt runs on its own (bpftrace -f json probes/NAME.bt PID), so
// each carries the same prelude (BEGIN and the workload-tree tracking) between
// marker comments. Assembly keeps one copy of the prelude, appends every set's
// probes and ends with one generated END block (bpftrace allows only one) that
// prints `hv_end` and clears every map so none is dumped on exit.
//
// Parameters are positional, never pasted into the program text:
//   $1  root pid of the workload (0: every process)
//   $2  fd QEMU writes the guest console to (qemu set; 1 = stdout)
//   $3  1 when the exec set is in the program
//   $4  libvirtd's pid (libvirt set only; 0: every libvirt process)
// uprobe library paths are written in the .bt files (Debian's); assembly only
// swaps in the same file name from a fixed list of system directories.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../model/errors.js';
import type { Unavailable } from '../model/trace.js';

export interface ProbeSet {
  name: string;
  /** File name under probes/. */
  file: string;
  summary: string;
  /**
   * Only when named: left out of the default sets. The xen set's ~64 uprobes
   * take seconds to detach when bpftrace stops and only matter in a Xen dom0.
   */
  optIn?: boolean;
}

export const PROBE_SETS: readonly ProbeSet[] = [
  {
    name: 'qemu',
    file: 'qemu.bt',
    summary: 'QEMU exec/exit, KVM_CREATE_VM/VCPU, first KVM_RUN, port 0xf4/0x80 markers, guest console writes',
  },
  { name: 'net', file: 'net.bt', summary: 'tap creation (TUNSETIFF), bridge attach (SIOCBRADDIF, RTM_NEWLINK), ip/brctl/ovs-vsctl' },
  { name: 'exec', file: 'exec.bt', summary: 'every fork, exec and exit in the workload process tree' },
  {
    name: 'xen',
    file: 'xen.bt',
    summary: 'xl create in dom0: libxenlight/libxenctrl/libxenguest steps, every XenStore request, hotplug scripts, guest console (xenconsoled)',
    optIn: true,
  },
  {
    name: 'libvirt',
    file: 'libvirt.bt',
    summary: 'libvirtd creating a domain (QEMU driver): the API call, driver steps, namespace and cgroup set-up, every QMP command and its reply, teardown; needs libvirtd\'s pid ($4)',
    // ~46 uprobes and USDT probes on libvirt's libraries, useful only where libvirtd runs
    optIn: true,
  },
];

/**
 * Where a uprobe's library is looked for when the path written in the .bt file
 * (Debian's multiarch path) is not there: fixed system directories only, so
 * the program never names a file a user chose.
 */
export const TRUSTED_LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib'] as const;

/** Every valid probe set name. */
export const ALL_PROBE_SET_NAMES = PROBE_SETS.map((s) => s.name);
/** The sets used when none are named: all but the opt-in ones (`--probes xen,exec,net` in a dom0). */
export const DEFAULT_PROBE_SET_NAMES = PROBE_SETS.filter((s) => !s.optIn).map((s) => s.name);
/** The default sets (kept under this name for the CLI, which uses it as its --probes default). */
export const PROBE_SET_NAMES = DEFAULT_PROBE_SET_NAMES;

const PRELUDE_BEGIN = /^\/\/ ==== hvscope prelude: begin.*$/m;
const PRELUDE_END = /^\/\/ ==== hvscope prelude: end ====$/m;

export interface AssembleOptions {
  /** Root pid of the workload ($1); 0 traces every process. */
  rootPid: number;
  /** fd QEMU writes the guest console to ($2); default 1 (stdout: -serial stdio, -nographic). */
  consoleFd?: number;
  /** libvirtd's pid ($4, the libvirt set only): its calls are traced and its forks (QEMU) join the tree. */
  libvirtdPid?: number;
  /** Directory holding the .bt files; default: the checkout's probes/. */
  probesDir?: string;
  /**
   * When given, probes on tracepoints it reports missing are left out and
   * listed in `unavailable` (e.g. kvm:kvm_pio without the kvm module) instead
   * of making bpftrace refuse the whole program.
   */
  hasTracepoint?: (category: string, event: string) => boolean;
  /**
   * Whether a uprobe's binary exists (default: existsSync). A library missing
   * from its path and from TRUSTED_LIBRARY_DIRS leaves its probes out, listed
   * in `unavailable`, instead of making bpftrace refuse the whole program.
   */
  fileExists?: (path: string) => boolean;
}

export interface AssembledProgram {
  program: string;
  /** Positional parameters, in order ($1, $2, ...), to pass after the program. */
  params: string[];
  sets: string[];
  unavailable: Unavailable[];
}

/** probes/ of this checkout, found from this module (src/tracer or dist/src/tracer). */
export function defaultProbesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'probes');
    if (existsSync(join(candidate, 'qemu.bt'))) return candidate;
    dir = dirname(dir);
  }
  throw new UserError('cannot find the probes/ directory of this hvscope checkout');
}

/** Splits and validates a `--probes` value such as "qemu,net". */
export function parseProbeSets(list: string): string[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return validateSets(names);
}

function validateSets(names: string[]): string[] {
  if (names.length === 0) throw new UserError(`no probe set given; valid sets: ${ALL_PROBE_SET_NAMES.join(', ')}`);
  const unknown = names.filter((n) => !ALL_PROBE_SET_NAMES.includes(n));
  if (unknown.length > 0) {
    throw new UserError(
      `unknown probe set${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `'${u}'`).join(', ')}; valid sets: ${ALL_PROBE_SET_NAMES.join(', ')}`,
    );
  }
  return [...new Set(names)];
}

function nonNegativeInt(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new UserError(`${what} must be a non-negative integer, got ${value}`);
  return String(value);
}

interface SplitFile {
  prelude: string;
  body: string;
}

/** Separates a .bt file into its shared prelude and its own probes (header comment dropped). */
export function splitProbeFile(text: string, file: string): SplitFile {
  const begin = PRELUDE_BEGIN.exec(text);
  const end = PRELUDE_END.exec(text);
  if (!begin || !end || end.index < begin.index) throw new UserError(`${file}: missing the hvscope prelude markers`);
  const prelude = text.slice(begin.index, end.index + end[0].length);
  const body = text.slice(end.index + end[0].length).trim();
  return { prelude, body };
}

/** A top-level probe block with the comment lines just above it. */
export interface ProbeBlock {
  text: string;
  /** Probe specifications of the block, e.g. ['tracepoint:kvm:kvm_pio']. */
  probes: string[];
}

/**
 * Splits a probe body into top-level blocks by brace matching (skipping
 * strings and comments), so a block whose tracepoint is missing can be dropped.
 */
export function splitBlocks(body: string, file: string): ProbeBlock[] {
  const blocks: ProbeBlock[] = [];
  let depth = 0;
  let start = 0;
  let i = 0;
  while (i < body.length) {
    const c = body[i];
    if (c === '/' && body[i + 1] === '/') {
      const nl = body.indexOf('\n', i);
      i = nl < 0 ? body.length : nl + 1;
      continue;
    }
    if (c === '/' && body[i + 1] === '*') {
      const close = body.indexOf('*/', i + 2);
      if (close < 0) throw new UserError(`${file}: unterminated comment`);
      i = close + 2;
      continue;
    }
    if (c === '"') {
      i++;
      while (i < body.length && body[i] !== '"') i += body[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') {
      depth--;
      if (depth < 0) throw new UserError(`${file}: unbalanced '}'`);
      if (depth === 0) {
        const text = body.slice(start, i + 1).trim();
        blocks.push({ text, probes: probeSpecs(text) });
        start = i + 1;
      }
    }
    i++;
  }
  if (depth !== 0) throw new UserError(`${file}: unbalanced '{'`);
  if (body.slice(start).trim().length > 0) throw new UserError(`${file}: text after the last probe block`);
  return blocks;
}

function probeSpecs(blockText: string): string[] {
  // Specs come before the predicate (`/.../`, on its own line or after a space)
  // or the action; a uprobe's spec itself contains '/' (its library path).
  const specs: string[] = [];
  for (const line of blockText.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('//')) continue;
    if (trimmed.startsWith('/') || trimmed.startsWith('{')) break;
    const cut = /\s+\/|\{/.exec(trimmed);
    specs.push(...(cut ? trimmed.slice(0, cut.index) : trimmed).split(','));
    if (cut) break;
  }
  return specs.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Default tracepoint check against tracefs (either mount point). */
export function tracepointExists(category: string, event: string): boolean {
  return ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].some((root) =>
    existsSync(join(root, 'events', category, event)),
  );
}

/** Library path of a `uprobe:PATH:FUNC` / `uretprobe:PATH:FUNC` spec, else undefined. */
export function uprobeBinary(spec: string): string | undefined {
  const m = /^u(?:ret)?probe:(\/[^:]+):[A-Za-z_][A-Za-z0-9_]*$/.exec(spec);
  return m?.[1];
}

/**
 * The block with each uprobe's binary found: as written, or the same file name
 * in one of TRUSTED_LIBRARY_DIRS (the path is rewritten); the missing path when
 * neither exists.
 */
export function locateUprobeBinaries(text: string, probes: string[], fileExists: (path: string) => boolean): { text: string } | string {
  let out = text;
  for (const spec of probes) {
    const binary = uprobeBinary(spec);
    if (binary === undefined || fileExists(binary)) continue;
    const name = basename(binary);
    const found = TRUSTED_LIBRARY_DIRS.map((dir) => join(dir, name)).find((candidate) => fileExists(candidate));
    if (found === undefined) return binary;
    out = out.split(`${spec.split(':')[0]}:${binary}:`).join(`${spec.split(':')[0]}:${found}:`);
  }
  return { text: out };
}

/** Assembles the chosen sets into one program; unknown set → UserError listing the valid ones. */
export function assembleProgram(sets: string[], opts: AssembleOptions): AssembledProgram {
  const chosen = validateSets(sets);
  // $3: the exec set prints every exec and exit in the tree, so the other sets,
  // which print those of their own tools too, skip theirs when it is here:
  // each printf costs the traced process a perf-buffer write and a wake-up.
  const params = [nonNegativeInt(opts.rootPid, 'root pid'), nonNegativeInt(opts.consoleFd ?? 1, 'console fd'), chosen.includes('exec') ? '1' : '0'];
  if (chosen.includes('libvirt')) params.push(nonNegativeInt(opts.libvirtdPid ?? 0, 'libvirtd pid'));
  const dir = opts.probesDir ?? defaultProbesDir();
  const unavailable: Unavailable[] = [];
  const fileExists = opts.fileExists ?? existsSync;
  let prelude: string | undefined;
  const parts: string[] = [];
  for (const name of chosen) {
    const set = PROBE_SETS.find((s) => s.name === name)!;
    const path = join(dir, set.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new UserError(`${path}: cannot read probe set '${name}'`);
    }
    const split = splitProbeFile(text, path);
    if (prelude === undefined) prelude = split.prelude;
    else if (prelude !== split.prelude) throw new UserError(`${path}: its prelude differs from the other probe sets'`);
    const kept: string[] = [];
    const missingLibraries = new Set<string>();
    for (const block of splitBlocks(split.body, path)) {
      const missing = block.probes.find((p) => {
        const m = /^tracepoint:([^:]+):(.+)$/.exec(p);
        return m !== null && opts.hasTracepoint !== undefined && !opts.hasTracepoint(m[1], m[2]);
      });
      if (missing) {
        unavailable.push({ what: `${name}: ${missing}`, why: 'tracepoint not available on this kernel' });
        continue;
      }
      const located = locateUprobeBinaries(block.text, block.probes, fileExists);
      if (typeof located === 'string') {
        missingLibraries.add(located);
        continue;
      }
      kept.push(located.text);
    }
    // One line per set, not one per function probed (e.g. the xen set on a host without Xen).
    if (missingLibraries.size > 0) {
      unavailable.push({ what: `${name}: uprobes on ${[...missingLibraries].join(', ')}`, why: `${missingLibraries.size > 1 ? 'libraries' : 'library'} not found (not installed here?)` });
    }
    parts.push(`// ---- probe set: ${name} (probes/${set.file}) ----\n${kept.join('\n\n')}`);
  }
  const maps = [...new Set((prelude + '\n' + parts.join('\n')).match(/@[A-Za-z_][A-Za-z0-9_]*/g) ?? [])].sort();
  const end = [
    'END',
    '{',
    '\tprintf("hv_end\\t%llu\\t%d\\t%d\\n", nsecs, pid, tid);',
    ...maps.map((m) => `\tclear(${m});`),
    '}',
  ].join('\n');
  const program = [
    `// hvscope probe program: sets ${chosen.join(', ')}; $1 = root pid, $2 = console fd, $3 = 1 if the exec set is in`,
    prelude!,
    ...parts,
    end,
    '',
  ].join('\n\n');
  return { program, params, sets: chosen, unavailable };
}
