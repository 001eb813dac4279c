// probes/qemu.bt: QEMU/KVM boot milestones seen from the host. Lanes: QEMU's
// process and vCPU threads, and one `guest:PID` lane per QEMU for its console
// lines and port writes. Evidence reported to the builder: QEMU's exec (the
// toolstack's start) and exit (the VM's end), the first KVM_RUN (the vCPU
// start; none under TCG), guest port writes (qemu-boot-time codes, debug-port
// ranges), console lines (timed at QEMU's write of their first byte), the
// firmware's last fw_cfg load before the guest's first CR4.PAE write (the
// hand-over and the kernel's entry, under TCG), and the first
// guest output, which bounds the vCPU start when nothing better is seen.
import type { Args } from '../../model/trace.js';
import { describePortWrite } from '../../model/markers.js';
import { fileError } from '../../model/errors.js';
import { tracedCommand, type BpftraceContext } from './context.js';
import { decodePackedConsoleBytes, PACKED_CONSOLE_MAX_BYTES } from './console.js';
import type { ProbeSetHandler } from './handler.js';
import type { ProbeEvent } from './parse.js';

const SOURCE = 'bpftrace qemu';
const formatBytes = (n: number) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`);
export const QEMU_NAME = /^qemu-(system-|kvm)/;
const KVM_CMD_NAMES: Record<number, string> = { 0xae01: 'KVM_CREATE_VM', 0xae41: 'KVM_CREATE_VCPU' };
const stream = (ev: ProbeEvent) => `qemu:${ev.pid}:${ev.fields.fd}`;

/** What one import keeps while reading this set's events. */
interface QemuState {
  sawKvm: boolean;
  openIoctl: Map<number, { cmd: number; arg: number; at: number }>;
}

function onPio(ev: ProbeEvent, ctx: BpftraceContext): void {
  const port = ctx.int(ev, 'port');
  const value = ctx.int(ev, 'val');
  const at = ctx.at(ev);
  const lane = ctx.guestLane(ev.pid);
  const name = describePortWrite(port, value);
  const { phase } = ctx.b.guestWrite('io', port, value, at, { source: SOURCE, lane, detail: name });
  ctx.b.instant(lane, name, at, { ...(phase ? { phase } : {}), args: { port: `0x${port.toString(16)}`, value } });
  ctx.b.event('guest-output', at, { source: SOURCE, lane, detail: name });
}

function onIoctlReturn(ev: ProbeEvent, ctx: BpftraceContext, s: QemuState): void {
  const at = ctx.at(ev);
  const open = s.openIoctl.get(ev.tid);
  const cmd = ctx.int(ev, 'cmd');
  const args: Args = { cmd: `0x${cmd.toString(16)}`, ret: ctx.int(ev, 'ret') };
  if (cmd === 0xae41 && open) args.vcpu = open.arg;
  ctx.b.span(ctx.threadLane(ev.pid, ev.tid), KVM_CMD_NAMES[cmd] ?? `ioctl 0x${cmd.toString(16)}`, open?.at ?? at, at, { phase: 'toolstack', args });
  s.openIoctl.delete(ev.tid);
}

export const qemuHandler: ProbeSetHandler = {
  set: 'qemu',
  events: {
    kvm_ioctl: { keys: ['cmd', 'arg'] },
    kvm_ioctl_ret: { keys: ['cmd', 'ret'] },
    kvm_run: { keys: ['fd'], text: 'comm' },
    pio: { keys: ['port', 'size', 'val'] },
    console: { keys: ['fd', 'len', 'off'], text: 'text' },
    console_packed: { keys: ['fd', 'len', 'hex'] },
    console_pause: { keys: ['fd', 'gap'] },
    dma_load: { keys: ['addr', 'len'] },
    pae_on: { keys: ['value', 'dma'] },
  },
  reader(ctx) {
    const s: QemuState = { sawKvm: false, openIoctl: new Map() };
    return { onEvent: (ev) => onEvent(ev, ctx, s), finish: () => finish(ctx, s) };
  },
};

function onEvent(ev: ProbeEvent, ctx: BpftraceContext, s: QemuState): void {
  const at = ctx.at(ev);
  switch (ev.event) {
    case 'kvm_ioctl':
      s.sawKvm = true;
      s.openIoctl.set(ev.tid, { cmd: ctx.int(ev, 'cmd'), arg: ctx.int(ev, 'arg'), at });
      return;
    case 'kvm_ioctl_ret':
      return onIoctlReturn(ev, ctx, s);
    case 'kvm_run': {
      s.sawKvm = true;
      const lane = ctx.threadLane(ev.pid, ev.tid, ev.fields.comm);
      ctx.b.instant(lane, 'first KVM_RUN', at, { phase: 'toolstack', args: { vcpuFd: ctx.int(ev, 'fd') } });
      ctx.b.event('kvm-run', at, { source: SOURCE, lane, detail: ev.fields.comm });
      return;
    }
    case 'pio':
      return onPio(ev, ctx);
    case 'console':
      // Any write(), or a writev() of more than one byte: printed in 64-byte chunks.
      ctx.console.appendChunk(stream(ev), ev.fields.text, ctx.int(ev, 'off'), ctx.int(ev, 'len'), at, ev.pid);
      return;
    case 'console_packed': {
      // One-byte writev()s packed in BPF: `at` is the chunk's first byte, so line times are kept.
      const bytes = decodePackedConsoleBytes(ev.fields.hex, ctx.int(ev, 'len'));
      if (!bytes) throw fileError(ctx.file, ev.line, `console_packed: hex must be 126 hex digits and len 1..${PACKED_CONSOLE_MAX_BYTES}`);
      ctx.console.append(stream(ev), bytes, at, ev.pid, { packed: true });
      return;
    }
    case 'console_pause':
      // Printed after the chunk it cut, before the byte that came after the pause.
      ctx.console.pause(stream(ev));
      return;
    case 'dma_load': {
      const len = ctx.int(ev, 'len');
      const lane = ctx.guestLane(ev.pid);
      ctx.b.instant(lane, `DMA load ${formatBytes(len)}`, at, { args: { addr: ev.fields.addr, bytes: len } });
      return;
    }
    case 'pae_on': {
      const lane = ctx.guestLane(ev.pid);
      ctx.b.instant(lane, 'CR4.PAE on (kernel entry)', at, { args: { cr4: ev.fields.value } });
      ctx.b.event('guest-pae-on', at, { source: SOURCE, lane, detail: `CR4 = ${ev.fields.value}` });
      const dma = ctx.int(ev, 'dma');
      if (dma > 0) {
        const handover = ctx.at({ ...ev, ns: dma });
        ctx.b.instant(lane, 'last fw_cfg load (hand-over)', handover);
        ctx.b.event('fw-cfg-dma-handover', handover, { source: SOURCE, lane, detail: 'last device write into guest memory before the kernel' });
      }
      return;
    }
  }
}

function finish(ctx: BpftraceContext, s: QemuState): void {
  for (const line of ctx.consoleLines().filter((l) => l.stream.startsWith('qemu:'))) {
    const lane = ctx.guestLane(line.pid);
    // bytes of a long write past the 128 traced are not seen
    const shown = ctx.b.consoleLine(lane, line.text, line.at, { source: SOURCE, timing: 'write', args: { console: true, ...(line.truncated ? { truncated: true } : {}) } });
    // The first visible line, not the first byte: a guest may start with a bare newline.
    if (shown) ctx.b.event('guest-output', line.at, { source: SOURCE, lane, detail: shown.name });
  }
  // QEMU is known by its exec (a process only seen exiting may be anything named so).
  const qemuRuns = ctx.runs.filter((r) => r.file !== undefined && QEMU_NAME.test(r.name));
  if (qemuRuns.length === 0) return;
  const first = qemuRuns[0];
  ctx.b.meta.hypervisor = s.sawKvm ? 'qemu kvm' : 'qemu (no KVM ioctls seen: tcg)';
  const command = tracedCommand(first);
  if (command) ctx.b.meta.command = command;
  const lane = ctx.processLane(first.pid);
  ctx.b.event('qemu-exec', first.start, { source: SOURCE, lane, detail: first.file });
  if (first.end !== undefined && first.status !== undefined) ctx.b.event('vm-exit', first.end, { source: SOURCE, lane, detail: `exit status ${first.status}` });
}
