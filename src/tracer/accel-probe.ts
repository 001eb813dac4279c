// Does an accelerator (KVM, TCG) run guests here? Tried for real: QEMU boots a 64 KiB
// firmware that walks the CPU from real mode to 64-bit code, and the letters it writes
// to debugcon tell how far a broken accelerator got (a kvm_pvm /dev/kvm stops at SSE).
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { formatDuration } from '../model/duration.js';
import { UserError } from '../model/errors.js';
import type { HostCheck } from './host-checks.js';

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
