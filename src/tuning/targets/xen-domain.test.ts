import { chmod, copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Knob, KnobValue, TuneContext } from '../knob.js';
import { getList, parseXlConfig } from '../xl-config-text.js';
import { applyKnobs, rollbackKnobs } from './knob-journal.testutil.js';
import { parseVifSpec, setVifOption, target } from './xen-domain.js';

const pvlinux = path.resolve(import.meta.dirname, '../../../fixtures/xen/debian-12-xlexample.pvlinux');

const apply = applyKnobs;
const rollback = rollbackKnobs;

const unikernel = {
  type: { value: 'pv', why: 'PV boots the kernel directly' },
  memory: 8,
  vcpus: { value: 1 },
  on_crash: 'destroy',
  disk: { value: null, why: 'no block devices' },
  vif: [{ bridge: 'br-fast', script: { value: 'vif-bridge-fast' } }],
};

describe('vif specs', () => {
  it('edits one option and keeps the others in order', () => {
    expect(parseVifSpec('mac=00:16:3e:00:00:01,bridge=xenbr0')).toEqual([['mac', '00:16:3e:00:00:01'], ['bridge', 'xenbr0']]);
    expect(setVifOption('mac=m,bridge=xenbr0,ip=1.2.3.4', 'bridge', 'br1')).toBe('mac=m,bridge=br1,ip=1.2.3.4');
    expect(setVifOption('mac=m', 'script', 's')).toBe('mac=m,script=s');
    expect(setVifOption('mac=m,script=s', 'script', null)).toBe('mac=m');
    expect(setVifOption('', 'bridge', 'b')).toBe('bridge=b');
  });
});

describe('xen-domain target', () => {
  let dir: string;
  let cfg: string;
  let ctx: TuneContext;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvscope-domain-'));
    cfg = path.join(dir, 'guest.cfg');
    await copyFile(pvlinux, cfg);
    ctx = { root: dir, options: { domainConfig: cfg } };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('validates sections in both entry forms and rejects unknown keys and vif options', () => {
    const validate = new Ajv().compile(target.sectionSchema);
    expect(validate(unikernel)).toBe(true);
    expect(validate({ type: 'pvhvm' })).toBe(false);
    expect(validate({ vif: [{ brigde: 'x' }] })).toBe(false);
    expect(validate({ vif: [{ bridge: 'a,b' }] })).toBe(false);
    expect(validate({ memroy: 8 })).toBe(false);
  });

  it('needs --domain-config before touching anything', () => {
    expect(() => target.knobs(unikernel, { root: dir, options: {} })).toThrow(/--domain-config FILE/);
  });

  it('rewrites the Debian PV example in place into a minimal unikernel domain and rolls back byte-identically', async () => {
    const original = await readFile(cfg, 'utf8');
    const knobs = target.knobs(unikernel, ctx);
    expect(knobs.map((k) => k.id)).toEqual([
      'xen-domain/type', 'xen-domain/memory', 'xen-domain/vcpus', 'xen-domain/on_crash', 'xen-domain/disk',
      'xen-domain/vif[0]/bridge', 'xen-domain/vif[0]/script',
    ]);
    expect(await knobs[1].read(ctx)).toBe('128');
    expect(await knobs[4].read(ctx)).toBe(`[ '/dev/vg/guest-volume,raw,xvda,rw' ]`);
    const journal = await apply(knobs, ctx);
    const out = await readFile(cfg, 'utf8');
    expect(getList(out, cfg, 'vif')).toEqual(['bridge=br-fast,script=vif-bridge-fast']);
    expect(parseXlConfig(out, cfg).map((s) => s.key)).toEqual(['name', 'kernel', 'extra', 'memory', 'vcpus', 'vif', 'type', 'on_crash']);
    expect(out).toContain('memory = 8\n'); // the user's line, edited in place
    await rollback(journal, ctx);
    expect(await readFile(cfg, 'utf8')).toBe(original);
  });

  it('writes to --domain-output, leaving the input alone, and removes the output on rollback', async () => {
    const original = await readFile(cfg, 'utf8');
    const output = path.join(dir, 'out', 'guest-fast.cfg');
    const octx: TuneContext = { root: dir, options: { domainConfig: cfg, domainOutput: output } };
    await chmod(cfg, 0o600);
    const journal = await apply(target.knobs(unikernel, octx), octx);
    expect(await readFile(cfg, 'utf8')).toBe(original);
    expect((await stat(output)).mode & 0o777).toBe(0o600);
    expect(await readFile(output, 'utf8')).toContain(`vif = [ 'bridge=br-fast,script=vif-bridge-fast' ]`);
    await rollback(journal, octx);
    await expect(stat(output)).rejects.toThrow(/ENOENT/);
  });

  it('adds a vif list to a config without one and takes it away again', async () => {
    const text = `name = "clickos"\nkernel = "/srv/clickos_x86_64"\nmemory = 8\n`;
    await writeFile(cfg, text);
    const journal = await apply(target.knobs({ vif: [{ bridge: 'br0', mac: '00:16:3e:00:00:01' }] }, ctx), ctx);
    expect(getList(await readFile(cfg, 'utf8'), cfg, 'vif')).toEqual(['bridge=br0,mac=00:16:3e:00:00:01']);
    await rollback(journal, ctx);
    expect(await readFile(cfg, 'utf8')).toBe(text);
  });

  it('replaces a disk list and compares lists by their items', async () => {
    const [disk] = target.knobs({ disk: ['phy:/dev/vg/a,xvda,w'] }, ctx);
    await disk.write(ctx, disk.desired);
    expect(disk.matches!(await disk.read(ctx), `['phy:/dev/vg/a,xvda,w']`)).toBe(true);
  });

  it('names the file and line of a broken domain config', async () => {
    await writeFile(cfg, 'name = "x"\nmemory = lots\n');
    const [k] = target.knobs({ memory: 8 }, ctx);
    await expect(k.read(ctx)).rejects.toThrow(`${cfg}:2:`);
  });
});
