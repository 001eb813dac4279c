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
import { explain, knobEntrySchema, unwrapEntry } from './knob-entry.js';
import { KERNEL_PARAMS, QEMU_SETTINGS, qemuCandidates } from './qemu-settings.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

/** A knob that describes a command line rather than host state. */
export type RenderOnlyKnob = Knob & { hostState: false; source?: string };

const MACHINE_PROPERTIES = QEMU_SETTINGS.filter((s) => s.machines !== undefined);

// kernel-params: `name: true` (a flag), `name: false`/null (left out) or `name: value` (name=value).
// Names and values never hold spaces or quotes: each is one token of the command line.
const PARAM_NAME = '^[A-Za-z0-9_][A-Za-z0-9_.-]*$';
const PARAM_TEXT = [{ type: 'integer' }, { type: 'string', pattern: '^[^\\s"]+$' }];
const kernelParamsSchema = {
  type: 'object',
  propertyNames: { pattern: PARAM_NAME },
  properties: Object.fromEntries(KERNEL_PARAMS.map((p) => [p.name, knobEntrySchema(p.kind === 'flag' ? { type: 'boolean' } : { anyOf: [{ type: 'null' }, ...PARAM_TEXT] })])),
  additionalProperties: knobEntrySchema({ anyOf: [{ type: 'boolean' }, { type: 'null' }, ...PARAM_TEXT] }),
};

const sectionSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(QEMU_SETTINGS.map((s) => [s.key, knobEntrySchema(s.schema)])),
    'kernel-params': kernelParamsSchema,
  },
};

type Setting = { value: string | null; why?: string; source?: string };

/** The knob text of each setting present in the section (booleans → on/off). */
function settingsOf(section: unknown): Map<string, Setting> {
  const s = (section ?? {}) as Record<string, unknown>;
  const out = new Map<string, Setting>();
  for (const { key } of QEMU_SETTINGS) if (key in s) out.set(key, unwrapEntry(s[key]));
  return out;
}

/** The kernel parameters of a section, each as its command-line token (null: left out). */
function kernelParamsOf(section: unknown): Map<string, { token: string | null; why?: string; source?: string }> {
  const params = ((section ?? {}) as Record<string, unknown>)['kernel-params'] as Record<string, unknown> | undefined;
  const out = new Map<string, { token: string | null; why?: string; source?: string }>();
  for (const [name, entry] of Object.entries(params ?? {})) {
    const e = entry !== null && typeof entry === 'object' && 'value' in entry ? (entry as { value: unknown; why?: string; source?: string }) : { value: entry };
    const token = e.value === true ? name : e.value === false || e.value === null || e.value === undefined ? null : `${name}=${String(e.value)}`;
    out.set(name, { token, ...explain(e) });
  }
  return out;
}

/** What QEMU 7.2 (qemu-system-x86_64) uses when a setting is not given, for this machine. */
export function qemuDefault(key: string, machine: string, acpi: string | null): string | null {
  const row = QEMU_SETTINGS.find((s) => s.key === key);
  if (!row) return null;
  return typeof row.qemuDefault === 'function' ? row.qemuDefault(machine, acpi) : row.qemuDefault;
}

export interface QemuCommandLineOptions {
  kernel?: string;
  /** The same kernel as an uncompressed ELF with a PVH note; used instead of `kernel` when the section says kernel-entry: pvh. */
  pvhKernel?: string;
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
  for (const { key, machines } of MACHINE_PROPERTIES) {
    const v = get(key);
    if (v === null) continue;
    if (!machines!.includes(machine)) throw new UserError(`qemu: ${key} is a property of ${machines!.join('/')} machines, not of ${machine}`);
    props.push(`${key}=${v}`);
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
    args.push('-kernel', kernelFile(get('kernel-entry'), opts));
    if (opts.initrd) args.push('-initrd', opts.initrd);
    // Under KVM (named, not auto) kvmclock gives the guest its TSC rate; otherwise tell it.
    const tscKhz = get('tcg-tsc-khz');
    const tscArg = tscKhz !== null && accel !== 'kvm' ? `tsc_early_khz=${tscKhz === 'host' ? (opts.hostTscKhz ?? hostTscKhz)() : tscKhz}` : undefined;
    const params = [...kernelParamsOf(section).values()].map((p) => p.token);
    const append = [opts.append, get('kernel-cmdline'), ...params, tscArg].filter((s) => s && s.trim() !== '').join(' ');
    if (append) args.push('-append', append);
  } else if (opts.initrd) {
    throw new UserError('qemu: an initrd needs a kernel');
  }
  if (get('no-reboot') === 'on') args.push('-no-reboot');
  return args;
}

/** Whether a qemu section boots the kernel through its PVH entry (kernel-entry: pvh). */
export function bootsThroughPvh(section: unknown): boolean {
  return settingsOf(section).get('kernel-entry')?.value === 'pvh';
}

/** The kernel file to boot: the bzImage, or its uncompressed ELF for kernel-entry: pvh. */
function kernelFile(entry: string | null, opts: QemuCommandLineOptions): string {
  if (entry !== 'pvh') return opts.kernel!;
  if (!opts.pvhKernel)
    throw new UserError(
      `qemu: kernel-entry: pvh boots an uncompressed ELF kernel with a PVH note, and none was given for ${opts.kernel} (a bzImage's is extracted by hvscope boot; a kernel built without CONFIG_PVH has none)`,
    );
  return opts.pvhKernel;
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
    const knobs = [...settings].map(([key, { value, why, source }]): RenderOnlyKnob => {
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
    const params = [...kernelParamsOf(section)].map(([name, { token, why, source }]): RenderOnlyKnob => ({
      target: 'qemu',
      id: `qemu/kernel-params/${name}`,
      desired: token,
      hostState: false,
      ...explain({ why, source }),
      read: async () => null, // the kernel's default: the parameter absent
      write: async () => {},
    }));
    return [...knobs, ...params];
  },
  candidates: qemuCandidates(),
};
