// The qemu target's settings as data: one row per setting (its value schema, QEMU 7.2's
// behaviour without it, the values a search may try) and one row per known kernel
// parameter. src/tuning/targets/qemu.ts renders a command line from a section; this file
// says what each setting is. Measured effects live in the profiles that use them
// (tuning-profiles/qemu-microvm-fast.yaml), not here.
import type { KnobCandidates, SettingValue } from '../knob.js';
import { enumValue } from './knob-entry.js';

const ON_OFF = enumValue('on', 'off', true, false);
const ON_OFF_AUTO = enumValue('on', 'off', 'auto', true, false);
// Anything put into -M/-netdev option lists must not carry ',' (QEMU's separator) or spaces.
const OPTION_TEXT = { type: 'string', pattern: '^[^,\\s]+$' };

const ON_MICROVM = [{ path: ['machine'], values: ['microvm'] }];

export interface QemuSetting {
  key: string;
  schema: Record<string, unknown>;
  /** A -M property of these machines (hw/i386/microvm.c, hw/i386/x86.c in QEMU 7.2); absent: an option of its own. */
  machines?: readonly string[];
  /** What QEMU 7.2 does when the setting is not given (a knob's "current" value), per machine and ACPI setting. */
  qemuDefault: string | null | ((machine: string, acpi: string | null) => string | null);
  /** Values a search may try; absent: a harness setting (console, display, accelerator), never searched. */
  candidates?: SettingValue[];
  requires?: KnobCandidates['requires'];
  valueRequires?: KnobCandidates['valueRequires'];
  about: string;
}

/** Every setting of a qemu section except kernel-params, in rendering order for -M properties. */
export const QEMU_SETTINGS: readonly QemuSetting[] = [
  {
    key: 'machine',
    schema: enumValue('pc', 'q35', 'microvm'),
    qemuDefault: 'pc', // alias of the newest pc-i440fx-* machine
    candidates: ['pc', 'q35', 'microvm'],
    // tuning-profiles/qemu-microvm-min.yaml (tcg-tsc-khz): measured there, 4 of 4 linux boots hung without it.
    valueRequires: [{ value: 'microvm', requires: [{ path: ['tcg-tsc-khz'], values: ['host'] }], why: 'microvm has no HPET or ACPI PM timer: a Linux guest under TCG that cannot calibrate its TSC hangs (qemu-microvm-min.yaml)' }],
    about: 'the board: pc (i440FX, PCI, legacy chipset), q35 (PCIe), microvm (no PCI, virtio-mmio)',
  },
  { key: 'x-option-roms', schema: ON_OFF, machines: ['microvm'], qemuDefault: 'on', candidates: ['on', 'off'], requires: ON_MICROVM, about: 'loading option ROMs (linuxboot_dma.bin, pvh.bin); qboot boots the kernel itself' },
  { key: 'pit', schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'], qemuDefault: 'auto', candidates: ['auto', 'off'], valueRequires: [{ value: 'off', requires: [{ path: ['tcg-tsc-khz'], values: ['host'] }], why: 'without a PIT a guest under TCG has no timer to calibrate its TSC against' }], about: 'the i8254 PIT; without it a guest under TCG needs tcg-tsc-khz (no timer to calibrate its TSC against)' },
  { key: 'pic', schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'], qemuDefault: 'auto', candidates: ['auto', 'off'], about: 'the i8259 PIC; interrupts then go through the IO-APIC' },
  { key: 'rtc', schema: ON_OFF_AUTO, machines: ['microvm'], qemuDefault: 'auto', candidates: ['auto', 'off'], requires: ON_MICROVM, about: 'the MC146818 RTC; a stock Linux waits ~2 s for it when it is missing (qemu-microvm-min.yaml)' },
  { key: 'isa-serial', schema: ON_OFF, machines: ['microvm'], qemuDefault: 'on', about: 'COM1; hvscope reads boot markers from it' },
  { key: 'acpi', schema: ON_OFF_AUTO, machines: ['microvm', 'pc', 'q35'], qemuDefault: 'auto', candidates: ['auto', 'off'], about: 'ACPI tables and the GED power button; without ACPI a Linux guest cannot power off (QEMU does not exit) and microvm boots qboot' },
  { key: 'auto-kernel-cmdline', schema: ON_OFF, machines: ['microvm'], qemuDefault: 'on', candidates: ['on', 'off'], requires: ON_MICROVM, about: 'adding virtio-mmio device descriptions to the kernel command line' },
  { key: 'pcie', schema: ON_OFF_AUTO, machines: ['microvm'], qemuDefault: 'auto', about: 'a PCIe host bridge on microvm' },
  { key: 'ioapic2', schema: ON_OFF_AUTO, machines: ['microvm'], qemuDefault: 'auto', about: 'a second IO-APIC on microvm' },
  { key: 'nodefaults', schema: ON_OFF, qemuDefault: 'off', candidates: ['off', 'on'], about: 'no default devices (VGA, NIC, floppy, CD-ROM, monitor)' },
  { key: 'no-user-config', schema: ON_OFF, qemuDefault: 'off', candidates: ['off', 'on'], about: 'no user or system config files' },
  {
    key: 'bios',
    // 'default' = the machine's own firmware; else a file name (QEMU's data dir) or path.
    schema: { type: 'string', minLength: 1 },
    // microvm: SeaBIOS build with ACPI, qboot without (microvm_devices_init); pc/q35: SeaBIOS.
    qemuDefault: (machine, acpi) => (machine === 'microvm' ? (acpi === 'off' ? 'qboot.rom' : 'bios-microvm.bin') : 'bios-256k.bin'),
    candidates: ['default', 'qboot.rom', 'bios-microvm.bin'],
    valueRequires: [
      { value: 'qboot.rom', requires: ON_MICROVM, why: "qboot is microvm's firmware" },
      { value: 'bios-microvm.bin', requires: ON_MICROVM, why: "QEMU's SeaBIOS build for microvm" },
    ],
    about: 'firmware: qboot (minimal, boots the kernel from fw_cfg) or a SeaBIOS build',
  },
  {
    key: 'kernel-entry',
    schema: enumValue('linux', 'pvh'),
    qemuDefault: 'linux',
    candidates: ['linux', 'pvh'],
    valueRequires: [{ value: 'pvh', requires: [{ path: ['@pvh-kernel'], values: [true] }], why: 'PVH boots an ELF kernel with a PVH entry note only' }],
    about:
      'how the kernel starts: linux = the bzImage through the Linux boot protocol (16-bit setup, then it decompresses itself); pvh = the uncompressed ELF at its PVH entry note (hvscope extracts it from the bzImage: src/lab/pvh-kernel.ts)',
  },
  // Added to the kernel command line after what the caller passes (only with a kernel).
  { key: 'kernel-cmdline', schema: { type: 'string' }, qemuDefault: null, about: 'free text appended to the kernel command line' },
  {
    key: 'tcg-tsc-khz',
    // The guest TSC rate under TCG (kHz, or `host`: the host's, which TCG's RDTSC reads),
    // given to the kernel as tsc_early_khz= so it needs no timer to calibrate against.
    // Not rendered under KVM, where kvmclock tells the guest the rate.
    schema: { anyOf: [{ const: 'host' }, { type: 'integer', minimum: 1000 }, { type: 'string', pattern: '^[0-9]{4,}$' }] },
    qemuDefault: null, // the guest kernel calibrates its TSC itself
    candidates: [null, 'host'],
    valueRequires: [{ value: null, requires: [{ path: ['pit'], values: [null, 'auto', 'on'] }], why: 'pit off needs it (no timer to calibrate the TSC against)' }],
    about: 'tsc_early_khz= under TCG: the guest skips TSC and delay-loop calibration',
  },
  { key: 'memory', schema: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+[MG]?$' }] }, qemuDefault: '128M', candidates: [128, 256], about: 'guest RAM (MiB); less RAM, less memory map for the kernel to set up' },
  { key: 'cpu', schema: OPTION_TEXT, qemuDefault: 'qemu64', candidates: ['qemu64', 'max'], about: 'CPU model (host needs KVM; max = everything the accelerator offers)' },
  { key: 'smp', schema: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[0-9]+$' }] }, qemuDefault: '1', candidates: [1, 2], about: 'vCPUs' },
  // auto = decided at boot (`hvscope boot --accel`); without a choice KVM first, then TCG.
  { key: 'accel', schema: enumValue('kvm', 'tcg', 'auto'), qemuDefault: 'tcg', about: 'accelerator (qemu-system-x86_64 tries tcg first unless named *kvm)' },
  // none | user | tap:IFNAME (a tap the caller created; QEMU runs no ifup script).
  { key: 'net', schema: { type: 'string', pattern: '^(none|user|tap:[A-Za-z0-9_.:+-]{1,15})$' }, qemuDefault: 'user', about: 'NIC backend (a default NIC on user networking unless -nodefaults)' },
  { key: 'serial', schema: { type: 'string', pattern: '^(none|null|stdio|mon:stdio|vc|file:\\S+)$' }, qemuDefault: 'vc', about: 'where COM1 goes' },
  { key: 'display', schema: enumValue('none', 'default'), qemuDefault: 'default', about: 'display backend' },
  { key: 'no-reboot', schema: ON_OFF, qemuDefault: 'off', about: 'a guest reboot ends QEMU' },
];

/** A kernel parameter the qemu target knows: how it is written and what a search may try. */
export interface KernelParam {
  name: string;
  /** flag: present (true) or not (false); value: `name=value`. */
  kind: 'flag' | 'value';
  candidates: SettingValue[];
  requires?: KnobCandidates['requires'];
  about: string;
}

/**
 * Kernel parameters worth measuring for boot time (Documentation/admin-guide/kernel-parameters.txt).
 * Any other parameter may be set too (as `name: value`); these carry candidates and why.
 */
export const KERNEL_PARAMS: readonly KernelParam[] = [
  { name: 'quiet', kind: 'flag', candidates: [false, true], about: 'console log level 4: only warnings reach the console; under TCG every console byte is an emulated UART write. The console then lacks the kernel banner, a boot marker' },
  { name: 'cryptomgr.notests', kind: 'flag', candidates: [false, true], about: "skips the crypto manager's self-test of every algorithm at boot (crypto/testmgr.c); Debian's kernel runs them" },
  { name: 'tsc', kind: 'value', candidates: [null, 'reliable'], about: 'tsc=reliable: no clocksource watchdog; under TCG on a busy host the timer ticks lag the TSC, the watchdog marks it unstable and the kernel falls back to jiffies' },
  { name: '8250.nr_uarts', kind: 'value', candidates: [null, 1], about: 'UARTs the 8250 driver registers (Debian: 4); microvm has one (0 would remove ttyS0, the console)' },
  { name: 'pci', kind: 'value', candidates: [null, 'off'], requires: ON_MICROVM, about: 'pci=off: no PCI probing; microvm without pcie has no PCI' },
  { name: 'lpj', kind: 'value', candidates: [], about: 'loops per jiffy, skipping calibrate_delay(); depends on the guest (HZ) and the host, and tcg-tsc-khz already derives it (no candidates)' },
  { name: 'rodata', kind: 'value', candidates: [null, 'off'], about: 'rodata=off: kernel text and read-only data stay writable, so the W+X page-table walk is skipped — a security loss, never in a shipped profile' },
  { name: 'mitigations', kind: 'value', candidates: [null, 'off'], about: 'mitigations=off: no Spectre/Meltdown mitigations in the guest kernel — a security loss' },
];

/** Candidates of every setting and known kernel parameter, for `tune optimize`. */
export function qemuCandidates(): KnobCandidates[] {
  const settings = QEMU_SETTINGS.filter((s) => s.candidates !== undefined).map((s) => ({
    path: [s.key],
    values: s.candidates!,
    ...(s.requires ? { requires: s.requires } : {}),
    ...(s.valueRequires ? { valueRequires: s.valueRequires } : {}),
    ...(typeof s.qemuDefault !== 'function' ? { default: s.qemuDefault } : {}),
    about: s.about,
  }));
  const params = KERNEL_PARAMS.filter((p) => p.candidates.length > 0).map((p) => ({
    path: ['kernel-params', p.name],
    values: p.candidates,
    ...(p.requires ? { requires: p.requires } : {}),
    default: p.kind === 'flag' ? false : null,
    about: p.about,
  }));
  return [...settings, ...params];
}
