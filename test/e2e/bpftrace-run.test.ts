// End to end: real bpftrace through startBpftrace(). Needs root, bpftrace,
// tracefs and gcc (for a tiny child that calls getpid(2) on cue).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { BpftraceError } from '../../src/tracer/bpftrace-errors.js';
import type { BpftraceMessage } from '../../src/tracer/bpftrace-json.js';
import { liveBpftraceCount, startBpftrace } from '../../src/tracer/bpftrace-run.js';
import { ensureTracefs } from '../../src/tracer/tracefs.js';

const skip = requireOrSkip(isRoot && hasCommand('bpftrace') && hasCommand('gcc') && hasCommand('pgrep'), 'root, bpftrace, gcc and pgrep');
const repo = resolve(__dirname, '../..');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line contains `token` (our programs carry a random one). */
function pgrep(token: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', token], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** The state letter of /proc/PID/stat (R, S, T = stopped, ...), or '' when gone. */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe.skipIf(skip)('startBpftrace against real bpftrace', () => {
  let work: string;
  let getpidChild: string;

  beforeAll(async () => {
    await ensureTracefs();
    work = mkdtempSync(join(tmpdir(), 'hvscope-bt-e2e-'));
    // Waits for one byte on stdin, then calls getpid(2) five times (glibc's
    // getpid() is not cached, but syscall() makes the 5 calls certain).
    writeFileSync(
      join(work, 'getpid5.c'),
      '#include <unistd.h>\n#include <sys/syscall.h>\nint main(void){char b;if(read(0,&b,1)!=1)return 1;for(int i=0;i<5;i++)syscall(SYS_getpid);return 0;}\n',
    );
    getpidChild = join(work, 'getpid5');
    execFileSync('gcc', ['-O1', '-o', getpidChild, join(work, 'getpid5.c')]);
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('attaches, sees the events of a child we start, stops cleanly with nothing left', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const child = spawn(getpidChild, [], { stdio: ['pipe', 'ignore', 'ignore'] });
    const childExit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const messages: BpftraceMessage[] = [];
    const session = await startBpftrace({
      // The child's pid travels as $1, never inside the program text.
      program: `tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("${token} %d\\n", pid); }`,
      params: [String(child.pid)],
      onMessage: (m) => messages.push(m),
    });
    expect(session.attachedProbes).toBe(1);
    expect(alive(session.pid)).toBe(true);
    expect(pgrep(token)).toContain(session.pid);

    child.stdin!.end('x');
    expect(await childExit).toBe(0);
    await waitFor(() => messages.filter((m) => m.type === 'printf').length >= 5, 3000);
    const result = await session.stop();

    const events = messages.filter((m): m is Extract<BpftraceMessage, { type: 'printf' }> => m.type === 'printf');
    expect(events.map((e) => e.text)).toEqual(Array(5).fill(`${token} ${child.pid}\n`));
    expect(result.lostEvents).toBe(0);
    expect(result.messages).toBe(messages.length);
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(session.done).toBe(true);
    expect(alive(session.pid)).toBe(false);
    expect(pgrep(token)).toEqual([]);
    expect(liveBpftraceCount()).toBe(0);
  });

  it('with readyPrintf, resolves only after BEGIN ran (all probes attached)', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const seen: string[] = [];
    const session = await startBpftrace({
      program: `BEGIN { printf("${token}_ready\\n"); } tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("x\\n"); }`,
      params: ['1'],
      readyPrintf: `${token}_ready`,
      onMessage: (m) => m.type === 'printf' && seen.push(m.text),
    });
    expect(seen).toEqual([`${token}_ready\n`]);
    const result = await session.stop();
    expect(result.killed).toBe(false);
    expect(pgrep(token)).toEqual([]);
  });

  it('a bogus tracepoint is rejected with the mapped message and no process left', async () => {
    const token = `hvscope_no_such_${randomBytes(3).toString('hex')}`;
    const err = await startBpftrace({ program: `tracepoint:${token}:event { exit(); }` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BpftraceError);
    expect((err as BpftraceError).kind).toBe('no-tracepoint');
    expect((err as BpftraceError).message).toBe(
      `no tracepoint ${token}:event on this kernel (list what exists with \`bpftrace -l 'tracepoint:${token}:*'\`)`,
    );
    expect(pgrep(token)).toEqual([]);
  });

  it('a probe that fails to attach after attached_probes (kprobe on this kernel) rejects instead of resolving', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const started = startBpftrace({ program: `kprobe:vfs_read { printf("${token}\\n"); }` });
    const outcome = await started.then(
      async (s) => {
        await s.stop();
        return 'attached' as const;
      },
      (e: unknown) => e,
    );
    if (outcome === 'attached') {
      // A kernel with kprobe events: then attaching is right, and the check is moot.
      expect(outcome).toBe('attached');
    } else {
      expect(outcome).toBeInstanceOf(BpftraceError);
      expect((outcome as BpftraceError).kind).toBe('kprobe-unsupported');
    }
    expect(pgrep(token)).toEqual([]);
  });

  it('bpftrace not installed maps ENOENT to the apt package', async () => {
    const err = await startBpftrace({ program: 'BEGIN { exit(); }', bpftrace: 'bpftrace-not-installed-hvscope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BpftraceError);
    expect((err as BpftraceError).kind).toBe('not-installed');
    expect((err as BpftraceError).message).toContain('apt-get install -y bpftrace');
  });

  it('stop() escalates to SIGKILL when bpftrace does not exit within the grace period', async () => {
    // A stopped (SIGSTOP) bpftrace cannot act on SIGINT: it stands in for a hung one.
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const session = await startBpftrace({
      program: `tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("${token}\\n"); }`,
      params: ['1'],
      stopGraceMs: 500,
    });
    process.kill(session.pid, 'SIGSTOP');
    const t0 = Date.now();
    const result = await session.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(4000);
    expect(result.killed).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    expect(alive(session.pid)).toBe(false);
    expect(pgrep(token)).toEqual([]);
  });

  it('batchReads: bpftrace is paused between drains, every event still arrives, and it runs freely again after', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const child = spawn(getpidChild, [], { stdio: ['pipe', 'ignore', 'ignore'] });
    const childExit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const printed: string[] = [];
    const session = await startBpftrace({
      program: `tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("${token} %d %llu\\n", pid, nsecs); }`,
      params: [String(child.pid)],
      onMessage: (m) => m.type === 'printf' && printed.push(m.text),
    });
    const endBatching = session.batchReads(300);
    // stopped (SIGSTOP lands asynchronously): the kernel keeps its events meanwhile
    expect(await waitFor(() => processState(session.pid) === 'T', 1000)).toBe(true);
    const keeper = await waitFor(() => pgrep(`hvscope-bpftrace-keeper ${session.pid}`).length === 1, 2000);
    expect(keeper).toBe(true);
    const before = process.hrtime.bigint();
    child.stdin!.end('x');
    expect(await childExit).toBe(0);
    const after = process.hrtime.bigint();
    // They come with the next drain (≤ 300 ms), in order, with the times they happened.
    expect(await waitFor(() => printed.length >= 5, 3000)).toBe(true);
    const times = printed.map((t) => BigInt(t.trim().split(' ')[2]));
    expect(printed.map((t) => t.split(' ').slice(0, 2).join(' '))).toEqual(Array(5).fill(`${token} ${child.pid}`));
    for (let i = 0; i < 5; i++) {
      expect(times[i] >= before && times[i] <= after).toBe(true);
      if (i > 0) expect(times[i] >= times[i - 1]).toBe(true);
    }
    endBatching();
    expect(await waitFor(() => processState(session.pid) !== 'T', 1000)).toBe(true);
    expect(await waitFor(() => pgrep(`hvscope-bpftrace-keeper ${session.pid}`).length === 0, 2000)).toBe(true);
    const result = await session.stop();
    expect(result.lostEvents).toBe(0);
    expect(result.killed).toBe(false);
    expect(pgrep(token)).toEqual([]);
  });

  it('stop() while batching resumes bpftrace first, so it ends by SIGINT, not SIGKILL', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const session = await startBpftrace({
      program: `tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("${token}\\n"); }`,
      params: ['1'],
      stopGraceMs: 3000,
    });
    session.batchReads(10_000);
    expect(await waitFor(() => processState(session.pid) === 'T', 1000)).toBe(true);
    const result = await session.stop();
    expect(result.killed).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(pgrep(token)).toEqual([]);
    expect(await waitFor(() => pgrep(`hvscope-bpftrace-keeper ${session.pid}`).length === 0, 2000)).toBe(true);
  });

  it('an AbortSignal stops a running session', async () => {
    const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
    const ac = new AbortController();
    const session = await startBpftrace({
      program: `tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("${token}\\n"); }`,
      params: ['1'],
      signal: ac.signal,
    });
    ac.abort();
    const result = await session.exited;
    expect(result.exitCode).toBe(0);
    expect(pgrep(token)).toEqual([]);
  });
});

// Our own process dying must take bpftrace with it. The session runs in a child
// node process built from the sources with tsc; we then signal that process.
describe.skipIf(skip)('bpftrace dies with the hvscope process', () => {
  let build: string;

  beforeAll(() => {
    mkdirSync(join(repo, '.cache'), { recursive: true });
    build = mkdtempSync(join(repo, '.cache', 'e2e-bpftrace-run-'));
    chmodSync(build, 0o755); // the not-root test runs a child as nobody
    execFileSync(
      join(repo, 'node_modules', '.bin', 'tsc'),
      ['--outDir', build, '--rootDir', repo, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
        '--skipLibCheck', '--types', 'node', '--strict', join(repo, 'src/tracer/bpftrace-run.ts'), join(repo, 'src/tracer/tracefs.ts')],
      { cwd: repo, stdio: 'inherit' },
    );
    // argv: token, how to end ("SIGINT" | "SIGTERM" | "SIGKILL" | "exit" | "throw"), "batch" to pause bpftrace (batchReads) first.
    writeFileSync(
      join(build, 'child.mjs'),
      `import { startBpftrace } from './src/tracer/bpftrace-run.js';
const [token, how, batch] = process.argv.slice(2);
const s = await startBpftrace({ program: 'tracepoint:syscalls:sys_enter_getpid /pid == $1/ { printf("' + token + '\\\\n"); }', params: ['1'] });
if (batch === 'batch') {
  s.batchReads(60000);
  await new Promise((r) => setTimeout(r, 300)); // the keeper is up
}
process.stdout.write('ready ' + s.pid + '\\n');
if (how === 'exit') setTimeout(() => process.exit(3), 100);
else if (how === 'throw') setTimeout(() => { throw new Error('boom'); }, 100);
else setInterval(() => {}, 1000);
`,
    );
    writeFileSync(
      join(build, 'tracefs-child.mjs'),
      `import { ensureTracefs } from './src/tracer/tracefs.js';
try {
  const first = await ensureTracefs();
  const second = await ensureTracefs();
  process.stdout.write(JSON.stringify({ first, second }) + '\\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ error: err.message, name: err.name }) + '\\n');
}
`,
    );
  }, 120_000);
  afterAll(() => {
    if (build) rmSync(build, { recursive: true, force: true });
  });

  const cases = [
    ...(['SIGINT', 'SIGTERM', 'exit', 'throw'] as const).map((how) => ({ how, batch: false })),
    // Paused by batchReads: our handlers resume it, and for SIGKILL (no handler runs) the keeper does.
    ...(['SIGTERM', 'SIGKILL', 'exit'] as const).map((how) => ({ how, batch: true })),
  ];
  for (const { how, batch } of cases) {
    it(`on ${how}${batch ? ' while bpftrace is paused between batched reads' : ''}`, async () => {
      const token = `hvscope_e2e_${randomBytes(4).toString('hex')}`;
      const node = spawn(process.execPath, [join(build, 'child.mjs'), token, how, batch ? 'batch' : ''], { stdio: ['ignore', 'pipe', 'pipe'], cwd: repo });
      const exited = new Promise<void>((r) => node.on('exit', () => r()));
      const line = await new Promise<string>((res, rej) => {
        const rl = createInterface({ input: node.stdout! });
        rl.once('line', res);
        node.once('exit', () => rej(new Error('child exited before bpftrace attached')));
      });
      const bpftracePid = Number(line.split(' ')[1]);
      expect(alive(bpftracePid)).toBe(true);
      if (batch) expect(processState(bpftracePid)).toBe('T');
      if (how === 'SIGINT' || how === 'SIGTERM' || how === 'SIGKILL') node.kill(how);
      await exited;
      expect(await waitFor(() => !alive(bpftracePid), 5000)).toBe(true);
      expect(pgrep(token)).toEqual([]);
      expect(await waitFor(() => pgrep(`hvscope-bpftrace-keeper ${bpftracePid}`).length === 0, 2000)).toBe(true);
    });
  }

  // In a private mount namespace (unshare -m: propagation private), tracefs can be
  // unmounted without touching the host's mount.
  const noUnshare = requireOrSkip(hasCommand('unshare') && hasCommand('setpriv'), 'unshare and setpriv (util-linux)');
  it.skipIf(noUnshare)('ensureTracefs mounts a missing tracefs as root, once', () => {
    const out = execFileSync(
      'unshare',
      ['-m', 'sh', '-c', 'umount /sys/kernel/tracing 2>/dev/null; grep -c " /sys/kernel/tracing tracefs" /proc/mounts; exec "$0" "$1"', process.execPath, join(build, 'tracefs-child.mjs')],
      { encoding: 'utf8' },
    ).split('\n');
    expect(out[0]).toBe('0'); // really unmounted inside the namespace
    expect(JSON.parse(out[1])).toEqual({ first: { mounted: true, mountedNow: true }, second: { mounted: true, mountedNow: false } });
  });

  it.skipIf(noUnshare)('ensureTracefs without root says what to run', () => {
    const out = execFileSync(
      'unshare',
      ['-m', 'sh', '-c', 'umount /sys/kernel/tracing 2>/dev/null; exec setpriv --reuid=65534 --regid=65534 --clear-groups "$0" "$1"', process.execPath, join(build, 'tracefs-child.mjs')],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toEqual({
      name: 'UserError',
      error: 'tracefs is not mounted at /sys/kernel/tracing and mounting it needs root: run `sudo mount -t tracefs nodev /sys/kernel/tracing`',
    });
  });
});
