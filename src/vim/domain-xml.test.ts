// The domain XML writer (synthetic guests, named so) and finding libvirtd.
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { domainName, domainXml } from './domain-xml.js';
import { findLibvirtd } from './libvirtd.js';

const synthetic = { kind: 'tiny', name: 'tiny', kernel: '/k', defaultMachine: 'pc', okExitCodes: [33], memoryMiB: 32, description: 'synthetic tiny' } as const;

describe('domainXml', () => {
  it('writes the minimal kernel-only domain with the console on stdout and tiny\'s exit device', () => {
    const xml = domainXml(synthetic, { name: 'hvscope-tiny-x', kernel: '/tmp/d/tiny.elf' });
    expect(xml).toContain("<memballoon model='none'/>");
    expect(xml).toContain('<kernel>/tmp/d/tiny.elf</kernel>');
    expect(xml).not.toMatch(/<disk|<graphics|<video|<input/);
    expect(xml).toContain("<qemu:arg value='isa-debug-exit,iobase=0x501,iosize=0x02'/>");
    expect(xml).toContain("<qemu:arg value='stdio'/>");
    expect(domainName(xml)).toBe('hvscope-tiny-x');
  });

  it('escapes what it is given (a kernel path, a command line) and adds initrd and cmdline for other guests', () => {
    const linux = { ...synthetic, kind: 'path', append: "console=ttyS0 a<b & 'c'" } as const;
    const xml = domainXml(linux, { name: 'n', kernel: "/tmp/we'ird&<dir>/k", initrd: '/tmp/i' });
    expect(xml).toContain('<kernel>/tmp/we&apos;ird&amp;&lt;dir&gt;/k</kernel>');
    expect(xml).toContain('<initrd>/tmp/i</initrd>');
    expect(xml).toContain('<cmdline>console=ttyS0 a&lt;b &amp; &apos;c&apos;</cmdline>');
    expect(xml).not.toContain('isa-debug-exit');
  });
});

describe('findLibvirtd', () => {
  it('refuses a pid that is not a libvirtd, or no process, with one line', () => {
    expect(() => findLibvirtd(process.pid)).toThrow(UserError);
    expect(() => findLibvirtd(process.pid)).toThrow(/that process is \S+, not libvirtd/);
    expect(() => findLibvirtd(999_999_999)).toThrow(/no such process/);
    expect(() => findLibvirtd(-1)).toThrow(/expected a process id/);
  });
});
