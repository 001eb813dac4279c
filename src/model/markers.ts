// The marker vocabulary: every kind of evidence hvscope accepts for a phase
// boundary, as one table. Importers report what they saw — a named event
// (`event`), a guest write to a port or MMIO address (`write`), a console line
// (`console`) — to the TraceBuilder, which looks it up here; each matching rule
// becomes a Marker with the rule's boundary and rank. derivePhases (derive.ts)
// turns the markers of all sources into phases. Adding a kind of evidence is a
// row here; a user-defined rule (`--ready console:REGEX`, `exit`, `pio:PORT=V`,
// `tcp:HOST:PORT`) is a row added at run time with `vocabulary.with(rule)`.
// Where the codes come from: docs/references.md.
import type { Boundary, Phase } from './trace.js';

/**
 * How exact a marker is, best first. A marker's rank is the worse of its rule's
 * and its source's timing (a console rule seen in a capture stamped on arrival
 * is `arrival`). Best rank wins per boundary; among equals, the earliest.
 */
export const RANK = {
  /** The event itself, timed by the host kernel (exec, KVM_RUN, a uprobe) or written by the guest at the boundary (port codes). */
  exact: 0,
  /** The hypervisor's own log or state change (QEMU run state, fw_cfg hand-over, debug-port ranges). */
  hypervisor: 1,
  /** A guest console line printed at the boundary, timed at the hypervisor's write of its first byte. */
  console: 2,
  /** A line timed when it reached the host (serial capture, a stamped log line): later by pipe or batching delays. */
  arrival: 3,
  /** A boundary another tool recorded (a Chrome export's phases lane, a version-1 file): how exact is not known. */
  recorded: 4,
  /** A later sign that only bounds the boundary from above (the first guest output for the vCPU start). */
  bound: 5,
} as const;
export type RankName = keyof typeof RANK;

export function rankName(rank: number): string {
  return (Object.keys(RANK) as RankName[]).find((k) => RANK[k] === rank) ?? `rank ${rank}`;
}

/**
 * Events importers report by name (TraceBuilder.event). One event may feed
 * several rules (`vm-exit` ends the VM, and `--ready exit` makes it the ready marker).
 */
export type MarkerEvent =
  | 'qemu-exec'
  | 'qemu-spawn'
  | 'qemu-log-start'
  | 'kvm-run'
  | 'runstate-running'
  | 'guest-output'
  | 'fw-cfg-handover'
  | 'guest-pae-on'
  | 'fw-cfg-dma-handover'
  | 'vm-exit'
  | 'vm-stop'
  | 'xl-exec'
  | 'xl-log-start'
  | 'libxl-device-add'
  | 'xen-hotplug-exec'
  | 'xl-log-device'
  | 'xen-unpause'
  | 'xl-log-unpause'
  | 'xen-lab-devices-done'
  | 'xen-lab-xl-returned'
  | 'xen-lab-first-output'
  | 'xen-lab-marker-polled'
  | 'tcp-ready'
  | 'libvirt-create'
  | 'libvirt-qmp-cont'
  | 'libvirt-client-exec'
  | 'libxl-create-new'
  | 'xen-lab-virsh-returned'
  | `recorded:${Boundary}`;

export type MarkerMatch =
  | { on: 'event'; event: MarkerEvent }
  /** A guest write: `io` port or `mmio` address, value in [min, max]. */
  | { on: 'write'; space: 'io' | 'mmio'; addresses: readonly number[]; min: number; max: number }
  /** A console line (cleaned, cleanConsoleText). */
  | { on: 'console'; pattern: RegExp };

export interface MarkerRule {
  /** Stable id (diagnose and tests look rules up by it). */
  id: string;
  /** Shown as the evidence of a boundary. */
  name: string;
  boundary: Boundary;
  rank: number;
  match: MarkerMatch;
  /** Keep only the earliest occurrence per source (broad rules: every later one would say nothing new). */
  once?: boolean;
}

/** qemu-boot-time's codes, written by the guest to port 0xf4 (0xf5 for firmware). */
export const QEMU_BOOT_TIME_CODES: Readonly<Record<number, string>> = {
  1: 'fw_start',
  2: 'linux_start_fwcfg',
  3: 'linux_start_boot',
  4: 'linux_start_pvhboot',
  5: 'fw_do_boot',
  6: 'linux_start_kernel',
  7: 'linux_start_user',
};
export const QEMU_BOOT_TIME_PORTS = [0xf4, 0xf5] as const;
export const DEBUG_PORT = 0x80;

/** Cloud Hypervisor's debug port 0x80: value ranges and the boundary the first write of each sets. */
export const DEBUG_PORT_RANGES: readonly { range: string; min: number; max: number; boundary?: Boundary }[] = [
  { range: 'firmware', min: 0x00, max: 0x1f, boundary: 'firmware-start' },
  { range: 'bootloader', min: 0x20, max: 0x3f },
  { range: 'kernel', min: 0x40, max: 0x5f, boundary: 'kernel-start' },
  { range: 'userspace', min: 0x60, max: 0x7f, boundary: 'user-start' },
];

/** Firecracker's boot timer: the guest writes this byte to this MMIO address (x86_64) when init starts. */
export const FIRECRACKER_BOOT_TIMER = { address: 0xc0000000, value: 123 } as const;

/** The boundary each qemu-boot-time code sets (3/4: the jump into the kernel; 6: start_kernel, after decompression). */
const BOOT_TIME_BOUNDARIES: Partial<Record<number, Boundary>> = { 1: 'firmware-start', 3: 'kernel-start', 4: 'kernel-start', 6: 'kernel-start', 7: 'user-start' };

const event = (id: string, name: string, boundary: Boundary, rank: number, ev: MarkerEvent, once = true): MarkerRule => ({
  id,
  name,
  boundary,
  rank,
  match: { on: 'event', event: ev },
  ...(once ? { once } : {}),
});
const consoleRule = (id: string, name: string, boundary: Boundary, rank: number, pattern: RegExp): MarkerRule => ({
  id,
  name,
  boundary,
  rank,
  match: { on: 'console', pattern },
});

/** The vocabulary's rows, by boundary. */
export const MARKER_RULES: readonly MarkerRule[] = [
  // toolstack start
  event('qemu-exec', 'QEMU exec', 'toolstack-start', RANK.exact, 'qemu-exec'),
  event('qemu-spawn', 'QEMU spawned (recorder)', 'toolstack-start', RANK.exact, 'qemu-spawn'),
  event('qemu-log-start', "QEMU's first trace event", 'toolstack-start', RANK.bound, 'qemu-log-start'),
  event('xl-exec', 'xl exec', 'toolstack-start', RANK.exact, 'xl-exec'),
  event('xl-log-start', "xl's first log line", 'toolstack-start', RANK.arrival, 'xl-log-start'),
  // devices start (Xen: QEMU opens its taps inside the toolstack phase)
  event('libxl-device-add', 'libxl__device_add_async', 'devices-start', RANK.exact, 'libxl-device-add'),
  event('xen-hotplug-exec', 'hotplug script exec', 'devices-start', RANK.exact, 'xen-hotplug-exec'),
  event('xl-log-device', 'xl -vvv: first device line', 'devices-start', RANK.arrival, 'xl-log-device'),
  // vCPU start = firmware start
  event('kvm-run', 'first KVM_RUN', 'firmware-start', RANK.exact, 'kvm-run'),
  event('runstate-running', 'QEMU run state → running', 'firmware-start', RANK.hypervisor, 'runstate-running'),
  event('guest-output', 'first guest output', 'firmware-start', RANK.bound, 'guest-output'),
  consoleRule('firmware-banner', 'firmware console line (SeaBIOS, qboot)', 'firmware-start', RANK.bound, /SeaBIOS \(version|Booting from ROM|^qboot/),
  // kernel start = the firmware's hand-over
  event('fw-cfg-handover', "firmware's last fw_cfg read of the kernel (hand-over)", 'kernel-start', RANK.hypervisor, 'fw-cfg-handover'),
  // under TCG (uprobes, docs/boot-paths.md): the firmware's last fw_cfg DMA before the kernel's first CR4.PAE
  // write is its hand-over; CR4.PAE itself comes later by a bzImage's setup code (7 ms to 0.5 s under TCG),
  // as late as the setup code's first line: ranked so, and the earlier of the two wins
  event('fw-cfg-dma-handover', "firmware's last fw_cfg DMA before the kernel (hand-over; uprobe, TCG)", 'kernel-start', RANK.hypervisor, 'fw-cfg-dma-handover'),
  event('cr4-pae', "guest's first CR4.PAE write (kernel entry code; uprobe, TCG)", 'kernel-start', RANK.console, 'guest-pae-on'),
  event('xen-unpause', 'libxl_domain_unpause', 'kernel-start', RANK.exact, 'xen-unpause'),
  event('xl-log-unpause', 'xl -vvv: libxl_domain_unpause', 'kernel-start', RANK.arrival, 'xl-log-unpause'),
  event('xen-lab-devices-done', 'hotplug scripts done (xl unpauses next)', 'kernel-start', RANK.hypervisor, 'xen-lab-devices-done'),
  event('xen-lab-xl-returned', 'xl create returned (domain unpaused)', 'kernel-start', RANK.bound, 'xen-lab-xl-returned'),
  // x86 setup code and decompressor print right after the hand-over; the banner only after decompression
  consoleRule('x86-setup', 'x86 setup / decompressor line', 'kernel-start', RANK.console, /Probing EDD|Decompressing Linux|Parsing ELF|Booting the kernel/),
  consoleRule('linux-banner', 'Linux banner', 'kernel-start', RANK.bound, /Linux version \d/),
  consoleRule('tiny-entry', 'tiny: entry', 'kernel-start', RANK.console, /^tiny: entry\b/),
  consoleRule('marker-kernel-start', 'hvscope-marker kernel-start', 'kernel-start', RANK.console, /hvscope-marker kernel-start/),
  // user space start
  consoleRule('linux-init', 'Linux runs init', 'user-start', RANK.console, /Run \S+ as init process|^Run \/init\b/),
  consoleRule('tiny-app-start', 'tiny: app start', 'user-start', RANK.console, /^tiny: app start\b/),
  consoleRule('marker-user-start', 'hvscope-marker user-start', 'user-start', RANK.console, /hvscope-marker user-start/),
  // ready
  consoleRule('marker-ready', 'hvscope-marker ready', 'ready', RANK.console, /hvscope-marker ready/),
  consoleRule('tiny-done', 'tiny: done', 'ready', RANK.console, /^tiny: done\b/),
  consoleRule('tiny-pv-hello', 'tiny-pv: hello', 'ready', RANK.console, /^tiny-pv: hello from a Xen PV guest/),
  event('xen-lab-first-output', 'first console output (xenconsoled write of the marker)', 'ready', RANK.console, 'xen-lab-first-output'),
  event('xen-lab-marker-polled', 'marker seen in the console log (polled)', 'ready', RANK.bound, 'xen-lab-marker-polled'),
  // the VM's end: ends the last phase when no ready marker was seen
  event('vm-exit', 'QEMU exit', 'vm-end', RANK.exact, 'vm-exit'),
  event('vm-stop', 'QEMU run state → shutdown', 'vm-end', RANK.hypervisor, 'vm-stop'),
  // libvirt (probes/libvirt.bt): the orchestrator's request reaches libvirtd; QEMU answers `cont` once its vCPUs run
  event('libvirt-create', 'virDomainCreateXML in libvirtd', 'orchestrate-start', RANK.exact, 'libvirt-create'),
  event('libvirt-qmp-cont', 'QMP cont answered (vCPUs running)', 'firmware-start', RANK.hypervisor, 'libvirt-qmp-cont'),
  // libvirt's libxl driver (lab xen run --via libvirt): the client's exec is the orchestrator's request, libxenlight's
  // libxl_domain_create_new inside libvirtd the toolstack's start, virsh's return an upper bound of the unpause
  event('libvirt-client-exec', 'virsh exec (libvirt client)', 'orchestrate-start', RANK.exact, 'libvirt-client-exec'),
  event('libxl-create-new', 'libxl_domain_create_new (in libvirtd)', 'toolstack-start', RANK.exact, 'libxl-create-new'),
  event('xen-lab-virsh-returned', 'virsh create returned (domain unpaused)', 'kernel-start', RANK.bound, 'xen-lab-virsh-returned'),
  // guest writes
  ...Object.entries(BOOT_TIME_BOUNDARIES).map(([code, boundary]) => ({
    id: `boot-time-${QEMU_BOOT_TIME_CODES[Number(code)]}`,
    name: `qemu-boot-time ${QEMU_BOOT_TIME_CODES[Number(code)]} (port 0xf4 = ${code})`,
    boundary: boundary!,
    rank: RANK.exact,
    once: true,
    match: { on: 'write' as const, space: 'io' as const, addresses: QEMU_BOOT_TIME_PORTS, min: Number(code), max: Number(code) },
  })),
  ...DEBUG_PORT_RANGES.filter((r) => r.boundary).map((r) => ({
    id: `debug-port-${r.range}`,
    name: `debug port 0x80, ${r.range} range (0x${r.min.toString(16)}–0x${r.max.toString(16)})`,
    boundary: r.boundary!,
    rank: RANK.hypervisor,
    once: true,
    match: { on: 'write' as const, space: 'io' as const, addresses: [DEBUG_PORT], min: r.min, max: r.max },
  })),
  {
    id: 'firecracker-boot-timer',
    name: 'Firecracker boot timer (123 at MMIO 0xc0000000)',
    boundary: 'user-start',
    rank: RANK.exact,
    once: true,
    match: { on: 'write', space: 'mmio', addresses: [FIRECRACKER_BOOT_TIMER.address], min: FIRECRACKER_BOOT_TIMER.value, max: FIRECRACKER_BOOT_TIMER.value },
  },
  // phases recorded by another tool (a Chrome export of an hvscope trace, a version-1 file without markers)
  ...(['toolstack-start', 'devices-start', 'firmware-start', 'kernel-start', 'user-start', 'ready', 'orchestrate-start'] as const).map((b) =>
    event(`recorded-${b}`, `recorded phase boundary (${b})`, b, RANK.recorded, `recorded:${b}`),
  ),
];

/** A set of rules: the default table, plus any added at run time. */
export class MarkerVocabulary {
  readonly rules: readonly MarkerRule[];
  private readonly byEvent = new Map<string, MarkerRule[]>();

  constructor(rules: readonly MarkerRule[]) {
    const ids = new Set<string>();
    for (const r of rules) {
      if (ids.has(r.id)) throw new Error(`marker vocabulary: duplicate rule id ${r.id}`);
      ids.add(r.id);
      if (r.match.on === 'event') this.byEvent.set(r.match.event, [...(this.byEvent.get(r.match.event) ?? []), r]);
    }
    this.rules = rules;
  }

  /** A vocabulary with more rules, e.g. a user's ready rule. */
  with(...rules: MarkerRule[]): MarkerVocabulary {
    return new MarkerVocabulary([...this.rules, ...rules]);
  }

  /** A vocabulary without some rules, e.g. the built-in ready markers when the user names the ready rule. */
  without(drop: (rule: MarkerRule) => boolean): MarkerVocabulary {
    return new MarkerVocabulary(this.rules.filter((r) => !drop(r)));
  }

  rule(id: string): MarkerRule {
    const r = this.rules.find((x) => x.id === id);
    if (!r) throw new Error(`marker vocabulary: no rule ${id}`);
    return r;
  }

  forEvent(ev: MarkerEvent): readonly MarkerRule[] {
    return this.byEvent.get(ev) ?? [];
  }

  forWrite(space: 'io' | 'mmio', address: number, value: number): MarkerRule[] {
    return this.rules.filter(
      (r) => r.match.on === 'write' && r.match.space === space && r.match.addresses.includes(address) && value >= r.match.min && value <= r.match.max,
    );
  }

  /** Rules matching a cleaned console line. */
  forConsole(text: string): MarkerRule[] {
    return this.rules.filter((r) => r.match.on === 'console' && r.match.pattern.test(text));
  }
}

export const DEFAULT_VOCABULARY = new MarkerVocabulary(MARKER_RULES);

/** A console rule's pattern, for analyses that read console lines (diagnose). */
export function consolePattern(id: string): RegExp {
  const r = DEFAULT_VOCABULARY.rule(id);
  if (r.match.on !== 'console') throw new Error(`marker vocabulary: ${id} is not a console rule`);
  return r.match.pattern;
}

/** Name of a guest port write as shown: the qemu-boot-time code name, the debug-port range, or port and value. */
export function describePortWrite(port: number, value: number): string {
  if ((QEMU_BOOT_TIME_PORTS as readonly number[]).includes(port) && QEMU_BOOT_TIME_CODES[value]) return QEMU_BOOT_TIME_CODES[value];
  const range = port === DEBUG_PORT ? DEBUG_PORT_RANGES.find((x) => value >= x.min && value <= x.max) : undefined;
  if (range) return `port 0x80: ${range.range} 0x${value.toString(16)}`;
  return `port 0x${port.toString(16)} = 0x${value.toString(16)}`;
}

/** The boundary that starts each phase. */
export const PHASE_START: Readonly<Record<Phase, Boundary>> = {
  orchestrate: 'orchestrate-start',
  toolstack: 'toolstack-start',
  devices: 'devices-start',
  firmware: 'firmware-start',
  kernel: 'kernel-start',
  user: 'user-start',
};
