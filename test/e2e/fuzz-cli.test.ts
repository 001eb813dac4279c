// Fuzzing every parser through the CLI: seeded mutations (fast-check) of the real
// fixtures, shipped profiles, the example figure spec and Debian's Xen configs —
// truncation, byte flips, huge/negative/NaN numbers, odd Unicode, deep nesting,
// alias bombs, long lines, empty and binary files, a FIFO, a directory,
// /dev/zero, a file over --max-input — each fed to the command that parses it.
// Every case must end within its bound with exit 0, or exit 1 and one clean line
// naming the file. Cases run through the CLI's main() in two harness processes
// (test/helpers/cli-harness.mjs: one Node start-up for hundreds of cases), and a
// sample runs as real `bin/hvscope` processes to show the two agree.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { hvscopeBin, repo } from '../helpers/cli.js';

const SEED = Number(process.env.HVSCOPE_FUZZ_SEED ?? 20261203);
const CASES = Number(process.env.HVSCOPE_FUZZ_CASES ?? 1100);
/** A case that takes longer than this failed (the host is shared and loaded: generous). */
const CASE_BOUND_MS = 15_000;
const SPAWNED_SAMPLE = 24;

const work = join(tmpdir(), `hvscope-fuzz-${process.pid}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Kind = 'trace' | 'qemu-log' | 'serial' | 'xl-log' | 'chrome' | 'bpftrace' | 'profile' | 'figure' | 'domain' | 'xlconf';
interface Seed {
  kind: Kind;
  name: string;
  text: string;
}

const fromRepo = (kind: Kind, path: string): Seed => ({ kind, name: basename(path), text: readFileSync(join(repo, path), 'utf8') });
/** bpftrace -f json lines of a real recording (the example files add a header of prose). */
const bpftraceSeed = (path: string): Seed => ({
  kind: 'bpftrace',
  name: basename(path).replace('_example.txt', '.ndjson'),
  text: readFileSync(join(repo, path), 'utf8').split('\n').filter((l) => l.startsWith('{')).join('\n') + '\n',
});

const SEEDS: Seed[] = [
  fromRepo('trace', 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json'),
  fromRepo('trace', 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json'),
  fromRepo('qemu-log', 'fixtures/qemu-tcg-pc-linux/qemu.log'),
  fromRepo('serial', 'fixtures/qemu-tcg-microvm-linux/serial.txt'),
  fromRepo('xl-log', 'fixtures/xen-lab-tiny-pv/xl-vvv-create.log'),
  fromRepo('chrome', 'fixtures/chrome/tsc-5.9-generate-trace.json'),
  bpftraceSeed('probes/qemu_example.txt'),
  bpftraceSeed('probes/exec_example.txt'),
  fromRepo('profile', 'tuning-profiles/bridge-fast.yaml'),
  fromRepo('profile', 'tuning-profiles/xen-unikernel.yaml'),
  fromRepo('profile', 'tuning-profiles/qemu-microvm-min.yaml'),
  fromRepo('figure', 'docs/figures/boot-by-machine.yaml'),
  fromRepo('domain', 'fixtures/xen/debian-12-xlexample.pvlinux'),
  fromRepo('xlconf', 'fixtures/xen/debian-12-xl.conf'),
];

const ratio = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const MUTATION = fc.oneof(
  { weight: 3, arbitrary: fc.record({ type: fc.constant('truncate' as const), at: ratio }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('flip' as const), at: fc.array(ratio, { minLength: 1, maxLength: 8 }), bits: fc.integer({ min: 1, max: 255 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('number' as const),
      value: fc.constantFrom('1e308', '-1', '-9999999999999999999999', 'NaN', 'Infinity', '-Infinity', '1e-400', '99999999999999999999999999999999', '-0', '0x7fffffff', '.5'),
      nth: fc.nat({ max: 400 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('unicode' as const),
      text: fc.constantFrom('\u2028', '\u2029', '\r', '\0', '\uFEFF', '\u202E', '😀', '\uD800', 'é', '\x1b[2J', '\t'),
      at: ratio,
      repeat: fc.integer({ min: 1, max: 2000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('nest' as const), depth: fc.integer({ min: 60, max: 20_000 }), open: fc.constantFrom('[', '{', '- ', '{"a":'), at: ratio }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('aliasBomb' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('longLine' as const), size: fc.integer({ min: 1000, max: 3_000_000 }), at: ratio }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('repeatLines' as const), times: fc.integer({ min: 2, max: 3000 }), at: ratio }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('empty' as const) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('binary' as const), size: fc.integer({ min: 1, max: 200_000 }), seed: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('special' as const), what: fc.constantFrom('fifo', 'directory', 'dev-zero', 'missing', 'symlink-dev-zero') }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('overCap' as const) }) },
);
type Mutation = typeof MUTATION extends fc.Arbitrary<infer M> ? M : never;
const CASE = fc.record({ seed: fc.nat({ max: SEEDS.length - 1 }), mutation: MUTATION, variant: fc.nat({ max: 2 }) });

function mutate(text: string, m: Mutation): Buffer | string {
  const pos = (r: number, s = text) => Math.floor(r * (s.length + 1));
  switch (m.type) {
    case 'truncate':
      return text.slice(0, pos(m.at));
    case 'flip': {
      const b = Buffer.from(text);
      for (const r of m.at) if (b.length > 0) b[Math.floor(r * b.length)] ^= m.bits;
      return b;
    }
    case 'number': {
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?/g)];
      if (numbers.length === 0) return text + m.value;
      const n = numbers[m.nth % numbers.length];
      return text.slice(0, n.index!) + m.value + text.slice(n.index! + n[0].length);
    }
    case 'unicode':
      return text.slice(0, pos(m.at)) + m.text.repeat(m.repeat) + text.slice(pos(m.at));
    case 'nest':
      return text.slice(0, pos(m.at)) + (m.open === '- ' ? Array.from({ length: Math.min(m.depth, 2000) }, (_, i) => ' '.repeat(i) + '- ').join('\n') : m.open.repeat(m.depth)) + text.slice(pos(m.at));
    case 'aliasBomb': {
      const rows = ['bomb0: &a0 [x, x, x, x, x, x, x, x, x]'];
      for (let i = 1; i < 9; i++) rows.push(`bomb${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(', ')}]`);
      return text + '\n' + rows.join('\n') + '\n';
    }
    case 'longLine':
      return text.slice(0, pos(m.at)) + 'A'.repeat(m.size) + text.slice(pos(m.at));
    case 'repeatLines': {
      const lines = text.split('\n');
      const i = Math.floor(m.at * lines.length);
      return [...lines.slice(0, i), ...Array(m.times).fill(lines[i] ?? ''), ...lines.slice(i)].join('\n');
    }
    case 'empty':
      return '';
    case 'binary':
      return Buffer.from(fc.sample(fc.uint8Array({ minLength: m.size, maxLength: m.size }), { seed: m.seed, numRuns: 1 })[0]);
    case 'overCap':
      return text.repeat(Math.ceil((40 * 1024) / Math.max(1, text.length)));
    case 'special':
      return text; // written specially below
  }
}

const FUZZ_PROFILE = `name: fuzz-xen
summary: reads a domain config and xl.conf (tune plan reads only)
xen-xl-conf:
  autoballoon: { value: "off" }
  vif.default.script: { value: vif-bridge-fast }
xen-domain:
  memory: { value: 8 }
  vcpus: { value: 1 }
  vif:
    - bridge: { value: xenbr0 }
`;

interface Case {
  id: string;
  args: string[];
  /** The file the case feeds in: its error must name it. */
  file: string;
  describe: string;
}

/** Writes case `i`'s input and returns the command line that parses it. */
function buildCase(i: number, c: { seed: number; mutation: Mutation; variant: number }): Case {
  const seed = SEEDS[c.seed];
  const dir = join(work, `case-${i}`);
  mkdirSync(dir, { recursive: true });
  let file: string;
  let args: string[];
  const name = seed.kind === 'profile' ? seed.name : seed.kind === 'figure' ? 'spec.yaml' : `input-${seed.name}`;
  if (seed.kind === 'figure') {
    // The spec's trace paths are ../../fixtures/...: give it a home two levels below a fixtures link.
    symlinkSync(join(repo, 'fixtures'), join(dir, 'fixtures'));
    mkdirSync(join(dir, 'a/b'), { recursive: true });
    file = join(dir, 'a/b', name);
  } else if (seed.kind === 'xlconf') {
    mkdirSync(join(dir, 'root/etc/xen'), { recursive: true });
    file = join(dir, 'root/etc/xen/xl.conf');
  } else file = join(dir, name);

  const m = c.mutation;
  if (m.type === 'special') {
    if (m.what === 'fifo') execFileSync('mkfifo', [file]);
    else if (m.what === 'directory') mkdirSync(file);
    else if (m.what === 'dev-zero') file = '/dev/zero';
    else if (m.what === 'symlink-dev-zero') symlinkSync('/dev/zero', file);
    // missing: nothing written
  } else writeFileSync(file, mutate(seed.text, m));

  const global = m.type === 'overCap' ? ['--max-input', '16K'] : [];
  switch (seed.kind) {
    case 'trace':
      args = [['report', file, '--json'], ['diagnose', file], ['render', file, '--format', 'json', '-o', '-']][c.variant];
      break;
    case 'qemu-log':
    case 'serial':
    case 'xl-log':
    case 'chrome':
    case 'bpftrace':
      args = c.variant === 0 ? ['import', file, '-o', '-'] : ['import', file, '--from', seed.kind, '-o', '-'];
      break;
    case 'profile':
      args = ['profile', 'validate', file];
      break;
    case 'figure':
      args = ['figure', file, '-o', join(dir, 'out'), '--json'];
      break;
    case 'domain':
    case 'xlconf': {
      const profile = join(dir, 'fuzz-xen.yaml');
      writeFileSync(profile, FUZZ_PROFILE);
      const root = join(dir, 'root');
      mkdirSync(join(root, 'etc/xen'), { recursive: true });
      if (seed.kind === 'domain') copyFileSync(join(repo, 'fixtures/xen/debian-12-xl.conf'), join(root, 'etc/xen/xl.conf'));
      const domain = seed.kind === 'domain' ? file : join(dir, 'domain.cfg');
      if (seed.kind === 'xlconf') copyFileSync(join(repo, 'fixtures/xen/debian-12-xlexample.pvlinux'), domain);
      args = ['tune', 'plan', profile, '--root', root, '--domain-config', domain, '--state-dir', join(dir, 'state')];
      break;
    }
  }
  return { id: `case-${i}`, args: [...global, ...args], file, describe: `${seed.kind} ${seed.name} ${JSON.stringify(m).slice(0, 200)}` };
}

interface Outcome {
  id: string;
  code: number | string;
  stderr: string;
  ms: number;
}

/** What is wrong with an outcome, or null. */
function judge(c: Case, o: Outcome): string | null {
  if (o.ms > CASE_BOUND_MS) return `took ${o.ms} ms (bound ${CASE_BOUND_MS})`;
  if (o.code === 0) return null;
  if (o.code !== 1) return `exit ${o.code}: ${o.stderr.slice(0, 500)}`;
  // Progress that may precede an error: the detected format of an import.
  const lines = o.stderr.split('\n').filter((l) => l !== '' && !/: read as \S+ \(detected from /.test(l));
  if (lines.length !== 1) return `${lines.length} lines on stderr: ${o.stderr.slice(0, 500)}`;
  const line = lines[0];
  if (!line.startsWith('hvscope: ')) return `not an hvscope line: ${line.slice(0, 300)}`;
  if (/internal error|\n|\r|\u2028|\u2029/.test(line)) return `not clean: ${line.slice(0, 300)}`;
  if (line.length > 1100) return `line of ${line.length} characters`;
  if (!line.includes(c.file) && !line.includes(basename(c.file))) return `does not name ${c.file}: ${line.slice(0, 300)}`;
  return null;
}

function runHarness(cases: Case[], casesFile: string, timeoutMs: number): Promise<{ outcomes: Outcome[]; hung?: string }> {
  writeFileSync(casesFile, JSON.stringify(cases.map((c) => ({ id: c.id, args: c.args }))));
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(repo, 'test/helpers/cli-harness.mjs'), casesFile], { stdio: ['ignore', 'pipe', 'inherit'], cwd: work });
    let buffer = '';
    let started: string | undefined;
    const outcomes: Outcome[] = [];
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (msg.started) started = msg.started;
        else {
          outcomes.push(msg);
          started = undefined;
        }
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', () => {
      clearTimeout(timer);
      res({ outcomes, hung: started });
    });
  });
}

function spawnCase(c: Case): Promise<Outcome> {
  return new Promise((res) => {
    const started = Date.now();
    const child = spawn(process.execPath, [hvscopeBin, ...c.args], { stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_BOUND_MS * 2);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ id: c.id, code: code ?? `signal ${signal}`, stderr, ms: Date.now() - started });
    });
  });
}

describe('fuzz: mutated real inputs through the CLI', () => {
  it(`${CASES} seeded cases (seed ${SEED}) end within ${CASE_BOUND_MS / 1000} s with exit 0, or exit 1 and one line naming the file`, async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const drawn = fc.sample(CASE, { seed: SEED, numRuns: CASES });
    const cases = drawn.map((c, i) => buildCase(i, c));
    const halves = [cases.filter((_, i) => i % 2 === 0), cases.filter((_, i) => i % 2 === 1)];
    const results = await Promise.all(halves.map((h, i) => runHarness(h, join(work, `cases-${i}.json`), 240_000)));
    for (const r of results) expect(r.hung, r.hung && `${r.hung} never ended: ${cases.find((c) => c.id === r.hung)?.describe}`).toBeUndefined();
    const outcomes = new Map(results.flatMap((r) => r.outcomes).map((o) => [o.id, o]));
    expect(outcomes.size).toBe(cases.length);
    const failures = cases.map((c) => ({ c, why: judge(c, outcomes.get(c.id)!) })).filter((f) => f.why !== null);
    expect(failures.map((f) => `${f.c.id} [${f.c.describe}] ${f.c.args.join(' ')}: ${f.why}`).slice(0, 20)).toEqual([]);
    // The cases reached the parsers: both outcomes occur for every kind of input.
    const byKind = new Map<string, Set<number | string>>();
    for (const [i, c] of drawn.entries()) {
      const kind = SEEDS[c.seed].kind;
      byKind.set(kind, (byKind.get(kind) ?? new Set()).add(outcomes.get(`case-${i}`)!.code));
    }
    for (const [kind, codes] of byKind) expect([...codes].sort(), kind).toEqual([0, 1]);

    // A sample as real processes: the same exit and the same error line.
    const sample = cases.filter((_, i) => i % Math.floor(cases.length / SPAWNED_SAMPLE) === 0).slice(0, SPAWNED_SAMPLE);
    for (const c of sample) {
      const spawned = await spawnCase(c);
      const inProcess = outcomes.get(c.id)!;
      expect(judge(c, { ...spawned, ms: 0 }), `${c.id} spawned`).toBeNull();
      expect(spawned.code, `${c.id} ${c.describe}`).toBe(inProcess.code);
      expect(spawned.stderr, `${c.id} ${c.describe}`).toBe(inProcess.stderr);
    }
  }, 420_000);
});
