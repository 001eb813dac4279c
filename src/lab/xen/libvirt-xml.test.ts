// tiny-pv's stock domain XML against libvirt's own translation recorded in the
// lab, and what shipped and user profiles change in it for the libxl driver.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { domainXmlValue } from '../../tuning/targets/libvirt-domain.js';
import { renderTinyPvDomainXml, xenLibvirtProfile } from './libvirt-xml.js';

const recorded = readFileSync(new URL('../../../fixtures/libvirt/xen-lab-2026-12-04/tiny-pv.from-native.xml', import.meta.url), 'utf8');
const kernel = /<kernel>([^<]+)<\/kernel>/.exec(recorded)![1];
const stock = renderTinyPvDomainXml({ kernel, memoryMb: 8 });

describe('tiny-pv domain XML for libvirt (libxl)', () => {
  it("is libvirt's domxml-from-native translation of the lab's xl config, less the random uuid", () => {
    expect(stock.trimEnd()).toBe(recorded.replace(/^\s*<uuid>[^<]*<\/uuid>\n/m, '').trimEnd());
  });

  it('refuses a kernel path that would break the XML', () => {
    expect(() => renderTinyPvDomainXml({ kernel: "/tmp/a'b<c", memoryMb: 8 })).toThrow(/XML-special characters/);
  });
});

describe('a profile applied for Xen', () => {
  it('libvirt-unikernel: memory, vCPUs and PV inputs applied; balloon none, USB, features, NIC and qemu.conf left out with why', () => {
    const p = xenLibvirtProfile('libvirt-unikernel', stock);
    expect(p.name).toBe('libvirt-unikernel');
    expect(domainXmlValue(p.xml, 'memory')).toBe('32 MiB');
    expect(domainXmlValue(p.xml, 'vcpu')).toBe('1');
    expect(p.xml).not.toMatch(/^\s*<input /m);
    // The libxl driver refuses model='none' (recorded): the xen balloon stays.
    expect(p.xml).toMatch(/<memballoon model='xen'\/>/);
    expect(p.xml).toMatch(/<source bridge='xenbr0'\/>/);
    expect(p.xml).not.toMatch(/<features>|type='usb'|model type='virtio'/);
    const out = Object.fromEntries(p.leftOut.map((o) => [o.key, o.why]));
    expect(out.memballoon).toMatch(/refuses model='none'.*balloon device cannot be disabled/);
    expect(Object.keys(out).sort()).toEqual(['boot', 'features', 'initrd', 'interface', 'libvirt-qemu-conf', 'memballoon', 'usb']);
    expect(p.applied).toContain('memory 32');
    expect(p.applied).toContain('input (removed)');
  });

  it("libvirt-stock's 1 GiB does not fit beside dom0: one line, before anything boots", () => {
    expect(() => xenLibvirtProfile('libvirt-stock', stock)).toThrow(/--profile libvirt-stock: memory 1024 MiB .* does not fit the lab's Xen \(4 to 448 MiB beside dom0\)$/);
  });

  it('a user profile: xen balloon kept, on_crash applied; a Xen toolstack section or no libvirt-domain section refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-libvirt-xen-'));
    try {
      const ok = join(dir, 'mine.yaml');
      writeFileSync(ok, "name: mine\nlibvirt-domain:\n  memballoon: xen\n  on_crash: preserve\n  vcpu: 1\n");
      const p = xenLibvirtProfile(ok, stock);
      expect(p.leftOut).toEqual([]);
      expect(p.xml).toMatch(/<on_crash>preserve<\/on_crash>/);
      expect(p.xml).toMatch(/<memballoon model='xen'\/>/);
      const xen = join(dir, 'xen.yaml');
      writeFileSync(xen, 'name: xen\nxen-xl-conf:\n  autoballoon: "off"\n');
      expect(() => xenLibvirtProfile(xen, stock)).toThrow(/section xen-xl-conf of .*xen\.yaml cannot be applied to a creation through libvirt's libxl driver \(only libvirt-domain\)/);
      const none = join(dir, 'none.yaml');
      writeFileSync(none, 'name: none\nsummary: nothing\n');
      expect(() => xenLibvirtProfile(none, stock)).toThrow(/none\.yaml has no libvirt-domain section/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
