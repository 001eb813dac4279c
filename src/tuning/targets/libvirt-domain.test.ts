import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildKnobs, plan } from '../engine.js';
import type { Knob, KnobValue, TuneContext } from '../knob.js';
import { ADDED_MARK, commentEscape, commentUnescape, parseXml } from '../domain-xml-text.js';
import { applyKnobs, rollbackKnobs } from './knob-journal.testutil.js';
import { domainXmlValue, target, tuneDomainXml } from './libvirt-domain.js';

const stockFile = path.resolve(import.meta.dirname, '../../../fixtures/libvirt/domain-stock.xml');

/** The libvirt-unikernel profile's domain section, as values (the shipped profile wraps them with why/source). */
const unikernel = {
  memory: { value: 32, why: 'small' },
  currentMemory: 32,
  vcpu: 1,
  boot: null,
  features: ['acpi', 'apic'],
  disk: null,
  graphics: null,
  video: null,
  input: null,
  sound: null,
  rng: null,
  usb: 'none',
  memballoon: 'none',
  interface: 'br0',
};

const apply = applyKnobs;
const rollback = rollbackKnobs;

const hasXmllint = existsSync('/usr/bin/xmllint');
const xmllint = (file: string): void => {
  if (hasXmllint) execFileSync('xmllint', ['--noout', file], { stdio: 'pipe' });
};

let dir: string;
let ctx: TuneContext;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hvscope-libvirt-domain-'));
  file = path.join(dir, 'dom.xml');
  await writeFile(file, await readFile(stockFile, 'utf8'));
  ctx = { root: dir, options: { domainConfig: file } };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('libvirt-domain target', () => {
  it('the section schema accepts the unikernel settings and rejects unknown ones', () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validate(target.sectionSchema, unikernel)).toBe(true);
    expect(ajv.validate(target.sectionSchema, { disks: null })).toBe(false);
    expect(ajv.validate(target.sectionSchema, { disk: 'x' })).toBe(false);
    expect(ajv.validate(target.sectionSchema, { interface: '-evil' })).toBe(false);
  });

  it('reads the stock domain', async () => {
    const rows = await plan(buildKnobs({ 'libvirt-domain': unikernel }, [target], ctx), ctx);
    const cur = Object.fromEntries(rows.map((r) => [r.id.split('/')[1], r.current]));
    expect(cur).toMatchObject({
      memory: '1024 MiB',
      currentMemory: '1024 MiB',
      vcpu: '2',
      boot: 'hd',
      features: 'acpi,apic,pae,vmport',
      disk: "<disk type='file' device='disk'>",
      graphics: "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>",
      usb: 'qemu-xhci',
      memballoon: 'virtio',
      interface: 'user',
    });
    expect(rows.every((r) => r.change)).toBe(true);
  });

  it('applies the unikernel reductions, keeps the rest, and rolls back byte for byte', async () => {
    const before = await readFile(file, 'utf8');
    const knobs = buildKnobs({ 'libvirt-domain': unikernel }, [target], ctx);
    const journal = await apply(knobs, ctx);
    const after = await readFile(file, 'utf8');
    xmllint(file);
    const dom = parseXml(after, file);
    const devices = dom.children.find((c) => c.name === 'devices')!;
    expect(devices.children.map((c) => c.name)).toEqual(['emulator', 'serial', 'controller', 'memballoon', 'interface']);
    expect(after).toContain("<memory unit='KiB'>32768</memory>");
    expect(after).toContain("<vcpu placement='static'>1</vcpu>");
    expect(after).toContain(`<controller type='usb' model='none'/>${ADDED_MARK}`);
    expect(after).toContain("<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>");
    expect(after).toContain('<qemu:arg value=\'isa-debug-exit,iobase=0x501,iosize=0x02\'/>'); // untouched
    expect(after).toContain('<!--hvscope-unset: <disk');
    for (const k of knobs) expect(k.matches ? k.matches(await k.read(ctx), k.desired) : (await k.read(ctx)) === k.desired).toBe(true);
    await rollback(journal, ctx);
    expect(await readFile(file, 'utf8')).toBe(before);
  });

  it('tuneDomainXml applies a section in memory, as apply does on the file', async () => {
    const before = await readFile(file, 'utf8');
    const knobs = buildKnobs({ 'libvirt-domain': unikernel }, [target], ctx);
    await apply(knobs, ctx);
    expect(tuneDomainXml(before, unikernel)).toBe(await readFile(file, 'utf8'));
    expect(domainXmlValue(tuneDomainXml(before, unikernel), 'memballoon')).toBe('none');
    // Idempotent: a second pass changes nothing.
    expect(tuneDomainXml(tuneDomainXml(before, unikernel), unikernel)).toBe(tuneDomainXml(before, unikernel));
  });

  it('adds what is absent and removes it again on rollback (features, kernel, memory)', async () => {
    const bare = "<?xml version='1.0'?>\n<domain type='qemu'>\n  <name>x</name>\n  <memory unit='MiB'>512</memory>\n  <os>\n    <type>hvm</type>\n  </os>\n  <devices/>\n</domain>\n";
    await writeFile(file, bare);
    const section = { memory: 16, kernel: '/boot/tiny.elf', cmdline: 'console=ttyS0 a<b', features: ['acpi'], memballoon: 'none', usb: 'none' };
    const journal = await apply(buildKnobs({ 'libvirt-domain': section }, [target], ctx), ctx);
    const after = await readFile(file, 'utf8');
    xmllint(file);
    expect(after).toContain("<memory unit='MiB'>16</memory>");
    expect(after).toContain('<cmdline>console=ttyS0 a&lt;b</cmdline>');
    expect(domainXmlValue(after, 'cmdline')).toBe('console=ttyS0 a<b');
    await rollback(journal, ctx);
    expect(await readFile(file, 'utf8')).toBe(bare);
  });

  it('--domain-output writes elsewhere; rollback deletes it again; the input is never touched', async () => {
    const out = path.join(dir, 'out.xml');
    await chmod(file, 0o600);
    const octx = { ...ctx, options: { domainConfig: file, domainOutput: out } };
    const before = await readFile(file, 'utf8');
    const journal = await apply(buildKnobs({ 'libvirt-domain': unikernel }, [target], octx), octx);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    await rollback(journal, octx);
    expect(existsSync(out)).toBe(false);
  });

  it('broken XML: one clear error naming file and line, and nothing written', async () => {
    const broken = (await readFile(stockFile, 'utf8')).replace('</vcpu>', '</vcpus>');
    await writeFile(file, broken);
    const knobs = buildKnobs({ 'libvirt-domain': unikernel }, [target], ctx);
    await expect(knobs[0].read(ctx)).rejects.toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7: not well-formed XML: </vcpus> closes <vcpu> opened on line 7$`));
    await expect(knobs[2].write(ctx, '1')).rejects.toThrow(/:7: not well-formed/);
    expect(await readFile(file, 'utf8')).toBe(broken);
  });

  it('rejects what is not XML or not a domain, with the line', () => {
    expect(() => tuneDomainXml('<domain>\n<name>a & b</name></domain>', {}, 'f.xml')).toThrow(/^f\.xml:2: not well-formed XML: '&' must start/);
    expect(() => tuneDomainXml('<network/>', {}, 'n.xml')).toThrow(/^n\.xml:1: root element is <network>/);
    expect(() => tuneDomainXml('<domain>\n<name>x</name>\n', {}, 'u.xml')).toThrow(/^u\.xml:1: not well-formed XML: <domain> is never closed/);
    expect(() => tuneDomainXml("<domain a='1' a='2'/>", {}, 'd.xml')).toThrow(/attribute a repeated/);
    expect(() => target.knobs({ vcpu: 1 }, { root: '/', options: {} })).toThrow(/--domain-config FILE/);
  });

  it('comments out elements with "--" safely and restores them exactly', () => {
    const raw = "<disk><source file='/a--b-\\-c-'/></disk>";
    const esc = commentEscape(raw);
    expect(esc).not.toContain('--');
    expect(commentUnescape(esc)).toBe(raw);
    const xml = `<domain>\n  <devices>\n    ${raw}\n  </devices>\n</domain>\n`;
    const off = tuneDomainXml(xml, { disk: null });
    parseXml(off, 'x');
    expect(domainXmlValue(off, 'disk')).toBeNull();
  });
});
