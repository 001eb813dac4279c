// qemu: QEMU settings are not host state. A profile's qemu section renders a QEMU command line
// (qemuCommandLine) that `hvscope boot` runs and `tune plan` prints.
//
// Its knobs exist so `tune plan` can show "QEMU default → profile value" per setting: read()
// returns what QEMU 7.2 does when the option is not given, write() changes nothing and returns
// (there is nothing on the host to change). Every knob carries `hostState: false`; the engine
// should leave such knobs out of apply/verify/status (a read-back would always show the default).
import { UserError } from '../../model/errors.js';
import type { Knob, KnobValue, TargetDefinition } from '../knob.js';
import { hostTscKhz } from './host-tsc.js';
import { enumValue, explain, knobEntrySchema, unwrapEntry } from './knob-entry.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** A knob that describes a command line rather than host state. */
export type RenderOnlyKnob = Knob & { hostState: false; source?: string };

const ON_OFF = enumValue('on', 'off', true, false);
const ON_OFF_AUTO = enumValue('on', 'off', 'auto', true, false);
// Anything put into -M/-netdev option lists must not carry ',' (QEMU's separator) or spaces.
const OPTION_TEXT = { type: 'string', pattern: '^[^,\\s]+$' };

/** Machine properties: which machines have them (hw/i386/microvm.c, hw/i386/x86.c in QEMU 7.2). */
const MACHINE_PROPERTIES: Record<string, { schema: Record<string, unknown>; machines: string[] }> = {
  'x-option-roms': { schema: ON_OFF, machines: ['microvm'] },
  pit: { schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'] },
  pic: { schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'] },
  rtc: { schema: ON_OFF_AUTO, machines: ['microvm'] },
  'isa-serial': { schema: ON_OFF, machines: ['microvm'] },
  acpi: { schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'] },
  'auto-kernel-cmdline': { schema: ON_OFF, machines: ['microvm'] },
  pcie: { schema: ON_OFF_AUTO, machines: ['microvm'] },
  ioapic2: { schema: ON_OFF_AUTO, machines: ['microvm'] },
};

/** Top-level settings besides the machine properties, with their value schemas. */
const SETTINGS: Record<string, Record<string, unknown>> = {
  machine: enumValue('pc', 'q35', 'microvm'),
  ...Object.fromEntries(Object.entries(MACHINE_PROPERTIES).map(([k, v]) => [k, v.schema])),
  nodefaults: ON_OFF,
  'no-user-config': ON_OFF,
  // 'default' = the machine's own firmware; else a file name (QEMU's data dir) or path.
  bios: { type: 'string', minLength: 1 },
  // Added to the kernel command line after what the caller passes (only with a kernel).
  'kernel-cmdline': { type: 'string' },
  // The guest TSC rate under TCG (kHz, or `host`: the host's, which TCG's RDTSC reads),
  // given to the kernel as tsc_early_khz= so it needs no timer to calibrate against.
  // Not rendered under KVM, where kvmclock tells the guest the rate.
  'tcg-tsc-khz': { anyOf: [{ const: 'host' }, { type: 'integer', minimum: 1000 }, { type: 'string', pattern: '^[0-9]{4,}$' }] },
  memory: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+[MG]?$' }] },
  cpu: OPTION_TEXT,
  smp: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+$' }] },
  // auto = decided at boot (`hvscope boot --accel`); without a choice KVM first, then TCG.
  accel: enumValue('kvm', 'tcg', 'auto'),
  // none | user | tap:IFNAME (a tap the caller created; QEMU runs no ifup script).
  net: { type: 'string', pattern: '^(none|user|tap:[A-Za-z0-9_.:+-]{1,15})$' },
  serial: { type: 'string', pattern: '^(none|null|stdio|mon:stdio|vc|file:\\S+)$' },
  display: enumValue('none', 'default'),
  'no-reboot': ON_OFF,
};

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(Object.entries(SETTINGS).map(([k, v]) => [k, knobEntrySchema(v)])),
};

/** The knob text of each setting present in the section (booleans → on/off). */
function settingsOf(section: unknown): Map<string, { value: string | null; why?: string; source?: string }> {
  const s = (section ?? {}) as Record<string, unknown>;
  const out = new Map<string, { value: string | null; why?: string; source?: string }>();
  for (const key of Object.keys(SETTINGS)) if (key in s) out.set(key, unwrapEntry(s[key]));
  return out;
}

/** What QEMU 7.2 (qemu-system-x86_64) uses when a setting is not given, for this machine. */
export function qemuDefault(key: string, machine: string, acpi: string | null): string | null {
  switch (key) {
    case 'machine':
      return 'pc'; // alias of the newest pc-i440fx-* machine
    case 'x-option-roms':
    case 'isa-serial':
    case 'auto-kernel-cmdline':
      return 'on';
    case 'pit':
    case 'pic':
    case 'rtc':
    case 'acpi':
    case 'pcie':
    case 'ioapic2':
      return 'auto';
    case 'nodefaults':
    case 'no-user-config':
    case 'no-reboot':
      return 'off';
    case 'bios':
      // microvm: SeaBIOS build with ACPI, qboot without (microvm_devices_init); pc/q35: SeaBIOS.
      if (machine === 'microvm') return acpi === 'off' ? 'qboot.rom' : 'bios-microvm.bin';
      return 'bios-256k.bin';
    case 'kernel-cmdline':
    case 'tcg-tsc-khz':
      return null; // the guest kernel calibrates its TSC itself
    case 'memory':
      return '128M';
    case 'cpu':
      return 'qemu64';
    case 'smp':
      return '1';
    case 'accel':
      return 'tcg'; // qemu-system-x86_64 tries tcg first ("tcg:kvm") unless named *kvm
    case 'net':
      return 'user'; // a default NIC on user networking, unless -nodefaults
    case 'serial':
      return 'vc';
    case 'display':
      return 'default';
    default:
      return null;
  }
}

export interface QemuCommandLineOptions {
  kernel?: string;
  initrd?: string;
  /** Kernel command line from the caller; the profile's `kernel-cmdline` is appended to it. */
  append?: string;
  binary?: string;
  /** Accelerator chosen at boot time; wins over the profile's (`auto` or absent). */
  accel?: 'kvm' | 'tcg';
  /** Resolves `tcg-tsc-khz: host` (default: hostTscKhz, from /proc/cpuinfo). */
  hostTscKhz?: () => number;
}

const onOff = (v: string): string => (v === 'true' ? 'on' : v === 'false' ? 'off' : v);

/**
 * Renders the QEMU command line (binary first) for a validated qemu section.
 * Throws UserError for combinations QEMU would reject (e.g. a microvm-only property on pc).
 */
export function qemuCommandLine(section: unknown, opts: QemuCommandLineOptions = {}): string[] {
  const settings = settingsOf(section);
  const get = (k: string): string | null => {
    const v = settings.get(k)?.value ?? null;
    return v === null ? null : onOff(v);
  };
  const machine = get('machine') ?? 'pc';
  const args = [opts.binary ?? QEMU_BINARY];

  const props: string[] = [];
  for (const [prop, info] of Object.entries(MACHINE_PROPERTIES)) {
    const v = get(prop);
    if (v === null) continue;
    if (!info.machines.includes(machine)) throw new UserError(`qemu: ${prop} is a property of ${info.machines.join('/')} machines, not of ${machine}`);
    props.push(`${prop}=${v}`);
  }
  args.push('-M', [machine, ...props].join(','));

  const accel = opts.accel ?? get('accel') ?? undefined;
  if (accel === 'auto') args.push('-accel', 'kvm', '-accel', 'tcg'); // QEMU falls back in order
  else if (accel) args.push('-accel', accel);
  const cpu = get('cpu');
  if (cpu) args.push('-cpu', cpu);
  const smp = get('smp');
  if (smp) args.push('-smp', smp);
  const memory = get('memory');
  if (memory) args.push('-m', /^[0-9]+$/.test(memory) ? `${memory}M` : memory);
  if (get('nodefaults') === 'on') args.push('-nodefaults');
  if (get('no-user-config') === 'on') args.push('-no-user-config');
  const bios = get('bios');
  if (bios && bios !== 'default') args.push('-bios', bios);
  const display = get('display');
  if (display) args.push('-display', display);
  const serial = get('serial');
  if (serial) args.push('-serial', serial);

  const net = get('net');
  if (net === 'none') {
    if (get('nodefaults') !== 'on') args.push('-nic', 'none');
  } else if (net) {
    // microvm has no PCI unless pcie=on: its NIC sits on virtio-mmio.
    const nic = machine === 'microvm' && get('pcie') !== 'on' ? 'virtio-net-device' : 'virtio-net-pci';
    const backend = net === 'user' ? 'user,id=net0' : `tap,id=net0,ifname=${net.slice(4)},script=no,downscript=no`;
    args.push('-netdev', backend, '-device', `${nic},netdev=net0`);
  }

  if (opts.kernel) {
    args.push('-kernel', opts.kernel);
    if (opts.initrd) args.push('-initrd', opts.initrd);
    // Under KVM (named, not auto) kvmclock gives the guest its TSC rate; otherwise tell it.
    const tscKhz = get('tcg-tsc-khz');
    const tscArg = tscKhz !== null && accel !== 'kvm' ? `tsc_early_khz=${tscKhz === 'host' ? (opts.hostTscKhz ?? hostTscKhz)() : tscKhz}` : undefined;
    const append = [opts.append, get('kernel-cmdline'), tscArg].filter((s) => s && s.trim() !== '').join(' ');
    if (append) args.push('-append', append);
  } else if (opts.initrd) {
    throw new UserError('qemu: an initrd needs a kernel');
  }
  if (get('no-reboot') === 'on') args.push('-no-reboot');
  return args;
}

export const target: TargetDefinition = {
  name: 'qemu',
  summary: 'QEMU machine, firmware, devices and kernel command line; renders a command line (not host state)',
  sectionSchema,
  knobs(section) {
    const settings = settingsOf(section);
    qemuCommandLine(section); // invalid combinations fail here, before anything else runs
    const machine = settings.get('machine')?.value ?? 'pc';
    const acpi = settings.get('acpi')?.value ?? null;
    return [...settings].map(([key, { value, why, source }]): RenderOnlyKnob => {
      const desired: KnobValue = value === null ? null : onOff(value);
      const fallback = qemuDefault(key, machine, acpi === null ? null : onOff(acpi));
      return {
        target: 'qemu',
        id: `qemu/${key}`,
        desired,
        hostState: false,
        ...explain({ why, source }),
        read: async () => fallback,
        // Not host state: the value lives in the rendered command line, nothing to write.
        write: async () => {},
      };
    });
  },
};
