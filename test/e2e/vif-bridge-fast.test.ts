// The fast vif hotplug script that the xen-hotplug target installs, run for real in a
// network namespace this test creates: a bridge, and interfaces standing in for the
// backend vif (vif5.0) and an emulated NIC's tap (veth ends). Checked with `ip -j link`, independently
// of the script. XenStore is not available here, so the bridge comes from the bridge=
// argument or the environment — the paths libxl and udev use besides XenStore.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { shippedScriptPath } from '../../src/tuning/targets/xen-hotplug.js';

const missing = requireOrSkip(isRoot && hasCommand('ip'), 'root and iproute2 (network namespaces)');
const ns = `hvscope-vifb-${process.pid}`;
const script = shippedScriptPath('vif-bridge-fast');
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

async function ip(...args: string[]): Promise<string> {
  return (await execa('ip', args)).stdout;
}
async function link(name: string): Promise<{ master?: string; flags: string[] }> {
  const [info] = JSON.parse(await ip('-n', ns, '-j', 'link', 'show', 'dev', name)) as { master?: string; flags: string[] }[];
  return info;
}
/** Runs the script inside the namespace with only the given environment. */
function hotplug(args: string[], env: Record<string, string>) {
  return execa('ip', ['netns', 'exec', ns, script, ...args], { env: { PATH, ...env }, extendEnv: false, reject: false });
}

beforeAll(async () => {
  if (missing) return;
  await ip('netns', 'add', ns);
  await ip('-n', ns, 'link', 'add', 'br-fast', 'type', 'bridge');
  await ip('-n', ns, 'link', 'set', 'br-fast', 'up');
  // veth pairs (the dummy driver is not in every kernel); the peer ends stay unused.
  await ip('-n', ns, 'link', 'add', 'vif5.0', 'type', 'veth', 'peer', 'name', 'peer-vif');
  await ip('-n', ns, 'link', 'add', 'vif5.0-emu', 'type', 'veth', 'peer', 'name', 'peer-emu');
});
afterAll(async () => {
  if (!missing) await execa('ip', ['netns', 'del', ns], { reject: false });
});

describe.skipIf(missing)('vif-bridge-fast', () => {
  it('online: brings the vif up and attaches it to the bridge named by bridge=; offline detaches it', async () => {
    expect(await link('vif5.0')).not.toHaveProperty('master');
    const on = await hotplug(['online', 'type_if=vif', 'bridge=br-fast'], { vif: 'vif5.0' });
    expect(on.exitCode, on.stderr).toBe(0);
    const attached = await link('vif5.0');
    expect(attached.master).toBe('br-fast');
    expect(attached.flags).toContain('UP');
    const off = await hotplug(['offline', 'type_if=vif', 'bridge=br-fast'], { vif: 'vif5.0' });
    expect(off.exitCode, off.stderr).toBe(0);
    expect(await link('vif5.0')).not.toHaveProperty('master');
  });

  it('takes the bridge from the environment, and handles an emulated NIC (tap) on add/remove', async () => {
    const add = await hotplug(['add', 'type_if=tap'], { INTERFACE: 'vif5.0-emu', bridge: 'br-fast' });
    expect(add.exitCode, add.stderr).toBe(0);
    expect((await link('vif5.0-emu')).master).toBe('br-fast');
    // A PV vif ignores add/remove (it is handled on online/offline), as vif-common.sh does.
    const ignored = await hotplug(['remove', 'type_if=vif'], { vif: 'vif5.0-emu', bridge: 'br-fast' });
    expect(ignored.exitCode).toBe(0);
    expect((await link('vif5.0-emu')).master).toBe('br-fast');
    const remove = await hotplug(['remove', 'type_if=tap'], { INTERFACE: 'vif5.0-emu' });
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect(await link('vif5.0-emu')).not.toHaveProperty('master');
  });

  it('fails with a clear message, changing nothing, when there is no bridge or the bridge does not exist', async () => {
    const none = await hotplug(['online'], { vif: 'vif5.0' });
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toMatch(/no bridge for vif5\.0/);
    const wrong = await hotplug(['online', 'bridge=br-missing'], { vif: 'vif5.0' });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/cannot attach vif5\.0 to bridge br-missing/);
    expect(await link('vif5.0')).not.toHaveProperty('master');
    const bad = await hotplug(['frobnicate'], { vif: 'vif5.0' });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
