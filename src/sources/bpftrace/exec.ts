// probes/exec.bt: every fork, exec and exit in the workload's process tree.
// The qemu, net and xen sets print exec/exit of their own tools in the same
// layout, so this handler keeps the one process table for all of them
// (BpftraceContext.runs); when two sets print the same exec or exit, one is kept.
import { basename } from 'node:path';
import type { BpftraceContext, ProcessRun } from './context.js';
import type { ProbeSetHandler } from './handler.js';
import { decodeEscapedBytes, type ProbeEvent } from './parse.js';

/** Two sets printing the same exec or exit do so within this time (ns); under TCG over 1 ms apart. */
export const DUPLICATE_WINDOW_NS = 50_000_000;

function onExec(ev: ProbeEvent, ctx: BpftraceContext): void {
  const at = ctx.at(ev);
  const prev = ctx.current.get(ev.pid);
  const file = ev.fields.file;
  if (prev && prev.file === file && at - prev.start < DUPLICATE_WINDOW_NS && prev.end === undefined) return;
  if (prev) close(ctx, prev, at);
  const run: ProcessRun = { pid: ev.pid, start: at, name: basename(file), file, argvBytes: [] };
  ctx.runs.push(run);
  ctx.current.set(ev.pid, run);
}

function onExit(ev: ProbeEvent, ctx: BpftraceContext): void {
  const at = ctx.at(ev);
  let run = ctx.current.get(ev.pid);
  if (!run) {
    // exited without an exec in the trace (a forked shell, or the root)
    // (events come in time order, so the pid's latest end is the nearest one)
    const ended = ctx.lastEnd.get(ev.pid);
    if (ended !== undefined && at - ended < DUPLICATE_WINDOW_NS) return;
    run = { pid: ev.pid, start: ctx.forkedAt.get(ev.pid)?.at ?? 0, name: ev.fields.comm, argvBytes: [] };
    ctx.runs.push(run);
  }
  run.status = ctx.int(ev, 'status');
  run.comm = ev.fields.comm;
  close(ctx, run, at);
}

function close(ctx: BpftraceContext, run: ProcessRun, end: number): void {
  run.end = end;
  ctx.current.delete(run.pid);
  ctx.lastEnd.set(run.pid, Math.max(end, ctx.lastEnd.get(run.pid) ?? end));
}

export const execHandler: ProbeSetHandler = {
  set: 'exec',
  events: {
    fork: { keys: ['child'] },
    exec: { keys: [], text: 'file' },
    exec_args: { keys: ['off', 'len'], text: 'args' },
    exit: { keys: ['status'], text: 'comm' },
  },
  reader: (ctx) => ({ onEvent: (ev) => onEvent(ev, ctx) }),
};

function onEvent(ev: ProbeEvent, ctx: BpftraceContext): void {
    switch (ev.event) {
      case 'fork':
        ctx.forkedAt.set(ctx.int(ev, 'child'), { at: ctx.at(ev), parent: ev.pid });
        return;
      case 'exec':
        return onExec(ev, ctx);
      case 'exec_args': {
        const run = ctx.current.get(ev.pid);
        const off = ctx.int(ev, 'off');
        if (!run || run.argvBytes.length * 64 !== off) return; // duplicate chunk from a second set
        run.argvLen = ctx.int(ev, 'len');
        run.argvBytes.push(decodeEscapedBytes(ev.fields.args));
        return;
      }
      case 'exit':
        return onExit(ev, ctx);
    }
}
