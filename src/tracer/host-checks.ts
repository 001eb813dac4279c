// Host checks behind `hvscope doctor`, each usable on its own by other commands
// (trace, boot, demo): what is installed, what actually works here, and for
// anything missing the exact package or command that fixes it.
//
// "Works" means tried for real: each bpftrace probe type attaches a tiny
// program, each QEMU accelerator boots a 64 KiB firmware that walks the CPU
// from real mode to 64-bit code (see KVM_PROBE_ASM), a network namespace is
// created and deleted.
import { formatDuration } from '../model/duration.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { BpftraceError } from './bpftrace-errors.js';
import { startBpftrace } from './bpftrace-run.js';
import { MOUNT_TRACEFS_COMMAND, TRACEFS_PATH, ensureTracefs, tracefsMounted } from './tracefs.js';

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

/**
 * Source of the accelerator probe firmware (GNU as, x86). QEMU maps a -bios
 * image at the top of 4 GiB and its last 64 KiB also at 0xF0000; the CPU starts
 * at 0xFFFFFFF0 (image offset 0xFFF0). The code walks real mode → protected
 * mode → long mode → the kernel's upper-half addresses, then uses memory, a
 * stack, CPUID, an MSR write, RDTSC and an SSE instruction — what a Linux
 * kernel does within its first microseconds — writing one letter to the
 * debugcon port 0xE9 after each step and finally exiting through
 * isa-debug-exit (status (1 << 1) | 1 = 3). The letters tell how far a broken
 * accelerator gets. Built with: gcc -c probe.S && ld -m elf_x86_64 -Ttext=0
 * --oformat binary probe.o; host-checks.test.ts re-assembles it and compares.
 */
export const KVM_PROBE_ASM = String.raw`    .code16
    .globl _start
_start:
    cli
    movb $'R', %al
    outb %al, $0xe9
    movw $0xf000, %ax
    movw %ax, %ds
    lgdtl gdtr
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(0xf0000 + start32)
    .code32
start32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movb $'P', %al
    outb %al, $0xe9
    movl $0x1000, %edi
    xorl %eax, %eax
    movl $4096, %ecx
    rep stosl
    movl $0x2003, 0x1000
    movl $0x3003, 0x2000
    movl $0x83, 0x3000
    movl $0x4003, 0x1ff8
    movl $0x3003, 0x4ff0
    movl $0x1000, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    ljmp $0x18, $(0xf0000 + start64)
    .code64
start64:
    movb $'L', %al
    outb %al, $0xe9
    movabsq $(0xffffffff800f0000 + high64), %rax
    jmp *%rax
high64:
    movb $'H', %al
    outb %al, $0xe9
    movq $0x1234567890, %rbx
    movq %rbx, 0x8000
    movq 0x8000, %rcx
    cmpq %rbx, %rcx
    jne 1f
    movb $'M', %al
    outb %al, $0xe9
    movq $0x9000, %rsp
    call fn
    movb $'S', %al
    outb %al, $0xe9
    xorl %eax, %eax
    cpuid
    movb $'C', %al
    outb %al, $0xe9
    movl $0xc0000101, %ecx
    xorl %edx, %edx
    movl $0x7000, %eax
    wrmsr
    movb $'G', %al
    outb %al, $0xe9
    rdtsc
    movb $'T', %al
    outb %al, $0xe9
    movq %cr4, %rax
    orq $0x600, %rax
    movq %rax, %cr4
    pxor %xmm0, %xmm0
    movb $'X', %al
    outb %al, $0xe9
    movb $1, %al
    outb %al, $0xf4
1:  hlt
    jmp 1b
fn: ret
    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
gdtr:
    .word gdtr - gdt - 1
    .long 0xf0000 + gdt
    .org 0xfff0
    .code16
    ljmp $0xf000, $_start
    .org 0x10000
`;

/** Assembled KVM_PROBE_ASM: the first 0x150 bytes of the image (the rest is zero but for the reset jump). */
const KVM_PROBE_CODE_HEX =
  'fab052e6e9b800f08ed8660f011648010f20c06683c8010f22c066ea22000f00080066b810008ed88ec08ed0b050e6e9' +
  'bf0010000031c0b900100000f3abc7050010000003200000c7050020000003300000c7050030000083000000c705f81f' +
  '000003400000c705f04f000003300000b8001000000f22d80f20e083c8200f22e0b9800000c00f320d000100000f300f' +
  '20c00d000000800f22c0eaa1000f001800b04ce6e948b8b1000f80ffffffffffe0b048e6e948bb907856341200000048' +
  '891c2500800000488b0c25008000004839d9754cb04de6e948c7c400900000e83f000000b053e6e931c00fa2b043e6e9' +
  'b9010100c031d2b8007000000f30b047e6e90f31b054e6e90f20e0480d000600000f22e0660fefc0b058e6e9b001e6f4' +
  'f4ebfdc38db400000000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf001f0028010f000000';
/** ljmp $0xf000, $_start at the reset vector. */
const KVM_PROBE_RESET_HEX = 'ea000000f0';

/** The 64 KiB probe firmware image. */
export function accelProbeFirmware(): Buffer {
  const image = Buffer.alloc(0x10000);
  Buffer.from(KVM_PROBE_CODE_HEX, 'hex').copy(image, 0);
  Buffer.from(KVM_PROBE_RESET_HEX, 'hex').copy(image, 0xfff0);
  return image;
}

/** What each debugcon letter means: the step completed. */
export const ACCEL_PROBE_STAGES: Record<string, string> = {
  R: 'real mode',
  P: 'protected mode',
  L: '64-bit long mode',
  H: 'upper-half (kernel) addresses',
  M: 'memory store/load',
  S: 'stack (call/ret)',
  C: 'CPUID',
  G: 'MSR write',
  T: 'RDTSC',
  X: 'SSE instruction',
};
const STAGE_ORDER = Object.keys(ACCEL_PROBE_STAGES);

export type Accel = 'kvm' | 'tcg';

export interface AccelResult {
  accel: Accel;
  ok: boolean;
  /** Letters written by the firmware, in order. */
  stages: string;
  /** Why it is unusable, when it is. */
  reason?: string;
  ms: number;
}

/** Which module provides /dev/kvm: kvm_intel, kvm_amd or kvm_pvm (PVM runs only PVM-enabled guests). */
export function kvmModule(): string | null {
  for (const m of ['kvm_intel', 'kvm_amd', 'kvm_pvm']) if (existsSync(`/sys/module/${m}`)) return m;
  return existsSync('/sys/module/kvm') ? 'kvm' : null;
}

/** Why /dev/kvm is absent, consistent with which KVM module (if any) is loaded. */
export function noDevKvmReason(module: string | null): string {
  if (module === null) return 'no /dev/kvm: no KVM module is loaded (no virtualisation extensions, or kvm_intel/kvm_amd not loaded)';
  return `no /dev/kvm, although the ${module} module is loaded (the device node is missing here, e.g. not passed into this container)`;
}

/**
 * Boots the probe firmware under `accel` (a real QEMU run, well under a
 * second when it works). KVM failures show up as "KVM internal error" on
 * stderr with the VM stopped, or as a hang: both end the run early.
 */
export async function accelWorks(accel: Accel, opts: { timeoutMs?: number; qemu?: string } = {}): Promise<AccelResult> {
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 4000;
  const done = (ok: boolean, stages: string, reason?: string): AccelResult => ({
    accel,
    ok,
    stages,
    ...(reason ? { reason } : {}),
    ms: Date.now() - started,
  });
  if (accel === 'kvm' && !existsSync('/dev/kvm')) return done(false, '', noDevKvmReason(kvmModule()));
  const dir = await mkdtemp(join(tmpdir(), 'hvscope-accel-'));
  try {
    const fw = join(dir, 'probe.bin');
    await writeFile(fw, accelProbeFirmware());
    const child = execa(
      opts.qemu ?? 'qemu-system-x86_64',
      [
        '-M', 'microvm', '-accel', accel, '-nodefaults', '-no-user-config', '-display', 'none', '-m', '16',
        '-bios', fw, '-debugcon', 'stdio', '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
      ],
      { reject: false, timeout: timeoutMs, stdin: 'ignore', forceKillAfterDelay: 1000 },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // KVM stops the VM and waits forever after an internal error: end it now.
      if (/KVM internal error|emulation failure/.test(stderr)) child.kill('SIGKILL');
    });
    const r = await child;
    const stages = String(r.stdout ?? '').replace(/[^A-Z]/g, '');
    if ((r as unknown as { code?: string }).code === 'ENOENT') return done(false, '', 'qemu-system-x86_64 is not installed');
    // isa-debug-exit: status (1 << 1) | 1.
    if (r.exitCode === 3 && stages.endsWith('X')) return done(true, stages);
    const last = stages.slice(-1);
    const nextStage = STAGE_ORDER[STAGE_ORDER.indexOf(last) + 1] ?? 'R';
    const reached = last ? `got through ${ACCEL_PROBE_STAGES[last]}, failed at ${ACCEL_PROBE_STAGES[nextStage]}` : 'never started';
    const qemuSaid = stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^(extra data|RAX|RSI|R8|R12|RIP|[CDEFGS]S |LDT|TR |GDT|IDT|CR0|DR[0-9]|EFER|Code=)/.test(l))
      .filter((l) => !/warning: host doesn't support requested feature/.test(l))
      .filter((l) => !/terminating on signal/.test(l))
      .slice(0, 2)
      .join('; ');
    const timed = r.timedOut ? `no exit within ${timeoutMs} ms` : '';
    return done(false, stages, [reached, qemuSaid, timed].filter(Boolean).join('; '));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const accelChecks = new Map<string, Promise<void>>();

/**
 * UserError unless QEMU can use `accel` here, checked before anything is built
 * or traced (`boot`, `lab xen run`). tcg always can; kvm is tried for real
 * (accelWorks boots a tiny test guest, < 1 s): /dev/kvm may exist and still not
 * run normal guests (no nested virtualisation, or a PVM-only module). Once per process.
 */
export function requireAccel(accel: Accel, qemu = 'qemu-system-x86_64'): Promise<void> {
  if (accel === 'tcg') return Promise.resolve();
  const key = `${accel} ${qemu}`;
  let check = accelChecks.get(key);
  if (!check) {
    check = accelWorks(accel, { qemu }).then((r) => {
      if (!r.ok) throw new UserError(`--accel ${accel}: KVM does not run guests on this host (${r.reason ?? 'test guest failed'}); use --accel tcg`);
    });
    accelChecks.set(key, check);
  }
  return check;
}

export async function checkAccel(accel: Accel, qemuInstalled: boolean): Promise<HostCheck> {
  const id = `accel.${accel}`;
  const name = `  accel ${accel}`;
  if (!qemuInstalled) return { id, name, status: 'missing', value: 'not tried (no QEMU)', fix: 'apt-get install -y qemu-system-x86' };
  const r = await accelWorks(accel);
  const module = accel === 'kvm' ? kvmModule() : null;
  if (r.ok) return { id, name, status: 'ok', value: `boots a 64-bit test guest (${formatDuration(r.ms * 1e6)})${module ? `, ${module}` : ''}` };
  let fix: string | undefined;
  const devKvm = existsSync('/dev/kvm');
  if (accel === 'kvm') {
    fix = !devKvm
      ? module === null
        ? 'enable VT-x/AMD-V and modprobe kvm_intel (or kvm_amd); meanwhile use --accel tcg'
        : `use --accel tcg${module === 'kvm_pvm' ? ' (kvm_pvm runs only PVM-enabled guest kernels anyway)' : ', or give this host/container the /dev/kvm device'}`
      : module === 'kvm_pvm'
        ? '/dev/kvm here is kvm_pvm, which runs only PVM-enabled guest kernels: use --accel tcg'
        : 'use --accel tcg, or enable nested virtualisation / VT-x/AMD-V for this host';
  }
  return {
    id,
    name,
    status: accel === 'kvm' ? 'warn' : 'missing',
    // The module is named only beside a /dev/kvm it provides (without one, the reason says it).
    value: `unusable: ${r.reason}${module && devKvm ? ` (${module})` : ''}`,
    ...(fix ? { fix } : {}),
  };
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
