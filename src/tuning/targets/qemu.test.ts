import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { qemuCommandLine, qemuDefault, target, type RenderOnlyKnob } from './qemu.js';

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

  it('knows the firmware QEMU picks per machine', () => {
    expect(qemuDefault('bios', 'pc', null)).toBe('bios-256k.bin');
    expect(qemuDefault('bios', 'microvm', 'on')).toBe('bios-microvm.bin');
    expect(qemuDefault('bios', 'microvm', 'off')).toBe('qboot.rom');
  });

  it('fails in knobs() for a combination QEMU would reject, before anything runs', () => {
    expect(() => target.knobs({ machine: 'pc', rtc: 'off' }, ctx)).toThrow(/rtc is a property of microvm/);
  });
});
