import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { bootsThroughPvh, qemuCommandLine, qemuDefault, target, type RenderOnlyKnob } from './qemu.js';

const ctx = { root: '/', options: {} };

describe('qemuCommandLine', () => {
  it('renders microvm properties, firmware, devices and the kernel command line', () => {
    const section = {
      machine: { value: 'microvm', why: 'w' },
      'x-option-roms': 'off',
      pit: false,
      acpi: 'on',
      nodefaults: true,
      'no-user-config': 'on',
      bios: 'qboot.rom',
      cpu: 'max',
      smp: 1,
      memory: 64,
      accel: 'tcg',
      'kernel-cmdline': 'reboot=t quiet',
      serial: 'stdio',
      display: 'none',
      net: 'user',
      'no-reboot': 'on',
    };
    expect(qemuCommandLine(section, { kernel: '/k', initrd: '/i', append: 'console=ttyS0', binary: '/opt/qemu' })).toEqual([
      '/opt/qemu', '-M', 'microvm,x-option-roms=off,pit=off,acpi=on', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', '64M',
      '-nodefaults', '-no-user-config', '-bios', 'qboot.rom', '-display', 'none', '-serial', 'stdio',
      '-netdev', 'user,id=net0', '-device', 'virtio-net-device,netdev=net0',
      '-kernel', '/k', '-initrd', '/i', '-append', 'console=ttyS0 reboot=t quiet', '-no-reboot',
    ]);
  });

  it('lets the boot-time accelerator win, and renders auto as KVM with TCG fallback', () => {
    expect(qemuCommandLine({ accel: 'auto' }, { accel: 'tcg' })).toEqual(['qemu-system-x86_64', '-M', 'pc', '-accel', 'tcg']);
    expect(qemuCommandLine({ accel: 'auto' })).toEqual(['qemu-system-x86_64', '-M', 'pc', '-accel', 'kvm', '-accel', 'tcg']);
    expect(qemuCommandLine({}, { accel: 'kvm' })).toEqual(['qemu-system-x86_64', '-M', 'pc', '-accel', 'kvm']);
  });

  it('uses a PCI NIC on pc/q35, a tap without scripts, and -nic none only when defaults are on', () => {
    expect(qemuCommandLine({ machine: 'q35', net: 'tap:tap0' })).toEqual([
      'qemu-system-x86_64', '-M', 'q35', '-netdev', 'tap,id=net0,ifname=tap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=net0',
    ]);
    expect(qemuCommandLine({ net: 'none' })).toContain('-nic');
    expect(qemuCommandLine({ net: 'none', nodefaults: true })).not.toContain('-nic');
  });

  it('adds -append only with a kernel (QEMU rejects it otherwise)', () => {
    expect(qemuCommandLine({ 'kernel-cmdline': 'quiet' })).not.toContain('-append');
    expect(() => qemuCommandLine({}, { initrd: '/i' })).toThrow(/initrd needs a kernel/);
  });

  it('renders kernel-params as tokens after the caller\'s append and kernel-cmdline: flags bare, values as name=value, false/null left out', () => {
    const section = {
      'kernel-cmdline': 'reboot=t',
      'kernel-params': { quiet: true, 'cryptomgr.notests': { value: true, why: 'w' }, tsc: 'reliable', '8250.nr_uarts': 1, pci: null, rodata: 'off', nosmt: false },
    };
    const args = qemuCommandLine(section, { kernel: '/k', append: 'console=ttyS0' });
    expect(args[args.indexOf('-append') + 1]).toBe('console=ttyS0 reboot=t quiet cryptomgr.notests tsc=reliable 8250.nr_uarts=1 rodata=off');
  });

  it('boots the uncompressed ELF for kernel-entry: pvh, and refuses when there is none', () => {
    const args = qemuCommandLine({ machine: 'microvm', 'kernel-entry': 'pvh' }, { kernel: '/bzImage', pvhKernel: '/vmlinux' });
    expect(args[args.indexOf('-kernel') + 1]).toBe('/vmlinux');
    const linux = qemuCommandLine({ 'kernel-entry': 'linux' }, { kernel: '/bzImage', pvhKernel: '/vmlinux' });
    expect(linux[linux.indexOf('-kernel') + 1]).toBe('/bzImage');
    expect(() => qemuCommandLine({ 'kernel-entry': 'pvh' }, { kernel: '/bzImage' })).toThrow(/kernel-entry: pvh .* none was given for \/bzImage/);
    expect(qemuCommandLine({ 'kernel-entry': 'pvh' })).not.toContain('-kernel'); // no kernel, nothing to choose
    expect(bootsThroughPvh({ 'kernel-entry': { value: 'pvh', why: 'w' } })).toBe(true);
    expect(bootsThroughPvh({ 'kernel-entry': 'linux' })).toBe(false);
    expect(bootsThroughPvh(undefined)).toBe(false);
  });

  it('refuses microvm-only properties on other machines', () => {
    expect(() => qemuCommandLine({ machine: 'pc', 'x-option-roms': 'off' })).toThrow(/x-option-roms is a property of microvm machines, not of pc/);
    expect(qemuCommandLine({ machine: 'q35', pit: 'off', acpi: 'off' })).toEqual(['qemu-system-x86_64', '-M', 'q35,pit=off,acpi=off']);
  });
});

describe('qemu target', () => {
  it('validates sections and rejects values QEMU would misparse', () => {
    const validate = new Ajv().compile(target.sectionSchema);
    expect(validate({ machine: { value: 'microvm', why: 'w', source: 's' }, pit: 'off', memory: '256M' })).toBe(true);
    expect(validate({ machine: 'virt' })).toBe(false);
    expect(validate({ cpu: 'max,+x2apic' })).toBe(false);
    expect(validate({ net: 'tap:bad name' })).toBe(false);
    expect(validate({ pitt: 'off' })).toBe(false);
  });

  it('has one knob per setting whose current value is QEMU\'s default and whose write changes nothing', async () => {
    const knobs = target.knobs({ machine: 'microvm', acpi: 'off', bios: 'default', pit: { value: 'off', why: 'no PIT', source: 'docs' } }, ctx) as RenderOnlyKnob[];
    expect(knobs.map((k) => [k.id, k.desired, k.hostState])).toEqual([
      ['qemu/machine', 'microvm', false],
      ['qemu/pit', 'off', false],
      ['qemu/acpi', 'off', false],
      ['qemu/bios', 'default', false],
    ]);
    expect(await Promise.all(knobs.map((k) => k.read(ctx)))).toEqual(['pc', 'auto', 'auto', 'qboot.rom']);
    expect(knobs[1].why).toBe('no PIT');
    expect(knobs[1].source).toBe('docs');
    await knobs[0].write(ctx, 'microvm');
    expect(await knobs[0].read(ctx)).toBe('pc');
  });

  it('validates kernel-params: one command-line token each, flags boolean', () => {
    const validate = new Ajv().compile(target.sectionSchema);
    expect(validate({ 'kernel-params': { quiet: true, pci: 'off', '8250.nr_uarts': 1, 'some.other': 'x', lpj: null } })).toBe(true);
    expect(validate({ 'kernel-params': { quiet: 'yes' } })).toBe(false);
    expect(validate({ 'kernel-params': { pci: 'off root=/dev/sda' } })).toBe(false);
    expect(validate({ 'kernel-params': { 'bad name': true } })).toBe(false);
    expect(validate({ 'kernel-entry': 'elf' })).toBe(false);
  });

  it('has a knob per kernel parameter whose current value is absent', async () => {
    const knobs = target.knobs({ 'kernel-params': { quiet: { value: true, why: 'fewer console bytes' }, pci: 'off', tsc: null } }, ctx) as RenderOnlyKnob[];
    expect(knobs.map((k) => [k.id, k.desired])).toEqual([
      ['qemu/kernel-params/quiet', 'quiet'],
      ['qemu/kernel-params/pci', 'pci=off'],
      ['qemu/kernel-params/tsc', null],
    ]);
    expect(knobs[0].why).toBe('fewer console bytes');
    expect(await knobs[0].read(ctx)).toBeNull();
  });

  it('declares candidate values a search may try, each for a setting the schema accepts', () => {
    const validate = new Ajv().compile(target.sectionSchema);
    const candidates = target.candidates ?? [];
    expect(candidates.map((c) => c.path.join('.'))).toEqual(expect.arrayContaining(['kernel-entry', 'bios', 'acpi', 'x-option-roms', 'pit', 'pic', 'kernel-params.quiet', 'kernel-params.pci']));
    for (const c of candidates) {
      expect(c.values.length, c.path.join('.')).toBeGreaterThan(1);
      for (const value of c.values) {
        if (value === null) continue;
        const section = c.path.length === 1 ? { [c.path[0]]: value } : { [c.path[0]]: { [c.path[1]]: value } };
        expect(validate(section), `${c.path.join('.')}: ${String(value)}`).toBe(true);
      }
    }
    // harness settings are not searched
    expect(candidates.some((c) => ['serial', 'display', 'accel', 'isa-serial'].includes(c.path[0]))).toBe(false);
  });

  it('knows the firmware QEMU picks per machine', () => {
    expect(qemuDefault('bios', 'pc', null)).toBe('bios-256k.bin');
    expect(qemuDefault('bios', 'microvm', 'on')).toBe('bios-microvm.bin');
    expect(qemuDefault('bios', 'microvm', 'off')).toBe('qboot.rom');
  });

  it('fails in knobs() for a combination QEMU would reject, before anything runs', () => {
    expect(() => target.knobs({ machine: 'pc', rtc: 'off' }, ctx)).toThrow(/rtc is a property of microvm/);
  });
});
