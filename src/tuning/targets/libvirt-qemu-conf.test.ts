import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildKnobs, plan } from '../engine.js';
import type { Knob, KnobValue, TuneContext } from '../knob.js';
import { applyKnobs, rollbackKnobs } from './knob-journal.testutil.js';
import { target } from './libvirt-qemu-conf.js';

const debianConf = path.resolve(import.meta.dirname, '../../../fixtures/libvirt/debian-12-qemu.conf');
const tuned = { namespaces: { value: [], why: 'no mount namespace' }, cgroup_controllers: [], seccomp_sandbox: 0, stdio_handler: 'file' };

const apply = applyKnobs;
const rollback = rollbackKnobs;

let root: string;
let ctx: TuneContext;
let conf: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'hvscope-qemu-conf-'));
  await mkdir(path.join(root, 'etc/libvirt'), { recursive: true });
  conf = path.join(root, 'etc/libvirt/qemu.conf');
  await copyFile(debianConf, conf);
  ctx = { root, options: {} };
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('libvirt-qemu-conf target', () => {
  it('validates its section', () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validate(target.sectionSchema, tuned)).toBe(true);
    expect(ajv.validate(target.sectionSchema, { namespaces: ['pid'] })).toBe(false);
    expect(ajv.validate(target.sectionSchema, { seccomp: 0 })).toBe(false);
  });

  it('reads Debian defaults as absent, writes under --root next to the commented default, rolls back byte for byte', async () => {
    const before = await readFile(conf, 'utf8');
    const knobs = buildKnobs({ 'libvirt-qemu-conf': tuned }, [target], ctx);
    expect((await plan(knobs, ctx)).map((r) => [r.id, r.current, r.desired])).toEqual([
      ['libvirt-qemu-conf/namespaces', null, '[]'],
      ['libvirt-qemu-conf/cgroup_controllers', null, '[]'],
      ['libvirt-qemu-conf/seccomp_sandbox', null, '0'],
      ['libvirt-qemu-conf/stdio_handler', null, 'file'],
    ]);
    const journal = await apply(knobs, ctx);
    const after = await readFile(conf, 'utf8');
    expect(after).toMatch(/^#namespaces = \[ "mount" \]\nnamespaces=\[ \] # added by hvscope tune$/m);
    expect(after).toMatch(/^seccomp_sandbox=0 # added by hvscope tune$/m);
    expect(after).toMatch(/^stdio_handler="file" # added by hvscope tune$/m);
    await rollback(journal, ctx);
    expect(await readFile(conf, 'utf8')).toBe(before);
  });

  it("edits the user's own settings in place and restores them", async () => {
    await writeFile(conf, '# mine\nnamespaces = [ "mount" ]\nseccomp_sandbox = 1\ncgroup_controllers = [ "cpu", "memory" ]\n');
    const knobs = buildKnobs({ 'libvirt-qemu-conf': { ...tuned, stdio_handler: null } }, [target], ctx);
    const journal = await apply(knobs, ctx);
    expect(await readFile(conf, 'utf8')).toBe('# mine\nnamespaces = [ ]\nseccomp_sandbox = 0\ncgroup_controllers = [ ]\n');
    await rollback(journal, ctx);
    expect(await readFile(conf, 'utf8')).toBe('# mine\nnamespaces = [ "mount" ]\nseccomp_sandbox = 1\ncgroup_controllers = [ "cpu", "memory" ]\n');
  });

  it('a missing qemu.conf is created and deleted again on rollback; path: moves it', async () => {
    const knobs = buildKnobs({ 'libvirt-qemu-conf': { path: '/opt/lv/qemu.conf', seccomp_sandbox: 0 } }, [target], ctx);
    const journal = await apply(knobs, ctx);
    expect(existsSync(path.join(root, 'opt/lv/qemu.conf'))).toBe(true);
    await rollback(journal, ctx);
    expect(existsSync(path.join(root, 'opt/lv/qemu.conf'))).toBe(false);
  });

  it('a broken qemu.conf: one error with file and line, nothing written', async () => {
    const broken = 'user = "root"\nnamespaces = [ "mount" \nseccomp_sandbox = 1\n';
    await writeFile(conf, broken);
    const [k] = buildKnobs({ 'libvirt-qemu-conf': { namespaces: [] } }, [target], ctx);
    await expect(k.read(ctx)).rejects.toThrow(new RegExp(`^${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: expected ',' or ']' in list for namespaces$`));
    await expect(k.write(ctx, '[]')).rejects.toThrow(/qemu\.conf:3: /);
    expect(await readFile(conf, 'utf8')).toBe(broken);
  });
});
