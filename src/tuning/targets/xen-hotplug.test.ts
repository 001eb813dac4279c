import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TuneContext } from '../knob.js';
import { shippedScriptPath, target } from './xen-hotplug.js';

describe('xen-hotplug target', () => {
  let root: string;
  let ctx: TuneContext;
  let installed: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'hvscope-hotplug-'));
    ctx = { root, options: {} };
    installed = path.join(root, 'etc/xen/scripts/vif-bridge-fast');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('validates its section', () => {
    const validate = new Ajv().compile(target.sectionSchema);
    expect(validate({ 'vif-bridge-fast': { value: true, why: 'w', source: 's' } })).toBe(true);
    expect(validate({ 'vif-bridge-fast': 'yes' })).toBe(false);
    expect(validate({ 'vif-bridge-slow': true })).toBe(false);
  });

  it('installs the shipped script with mode 0755 and removes it on rollback', async () => {
    const [knob] = target.knobs({ 'vif-bridge-fast': { value: true, why: 'no iptables lock' } }, ctx);
    expect(knob.desired).toMatch(/^sha256:[0-9a-f]{16} 0755$/);
    expect(knob.why).toBe('no iptables lock');
    const old = await knob.read(ctx);
    expect(old).toBeNull();
    await knob.write(ctx, knob.desired);
    expect(await knob.read(ctx)).toBe(knob.desired);
    expect((await stat(installed)).mode & 0o777).toBe(0o755);
    expect(await readFile(installed)).toEqual(await readFile(shippedScriptPath('vif-bridge-fast')));
    await knob.write(ctx, old);
    expect(await readdir(path.dirname(installed))).toEqual([]);
  });

  it('replaces a different file of that name and restores it byte-for-byte with its mode', async () => {
    await mkdir(path.dirname(installed), { recursive: true });
    await writeFile(installed, '#!/bin/sh\n# site-local script\nexit 0\n', { mode: 0o700 });
    const [knob] = target.knobs({ 'vif-bridge-fast': true }, ctx);
    const old = await knob.read(ctx);
    expect(old).toMatch(/ 0700$/);
    await knob.write(ctx, knob.desired);
    expect(await knob.read(ctx)).toBe(knob.desired);
    await knob.write(ctx, old);
    expect(await readFile(installed, 'utf8')).toBe('#!/bin/sh\n# site-local script\nexit 0\n');
    expect((await stat(installed)).mode & 0o777).toBe(0o700);
    expect(await readdir(path.dirname(installed))).toEqual(['vif-bridge-fast']);
  });

  it('refuses to restore content it never saw', async () => {
    const [knob] = target.knobs({ 'vif-bridge-fast': true }, ctx);
    await expect(knob.write(ctx, 'sha256:0123456789abcdef 0644')).rejects.toThrow(/no saved copy/);
  });

  it('false makes sure the script is not installed', async () => {
    const [knob] = target.knobs({ dir: '/usr/lib/xen/scripts', 'vif-bridge-fast': false }, ctx);
    expect(knob.desired).toBeNull();
    const other = path.join(root, 'usr/lib/xen/scripts/vif-bridge-fast');
    await mkdir(path.dirname(other), { recursive: true });
    await writeFile(other, 'x');
    await knob.write(ctx, null);
    await expect(stat(other)).rejects.toThrow(/ENOENT/);
  });
});
