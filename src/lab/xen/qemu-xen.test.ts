// The lab's QEMU command line: multiboot Xen with two modules, the settings from
// the feasibility run, and paths that QEMU's option parser would misread refused.
import { describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { DOM0_COMMAND_LINE, xenCommandLine, xenLabQemuArgs } from './qemu-xen.js';

const machine = { xen: '/c/xen', dom0Kernel: '/c/vmlinuz', initramfs: '/t/initramfs.cpio', resultsDir: '/out' };
const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

describe('xenLabQemuArgs', () => {
  it('boots Xen by multiboot with dom0 kernel (and its command line) then initramfs as modules', () => {
    const args = xenLabQemuArgs(machine);
    expect(after(args, '-kernel')).toEqual(['/c/xen']);
    expect(after(args, '-initrd')).toEqual([`/c/vmlinuz ${DOM0_COMMAND_LINE},/t/initramfs.cpio`]);
    expect(after(args, '-append')).toEqual(['console=com1 dom0_mem=512M,max:512M noreboot']);
  });

  it('uses the feasibility settings: TCG, pc, qemu64, 1 GiB, one vCPU, a virtio RNG', () => {
    const args = xenLabQemuArgs(machine);
    expect(after(args, '-accel')).toEqual(['tcg,tb-size=256']);
    expect(after(args, '-M')).toEqual(['pc']);
    expect(after(args, '-cpu')).toEqual(['qemu64']);
    expect(after(args, '-m')).toEqual(['1024']);
    expect(after(args, '-smp')).toEqual(['1']);
    expect(after(args, '-device')).toContain('virtio-rng-pci');
  });

  it('shares the host root read-only and the results directory writable, by the tags dom0 mounts', () => {
    const fsdevs = after(xenLabQemuArgs(machine), '-fsdev');
    expect(fsdevs[0]).toMatch(/^local,id=hostroot,path=\/,.*readonly=on/);
    expect(fsdevs[1]).toMatch(/^local,id=results,path=\/out,security_model=none$/);
  });

  it('doubles commas in paths (QEMU option lists) and refuses white space in module paths', () => {
    const args = xenLabQemuArgs({ ...machine, resultsDir: '/out,dir', initramfs: '/t/a,b.cpio' });
    expect(after(args, '-fsdev')[1]).toContain('path=/out,,dir,');
    expect(after(args, '-initrd')[0]).toBe(`/c/vmlinuz ${DOM0_COMMAND_LINE},/t/a,,b.cpio`);
    expect(() => xenLabQemuArgs({ ...machine, dom0Kernel: '/c/my kernel' })).toThrow(UserError);
    expect(() => xenLabQemuArgs({ ...machine, dom0Kernel: '/c/my kernel' })).toThrow(/white space/);
  });

  it('refuses memory that leaves dom0 or the guests too little', () => {
    expect(() => xenLabQemuArgs({ ...machine, memoryMb: 512 })).toThrow(/does not fit/);
    expect(() => xenLabQemuArgs({ ...machine, dom0MemoryMb: 128 })).toThrow(/does not fit/);
    expect(after(xenLabQemuArgs({ ...machine, memoryMb: 2048, dom0MemoryMb: 1024 }), '-append')[0]).toContain('dom0_mem=1024M,max:1024M');
  });
});

describe('xenLabQemuArgs --accel', () => {
  it('kvm: -accel kvm -cpu host (PV dom0 needs no VMX/SVM inside), the rest as under TCG', () => {
    const args = xenLabQemuArgs({ ...machine, accel: 'kvm' });
    expect(after(args, '-accel')).toEqual(['kvm']);
    expect(after(args, '-cpu')).toEqual(['host']);
    expect(after(args, '-append')).toEqual(['console=com1 dom0_mem=512M,max:512M noreboot']);
    expect(args.filter((a) => !['kvm', 'host'].includes(a))).toEqual(xenLabQemuArgs(machine).filter((a) => !['tcg,tb-size=256', 'qemu64'].includes(a)));
  });

  it('tcg stays the default; an unknown accelerator is refused', () => {
    expect(after(xenLabQemuArgs({ ...machine, accel: 'tcg' }), '-accel')).toEqual(['tcg,tb-size=256']);
    expect(() => xenLabQemuArgs({ ...machine, accel: 'hvf' as 'kvm' })).toThrow(/accel must be tcg or kvm/);
  });

  it('smap=0 smep=0 only for TCG\'s -cpu max, not for real SMAP/SMEP under KVM', () => {
    expect(xenCommandLine({ accel: 'kvm', cpu: 'max' })).not.toContain('smap=0');
    expect(xenCommandLine({ accel: 'tcg', cpu: 'max' })).toContain('smap=0 smep=0');
  });
});

describe('xenCommandLine', () => {
  it('turns SMAP/SMEP off with -cpu max (Xen does not boot under TCG otherwise)', () => {
    expect(xenCommandLine({ cpu: 'max' })).toBe('console=com1 dom0_mem=512M,max:512M noreboot smap=0 smep=0');
    expect(xenCommandLine({ xenArgs: ['guest_loglvl=all'] })).toBe('console=com1 dom0_mem=512M,max:512M noreboot guest_loglvl=all');
  });
});
