// Importer for QEMU's trace log (`-trace EVENT -msg timestamp=on -D FILE`, the
// "log" trace backend of Debian's QEMU). Each line is `tid@sec.usec:event args`:
// the thread id, the host's realtime clock (gettimeofday) and the event's own
// format string. Lines of different threads may be slightly out of order.
//
// Phase markers taken from it (see merge.ts for how they become phases):
//  runstate_set → running (TCG vCPU start), first kvm_vcpu_ioctl KVM_RUN (KVM),
//  port writes to 0xf4 (qemu-boot-time codes) and 0x80 (debug-port ranges) seen in
//  memory_region_ops_write / cpu_out, the last fw_cfg load of the kernel by the
//  firmware (handover to the kernel), runstate_set → shutdown (VM end).
import { fileError } from '../model/errors.js';
import { forEachLine, parseSecondsStamp } from './text-lines.js';
import { emptyTrace, type Args, type Instant, type Lane, type Span, type Trace } from '../model/trace.js';
import { MARKER_RANK, markerArgs, withBootPhases, type MarkerKind } from './merge.js';

const LINE = /^(\d+)@(\d+)\.(\d{1,9}):([A-Za-z_][A-Za-z0-9_]*)(?: (.*))?$/;
// An untimed trace line: an event name (they all contain "_") and its arguments.
const NO_TIMESTAMP = /^[a-z][a-z0-9]*_[a-z0-9_]* \S/;

/** qemu-boot-time's port 0xf4 codes (docs/references.md#qemu-boot-time) and what they mark. */
const PORT_F4_CODES: Record<number, { name: string; marker?: MarkerKind; rank?: number }> = {
  1: { name: 'fw_start', marker: 'firmware', rank: MARKER_RANK.exact },
  2: { name: 'linux_start_fwcfg' },
  // "before the jump to the Linux kernel": kernel entry when code 6 is missing.
  3: { name: 'linux_start_boot', marker: 'kernel-start', rank: MARKER_RANK.hypervisor },
  4: { name: 'linux_start_pvhboot', marker: 'kernel-start', rank: MARKER_RANK.hypervisor },
  5: { name: 'fw_do_boot' },
  6: { name: 'linux_start_kernel', marker: 'kernel-start', rank: MARKER_RANK.exact },
  7: { name: 'linux_start_user', marker: 'user-start', rank: MARKER_RANK.exact },
};

/** Cloud Hypervisor's debug port 0x80 value ranges. */
function port80Marker(value: number): { range: string; marker?: MarkerKind } {
  if (value <= 0x1f) return { range: 'firmware', marker: 'firmware' };
  if (value <= 0x3f) return { range: 'bootloader' };
  if (value <= 0x5f) return { range: 'kernel', marker: 'kernel-start' };
  if (value <= 0x7f) return { range: 'userspace', marker: 'user-start' };
  return { range: 'other' };
}

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

/** Parses QEMU's trace log into a trace; t0 is the first event (QEMU's exec time is not in the log). */
export function importQemuLog(text: string, file: string): Trace {
  const trace = emptyTrace({ source: 'qemu-log', clock: 'realtime', inputs: [file], hypervisor: 'qemu' });
  let t0Us = Infinity;
  // The first event comes from QEMU's main thread (machine init), whose tid is the pid.
  let mainTid = -1;
  forEachEvent(text, file, (e) => {
    if (mainTid < 0) mainTid = e.tid;
    if (e.us < t0Us) t0Us = e.us;
  });
  if (mainTid < 0) throw fileError(file, undefined, 'no QEMU trace events in the log (was QEMU run with -trace EVENT -D FILE?)');
  trace.meta.t0ClockUs = t0Us;
  const at = (e: Event) => (e.us - t0Us) * 1000 + e.ns;

  const processLane: Lane = { id: 'qemu', kind: 'process', name: `qemu (pid ${mainTid})`, pid: mainTid };
  const vmLane: Lane = { id: 'qemu/vm', kind: 'guest', name: 'VM run state', parent: 'qemu' };
  const threadLanes = new Map<number, Lane>();
  const vcpuTids = new Set<number>();
  const laneOf = (tid: number): string => {
    if (tid === mainTid) return processLane.id;
    let lane = threadLanes.get(tid);
    if (!lane) {
      lane = { id: `qemu/${tid}`, kind: 'thread', name: `thread ${tid}`, pid: mainTid, tid, parent: 'qemu' };
      threadLanes.set(tid, lane);
    }
    return lane.id;
  };

  const instants: Instant[] = [];
  const spans: Span[] = [];
  const summaries = new Map<string, { lane: string; event: string; first: number; last: number; count: number }>();
  const instant = (e: Event, name: string, args?: Args) => instants.push({ lane: laneOf(e.tid), name, at: at(e), ...(args ? { args } : {}) });
  const bad = (e: Event, what: string) => fileError(file, e.line, `${e.event}: ${what}: "${e.args}"`);

  let state: { name: string; since: number } = { name: 'prelaunch', since: 0 };
  let sawRunning = false;
  let sawKvmRun = false;
  let lastLinuxBootLoad: Event | undefined;
  let lastLinuxBootKey = '';
  let lastPort80Value = -1;

  const port = (e: Event, address: number, value: number) => {
    if (address === 0xf4) {
      const code = PORT_F4_CODES[value];
      instant(e, `port 0xf4: ${code ? code.name : `value ${value}`}`, {
        port: 0xf4,
        value,
        ...(code?.marker ? markerArgs(code.marker, 'port 0xf4', code.rank ?? MARKER_RANK.exact) : {}),
      });
    } else if (address === 0x80 && value !== lastPort80Value) {
      // Progress codes change; a run of equal values is Linux's io_delay writing
      // to 0x80 (without io_delay=none), which stays in the summary span only.
      lastPort80Value = value;
      const { range, marker } = port80Marker(value);
      instant(e, `port 0x80: ${range} 0x${value.toString(16)}`, {
        port: 0x80,
        value,
        ...(marker ? markerArgs(marker, 'port 0x80', MARKER_RANK.hypervisor) : {}),
      });
    }
  };

  forEachEvent(text, file, (e) => {
    if (GUEST_DRIVEN.has(e.event) && e.tid !== mainTid) vcpuTids.add(e.tid);
    switch (e.event) {
      case 'runstate_set': {
        const m = /current_run_state \d+ \(([\w-]+)\) new_state \d+ \(([\w-]+)\)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the run states');
        const next = m[2];
        const t = at(e);
        if (t >= state.since) spans.push({ lane: vmLane.id, name: m[1], start: state.since, end: t });
        state = { name: next, since: t };
        let marker: Args = {};
        if (next === 'running' && !sawRunning) {
          sawRunning = true;
          marker = markerArgs('vcpu-run', 'runstate_set', MARKER_RANK.hypervisor);
        } else if (next === 'shutdown' || next === 'guest-panicked' || next === 'internal-error') {
          marker = markerArgs('end', 'runstate_set', MARKER_RANK.hypervisor);
        }
        instants.push({ lane: vmLane.id, name: `run state → ${next}`, at: t, args: { state: next, ...marker } });
        return;
      }
      case 'qemu_system_shutdown_request': {
        const m = /reason=(\d+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the shutdown reason');
        const cause = SHUTDOWN_CAUSES[Number(m[1])] ?? `cause ${m[1]}`;
        instant(e, `shutdown request (${cause})`, { cause });
        return;
      }
      case 'fw_cfg_select': {
        const m = /key 0x([0-9a-f]+) '([^']*)'/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the fw_cfg key');
        const key = m[2] === 'unknown' ? `0x${m[1]}` : m[2];
        instant(e, `fw_cfg ${key}`, { key: `0x${m[1]}` });
        if (LINUX_BOOT_KEYS.test(m[2])) {
          lastLinuxBootLoad = e;
          lastLinuxBootKey = key;
        }
        return;
      }
      case 'fw_cfg_add_file': {
        const m = /#\d+: (\S+) \((\d+) bytes\)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the file name');
        instant(e, `fw_cfg add ${m[1]}`, { bytes: Number(m[2]) });
        return;
      }
      case 'loader_write_rom': {
        // ROM names can contain spaces ("tiny.elf ELF program header segment 0").
        const m = /^(.+?): @(0x[0-9a-f]+) size=(0x[0-9a-f]+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the ROM name');
        instant(e, `load ROM ${m[1]}`, { address: m[2], bytes: num(m[3]) });
        return;
      }
      case 'kvm_ioctl': {
        const type = num(/type (0x[0-9a-f]+)/.exec(e.args)?.[1]);
        if (Number.isNaN(type)) throw bad(e, 'cannot read the ioctl type');
        if (type === 0xae01) instant(e, 'KVM_CREATE_VM');
        break;
      }
      case 'kvm_init_vcpu': {
        const m = /index: (\d+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the vCPU index');
        instant(e, `KVM vCPU ${m[1]} init`, { cpu: Number(m[1]) });
        vcpuTids.add(e.tid);
        return;
      }
      case 'kvm_vcpu_ioctl': {
        const m = /cpu_index (\d+), type (0x[0-9a-f]+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read the vCPU ioctl');
        if (num(m[2]) === KVM_RUN && !sawKvmRun) {
          sawKvmRun = true;
          instant(e, `first KVM_RUN (vCPU ${m[1]})`, { cpu: Number(m[1]), ...markerArgs('vcpu-run', 'kvm_vcpu_ioctl KVM_RUN', MARKER_RANK.exact) });
        }
        break;
      }
      case 'memory_region_ops_write': {
        const m = /addr (0x[0-9a-f]+) value (0x[0-9a-f]+) size (\d+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read address and value');
        if (/cpu -?\d+/.test(e.args) && !/cpu -1/.test(e.args) && e.tid !== mainTid) vcpuTids.add(e.tid);
        if (m[3] === '1') port(e, num(m[1]), num(m[2]));
        break;
      }
      case 'cpu_out': {
        const m = /addr (0x[0-9a-f]+)\(.\) value (\d+)/.exec(e.args);
        if (!m) throw bad(e, 'cannot read address and value');
        port(e, num(m[1]), num(m[2]));
        break;
      }
    }
    if (SUMMARISED.has(e.event)) {
      const lane = laneOf(e.tid);
      const key = `${lane}\u0000${e.event}`;
      const t = at(e);
      const s = summaries.get(key);
      if (s) {
        s.count++;
        if (t < s.first) s.first = t;
        if (t > s.last) s.last = t;
      } else summaries.set(key, { lane, event: e.event, first: t, last: t, count: 1 });
      return;
    }
    instant(e, e.event, { args: e.args });
  });

  if (lastLinuxBootLoad) {
    // The firmware's last fw_cfg read of the -kernel/-initrd/-append items: it
    // jumps to the kernel right after, so this bounds firmware when the guest
    // writes no port marker and no console line is at hand.
    instant(lastLinuxBootLoad, `firmware hands over to the kernel (last fw_cfg load: ${lastLinuxBootKey})`, markerArgs('kernel-start', 'fw_cfg_select', MARKER_RANK.inferred));
  }
  for (const s of summaries.values())
    spans.push({ lane: s.lane, name: `${s.event} ×${s.count}`, start: s.first, end: s.last, args: { event: s.event, count: s.count } });

  let end = 0;
  for (const i of instants) if (i.at > end) end = i.at;
  for (const s of spans) if (s.end > end) end = s.end;
  if (end > state.since) spans.push({ lane: vmLane.id, name: state.name, start: state.since, end });

  for (const [tid, lane] of threadLanes) if (vcpuTids.has(tid)) lane.name = `vCPU thread ${tid}`;
  trace.lanes = [processLane, vmLane, ...[...threadLanes.values()].sort((a, b) => (a.tid ?? 0) - (b.tid ?? 0))];
  trace.instants = instants.sort((a, b) => a.at - b.at);
  trace.spans = spans.sort((a, b) => a.start - b.start);
  return withBootPhases(trace);
}
