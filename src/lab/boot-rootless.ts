// A boot without bpftrace (`hvscope boot` as a user, or without bpftrace):
// QEMU's own trace log (-trace/-D) and the serial console stamped line by line
// as it reaches hvscope (the format of src/lab/qemu-record.ts), merged on the
// realtime clock. Console lines are stamped on arrival: when hvscope is starved
// of CPU they arrive in batches, some after QEMU stopped; the model does not
// time phases from such lines (model/derive.ts), so those phases are unresolved.
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { TraceBuilder } from '../model/builder.js';
import { readyVocabulary, type ReadyRule } from '../model/ready-rule.js';
import type { Trace } from '../model/trace.js';
import { TCP_PROBE_INTERVAL_MS, startTcpProber, type TcpProber } from '../tracer/tcp-ready.js';
import { mergeTraces } from '../sources/merge.js';
import { importQemuLog } from '../sources/qemu-log.js';
import { importSerial } from '../sources/serial.js';
import { killGroup } from '../tracer/processes.js';
import { SERIAL_FORMAT_HEADER, SerialStamper, realtimeUs } from './qemu-record.js';

/**
 * The trace of a rootless boot: the serial capture and QEMU's trace log (when
 * it holds anything), merged on the realtime clock; the model derives the
 * phases from the markers of both.
 */
export function rootlessTrace(serialFile: string, logFile: string, command: string[], interrupted = false, ready?: ReadyRule, tcpReadyUs?: number): Trace {
  const vocabulary = readyVocabulary(ready);
  const parts = [importSerial(readFileSync(serialFile, 'utf8'), serialFile, { vocabulary })];
  if (existsSync(logFile) && readFileSync(logFile, 'utf8').trim().length > 0) parts.push(importQemuLog(readFileSync(logFile, 'utf8'), logFile, { vocabulary }));
  if (ready?.kind === 'tcp' && tcpReadyUs !== undefined) parts.push(tcpReadyTrace(ready, tcpReadyUs));
  const accel = command[command.indexOf('-accel') + 1];
  return mergeTraces(parts, {
    hypervisor: `qemu ${accel}`,
    command,
    recorded: `hvscope boot, rootless: QEMU trace log (${basename(logFile)}) + serial console stamped at arrival (${basename(serialFile)})${interrupted ? '; interrupted: partial' : ''}`,
    ...(ready ? { ready: ready.text } : {}),
  });
}

/** The tcp rule's answer (realtime µs) as a trace of its own, to merge with the boot's. */
function tcpReadyTrace(rule: ReadyRule & { kind: 'tcp' }, atUs: number): Trace {
  const b = new TraceBuilder({ source: 'hvscope tcp probe', clock: 'realtime', t0ClockUs: atUs }, { vocabulary: readyVocabulary(rule) });
  const lane = b.lane('hvscope', { kind: 'process', name: 'hvscope', pid: process.pid });
  const detail = `${rule.host}:${rule.port} answered (${TCP_PROBE_INTERVAL_MS} ms probe)`;
  b.instant(lane, detail, 0);
  b.event('tcp-ready', 0, { source: 'hvscope tcp probe', lane, detail });
  return b.build();
}

/**
 * One boot without bpftrace: QEMU's trace log plus the serial console stamped
 * per line (the format of src/lab/qemu-record.ts), merged on the realtime clock.
 */
export async function recordRootless(
  command: string[],
  logFile: string,
  serialFile: string,
  timeoutMs: number,
  signal?: AbortSignal,
  ready?: ReadyRule,
): Promise<{ trace: Trace; exitCode: number; partial: boolean; interrupted: boolean; timedOut: boolean; stderrTail: string[] }> {
  const serialFd = openSync(serialFile, 'w');
  const execUs = realtimeUs();
  writeSync(serialFd, `${SERIAL_FORMAT_HEADER} clock=realtime exec_us=${execUs}\n`);
  // Own process group, ended as a whole; stdin an open pipe (QEMU's stdio chardev reads it).
  const child = execa(command[0], command.slice(1), { detached: true, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false });
  const onExit = () => killGroup(child.pid, 'SIGKILL');
  process.once('exit', onExit);
  // Lines stamped at their first byte's arrival; a stall mid-line (the console pause) starts a new record.
  const stamper = new SerialStamper((record) => writeSync(serialFd, record));
  child.stdout?.on('data', (chunk: Buffer) => stamper.data(chunk, realtimeUs()));
  const stderrTail: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) stderrTail.push(line.trim());
    stderrTail.splice(0, Math.max(0, stderrTail.length - 20));
  });
  let interrupted = false;
  let timedOut = false;
  const end = (why: 'abort' | 'timeout') => {
    if (why === 'abort') interrupted = true;
    else timedOut = true;
    killGroup(child.pid, 'SIGTERM');
    setTimeout(() => killGroup(child.pid, 'SIGKILL'), 2000).unref();
  };
  const timer = setTimeout(() => end('timeout'), timeoutMs);
  // --ready tcp: the answer's time on the realtime clock of the serial stamps (monotonic + offset sampled now).
  const realMinusMonoUs = realtimeUs() - Number(process.hrtime.bigint() / 1000n);
  const prober: TcpProber | undefined = ready?.kind === 'tcp' ? startTcpProber({ host: ready.host, port: ready.port }) : undefined;
  const onAbort = () => end('abort');
  signal?.addEventListener('abort', onAbort, { once: true });
  let result;
  try {
    result = await child;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    killGroup(child.pid, 'SIGKILL');
    await prober?.stop();
    process.removeListener('exit', onExit);
    stamper.end();
    closeSync(serialFd);
  }
  if ((result as { code?: string }).code === 'ENOENT') throw new UserError(`${command[0]} not found: install qemu-system-x86 (apt-get install qemu-system-x86)`);
  const tcpReadyUs = prober?.readyMonotonicNs !== undefined ? Number(prober.readyMonotonicNs / 1000n) + realMinusMonoUs : undefined;
  const trace = rootlessTrace(serialFile, logFile, command, interrupted, ready, tcpReadyUs);
  const exitCode = result.exitCode ?? 128 + (result.signal === 'SIGKILL' ? 9 : 15);
  return { trace, exitCode, partial: interrupted || timedOut, interrupted, timedOut, stderrTail };
}
