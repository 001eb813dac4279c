// A private libvirtd (+ virtlogd) for `hvscope boot --via libvirt`, and
// finding the libvirtd a user already runs (`hvscope trace --probes libvirt`).
//
// A root libvirtd keeps its sockets, pid files and domain state under fixed
// paths (/run/libvirt, /var/lib/libvirt/qemu, /var/log/libvirt/qemu). Ours
// runs in its own mount namespace (unshare -m) with tmpfs over those three,
// so it cannot collide with a system libvirtd and leaves nothing behind: the
// mounts vanish with the namespace's last process. Its client socket lives in
// a directory of ours under /tmp (unix_sock_dir), which the host sees; we
// connect with qemu:///system?socket=THAT. The capability cache
// (/var/cache/libvirt/qemu) stays shared: without it each start probes QEMU
// again (~5 s here). Stopped by pid: running domains destroyed first (a QEMU
// outlives libvirtd), then libvirtd and virtlogd, SIGKILL after a grace
// period; a process 'exit' hook SIGKILLs whatever is still ours.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { pidAlive, processName } from '../tracer/processes.js';

export const LIBVIRTD = '/usr/sbin/libvirtd';
export const VIRTLOGD = '/usr/sbin/virtlogd';
const QEMU_CONF = '/etc/libvirt/qemu.conf';
/** Directories a root libvirtd writes its state to; ours gets a tmpfs over each. */
export const PRIVATE_STATE_DIRS = ['/run/libvirt', '/var/lib/libvirt/qemu', '/var/log/libvirt/qemu'] as const;
/** Constant script run in the new mount namespace; every path comes in as an argument ($1: our directory, then the state dirs). */
// Optional, from files of ours: $dir/qemu.conf is bind-mounted over the host's
// (a profile's libvirt-qemu-conf section); $dir/bridges names bridges (checked
// names, one a line) to create in the daemon's own network namespace (unshare -n).
const NAMESPACE_SCRIPT = [
  'dir="$1"; shift',
  'for d in "$@"; do mount -t tmpfs -o mode=0755 hvscope-libvirt "$d" || exit 97; done',
  `if [ -f "$dir/qemu.conf" ]; then mount --bind "$dir/qemu.conf" ${QEMU_CONF} || exit 95; fi`,
  'if [ -f "$dir/bridges" ]; then ip link set lo up || exit 96; while read -r b; do ip link add "$b" type bridge && ip link set "$b" up || exit 96; done < "$dir/bridges"; fi',
  `${VIRTLOGD} -d -p "$dir/virtlogd.pid" || exit 98`,
  `exec ${LIBVIRTD} -p "$dir/libvirtd.pid" -f "$dir/libvirtd.conf"`,
].join('\n');

export interface PrivateLibvirtd {
  /** Connection URI naming the private socket. */
  uri: string;
  libvirtdPid: number;
  virtlogdPid?: number;
  /** Our directory (config, sockets, pid files, log, domain files). */
  dir: string;
  /** libvirtd's own log (stderr). */
  log: string;
  /** Destroys running domains, stops both daemons, removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
  /** How long the first connection may take (capability probing), ms. */
  readyTimeoutMs?: number;
  /** qemu.conf text the daemon reads instead of the host's (bind-mounted in its mount namespace). */
  qemuConf?: string;
  /** Bridges to create; the daemon then runs in its own network namespace, where they live and die. */
  bridges?: string[];
}

/** What is missing for a private libvirtd, as one line; null when all is there. */
export function libvirtMissing(): string | null {
  for (const bin of [LIBVIRTD, VIRTLOGD]) if (!existsSync(bin)) return `${bin} is not installed (Debian: apt-get install libvirt-daemon-system libvirt-clients)`;
  for (const tool of ['virsh', 'unshare', 'mount'])
    if (!(process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, tool)))) return `${tool} is not on PATH${tool === 'virsh' ? ' (Debian: apt-get install libvirt-clients)' : ''}`;
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** pids of the processes whose command name is `name` (from /proc). */
export function pidsNamed(name: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) if (/^\d+$/.test(entry) && processName(Number(entry)) === name) out.push(Number(entry));
  return out.sort((a, b) => a - b);
}

/** pids of QEMU processes started for a domain of this name (`-name guest=NAME,...` in their argv). */
export function qemuPidsOfDomain(name: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if ((argv[0] ?? '').includes('qemu-system') && argv.some((a) => a === `guest=${name}` || a.startsWith(`guest=${name},`))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * libvirtd's pid for `hvscope trace --probes libvirt`: the one given (checked
 * to be a libvirtd), else the only one running; a clear error otherwise.
 */
export function findLibvirtd(given?: number): number {
  if (given !== undefined) {
    if (!Number.isSafeInteger(given) || given <= 0) throw new UserError(`--libvirtd ${given}: expected a process id`);
    const name = processName(given);
    if (name === undefined) throw new UserError(`--libvirtd ${given}: no such process`);
    if (name !== 'libvirtd') throw new UserError(`--libvirtd ${given}: that process is ${name}, not libvirtd`);
    return given;
  }
  const pids = pidsNamed('libvirtd');
  if (pids.length === 0) throw new UserError('--probes libvirt: no libvirtd runs here (start it, or use hvscope boot --via libvirt, which starts its own)');
  if (pids.length > 1) throw new UserError(`--probes libvirt: several libvirtd run here (${pids.join(', ')}); name one with --libvirtd PID`);
  return pids[0];
}

/** Runs virsh against our daemon (argv as an array, never a shell). */
export async function virsh(uri: string, args: string[], timeoutMs = 30_000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa('virsh', ['-c', uri, ...args], { reject: false, timeout: timeoutMs, stdin: 'ignore' });
  return { ok: r.exitCode === 0, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Sends SIGTERM, waits up to graceMs, then SIGKILL; only while the pid is still `name`. */
async function stopPid(pid: number | undefined, name: string, graceMs: number): Promise<void> {
  if (pid === undefined || processName(pid) !== name) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let waited = 0; waited < graceMs && pidAlive(pid) && processName(pid) === name; waited += 50) await sleep(50);
  if (pidAlive(pid) && processName(pid) === name) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Starts virtlogd and libvirtd in a private mount namespace and waits until libvirtd answers (the first call probes QEMU). */
export async function startPrivateLibvirtd(opts: StartOptions = {}): Promise<PrivateLibvirtd> {
  const missing = libvirtMissing();
  if (missing) throw new UserError(`--via libvirt: ${missing}`);
  const bridges = opts.bridges ?? [];
  const badBridge = bridges.find((b) => !/^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,14}$/.test(b));
  if (badBridge !== undefined) throw new UserError(`bridge name "${badBridge}" is not a Linux interface name`);
  const progress = opts.onProgress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-libvirt-'));
  const sockDir = join(dir, 'sock');
  mkdirSync(sockDir);
  for (const d of PRIVATE_STATE_DIRS) mkdirSync(d, { recursive: true }); // mount points (the package creates them)
  writeFileSync(join(dir, 'libvirtd.conf'), `# hvscope's private libvirtd\nunix_sock_dir = "${sockDir}"\nlisten_tls = 0\nlisten_tcp = 0\n`);
  if (opts.qemuConf !== undefined) writeFileSync(join(dir, 'qemu.conf'), opts.qemuConf, { mode: 0o644 });
  if (bridges.length > 0) writeFileSync(join(dir, 'bridges'), bridges.map((b) => `${b}\n`).join(''));
  const log = join(dir, 'libvirtd.log');
  const child = execa('unshare', ['-m', ...(bridges.length > 0 ? ['-n'] : []), '--propagation', 'private', 'sh', '-c', NAMESPACE_SCRIPT, 'hvscope-libvirtd', dir, ...PRIVATE_STATE_DIRS], {
    detached: true,
    stdin: 'ignore',
    stdout: { file: log, append: true },
    stderr: { file: log, append: true },
    reject: false,
  });
  const libvirtdPid = child.pid!;
  const uri = `qemu:///system?socket=${join(sockDir, 'libvirt-sock')}`;
  let stopped = false;
  let domains: string[] = [];
  const virtlogdPid = () => readPid(join(dir, 'virtlogd.pid'));
  // Last resort (hvscope dying): nothing of ours may outlive it.
  const onExit = () => {
    for (const name of domains) for (const pid of qemuPidsOfDomain(name)) tryKill(pid);
    if (processName(libvirtdPid) === 'libvirtd' || processName(libvirtdPid) === 'unshare' || processName(libvirtdPid) === 'sh') tryKill(libvirtdPid);
    const v = virtlogdPid();
    if (v !== undefined && processName(v) === 'virtlogd') tryKill(v);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const daemon: PrivateLibvirtd & { track(name: string): void } = {
    uri,
    libvirtdPid,
    dir,
    log,
    get virtlogdPid() {
      return virtlogdPid();
    },
    track(name: string) {
      domains.push(name);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (processName(libvirtdPid) === 'libvirtd') {
        const list = await virsh(uri, ['list', '--name'], 10_000);
        for (const name of list.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) await virsh(uri, ['destroy', name], 15_000);
      }
      await stopPid(libvirtdPid, 'libvirtd', 5000);
      await child.catch(() => undefined);
      await stopPid(virtlogdPid(), 'virtlogd', 3000);
      for (const name of domains) for (const pid of qemuPidsOfDomain(name)) tryKill(pid);
      domains = [];
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    progress(`starting a private libvirtd (pid ${libvirtdPid}, ${dir}); the first connection probes QEMU's capabilities`);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (opts.signal?.aborted) throw new UserError('interrupted while libvirtd was starting');
      if (child.exitCode !== null || !pidAlive(libvirtdPid)) {
        const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-2).join('; ') : '';
        throw new UserError(`libvirtd exited while starting${tail ? `: ${tail}` : ''}`);
      }
      if (existsSync(join(sockDir, 'libvirt-sock'))) {
        const t = Date.now();
        const v = await virsh(uri, ['version'], Math.max(1000, deadline - Date.now()));
        if (v.ok) {
          progress(`libvirtd ready (first connection ${((Date.now() - t) / 1000).toFixed(1)} s)`);
          return daemon;
        }
      }
      if (Date.now() > deadline) throw new UserError(`libvirtd did not answer within ${(opts.readyTimeoutMs ?? 60_000) / 1000} s (log: ${log})`);
      await sleep(100);
    }
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Remembers a domain name so that stop() and the exit hook also end its QEMU should libvirtd fail to. */
export function trackDomain(daemon: PrivateLibvirtd, name: string): void {
  (daemon as PrivateLibvirtd & { track?: (n: string) => void }).track?.(name);
}
