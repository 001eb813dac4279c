// What `boot --via libvirt --profile` takes from a profile (synthetic guest,
// named so; the qemu.conf is Debian 12's shipped file, fixtures/libvirt).
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { domainXml } from './domain-xml.js';
import { applyLibvirtProfile, loadLibvirtProfile } from './libvirt-profile.js';

const synthetic = { kind: 'tiny', name: 'tiny', kernel: '/k', defaultMachine: 'pc', okExitCodes: [33], memoryMiB: 32, description: 'synthetic tiny' } as const;
const work = mkdtempSync(join(tmpdir(), 'hvscope-libvirt-profile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const debianConf = join(work, 'qemu.conf');
copyFileSync(resolve(import.meta.dirname, '../../fixtures/libvirt/debian-12-qemu.conf'), debianConf);

function profileFile(name: string, body: string): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nsummary: test profile (synthetic)\n${body}`);
  return file;
}

describe('loadLibvirtProfile', () => {
  it('takes the domain section, the bridge its NIC joins, and a tuned copy of qemu.conf (the source file untouched)', async () => {
    const before = (await import('node:fs')).readFileSync(debianConf, 'utf8');
    const file = profileFile(
      'both',
      `libvirt-domain:\n  memory: 48\n  memballoon: none\n  interface: brtest0\nlibvirt-qemu-conf:\n  path: ${debianConf}\n  namespaces: []\n  seccomp_sandbox: 0\n`,
    );
    const p = await loadLibvirtProfile(file);
    expect(p.bridges).toEqual(['brtest0']);
    expect(p.qemuConf).toMatch(/^namespaces *= *\[ \]/m);
    expect(p.qemuConf).toMatch(/^seccomp_sandbox *= *0\b/m);
    expect((await import('node:fs')).readFileSync(debianConf, 'utf8')).toBe(before);
    const xml = applyLibvirtProfile(domainXml(synthetic, { name: 'n', kernel: '/tmp/k' }), p);
    expect(xml).toContain("<source bridge='brtest0'/>");
    expect(xml).toMatch(/<memory unit='KiB'>49152<\/memory>|<memory[^>]*>48<\/memory>/);
    expect(xml).toContain('<kernel>/tmp/k</kernel>');
  });

  it('leaves the XML and qemu.conf alone without those sections', async () => {
    const p = await loadLibvirtProfile(profileFile('empty', 'libvirt-domain: {}\n'));
    expect(p.bridges).toEqual([]);
    expect(p.qemuConf).toBeUndefined();
    const xml = domainXml(synthetic, { name: 'n', kernel: '/tmp/k' });
    expect(applyLibvirtProfile(xml, undefined)).toBe(xml);
  });

  it('refuses a profile with sections a libvirt creation cannot apply, in one line naming them', async () => {
    const err = await loadLibvirtProfile('qemu-default').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String((err as Error).message)).toMatch(/section.* qemu\b.*cannot be applied to a creation through libvirt/);
    expect(String((err as Error).message)).not.toContain('\n');
  });

  it('accepts the shipped libvirt-unikernel profile (bridge br0 from its variable)', async () => {
    const file = profileFile('child', `include: [libvirt-unikernel]\nlibvirt-qemu-conf:\n  path: ${debianConf}\n`);
    const p = await loadLibvirtProfile(file);
    expect(p.bridges).toEqual(['br0']);
    expect(p.qemuConf).toMatch(/^namespaces *= *\[ \]/m);
  });
});
