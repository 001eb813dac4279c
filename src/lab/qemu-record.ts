// Records one QEMU boot: QEMU's own trace log (-trace EVENT -D qemu.log, lines
// `tid@sec.usec:event args` on the host's realtime clock) and the guest's serial
// console, which the recorder timestamps line by line on the same clock.
//
// Serial capture format (serial.txt), version 1:
//   # hvscope-serial 1 clock=realtime exec_us=<µs since the epoch when QEMU was spawned>
//   <sec>.<usec> <text>
//   ...
// One record per console line, stamped when the line's first byte reached the
// host. When output stalls mid-line for more than SERIAL_STALL_SPLIT_US the part
// so far becomes its own record: x86 Linux prints "Probing EDD ... o" from its
// setup code and the rest of that line only seconds later (after decompression,
// under TCG), and each part must keep its own time. The threshold is well above
// the stalls a busy host causes by descheduling QEMU mid-line. moreutils `ts "%.s"` produces
// the same body without the header, and the importer accepts it, but stamps each
// line at its end: piping this guest through `ts` put "Probing EDD" 2.5 s late
// (at the kernel banner completing that line), inflating firmware by as much.
// A trailing \r is dropped; other bytes are kept.
import { mkdirSync, openSync, writeSync, closeSync, writeFileSync, readFileSync } from 'node:fs';
import { hostname, release } from 'node:os';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import type { Trace, TraceMeta } from '../model/trace.js';
import { mergeTraces } from '../sources/merge.js';
import { importQemuLog } from '../sources/qemu-log.js';
import { importSerial } from '../sources/serial.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const SERIAL_FORMAT_HEADER = '# hvscope-serial 1';
export const SERIAL_STALL_SPLIT_US = 200_000;

/**
 * Trace events recorded by default. Chosen to stay small (a few hundred lines per
 * boot) on QEMU 7.2: `cpu_out` never fires under TCG (port I/O goes through the
 * memory API) and `memory_region_ops_write` logs every UART byte and PCI config
 * write (~5 MB per boot), so port markers are left to KVM or to callers who ask.
 */
export const TCG_TRACE_EVENTS = ['runstate_set', 'qemu_system_shutdown_request', 'loader_write_rom', 'fw_cfg_add_file', 'fw_cfg_select'];
/** Under KVM also the VM/vCPU ioctls: KVM_CREATE_VM and the first KVM_RUN bound the toolstack phase. */
export const KVM_TRACE_EVENTS = [...TCG_TRACE_EVENTS, 'kvm_ioctl', 'kvm_vm_ioctl', 'kvm_init_vcpu', 'kvm_vcpu_ioctl'];

export interface RecordOptions {
  machine: 'pc' | 'microvm';
  kernel: string;
  initrd?: string;
  append?: string;
  outDir: string;
  accel?: 'tcg' | 'kvm';
  /** Kill QEMU (its whole process group) after this long. Default 60 s. */
  timeoutMs?: number;
  /** Guest memory in MiB (default 256). */
  memoryMiB?: number;
  /** Trace events instead of the defaults for the accelerator. */
  events?: string[];
  extraArgs?: string[];
}

export interface RecordResult {
  /** Path of QEMU's trace log. */
  qemuLog: string;
  /** Path of the timestamped serial capture. */
  serial: string;
  exitCode: number;
  /** Full command line (argv) QEMU ran with. */
  command: string[];
  /** Host CLOCK_REALTIME in µs just before QEMU was spawned: the run's t0. */
  execClockUs: number;
  /** QEMU's pid (it has exited, with its process group, when this returns). */
  pid: number;
}

/**
 * Host realtime clock in µs (what QEMU stamps its trace log with). Date.now() only has
 * ms, so this is the monotonic clock plus an offset to realtime — re-read at least once a
 * second: the two clocks part (the system clock is slewed and stepped; on the development
 * VM a process's fixed offset, performance.timeOrigin, was once 6.4 s off half an hour
 * into a run, and a boot's console then seemed to run before QEMU started).
 */
export function realtimeUs(): number {
  const mono = performance.now();
  if (!(mono - realtimeSync.atMs < 1000)) realtimeSync = syncRealtime();
  return Math.round(mono * 1000 + realtimeSync.offsetUs);
}

let realtimeSync = { atMs: -Infinity, offsetUs: 0 };

/**
 * CLOCK_REALTIME − CLOCK_MONOTONIC (bpftrace's nsecs) in µs. Synced first: a
 * bracket around realtimeUs() would also hold its sync spin, and a process
 * preempted in there put QEMU's log ms off bpftrace's events.
 */
export function realtimeMinusMonotonicUs(): number {
  realtimeUs();
  const mono = process.hrtime.bigint();
  const real = realtimeUs();
  return real - Number(mono / 1000n);
}

/**
 * Realtime − monotonic (µs), read where Date.now() ticks to a new ms: the tick lies
 * between the monotonic readings around the last two Date.now() calls. A process
 * preempted there (a loaded host) would misplace it by the preemption, so the
 * narrowest of a few brackets wins (a spin of a few ms): exact to µs.
 */
function syncRealtime(): { atMs: number; offsetUs: number } {
  const TICKS = 4;
  let best = { widthMs: Infinity, offsetUs: 0, atMs: 0 };
  let before = performance.now();
  let prev = Date.now();
  for (let ticks = 0; ticks < TICKS; ) {
    const a = performance.now();
    const now = Date.now();
    const b = performance.now();
    if (now !== prev) {
      ticks++;
      const widthMs = b - before;
      if (widthMs < best.widthMs) best = { widthMs, offsetUs: now * 1000 - ((before + b) / 2) * 1000, atMs: b };
    }
    before = a;
    prev = now;
  }
  return { atMs: best.atMs, offsetUs: best.offsetUs };
}

export function formatClockUs(us: number): string {
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}

/** QEMU argv for a direct-kernel boot with the serial console on stdio. */
export function qemuBootCommand(opts: RecordOptions, qemuLog: string): string[] {
  const accel = opts.accel ?? 'tcg';
  const events = opts.events ?? (accel === 'kvm' ? KVM_TRACE_EVENTS : TCG_TRACE_EVENTS);
  const cmd = [
    QEMU_BINARY,
    // pc: COM1 (isa-serial at 0x3f8) gets -serial; microvm has its own isa-serial
    // (machine property isa-serial=on by default), which -serial also feeds.
    '-M',
    opts.machine,
    '-accel',
    accel,
    ...(accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m',
    String(opts.memoryMiB ?? 256),
    '-smp',
    '1',
    '-nographic',
    '-nodefaults',
    '-no-user-config',
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    opts.kernel,
    ...(opts.initrd ? ['-initrd', opts.initrd] : []),
    ...(opts.append !== undefined ? ['-append', opts.append] : []),
    '-msg',
    'timestamp=on',
    '-D',
    qemuLog,
  ];
  for (const e of events) cmd.push('-trace', e);
  cmd.push(...(opts.extraArgs ?? []));
  return cmd;
}

/**
 * Boots once and waits for QEMU to exit (the guest powers off; -no-reboot turns a
 * panic or reboot into an exit too). On timeout QEMU's process group is killed and
 * a UserError is thrown; the partial files stay in outDir.
 */
export async function recordQemuBoot(opts: RecordOptions): Promise<RecordResult> {
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const qemuLog = join(outDir, 'qemu.log');
  const serial = join(outDir, 'serial.txt');
  const stderrFile = join(outDir, 'qemu.stderr.txt');
  const command = qemuBootCommand({ ...opts, kernel: resolve(opts.kernel), initrd: opts.initrd && resolve(opts.initrd) }, qemuLog);
  const timeoutMs = opts.timeoutMs ?? 60_000;

  const serialFd = openSync(serial, 'w');
  let stderrText = '';
  const execClockUs = realtimeUs();
  writeSync(serialFd, `${SERIAL_FORMAT_HEADER} clock=realtime exec_us=${execClockUs}\n`);
  // Own process group (detached), so a timeout can kill QEMU and anything it forked.
  // stdin stays an open pipe that is never written: QEMU's stdio chardev reads it.
  const child = execa(command[0], command.slice(1), {
    detached: true,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
  });
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  // QEMU runs in its own process group, so a Ctrl-C on our terminal does not reach
  // it: take it down with us on exit and on SIGINT/SIGTERM (then re-raise).
  const onParentExit = () => killGroup('SIGKILL');
  const onSignal = (signal: NodeJS.Signals) => {
    killGroup('SIGKILL');
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.kill(process.pid, signal);
  };
  process.once('exit', onParentExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const decoder = new StringDecoder('utf8');
  let pending = '';
  let pendingFirstUs = 0;
  let lastArrivalUs = execClockUs;
  const emit = (line: string, atUs: number) => {
    writeSync(serialFd, `${formatClockUs(atUs)} ${line.endsWith('\r') ? line.slice(0, -1) : line}\n`);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    const now = realtimeUs();
    if (pending.length > 0 && now - lastArrivalUs > SERIAL_STALL_SPLIT_US) {
      emit(pending, pendingFirstUs);
      pending = '';
    }
    lastArrivalUs = now;
    if (pending.length === 0) pendingFirstUs = now;
    const parts = (pending + decoder.write(chunk)).split('\n');
    pending = parts.pop() ?? '';
    for (let i = 0; i < parts.length; i++) emit(parts[i], i === 0 ? pendingFirstUs : now);
    if (pending.length > 0 && parts.length > 0) pendingFirstUs = now;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrText += chunk.toString('utf8');
  });

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup('SIGTERM');
    setTimeout(() => killGroup('SIGKILL'), 2000).unref();
  }, timeoutMs);
  let result;
  try {
    result = await child;
  } finally {
    clearTimeout(timer);
    // QEMU may have left children (helpers) in its group: make sure none survive.
    killGroup('SIGKILL');
    process.removeListener('exit', onParentExit);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    pending += decoder.end();
    if (pending.length > 0) emit(pending, pendingFirstUs);
    closeSync(serialFd);
    if (stderrText.length > 0) writeFileSync(stderrFile, stderrText);
  }
  if (result.failed && (result as { code?: string }).code === 'ENOENT')
    throw new UserError(`${QEMU_BINARY} not found: install qemu-system-x86 (Debian: apt-get install qemu-system-x86)`);
  if (timedOut) throw new UserError(`QEMU did not exit within ${timeoutMs} ms and was killed; partial recording in ${outDir}`);
  const exitCode = result.exitCode ?? -1;
  if (exitCode !== 0) {
    const why = stderrText.trim().split('\n').slice(-2).join('; ') || `signal ${result.signal ?? '?'}`;
    throw new UserError(`QEMU exited with status ${exitCode}: ${why} (recording in ${outDir})`);
  }
  return { qemuLog, serial, exitCode, command, execClockUs, pid: child.pid ?? -1 };
}

/** `qemu-system-x86_64 --version` first line, e.g. `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. */
export async function qemuVersion(): Promise<string> {
  try {
    const { stdout } = await execa(QEMU_BINARY, ['--version'], { stdin: 'ignore' });
    return stdout.split('\n')[0].trim();
  } catch {
    throw new UserError(`${QEMU_BINARY} not found: install qemu-system-x86 (Debian: apt-get install qemu-system-x86)`);
  }
}

/**
 * Imports a recording (QEMU log + serial capture) and merges both onto the exec
 * time, with the phases computed from the markers of both.
 */
export function importRecording(rec: Pick<RecordResult, 'qemuLog' | 'serial' | 'command'>, meta?: Partial<TraceMeta>): Trace {
  const log = importQemuLog(readFileSync(rec.qemuLog, 'utf8'), rec.qemuLog);
  const serialTrace = importSerial(readFileSync(rec.serial, 'utf8'), rec.serial);
  const accel = rec.command[rec.command.indexOf('-accel') + 1];
  return mergeTraces([log, serialTrace], {
    host: hostname(),
    kernel: release(),
    hypervisor: rec.command.includes('-accel') ? `qemu ${accel}` : 'qemu',
    command: rec.command,
    ...meta,
  });
}
