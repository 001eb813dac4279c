// The CLI as users meet it, end to end through bin/hvscope: help anywhere,
// "did you mean", exit statuses (usage 2, runtime 1, closed pipe 141), `-o -`,
// format detection in import, bounded input (FIFO, /dev/zero, size cap, alias
// bombs, quotes cut), tune's messages, and checks that come before work.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { accelWorks } from '../../src/tracer/accel-probe.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { entry, hvscope, nobodyHome, repo, scratchDir } from './trace-cli.js';

const work = scratchDir('hvscope-cli-e2e-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const FIXTURE = join(repo, 'fixtures/qemu-tcg-pc-linux/run.hvtrace.json');
const hvscopeLines = (stderr: unknown) => String(stderr).split('\n').filter((l) => l !== '');

/** One clean line naming the problem, exit `code`. */
async function failsWith(args: string[], code: number, message: RegExp, env: Record<string, string> = {}) {
  const r = await hvscope(args, { cwd: work, env, timeoutMs: 60_000 });
  expect(r.exitCode, String(r.stderr)).toBe(code);
  const lines = hvscopeLines(r.stderr);
  expect(lines, String(r.stderr)).toHaveLength(1);
  expect(lines[0]).toMatch(/^hvscope: /);
  expect(lines[0]).toMatch(message);
  expect(lines[0].length).toBeLessThan(1100);
  return lines[0];
}

describe('help', () => {
  const cases: [string[], RegExp][] = [
    [['lab', 'xen', 'run', '--help'], /^hvscope lab xen run: Boot Xen 4\.17/],
    [['tune', 'plan', '--help'], /^hvscope tune plan: Show each knob/],
    [['profile', 'show', '--help'], /^hvscope profile show: Print a profile file/],
    [['render', 'FILE.hvtrace.json', '--help'], /^hvscope render: Draw traces/],
    [['help', 'tune', 'rollback'], /^hvscope tune rollback: Restore the values/],
    [['help'], /^hvscope \d+\.\d+\.\d+: trace, tune and visualise/],
    [['--help'], /^hvscope \d+\.\d+\.\d+: /],
  ];
  for (const [args, first] of cases) {
    it(`hvscope ${args.join(' ')}: help on stdout, exit 0`, async () => {
      const r = await hvscope(args, { cwd: work });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stderr)).toBe('');
      expect(String(r.stdout)).toMatch(first);
      expect(String(r.stdout)).toMatch(/Exit status: 0 success; 1 error .* 2 usage error .* 130 interrupted/s);
    });
  }
  it("render's help names the default outputs it really writes", async () => {
    const help = String((await hvscope(['render', '--help'], { cwd: work })).stdout).replace(/\s+/g, ' ');
    expect(help).toMatch(/NAME\.svg, NAME\.chrome\.json or NAME\.speedscope\.json/);
    const dir = join(work, 'render-defaults');
    mkdirSync(dir);
    for (const format of ['svg', 'chrome', 'speedscope']) expect((await hvscope(['render', FIXTURE, '--format', format], { cwd: dir })).exitCode).toBe(0);
    expect(['run.svg', 'run.chrome.json', 'run.speedscope.json'].map((f) => existsSync(join(dir, f)))).toEqual([true, true, true]);
  });
});

describe('usage errors exit 2 with "did you mean"; runtime errors exit 1', () => {
  it('unknown command', () => failsWith(['rendr', FIXTURE], 2, /unknown command "rendr" \(did you mean "render"\?\)/));
  it('unknown option', () => failsWith(['render', FIXTURE, '--fromat', 'svg'], 2, /unknown option --fromat for render \(did you mean --format\?\)/));
  it('unknown action', () => failsWith(['tune', 'aply', 'x.yaml'], 2, /tune: unknown action "aply" \(did you mean "apply"\?\)/));
  it('bad option value', () => failsWith(['render', FIXTURE, '--format', 'svgg'], 2, /--format svgg: unknown \(did you mean svg\?\)/));
  it('missing argument', () => failsWith(['render'], 2, /render: missing TRACE/));
  it('--attach-timeout is bounded', () => failsWith(['trace', '--attach-timeout', '1e10', '--', 'true'], 2, /--attach-timeout 1e10: expected a number of seconds > 0 and ≤ 3600/));
  it('a missing file is a runtime error', () => failsWith(['report', join(work, 'nope.hvtrace.json')], 1, /nope\.hvtrace\.json: no such file or directory/));
});

describe('output: -o - is stdout; a closed pipe ends quietly', () => {
  it('render -o - and import -o - write to stdout', async () => {
    const svg = await hvscope(['render', FIXTURE, '-o', '-'], { cwd: work });
    expect(svg.exitCode).toBe(0);
    expect(String(svg.stdout)).toMatch(/^<svg|^<\?xml/);
    const trace = await hvscope(['import', join(repo, 'fixtures/qemu-tcg-pc-linux/qemu.log'), '--from', 'qemu-log', '-o', '-'], { cwd: work });
    expect(trace.exitCode, String(trace.stderr)).toBe(0);
    expect(JSON.parse(String(trace.stdout)).format).toBe('hvscope-trace');
  });

  it('| head -c 50: exit 141, nothing on stderr (no EPIPE stack)', async () => {
    const dir = join(work, 'many');
    mkdirSync(dir);
    for (let i = 0; i < 8; i++) copyFileSync(FIXTURE, join(dir, `r${i}.hvtrace.json`)); // > a pipe's 64 KiB
    const child = spawn(process.execPath, [entry, 'render', dir, '--format', 'chrome', '-o', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.once('data', () => child.stdout!.destroy()); // the reader goes away after its first bytes
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });
});

describe('import detects the format and says so', () => {
  const inputs: [string, string][] = [
    ['fixtures/qemu-tcg-pc-linux/qemu.log', 'qemu-log'],
    ['fixtures/qemu-tcg-pc-linux/serial.txt', 'serial'],
    ['fixtures/xen-lab-tiny-pv/xl-vvv-create.log', 'xl-log'],
    ['fixtures/chrome/node-20-startup.json', 'chrome'],
  ];
  for (const [file, format] of inputs) {
    it(`${file} → ${format}`, async () => {
      const out = join(work, `detected-${format}.hvtrace.json`);
      const r = await hvscope(['import', join(repo, file), '-o', out, '--json'], { cwd: work });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stderr)).toMatch(new RegExp(`read as ${format} \\(detected from `));
      expect(JSON.parse(String(r.stdout)).detected).toEqual({ [join(repo, file)]: format });
    });
  }
  it('content that matches no format: one line asking for --from', async () => {
    const f = join(work, 'mystery.txt');
    writeFileSync(f, 'hello\nworld\n');
    await failsWith(['import', f], 1, /mystery\.txt: cannot tell its format from the content; give it with --from/);
  });
});

describe('bounded input: every refusal is one line naming the file, and quick', () => {
  it('a FIFO is refused, not waited on', async () => {
    const fifo = join(work, 'fifo.hvtrace.json');
    execFileSync('mkfifo', [fifo]);
    await failsWith(['report', fifo], 1, /fifo\.hvtrace\.json: cannot read trace: a FIFO \(pipe\), not a regular file/);
  });
  it('/dev/zero is refused', () => failsWith(['import', '/dev/zero', '--from', 'serial'], 1, /^hvscope: \/dev\/zero: cannot read serial file: a character device/));
  it('a directory given as a profile is refused', () => failsWith(['profile', 'validate', `${work}/`], 1, /cannot read profile: a directory/));
  it('the size cap, and raising it', async () => {
    const big = join(work, 'big.hvtrace.json');
    copyFileSync(FIXTURE, big);
    await failsWith(['report', big], 1, /big\.hvtrace\.json: trace: .* over the 1 KiB input limit; raise it with --max-input SIZE or HVSCOPE_MAX_INPUT=SIZE/, { HVSCOPE_MAX_INPUT: '1K' });
    const r = await hvscope(['report', big, '--max-input', '1M'], { cwd: work, env: { HVSCOPE_MAX_INPUT: '1K' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
  });
  it('a YAML alias bomb in a profile: one line with file:line', async () => {
    const f = join(work, 'bomb.yaml');
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [n, p] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']]) rows.push(`${n}: &${n} [${Array(9).fill(`*${p}`).join(',')}]`);
    writeFileSync(f, `name: bomb\n${rows.join('\n')}\n`);
    await failsWith(['profile', 'validate', f], 1, /bomb\.yaml:3: YAML aliases expand to too much/);
  });
  it('deep nesting is refused before parsing', async () => {
    const f = join(work, 'deep.hvtrace.json');
    writeFileSync(f, '['.repeat(100_000));
    await failsWith(['report', f], 1, /deep\.hvtrace\.json:1: nested deeper than 64 levels/);
  });
  it('an error quoting input cuts the quote (a long line with U+2028 and CR)', async () => {
    const f = join(work, 'quote.yaml');
    writeFileSync(f, `name: quote\nbridge:\n  mtu: "${'\u2028\r'.repeat(10)}${'x'.repeat(100_000)}"\n`);
    const line = await failsWith(['profile', 'validate', f], 1, /quote\.yaml:3: bridge\.mtu: must be .*, got "(\\u2028\\r){10}x+…"/);
    expect(line.length).toBeLessThan(300);
  });
});

describe('tune', () => {
  it('a second rollback, or one with nothing applied, is not an error', async () => {
    const state = join(work, 'tune-state');
    for (let i = 0; i < 2; i++) {
      const r = await hvscope(['tune', 'rollback', '--state-dir', state], { cwd: work });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(String(r.stdout)).toMatch(/^nothing to roll back: no profile was applied/);
    }
  });

  it('tune plan wraps WHY to the terminal; --json keeps the full text', async () => {
    const r = await hvscope(['tune', 'plan', 'qemu-microvm-min'], { cwd: work, env: { COLUMNS: '100' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const rows = String(r.stdout).split('\n').filter((l) => /^[~=] |^ {10,}\S/.test(l)); // knob rows and their WHY continuation lines
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.filter((l) => l.length > 100)).toEqual([]);
    const json = JSON.parse(String((await hvscope(['tune', 'plan', 'qemu-microvm-min', '--json'], { cwd: work })).stdout));
    expect(Math.max(...json.knobs.map((k: { why?: string }) => (k.why ?? '').length))).toBeGreaterThan(300);
  });

  const noSetpriv = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv (to run as an unprivileged user)');
  it.skipIf(noSetpriv)('tune status as an unprivileged user says it needs root, not EACCES', async () => {
    const state = join(work, 'root-state');
    mkdirSync(state, { mode: 0o700 });
    writeFileSync(join(state, 'journal.json'), '{}', { mode: 0o600 });
    chmodSync(work, 0o755);
    const home = nobodyHome();
    const r = await hvscope(['tune', 'status', '--state-dir', state], { asNobodyWithHome: home, cwd: home });
    rmSync(home, { recursive: true, force: true });
    expect(r.exitCode).toBe(1);
    const lines = hvscopeLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^hvscope: tune status needs root: .*root-state .* run it as root, e.g\. sudo hvscope tune status$/);
    expect(lines[0]).not.toMatch(/EACCES/);
  });
});

describe('checks before work', () => {
  it('doctor on a host without /dev/kvm does not name a module it says is not loaded', async () => {
    const r = await hvscope(['doctor', '--json'], { cwd: work, timeoutMs: 120_000 });
    const kvm = JSON.parse(String(r.stdout)).checks.find((c: { id: string }) => c.id === 'accel.kvm');
    if (existsSync('/dev/kvm')) return; // the contradiction needs a host without the device
    expect(kvm.value).toMatch(/no \/dev\/kvm/);
    expect(kvm.value).not.toMatch(/not loaded.*\(kvm|\(kvm_\w+\)$/);
  });

  it('boot --accel kvm where KVM cannot run guests fails before building the guest or attaching bpftrace', async () => {
    if ((await accelWorks('kvm')).ok) return; // only a host where KVM fails can show it
    const r = await hvscope(['boot', '--accel', 'kvm', '-o', join(work, 'kvm-boot')], { cwd: work });
    expect(r.exitCode).toBe(1);
    expect(hvscopeLines(r.stderr)).toEqual([expect.stringMatching(/^hvscope: --accel kvm: KVM does not run guests on this host \(.*\); use --accel tcg$/)]);
    expect(existsSync(join(work, 'kvm-boot'))).toBe(false);
  });
});

