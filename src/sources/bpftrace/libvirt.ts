// probes/libvirt.bt: libvirtd creating a domain through its QEMU driver.
// libvirt and driver functions become spans from entry to return on their
// thread's lane (nested: virDomainCreateXML ⊃ qemuProcessStart ⊃ Init,
// PrepareDomain, PrepareHost, Launch ⊃ cgroup, monitor open, CPU read-back),
// each taking the phase it starts in. Every QMP command is a span on a QMP
// lane, from libvirtd's send to QEMU's reply (libvirt's monitor has one
// command in flight at a time, so a reply answers the last command sent on
// its monitor); QEMU's events are instants there. A summary span on that lane
// counts the commands by name (args), and the cumulative counters `qmp
// commands` and `qmp busy ms` on the phases lane give each phase its share.
// Evidence: libvirtd's entry into virDomainCreateXML (the orchestrator's
// request: orchestrate starts) and QEMU's reply to `cont` (the vCPUs run:
// firmware starts; under TCG there is no KVM_RUN).
import { PHASE_LANE_ID, type Args } from '../../model/trace.js';
import type { BpftraceContext } from './context.js';
import type { ProbeSetHandler } from './handler.js';
import { decodeEscapedBytes, type ProbeEvent } from './parse.js';

const SOURCE = 'bpftrace libvirt';
/** Cumulative counter of QMP commands (phases lane). */
export const QMP_COUNTER = 'qmp commands';
/** ... and of the time they were in flight (ms). */
export const QMP_BUSY_COUNTER = 'qmp busy ms';
/** bpftrace's str() reads 64 bytes: 63 characters and the NUL. */
const CHUNK = 63;

/** One QMP command as traced. */
export interface QmpCommand {
  pid: number;
  mon: string;
  name: string;
  /** Its JSON as far as traced (the first 126 bytes). */
  text: string;
  start: number;
  end?: number;
  error?: boolean;
  /** Its off=63 chunk has not been read yet. */
  awaitingChunk?: boolean;
}

interface LibvirtState {
  seen: boolean;
  createSeen: boolean;
  commands: QmpCommand[];
  /** In flight per monitor (pid:mon). */
  inFlight: Map<string, QmpCommand>;
  /** A chunked text waiting for its second chunk (events by pid:mon). */
  pendingEvent: Map<string, { at: number; text: string; lane: string }>;
  daemonPid?: number;
}

/** The command name of a QMP message (`{"execute":"qom-get",...}`). */
export function qmpCommandName(text: string): string {
  return /"execute"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? '(unparsed)';
}

/** The event name of a QMP event (`{"timestamp": {...}, "event": "RESUME"}`). */
export function qmpEventName(text: string): string {
  return /"event"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? '(unparsed event)';
}

function qmpLane(ctx: BpftraceContext, pid: number, mon: string): string {
  return ctx.b.lane(`qmp:${pid}:${mon}`, { kind: 'thread', name: `QMP monitor ${mon} (libvirtd ${pid} → QEMU)`, pid, parent: ctx.processLane(pid) });
}

/** A traced chunk as text: its bytes up to the message's terminating NUL (what follows is not the message). */
export function chunkText(escaped: string): { text: string; ended: boolean } {
  const bytes = decodeEscapedBytes(escaped);
  const nul = bytes.indexOf(0);
  return { text: bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8'), ended: nul >= 0 };
}

/** What a chunked text reads once its second chunk came (or did not): only a first chunk without the end continues. */
const joinChunks = (first: string, second: string | undefined) => (first.length >= CHUNK && second !== undefined ? first + chunkText(second).text : first);

function onSend(ev: ProbeEvent, ctx: BpftraceContext, s: LibvirtState, at: number): void {
  const key = `${ev.pid}:${ev.fields.mon}`;
  if (ctx.int(ev, 'off') !== 0) {
    // the second chunk of the command just sent (same probe hit)
    // the probe's two printfs read nsecs apart: the chunk belongs to the command just sent on this monitor
    const cmd = s.inFlight.get(key);
    if (cmd && cmd.awaitingChunk) {
      cmd.awaitingChunk = false;
      cmd.text = joinChunks(cmd.text, ev.fields.text);
      cmd.name = qmpCommandName(cmd.text);
    }
    return;
  }
  const text = chunkText(ev.fields.text).text;
  const cmd: QmpCommand = { pid: ev.pid, mon: ev.fields.mon, name: qmpCommandName(text), text, start: at, awaitingChunk: true };
  s.commands.push(cmd);
  s.inFlight.set(key, cmd);
}

function onReply(ev: ProbeEvent, ctx: BpftraceContext, s: LibvirtState, at: number): void {
  const cmd = s.inFlight.get(`${ev.pid}:${ev.fields.mon}`);
  if (!cmd) return;
  s.inFlight.delete(`${ev.pid}:${ev.fields.mon}`);
  cmd.end = at;
  cmd.error = /^\{\s*"error"/.test(chunkText(ev.fields.text).text);
  if (cmd.name === 'cont' && !cmd.error)
    ctx.b.event('libvirt-qmp-cont', at, { source: SOURCE, lane: qmpLane(ctx, cmd.pid, cmd.mon), detail: 'QMP cont answered' });
}

function flushEvent(ctx: BpftraceContext, s: LibvirtState, key: string, second?: string): void {
  const p = s.pendingEvent.get(key);
  if (!p) return;
  s.pendingEvent.delete(key);
  const text = joinChunks(p.text, second);
  ctx.b.instant(p.lane, `QMP event ${qmpEventName(text)}`, p.at, { args: { text } });
}

function onEvent(ev: ProbeEvent, ctx: BpftraceContext, s: LibvirtState): void {
  const at = ctx.at(ev);
  switch (ev.event) {
    case 'lv_fn': {
      s.seen = true;
      const lane = ctx.threadLane(ev.pid, ev.tid);
      const daemon = ev.fields.daemon === '1';
      const fn = ev.fields.fn;
      if (daemon && fn === 'virDomainCreateXML' && !s.createSeen) {
        s.createSeen = true;
        s.daemonPid = ev.pid;
        ctx.b.event('libvirt-create', at, { source: SOURCE, lane, detail: 'virDomainCreateXML in libvirtd' });
      }
      const args: Args = { side: daemon ? 'libvirtd' : 'client' };
      ctx.b.begin(lane, fn, at, { phase: 'by-time', args });
      return;
    }
    case 'lv_fn_ret':
      ctx.b.end(ctx.threadLane(ev.pid, ev.tid), ev.fields.fn, at, { ret: ctx.int(ev, 'ret') });
      return;
    case 'qmp_send':
      s.seen = true;
      return onSend(ev, ctx, s, at);
    case 'qmp_reply':
      return onReply(ev, ctx, s, at);
    case 'qmp_event': {
      const key = `${ev.pid}:${ev.fields.mon}`;
      if (ctx.int(ev, 'off') !== 0) return flushEvent(ctx, s, key, ev.fields.text);
      flushEvent(ctx, s, key);
      s.pendingEvent.set(key, { at, text: chunkText(ev.fields.text).text, lane: qmpLane(ctx, ev.pid, ev.fields.mon) });
      return;
    }
  }
}

/** Commands by name, most frequent first. */
export function qmpCounts(commands: readonly { name: string }[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const c of commands) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

function finish(ctx: BpftraceContext, s: LibvirtState): void {
  for (const key of [...s.pendingEvent.keys()]) flushEvent(ctx, s, key);
  if (!s.seen) return;
  const qemu = ctx.runs.find((r) => r.name.startsWith('qemu-system') || r.name.startsWith('qemu-kvm'));
  ctx.b.meta.hypervisor = `qemu via libvirt (QEMU driver)${qemu ? '' : ', QEMU not seen'}`;
  let busyNs = 0;
  const byMonitor = new Map<string, QmpCommand[]>();
  s.commands.forEach((c, i) => {
    const lane = qmpLane(ctx, c.pid, c.mon);
    const end = c.end ?? ctx.end;
    busyNs += end - c.start;
    const args: Args = { text: c.text.length >= 2 * CHUNK ? `${c.text}…` : c.text };
    const property = /"property"\s*:\s*"([^"]+)"/.exec(c.text)?.[1];
    if (property) args.property = property;
    if (c.end === undefined) args.unanswered = true;
    if (c.error) args.error = true;
    ctx.b.span(lane, c.name, c.start, end, { phase: 'by-time', args });
    ctx.b.counter(PHASE_LANE_ID, QMP_COUNTER, c.start, i + 1);
    ctx.b.counter(PHASE_LANE_ID, QMP_BUSY_COUNTER, c.start, busyNs / 1e6);
    byMonitor.set(lane, [...(byMonitor.get(lane) ?? []), c]);
  });
  for (const [lane, cmds] of byMonitor) {
    const last = Math.max(...cmds.map((c) => c.end ?? c.start));
    const busy = cmds.reduce((sum, c) => sum + ((c.end ?? ctx.end) - c.start), 0);
    ctx.b.span(lane, 'QMP traffic', cmds[0].start, last, {
      args: { commands: cmds.length, busy_ms: Math.round(busy / 1e3) / 1e3, ...Object.fromEntries(Object.entries(qmpCounts(cmds)).map(([k, v]) => [`count ${k}`, v])) },
    });
  }
}

export const libvirtHandler: ProbeSetHandler = {
  set: 'libvirt',
  events: {
    lv_fn: { keys: ['fn', 'daemon'] },
    lv_fn_ret: { keys: ['fn', 'ret'] },
    qmp_send: { keys: ['mon', 'off'], text: 'text' },
    qmp_reply: { keys: ['mon'], text: 'text' },
    qmp_event: { keys: ['mon', 'off'], text: 'text' },
  },
  reader(ctx) {
    const s: LibvirtState = { seen: false, createSeen: false, commands: [], inFlight: new Map(), pendingEvent: new Map() };
    return { onEvent: (ev) => onEvent(ev, ctx, s), finish: () => finish(ctx, s) };
  },
};
