// Host checks behind `hvscope doctor`, each usable on its own by other commands
// (trace, boot, demo): what is installed, what actually works here, and for
// anything missing the exact package or command that fixes it.
//
// "Works" means tried for real: each bpftrace probe type attaches a tiny
// program, each QEMU accelerator boots a 64 KiB firmware that walks the CPU
// from real mode to 64-bit code (accel-probe.ts), a network namespace is
// created and deleted.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { execa } from 'execa';
import { BpftraceError } from './bpftrace-errors.js';
import { startBpftrace } from './bpftrace-run.js';
import { MOUNT_TRACEFS_COMMAND, TRACEFS_PATH, ensureTracefs, tracefsMounted } from './tracefs.js';
import { checkAccel } from './accel-probe.js';

export type CheckStatus = 'ok' | 'warn' | 'missing';

export interface HostCheck {
  /** Stable key, e.g. "bpftrace", "probe.kprobe", "accel.kvm". */
  id: string;
  /** Human label for the table. */
  name: string;
  status: CheckStatus;
  /** What was seen (version, path, reason). */
  value: string;
  /** For warn/missing: the exact command or package that fixes it, when one does. */
  fix?: string;
}

/** bpftrace 0.17 (Debian 12) is the oldest release hvscope supports. */
export const MIN_BPFTRACE = [0, 17, 0] as const;

interface CommandResult {
  ok: boolean;
  exitCode?: number;
  stdout: string;
  stderr: string;
  notFound: boolean;
  timedOut: boolean;
}

async function runCommand(file: string, args: string[], timeoutMs = 5000): Promise<CommandResult> {
  const r = await execa(file, args, { reject: false, timeout: timeoutMs, stdin: 'ignore', all: false });
  const code = (r as unknown as { code?: string }).code;
  return {
    ok: r.exitCode === 0 && !r.failed,
    exitCode: r.exitCode,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? ''),
    notFound: code === 'ENOENT',
    timedOut: Boolean(r.timedOut),
  };
}

// ---------------------------------------------------------------- root

export function isRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

export function checkRoot(): HostCheck {
  const root = isRoot();
  return {
    id: 'root',
    name: 'root',
    status: root ? 'ok' : 'missing',
    value: root ? 'yes (euid 0)' : `no (euid ${process.geteuid?.() ?? '?'})`,
    ...(root ? {} : { fix: 'run hvscope as root: sudo hvscope ...' }),
  };
}

// ---------------------------------------------------------------- bpftrace

/** "bpftrace v0.17.0" → "0.17.0"; also "bpftrace v0.21.2-12-gabc" → "0.21.2". */
export function parseBpftraceVersion(text: string): string | null {
  const m = text.match(/bpftrace\s+v?(\d+\.\d+(?:\.\d+)?)/i);
  return m ? m[1] : null;
}

export function compareVersions(a: string, b: readonly number[] | string): number {
  const pa = a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = typeof b === 'string' ? b.split('.').map((x) => parseInt(x, 10) || 0) : [...b];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Installed bpftrace version ("0.17.0"), or null when bpftrace is not installed. */
export async function bpftraceVersion(): Promise<string | null> {
  const r = await runCommand('bpftrace', ['--version']);
  if (r.notFound) return null;
  return parseBpftraceVersion(r.stdout + r.stderr);
}

export async function checkBpftrace(): Promise<HostCheck> {
  const version = await bpftraceVersion();
  if (version === null) {
    return { id: 'bpftrace', name: 'bpftrace', status: 'missing', value: 'not installed', fix: 'apt-get install -y bpftrace' };
  }
  const old = compareVersions(version, MIN_BPFTRACE) < 0;
  return {
    id: 'bpftrace',
    name: 'bpftrace',
    status: old ? 'warn' : 'ok',
    value: `v${version}`,
    ...(old ? { fix: `bpftrace ${MIN_BPFTRACE.join('.')} or newer is needed (Debian 12+: apt-get install -y bpftrace)` } : {}),
  };
}

export type ProbeType = 'tracepoint' | 'uprobe' | 'kprobe';

export interface ProbeAttachResult {
  type: ProbeType;
  ok: boolean;
  /** The probe tried. */
  probe: string;
  /** Why it failed (mapped bpftrace error), when it did. */
  reason?: string;
}

const READY = 'hvscope-doctor-ready';

/** A shared library our own process has mapped (libc), a uprobe target that surely exists. */
async function libcPath(): Promise<string | null> {
  try {
    const maps = await readFile('/proc/self/maps', 'utf8');
    const m = maps.match(/(\/\S*\/libc(?:-[\d.]+)?\.so(?:\.\d+)?)\s*$/m);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

/**
 * Tries to attach one probe of `type` next to a BEGIN block. bpftrace runs
 * BEGIN only after attaching every probe, so seeing its printf (and a probe
 * count of 2: 0.17 silently drops a uprobe whose symbol is missing) proves
 * the probe attached.
 */
export async function probeTypeAttaches(type: ProbeType, timeoutMs = 10_000): Promise<ProbeAttachResult> {
  let probe: string;
  if (type === 'tracepoint') probe = 'tracepoint:syscalls:sys_enter_getpid';
  else if (type === 'kprobe') probe = 'kprobe:vfs_read';
  else {
    const lib = await libcPath();
    if (!lib) return { type, ok: false, probe: 'uprobe:libc:getpid', reason: 'could not find libc in /proc/self/maps' };
    probe = `uprobe:${lib}:getpid`;
  }
  // The probe path comes from /proc/self/maps, not from a user; it is still
  // checked to be a plain path so nothing odd reaches the program text.
  if (!/^[A-Za-z0-9_:/.+-]+$/.test(probe)) return { type, ok: false, probe, reason: 'unexpected characters in probe path' };
  const program = `${probe} { } BEGIN { printf("${READY}\\n"); exit(); }`;
  try {
    const session = await startBpftrace({ program, readyPrintf: READY, attachTimeoutMs: timeoutMs, stopGraceMs: 2000 });
    const attached = session.attachedProbes;
    await Promise.race([session.exited, new Promise((r) => setTimeout(r, 3000))]);
    await session.stop();
    if (attached < 2) return { type, ok: false, probe, reason: `bpftrace attached ${attached} of 2 probes (the ${type} was dropped)` };
    return { type, ok: true, probe };
  } catch (err) {
    const reason = err instanceof BpftraceError || err instanceof Error ? err.message : String(err);
    return { type, ok: false, probe, reason };
  }
}

export async function checkProbeType(type: ProbeType, bpftraceInstalled: boolean): Promise<HostCheck> {
  const id = `probe.${type}`;
  const name = `  ${type} probes`;
  if (!bpftraceInstalled) return { id, name, status: 'missing', value: 'not tried (no bpftrace)', fix: 'apt-get install -y bpftrace' };
  const r = await probeTypeAttaches(type);
  if (r.ok) return { id, name, status: 'ok', value: `attach (${r.probe})` };
  let fix: string | undefined;
  if (/tracefs/.test(r.reason ?? '')) fix = MOUNT_TRACEFS_COMMAND;
  else if (/root/.test(r.reason ?? '')) fix = 'run hvscope as root';
  else if (type === 'kprobe') fix = 'none needed: hvscope probes use tracepoints and uprobes';
  return { id, name, status: type === 'kprobe' ? 'warn' : 'missing', value: `do not attach: ${r.reason}`, ...(fix ? { fix } : {}) };
}

// ---------------------------------------------------------------- kernel facilities

export async function checkTracefs(options: { mount: boolean } = { mount: true }): Promise<HostCheck> {
  const base = { id: 'tracefs', name: 'tracefs' };
  if (await tracefsMounted()) return { ...base, status: 'ok', value: `mounted at ${TRACEFS_PATH}` };
  if (!options.mount || !isRoot()) {
    return { ...base, status: 'missing', value: `not mounted at ${TRACEFS_PATH}`, fix: `sudo ${MOUNT_TRACEFS_COMMAND}` };
  }
  try {
    await ensureTracefs();
    return { ...base, status: 'ok', value: `mounted at ${TRACEFS_PATH} (was missing; mounted it now)` };
  } catch (err) {
    return {
      ...base,
      status: 'missing',
      value: `not mounted, and mounting failed: ${(err as Error).message}`,
      fix: MOUNT_TRACEFS_COMMAND,
    };
  }
}

export function btfPresent(): boolean {
  return existsSync('/sys/kernel/btf/vmlinux');
}

export function checkBtf(): HostCheck {
  const ok = btfPresent();
  return {
    id: 'btf',
    name: 'kernel BTF',
    status: ok ? 'ok' : 'missing',
    value: ok ? '/sys/kernel/btf/vmlinux' : 'no /sys/kernel/btf/vmlinux',
    ...(ok ? {} : { fix: 'boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian/Ubuntu stock kernels: apt-get install -y linux-image-amd64)' }),
  };
}

// ---------------------------------------------------------------- QEMU

/** "QEMU emulator version 7.2.22 (Debian ...)" → "7.2.22". */
export function parseQemuVersion(text: string): string | null {
  const m = text.match(/QEMU emulator version (\d+\.\d+(?:\.\d+)?)/);
  return m ? m[1] : null;
}

export async function qemuVersion(binary = 'qemu-system-x86_64'): Promise<string | null> {
  const r = await runCommand(binary, ['--version']);
  if (r.notFound) return null;
  return parseQemuVersion(r.stdout);
}

export async function checkQemu(): Promise<HostCheck> {
  const v = await qemuVersion();
  return v === null
    ? { id: 'qemu', name: 'qemu-system-x86_64', status: 'missing', value: 'not installed', fix: 'apt-get install -y qemu-system-x86' }
    : { id: 'qemu', name: 'qemu-system-x86_64', status: 'ok', value: `v${v}` };
}

// ---------------------------------------------------------------- Xen

export interface XenState {
  /** Path of xl, when installed. */
  xl: string | null;
  /** xen_version from `xl info`, when the hypervisor answers. */
  version: string | null;
  /** Tools version from Debian's /usr/lib/xen-X.Y layout, when found. */
  toolsVersion: string | null;
  /** First line of `xl info`'s error, when it failed. */
  xlError: string | null;
  /** /sys/hypervisor/type contents ("xen" under Xen). */
  hypervisorType: string | null;
  procXen: boolean;
}

export function parseXlInfo(text: string): { version: string | null } {
  const major = text.match(/^xen_major\s*:\s*(\d+)/m)?.[1];
  const minor = text.match(/^xen_minor\s*:\s*(\d+)/m)?.[1];
  const extra = text.match(/^xen_extra\s*:\s*(\S+)/m)?.[1] ?? '';
  const version = text.match(/^xen_version\s*:\s*(\S+)/m)?.[1] ?? (major && minor ? `${major}.${minor}${extra}` : null);
  return { version };
}

export async function xenState(): Promise<XenState> {
  const which = await runCommand('sh', ['-c', 'command -v xl'], 2000);
  const xl = which.ok ? which.stdout.trim() || null : null;
  let version: string | null = null;
  let xlError: string | null = null;
  if (xl) {
    const info = await runCommand(xl, ['info'], 3000);
    if (info.ok) version = parseXlInfo(info.stdout).version;
    else xlError = (info.stderr || info.stdout).trim().split('\n')[0]?.replace(/^ERROR:\s*/, '') || null;
  }
  let toolsVersion: string | null = null;
  try {
    const dirs = (await readdir('/usr/lib')).filter((d) => /^xen-\d+\.\d+$/.test(d) && existsSync(`/usr/lib/${d}/bin/xl`));
    toolsVersion = dirs.length ? dirs.sort().at(-1)!.slice(4) : null;
  } catch {
    toolsVersion = null;
  }
  let hypervisorType: string | null = null;
  try {
    hypervisorType = (await readFile('/sys/hypervisor/type', 'utf8')).trim() || null;
  } catch {
    hypervisorType = null;
  }
  return { xl, version, toolsVersion, xlError, hypervisorType, procXen: existsSync('/proc/xen') };
}

export async function checkXen(): Promise<HostCheck[]> {
  const s = await xenState();
  const tools: HostCheck = s.xl
    ? {
        id: 'xen.xl',
        name: 'Xen tools (xl)',
        status: 'ok',
        value: s.version
          ? `${s.xl}, Xen ${s.version}`
          : `${s.xl}${s.toolsVersion ? ` (tools ${s.toolsVersion})` : ''}; xl info: ${s.xlError ?? 'failed'}`,
      }
    : { id: 'xen.xl', name: 'Xen tools (xl)', status: 'missing', value: 'not installed', fix: 'apt-get install -y xen-utils-common xen-utils-4.17 (or xen-system-amd64 for the hypervisor too)' };
  const underXen = s.hypervisorType === 'xen' || s.procXen;
  const hyp: HostCheck = underXen
    ? { id: 'xen.hypervisor', name: 'Xen hypervisor', status: 'ok', value: `running (${[s.hypervisorType && `/sys/hypervisor/type=${s.hypervisorType}`, s.procXen && '/proc/xen'].filter(Boolean).join(', ')})` }
    : {
        id: 'xen.hypervisor',
        name: 'Xen hypervisor',
        status: 'missing',
        value: `not running (${s.hypervisorType ? `/sys/hypervisor/type=${s.hypervisorType}` : 'no /sys/hypervisor/type'}, no /proc/xen)`,
        fix: 'boot the host under Xen (apt-get install -y xen-system-amd64, reboot into the Xen entry), or use `hvscope lab xen` (Xen inside QEMU)',
      };
  return [tools, hyp];
}

// ---------------------------------------------------------------- network namespaces, gcc

/** Creates and deletes a uniquely named network namespace; true when both work. */
export async function netnsWorks(): Promise<{ ok: boolean; reason?: string }> {
  const name = `hvscope-doctor-${process.pid}-${randomBytes(3).toString('hex')}`;
  const add = await runCommand('ip', ['netns', 'add', name], 5000);
  if (add.notFound) return { ok: false, reason: 'ip (iproute2) is not installed' };
  try {
    if (!add.ok) return { ok: false, reason: (add.stderr.trim().split('\n')[0] || `ip netns add exited ${add.exitCode}`) };
    const list = await runCommand('ip', ['netns', 'list'], 5000);
    if (!list.stdout.split('\n').some((l) => l.split(/\s/)[0] === name)) return { ok: false, reason: 'created namespace not listed' };
    return { ok: true };
  } finally {
    // Always delete, even when a later step failed ("ip netns del" on a name that
    // does not exist is harmless).
    if (add.ok) await runCommand('ip', ['netns', 'delete', name], 5000);
  }
}

export async function checkNetns(): Promise<HostCheck> {
  const r = await netnsWorks();
  if (r.ok) return { id: 'netns', name: 'ip netns', status: 'ok', value: 'create + delete work' };
  const fix = /not installed/.test(r.reason ?? '') ? 'apt-get install -y iproute2' : isRoot() ? undefined : 'run hvscope as root';
  return { id: 'netns', name: 'ip netns', status: 'missing', value: `unusable: ${r.reason}`, ...(fix ? { fix } : {}) };
}

/** "gcc (Debian 12.2.0-14) 12.2.0" → "12.2.0". */
export function parseGccVersion(text: string): string | null {
  const first = text.split('\n')[0] ?? '';
  const m = first.match(/(\d+\.\d+\.\d+)\s*$/) ?? first.match(/(\d+\.\d+(?:\.\d+)?)/);
  return m ? m[1] : null;
}

export async function checkGcc(): Promise<HostCheck> {
  const r = await runCommand('gcc', ['--version']);
  if (r.notFound) return { id: 'gcc', name: 'gcc', status: 'missing', value: 'not installed (needed to build guests)', fix: 'apt-get install -y gcc' };
  const v = parseGccVersion(r.stdout);
  return { id: 'gcc', name: 'gcc', status: 'ok', value: v ? `v${v}` : r.stdout.split('\n')[0] };
}

// ---------------------------------------------------------------- all together

/**
 * Runs every check, in parallel where independent. tracefs is settled first
 * (mounted when missing and we are root) because tracepoint probes need it.
 */
export async function runHostChecks(): Promise<HostCheck[]> {
  const tracefsP = checkTracefs();
  const bpftraceP = checkBpftrace();
  const qemuP = checkQemu();
  const [tracefs, bpftrace, qemu] = await Promise.all([tracefsP, bpftraceP, qemuP]);
  const bpftraceInstalled = bpftrace.value !== 'not installed';
  const qemuInstalled = qemu.status !== 'missing';
  // bpftrace compiles are CPU-heavy; QEMU probes are short. Run the groups side by side.
  const [probes, accels, xen, netns, gcc] = await Promise.all([
    Promise.all((['tracepoint', 'uprobe', 'kprobe'] as const).map((t) => checkProbeType(t, bpftraceInstalled))),
    Promise.all((['kvm', 'tcg'] as const).map((a) => checkAccel(a, qemuInstalled))),
    checkXen(),
    checkNetns(),
    checkGcc(),
  ]);
  return [checkRoot(), bpftrace, ...probes, tracefs, checkBtf(), qemu, ...accels, ...xen, netns, gcc];
}
