import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Knob, KnobValue, TuneContext } from '../knob.js';
import { target } from './xen-xl-conf.js';

const debianXlConf = path.resolve(import.meta.dirname, '../../../fixtures/xen/debian-12-xl.conf');

/** What the engine does, through read()/write() alone: journal, write, then restore the journal. */
async function applyThenRollback(knobs: Knob[], ctx: TuneContext): Promise<void> {
  const journal: [Knob, KnobValue][] = [];
  for (const k of knobs) {
    journal.push([k, await k.read(ctx)]);
    await k.write(ctx, k.desired);
    const seen = await k.read(ctx);
    expect(k.matches ? k.matches(seen, k.desired) : seen === k.desired, k.id).toBe(true);
  }
  for (const [k, old] of journal.reverse()) await k.write(ctx, old);
}

const section = {
  autoballoon: { value: 'off', why: 'no dom0 ballooning on the create path', source: 'xl.conf(5)' },
  run_hotplug_scripts: 1,
  'vif.default.script': { value: 'vif-bridge-fast' },
  'vif.default.bridge': 'br-fast',
  max_grant_frames: { value: 64 },
  domid_policy: 'xen',
};

describe('xen-xl-conf target', () => {
  let root: string;
  let ctx: TuneContext;
  let xlConf: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'hvscope-xlconf-'));
    ctx = { root, options: {} };
    xlConf = path.join(root, 'etc/xen/xl.conf');
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('has a schema accepting scalars and {value, why, source}, rejecting bad values and keys', () => {
    const validate = new Ajv({ allErrors: true }).compile(target.sectionSchema);
    expect(validate(section)).toBe(true);
    expect(validate({ autoballoon: 'sometimes' })).toBe(false);
    expect(validate({ autoballoon: { value: 'off', because: 'x' } })).toBe(false);
    expect(validate({ 'vif.default.scirpt': 'x' })).toBe(false);
    expect(validate({ max_grant_frames: -1 })).toBe(false);
  });

  it('turns the section into one knob per key, with why and source', () => {
    const knobs = target.knobs(section, ctx);
    expect(knobs.map((k) => [k.id, k.desired])).toEqual([
      ['xen-xl-conf/autoballoon', 'off'],
      ['xen-xl-conf/run_hotplug_scripts', '1'],
      ['xen-xl-conf/vif.default.script', 'vif-bridge-fast'],
      ['xen-xl-conf/vif.default.bridge', 'br-fast'],
      ['xen-xl-conf/max_grant_frames', '64'],
      ['xen-xl-conf/domid_policy', 'xen'],
    ]);
    expect(knobs[0].why).toBe('no dom0 ballooning on the create path');
    expect((knobs[0] as { source?: string }).source).toBe('xl.conf(5)');
  });

  it('applies to the Debian xl.conf and rolls back to a byte-identical file', async () => {
    await mkdir(path.dirname(xlConf), { recursive: true });
    await copyFile(debianXlConf, xlConf);
    const original = await readFile(xlConf, 'utf8');
    const knobs = target.knobs(section, ctx);
    expect(await Promise.all(knobs.map((k) => k.read(ctx)))).toEqual([null, null, null, null, null, null]);
    await applyThenRollback(knobs, ctx);
    expect(await readFile(xlConf, 'utf8')).toBe(original);
  });

  it('edits values that are set and restores their exact spelling', async () => {
    await mkdir(path.dirname(xlConf), { recursive: true });
    const original = `# site config\nautoballoon = 'auto'  # ours\nrun_hotplug_scripts=0x1\nvif.default.script="vif-bridge"\n`;
    await writeFile(xlConf, original);
    const knobs = target.knobs(section, ctx);
    expect(await knobs[0].read(ctx)).toBe('auto');
    expect(knobs[1].matches!('0x1', '1')).toBe(true);
    expect(knobs[0].matches!('0', 'off')).toBe(true);
    await knobs[0].write(ctx, 'off');
    expect(await readFile(xlConf, 'utf8')).toContain(`autoballoon = 'off'  # ours\n`);
    await knobs[0].write(ctx, 'auto');
    await applyThenRollback(knobs, ctx);
    expect(await readFile(xlConf, 'utf8')).toBe(original);
  });

  it('creates a missing xl.conf (path from the section) and removes it on rollback', async () => {
    const knobs = target.knobs({ path: '/opt/xen/xl.conf', autoballoon: 'off' }, ctx);
    const file = path.join(root, 'opt/xen/xl.conf');
    expect(await knobs[0].read(ctx)).toBeNull();
    await knobs[0].write(ctx, 'off');
    expect(await readFile(file, 'utf8')).toMatch(/^autoballoon="off" # added by hvscope tune$/m);
    await knobs[0].write(ctx, null);
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });

  it('reports a broken xl.conf with file and line instead of guessing', async () => {
    await mkdir(path.dirname(xlConf), { recursive: true });
    await writeFile(xlConf, '# x\nautoballoon=off\n');
    const [k] = target.knobs({ autoballoon: 'off' }, ctx);
    await expect(k.read(ctx)).rejects.toThrow(`${xlConf}:2: expected a quoted string`);
  });
});
