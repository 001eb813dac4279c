// End-to-end through the real engine: apply the shipped xen-unikernel profile (which
// includes xen-fast-hotplug, xen-stock and bridge-fast) to a temp root holding Debian's
// xl.conf and a domain config, with its bridge in a network namespace this test creates.
// Then verify, and roll back: xl.conf and the domain config must be byte-identical to
// before, the hotplug script gone, and libxlutil-free checks read the files directly.
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import type { TuneContext } from '../../src/tuning/knob.js';
import { apply, buildKnobs, plan, rollback, verify } from '../../src/tuning/engine.js';
import { JournalStore } from '../../src/tuning/journal.js';
import { loadProfile } from '../../src/tuning/profile.js';
import { allTargets } from '../../src/tuning/targets/index.js';
import { getAtom, getList } from '../../src/tuning/xl-config-text.js';

const missing = requireOrSkip(isRoot && hasCommand('ip') && hasCommand('sysctl'), 'root with iproute2 (ip netns) and sysctl');
const fixtures = resolve(import.meta.dirname, '../../fixtures/xen');
const ns = `hvs-xen-${process.pid}`;
let root: string;
let ctx: TuneContext;
let store: JournalStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hvscope-tune-xen-'));
  await mkdir(join(root, 'etc/xen'), { recursive: true });
  await copyFile(join(fixtures, 'debian-12-xl.conf'), join(root, 'etc/xen/xl.conf'));
  await copyFile(join(fixtures, 'debian-12-xlexample.pvlinux'), join(root, 'guest.cfg'));
  ctx = { root, netns: ns, options: { domainConfig: join(root, 'guest.cfg') } };
  store = new JournalStore(join(root, 'state'));
  if (!missing) await execa('ip', ['netns', 'add', ns]);
});
afterAll(async () => {
  if (!missing) await execa('ip', ['netns', 'del', ns], { reject: false });
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(missing)('tune xen-unikernel on a temp root', () => {
  it('plans, applies, verifies and rolls back to byte-identical files', async () => {
    const xlConf = join(root, 'etc/xen/xl.conf');
    const guest = join(root, 'guest.cfg');
    const before = { xl: await readFile(xlConf, 'utf8'), guest: await readFile(guest, 'utf8') };
    const profile = loadProfile('xen-unikernel', allTargets);
    const knobs = buildKnobs(profile.sections, allTargets, ctx);

    const rows = await plan(knobs, ctx);
    const row = (id: string) => rows.find((r) => r.id === id);
    expect(row('xen-xl-conf/autoballoon')).toMatchObject({ current: null, desired: 'off', change: true });
    expect(row('xen-domain/memory')).toMatchObject({ current: '128', desired: '8', change: true });
    expect(row('xen-hotplug/vif-bridge-fast')).toMatchObject({ current: null, change: true });

    await apply(profile, allTargets, ctx, store);
    const xl = await readFile(xlConf, 'utf8');
    expect(getAtom(xl, xlConf, 'vif.default.script')).toBe('vif-bridge-fast');
    expect(getAtom(xl, xlConf, 'autoballoon')).toBe('off');
    const cfg = await readFile(guest, 'utf8');
    expect(getAtom(cfg, guest, 'memory')).toBe('8');
    expect(getList(cfg, guest, 'vif')).toEqual(['bridge=xenbr0,script=vif-bridge-fast']);
    expect(await readdir(join(root, 'etc/xen/scripts'))).toEqual(['vif-bridge-fast']);
    const checks = await verify(knobs, ctx);
    expect(checks.filter((c) => !c.pass)).toEqual([]);

    await rollback(store, allTargets);
    expect(await readFile(xlConf, 'utf8')).toBe(before.xl);
    expect(await readFile(guest, 'utf8')).toBe(before.guest);
    expect(await readdir(join(root, 'etc/xen/scripts'))).toEqual([]);
  });
});
