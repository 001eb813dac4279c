// Importer for QEMU's trace log (`-trace EVENT -msg timestamp=on -D FILE`, the
// "log" trace backend of Debian's QEMU). Each line is `tid@sec.usec:event args`:
// the thread id, the host's realtime clock (gettimeofday) and the event's own
// format string. Lines of different threads may be slightly out of order.
//
// Evidence it reports to the builder (model/markers.ts says what each sets):
//  its first event (QEMU is running), runstate_set → running (TCG vCPU start),
//  the first kvm_vcpu_ioctl KVM_RUN (KVM), port writes to 0xf4 and 0x80 seen in
//  memory_region_ops_write / cpu_out, the last fw_cfg load of the kernel by the
//  firmware (hand-over to the kernel), runstate_set → shutdown (VM end).
import { fileError } from '../model/errors.js';
import { TraceBuilder, type ImportOptions } from '../model/builder.js';
import { describePortWrite } from '../model/markers.js';
import type { Args, Lane, Trace } from '../model/trace.js';
import { forEachLine, parseSecondsStamp } from './text-lines.js';

const LINE = /^(\d+)@(\d+)\.(\d{1,9}):([A-Za-z_][A-Za-z0-9_]*)(?: (.*))?$/;
// An untimed trace line: an event name (they all contain "_") and its arguments.
const NO_TIMESTAMP = /^[a-z][a-z0-9]*_[a-z0-9_]* \S/;

/** fw_cfg items the firmware (linuxboot option ROM, qboot) reads to load a -kernel. */
const LINUX_BOOT_KEYS = /^(kernel|initrd|initdr|cmdline|setup)_/;

/** QEMU's ShutdownCause enum (qapi/run-state.json, 7.2). */
const SHUTDOWN_CAUSES = ['none', 'host-error', 'host-qmp-quit', 'host-qmp-system-reset', 'host-signal', 'host-ui', 'guest-shutdown', 'guest-reset', 'guest-panic', 'subsystem-reset', 'snapshot-load'];

const KVM_RUN = 0xae80;
const KVM_IOCTL_NAMES: Record<number, string> = { 0xae00: 'KVM_GET_API_VERSION', 0xae01: 'KVM_CREATE_VM', 0xae03: 'KVM_CHECK_EXTENSION', 0xae41: 'KVM_CREATE_VCPU' };

/**
 * Events that can occur thousands of times per boot: summarised as one span per
 * thread (first → last occurrence, with a count) instead of one instant each.
 */
const SUMMARISED = new Set(['fw_cfg_read', 'memory_region_ops_write', 'memory_region_ops_read', 'cpu_out', 'cpu_in', 'kvm_vcpu_ioctl', 'kvm_run_exit', 'kvm_vm_ioctl', 'kvm_ioctl', 'kvm_set_user_memory', 'serial_write', 'serial_read']);

/** Events that only a vCPU thread emits (the guest made QEMU do them). */
const GUEST_DRIVEN = new Set(['fw_cfg_select', 'fw_cfg_read', 'kvm_vcpu_ioctl', 'kvm_run_exit', 'kvm_init_vcpu']);

interface Event {
  line: number;
  tid: number;
  us: number;
  /** sub-µs part in ns, when the log has more than 6 fraction digits */
  ns: number;
  event: string;
  args: string;
}

/**
 * Calls visit for each event line, in file order. Run twice by the importer (t0
 * first, then the events) so memory stays proportional to the output, not to a
 * log of millions of lines.
 */
function forEachEvent(text: string, file: string, visit: (e: Event) => void): void {
  forEachLine(text, (line, lineNo) => {
    if (line.trim().length === 0) return;
    const m = LINE.exec(line);
    if (!m) {
      const hint = NO_TIMESTAMP.test(line)
        ? 'trace line without timestamp; record with -msg timestamp=on'
        : 'not a QEMU trace log line (expected "tid@seconds.microseconds:event args")';
      throw fileError(file, lineNo, hint);
    }
    const { us, ns } = parseSecondsStamp(m[2], m[3]);
    visit({ line: lineNo, tid: Number(m[1]), us, ns, event: m[4], args: m[5] ?? '' });
  });
}

function num(text: string | undefined): number {
  if (text === undefined) return NaN;
  return text.startsWith('0x') ? parseInt(text.slice(2), 16) : Number(text);
}

const SOURCE = 'qemu-log';

/** What one pass over the log keeps while it reads events. */
class LogReader {
  readonly b: TraceBuilder;
  readonly processLane: Lane;
  readonly vmLane: Lane;
  readonly threadLanes = new Map<number, Lane>();
  readonly vcpuTids = new Set<number>();
  readonly summaries = new Map<string, { lane: string; event: string; first: number; last: number; count: number }>();
  state: { name: string; since: number } = { name: 'prelaunch', since: 0 };
  sawRunning = false;
  sawKvmRun = false;
  lastLinuxBoot?: { e: Event; key: string };
  lastPort80Value = -1;
  end = 0;

  constructor(
    readonly file: string,
    readonly t0Us: number,
    readonly mainTid: number,
    opts: ImportOptions,
  ) {
    this.b = new TraceBuilder({ source: SOURCE, clock: 'realtime', hypervisor: 'qemu', inputs: [] }, opts);
    this.b.meta.inputs = [file];
    this.b.meta.t0ClockUs = t0Us;
    this.processLane = { id: 'qemu', kind: 'process', name: `qemu (pid ${mainTid})`, pid: mainTid };
    this.vmLane = { id: 'qemu/vm', kind: 'guest', name: 'VM run state', parent: 'qemu' };
  }

  at(e: Event): number {
    return (e.us - this.t0Us) * 1000 + e.ns;
  }

  laneOf(tid: number): string {
    if (tid === this.mainTid) return this.processLane.id;
    let lane = this.threadLanes.get(tid);
    if (!lane) {
      lane = { id: `qemu/${tid}`, kind: 'thread', name: `thread ${tid}`, pid: this.mainTid, tid, parent: 'qemu' };
      this.threadLanes.set(tid, lane);
    }
    return lane.id;
  }

  instant(e: Event, name: string, args?: Args): void {
    const at = this.at(e);
    this.end = Math.max(this.end, at);
    this.b.instant(this.laneOf(e.tid), name, at, args ? { args } : {});
  }

  bad(e: Event, what: string): Error {
    return fileError(this.file, e.line, `${e.event}: ${what}: "${e.args}"`);
  }

  evidence(e: Event, detail: string) {
    return { source: SOURCE, lane: this.laneOf(e.tid), detail };
  }

  /**
   * A guest port write: 0xf4 (qemu-boot-time) always, 0x80 when its value
   * changes, and a port without a device (`unassigned`: region 'io', where the
   * address is the port) that a vocabulary row asks for (`--ready pio:PORT`).
   */
  port(e: Event, address: number, value: number, unassigned = false): void {
    // Progress codes change; a run of equal values on 0x80 is Linux's io_delay
    // (without io_delay=none), which stays in the summary span only.
    if (address === 0x80 && value === this.lastPort80Value) return;
    if (address === 0x80) this.lastPort80Value = value;
    else if (address !== 0xf4 && !(unassigned && this.b.vocabulary.forWrite('io', address, value).length > 0)) return;
    const name = describePortWrite(address, value);
    this.instant(e, name, { port: address, value });
    this.b.guestWrite('io', address, value, this.at(e), this.evidence(e, name));
  }

  summarise(e: Event): void {
    const lane = this.laneOf(e.tid);
    const key = `${lane}\u0000${e.event}`;
    const t = this.at(e);
    const s = this.summaries.get(key);
    if (s) {
      s.count++;
      if (t < s.first) s.first = t;
      if (t > s.last) s.last = t;
    } else this.summaries.set(key, { lane, event: e.event, first: t, last: t, count: 1 });
  }
}

/** Handles one event; true when it is fully handled (no generic instant or summary). */
function readEvent(r: LogReader, e: Event): boolean {
  switch (e.event) {
    case 'runstate_set': {
      const m = /current_run_state \d+ \(([\w-]+)\) new_state \d+ \(([\w-]+)\)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the run states');
      const next = m[2];
      const t = r.at(e);
      if (t >= r.state.since) r.b.span(r.vmLane.id, m[1], r.state.since, t);
      r.state = { name: next, since: t };
      r.end = Math.max(r.end, t);
      const name = `run state → ${next}`;
      r.b.instant(r.vmLane.id, name, t, { args: { state: next } });
      const ev = { source: SOURCE, lane: r.vmLane.id, detail: name };
      if (next === 'running' && !r.sawRunning) {
        r.sawRunning = true;
        r.b.event('runstate-running', t, ev);
      } else if (next === 'shutdown' || next === 'guest-panicked' || next === 'internal-error') r.b.event('vm-stop', t, ev);
      return true;
    }
    case 'qemu_system_shutdown_request': {
      const m = /reason=(\d+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the shutdown reason');
      const cause = SHUTDOWN_CAUSES[Number(m[1])] ?? `cause ${m[1]}`;
      r.instant(e, `shutdown request (${cause})`, { cause });
      return true;
    }
    case 'fw_cfg_select': {
      const m = /key 0x([0-9a-f]+) '([^']*)'/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the fw_cfg key');
      const key = m[2] === 'unknown' ? `0x${m[1]}` : m[2];
      r.instant(e, `fw_cfg ${key}`, { key: `0x${m[1]}` });
      if (LINUX_BOOT_KEYS.test(m[2])) r.lastLinuxBoot = { e, key };
      return true;
    }
    case 'fw_cfg_add_file': {
      const m = /#\d+: (\S+) \((\d+) bytes\)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the file name');
      r.instant(e, `fw_cfg add ${m[1]}`, { bytes: Number(m[2]) });
      return true;
    }
    case 'loader_write_rom': {
      // ROM names can contain spaces ("tiny.elf ELF program header segment 0").
      const m = /^(.+?): @(0x[0-9a-f]+) size=(0x[0-9a-f]+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the ROM name');
      r.instant(e, `load ROM ${m[1]}`, { address: m[2], bytes: num(m[3]) });
      return true;
    }
    case 'kvm_init_vcpu': {
      const m = /index: (\d+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the vCPU index');
      r.instant(e, `KVM vCPU ${m[1]} init`, { cpu: Number(m[1]) });
      r.vcpuTids.add(e.tid);
      return true;
    }
  }
  readDeviceEvent(r, e);
  return false;
}

/** Events that also go into a summary span: KVM ioctls and port writes. */
function readDeviceEvent(r: LogReader, e: Event): void {
  switch (e.event) {
    case 'kvm_ioctl': {
      const type = num(/type (0x[0-9a-f]+)/.exec(e.args)?.[1]);
      if (Number.isNaN(type)) throw r.bad(e, 'cannot read the ioctl type');
      if (type === 0xae01) r.instant(e, 'KVM_CREATE_VM');
      return;
    }
    case 'kvm_vcpu_ioctl': {
      const m = /cpu_index (\d+), type (0x[0-9a-f]+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read the vCPU ioctl');
      if (num(m[2]) === KVM_RUN && !r.sawKvmRun) {
        r.sawKvmRun = true;
        const name = `first KVM_RUN (vCPU ${m[1]})`;
        r.instant(e, name, { cpu: Number(m[1]) });
        r.b.event('kvm-run', r.at(e), r.evidence(e, name));
      }
      return;
    }
    case 'memory_region_ops_write': {
      const m = /addr (0x[0-9a-f]+) value (0x[0-9a-f]+) size (\d+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read address and value');
      if (/cpu -?\d+/.test(e.args) && !/cpu -1/.test(e.args) && e.tid !== r.mainTid) r.vcpuTids.add(e.tid);
      const unassigned = / name 'io'$/.test(e.args);
      if (m[3] === '1' || unassigned) r.port(e, num(m[1]), num(m[2]), unassigned);
      return;
    }
    case 'cpu_out': {
      const m = /addr (0x[0-9a-f]+)\(.\) value (\d+)/.exec(e.args);
      if (!m) throw r.bad(e, 'cannot read address and value');
      r.port(e, num(m[1]), num(m[2]));
      return;
    }
  }
}

/** Parses QEMU's trace log into a trace; t0 is the first event (QEMU's exec time is not in the log). */
export function importQemuLog(text: string, file: string, opts: ImportOptions = {}): Trace {
  let t0Us = Infinity;
  // The first event comes from QEMU's main thread (machine init), whose tid is the pid.
  let mainTid = -1;
  forEachEvent(text, file, (e) => {
    if (mainTid < 0) mainTid = e.tid;
    if (e.us < t0Us) t0Us = e.us;
  });
  if (mainTid < 0) throw fileError(file, undefined, 'no QEMU trace events in the log (was QEMU run with -trace EVENT -D FILE?)');
  const r = new LogReader(file, t0Us, mainTid, opts);
  r.b.event('qemu-log-start', 0, { source: SOURCE, lane: r.processLane.id });
  forEachEvent(text, file, (e) => {
    if (GUEST_DRIVEN.has(e.event) && e.tid !== mainTid) r.vcpuTids.add(e.tid);
    if (readEvent(r, e)) return;
    if (SUMMARISED.has(e.event)) r.summarise(e);
    else r.instant(e, e.event, { args: e.args });
  });
  if (r.lastLinuxBoot) {
    // The firmware's last fw_cfg read of the -kernel/-initrd/-append items: it
    // jumps to the kernel right after.
    const name = `firmware hands over to the kernel (last fw_cfg load: ${r.lastLinuxBoot.key})`;
    r.instant(r.lastLinuxBoot.e, name);
    r.b.event('fw-cfg-handover', r.at(r.lastLinuxBoot.e), r.evidence(r.lastLinuxBoot.e, name));
  }
  for (const s of r.summaries.values()) {
    r.b.span(s.lane, `${s.event} ×${s.count}`, s.first, s.last, { args: { event: s.event, count: s.count } });
    r.end = Math.max(r.end, s.last);
  }
  if (r.end > r.state.since) r.b.span(r.vmLane.id, r.state.name, r.state.since, r.end);
  for (const [tid, lane] of r.threadLanes) if (r.vcpuTids.has(tid)) lane.name = `vCPU thread ${tid}`;
  for (const lane of [r.processLane, r.vmLane, ...[...r.threadLanes.values()].sort((a, b) => (a.tid ?? 0) - (b.tid ?? 0))]) r.b.lane(lane.id, lane);
  return r.b.build();
}
