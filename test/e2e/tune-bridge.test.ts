// End-to-end: `hvscope tune` on a real Linux bridge inside a network namespace
// this test creates (unique name, always deleted). Values are read back
// independently with `ip -n NS -d -j link show` and `sysctl` in the namespace,
// never through hvscope's own readers. The CLI runs as a child process (the
// built bin/hvscope), so kill -9 hits a real process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, execaSync, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';
import { hvscopeBin } from '../helpers/cli.js';

const repo = resolve(import.meta.dirname, '../..');
const skip = requireOrSkip(isRoot && hasCommand('ip') && hasCommand('sysctl'), 'root with iproute2 (ip netns) and sysctl');

const ns = `hvs-tune-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const entry = hvscopeBin;
let work = '';
let stateDir = '';
const children = new Set<ResultPromise>();

function hvscope(args: string[], env: Record<string, string> = {}) {
  return execa('node', [entry, ...args], { reject: false, env: { ...process.env, ...env }, timeout: 60_000 });
}

const tuneArgs = (action: string, profile?: string) => ['tune', action, ...(profile ? [profile] : []), '--netns', ns, '--state-dir', stateDir];

interface LinkInfo {
  ifname: string;
  mtu: number;
  flags: string[];
  linkinfo?: { info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
}

function link(dev: string): LinkInfo | null {
  const r = execaSync('ip', ['-n', ns, '-d', '-j', 'link', 'show', 'dev', dev], { reject: false });
  if (r.exitCode !== 0) return null;
  return (JSON.parse(String(r.stdout)) as LinkInfo[])[0];
}

function sysctl(key: string): string {
  return String(execaSync('ip', ['netns', 'exec', ns, 'sysctl', '-n', key]).stdout).trim();
}

/** Everything the test profile touches, read independently of hvscope. */
function snapshot() {
  const br = link('br0');
  const port = link('v0');
  const d = br?.linkinfo?.info_data ?? {};
  const p = port?.linkinfo?.info_slave_data ?? {};
  return {
    bridge: {
      stp_state: d.stp_state,
      forward_delay: d.forward_delay,
      ageing_time: d.ageing_time,
      mcast_snooping: d.mcast_snooping,
      nf_call_iptables: d.nf_call_iptables,
      nf_call_ip6tables: d.nf_call_ip6tables,
      nf_call_arptables: d.nf_call_arptables,
      mtu: br?.mtu,
      up: br?.flags.includes('UP'),
    },
    port: { learning: p.learning, flood: p.flood, mcast_flood: p.mcast_flood, hairpin: p.hairpin },
    sysctl: {
      iptables: sysctl('net.bridge.bridge-nf-call-iptables'),
      ip6tables: sysctl('net.bridge.bridge-nf-call-ip6tables'),
      arptables: sysctl('net.bridge.bridge-nf-call-arptables'),
    },
  };
}

let original: ReturnType<typeof snapshot>;
let profile = '';

/** Starts an apply that pauses at `step` (test hook) and resolves once it is paused. */
async function pausedApply(file: string, step: number) {
  const child = execa('node', [entry, ...tuneArgs('apply', file)], { reject: false, env: { ...process.env, HVSCOPE_TEST_PAUSE_AT: String(step) } });
  children.add(child);
  let stderr = '';
  const paused = await new Promise<boolean>((res) => {
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes(`paused at step ${step}`)) res(true);
    });
    void child.then(() => res(false));
  });
  return { child, paused, stderr: () => stderr };
}

async function kill9(child: ResultPromise) {
  child.kill('SIGKILL');
  const r = await child;
  children.delete(child);
  return r;
}

describe.skipIf(skip)('tune on a real bridge in a network namespace', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'hvscope-tune-e2e-'));
    stateDir = join(work, 'state');
    execaSync('ip', ['netns', 'add', ns]);
    const ip = (...a: string[]) => execaSync('ip', ['-n', ns, ...a]);
    ip('link', 'add', 'br0', 'type', 'bridge');
    // Start from the kernel's defaults plus STP on: what bridge-fast undoes.
    ip('link', 'set', 'br0', 'type', 'bridge', 'stp_state', '1', 'forward_delay', '1500');
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('link', 'set', 'v0', 'master', 'br0');
    execaSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1', 'net.bridge.bridge-nf-call-arptables=1']);
    // A user profile building on the shipped bridge-fast.
    profile = join(work, 'ns-bridge.yaml');
    writeFileSync(
      profile,
      [
        'name: ns-bridge',
        'summary: bridge-fast on br0 plus port flags and timers (e2e test)',
        `include: [${join(repo, 'tuning-profiles/bridge-fast.yaml')}]`,
        'variables: { bridge: br0, uplink_mtu: 1400 }',
        'bridge:',
        '  ageing_time: { value: 30, why: test }',
        '  mcast_snooping: off',
        '  mtu: ${uplink_mtu}',
        '  ports:',
        '    v0: { learning: false, flood: false, mcast_flood: false, hairpin: true }',
        '',
      ].join('\n'),
    );
    original = snapshot();
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    execaSync('ip', ['netns', 'del', ns], { reject: false });
    if (work) rmSync(work, { recursive: true, force: true });
    expect(existsSync(`/run/netns/${ns}`)).toBe(false);
  });

  it('starts from the state the profile changes', () => {
    expect(original.bridge).toMatchObject({ stp_state: 1, forward_delay: 1500, ageing_time: 30000, mcast_snooping: 1, mtu: 1500, up: false });
    expect(original.port).toEqual({ learning: true, flood: true, mcast_flood: true, hairpin: false });
    expect(original.sysctl).toEqual({ iptables: '1', ip6tables: '1', arptables: '1' });
  });

  it('plan shows current vs desired and changes nothing', async () => {
    const r = await hvscope([...tuneArgs('plan', profile), '--json']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const plan = JSON.parse(String(r.stdout)) as { knobs: { id: string; current: string; desired: string; change: boolean; why?: string }[] };
    const row = (id: string) => plan.knobs.find((k) => k.id === id);
    expect(row('bridge/br0/stp_state')).toMatchObject({ current: '1', desired: '0', change: true });
    expect(row('bridge/br0/stp_state')?.why).toMatch(/2 × 15 s/);
    expect(row('bridge/br0/forward_delay')).toMatchObject({ current: '15', desired: '0', change: true });
    expect(row('bridge/br0/ageing_time')).toMatchObject({ current: '300', desired: '30', change: true });
    expect(row('bridge/br0/mtu')).toMatchObject({ current: '1500', desired: '1400', change: true });
    expect(row('bridge/br0/port/v0/hairpin')).toMatchObject({ current: 'off', desired: 'on', change: true });
    expect(row('bridge/br0/present')).toMatchObject({ current: 'yes', change: false });
    expect(row('sysctl/net.bridge.bridge-nf-call-iptables')).toMatchObject({ current: '1', desired: '0', change: true });
    const text = await hvscope(tuneArgs('plan', profile));
    expect(String(text.stdout)).toMatch(/~\s+bridge\/br0\/stp_state\s+1\s+0/);
    const dry = await hvscope([...tuneArgs('apply', profile), '--dry-run']);
    expect(dry.exitCode).toBe(0);
    expect(String(dry.stdout)).toBe(String(text.stdout));
    expect(snapshot()).toEqual(original);
    expect(existsSync(join(stateDir, 'journal.json'))).toBe(false);
  });

  it('a bad profile fails before anything is touched', async () => {
    const bad = join(work, 'bad-late-typo.yaml');
    writeFileSync(bad, `name: bad-late-typo\ninclude: [${profile}]\nbridge:\n  name: br0\n  stp_sate: 0\n`);
    const r = await hvscope(tuneArgs('apply', bad));
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toContain(`${bad}:5: bridge: unknown key "stp_sate" (did you mean "stp_state"?)`);
    expect(snapshot()).toEqual(original);
    expect(existsSync(join(stateDir, 'journal.json'))).toBe(false);
  });

  it('a knob failing midway restores everything already changed', async () => {
    const failing = join(work, 'missing-port.yaml');
    writeFileSync(failing, `name: missing-port\ninclude: [${profile}]\nbridge:\n  ports:\n    v1: { learning: false }\n`);
    const r = await hvscope(tuneArgs('apply', failing));
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/v1 is not a port of this bridge/);
    expect(String(r.stderr)).toMatch(/restored \d+ knobs already changed/);
    expect(snapshot()).toEqual(original);
  });

  it('apply changes the kernel values; verify passes; status shows no drift', async () => {
    const r = await hvscope(tuneArgs('apply', profile));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/bridge\/br0\/stp_state: 1 → 0/);
    const now = snapshot();
    expect(now.bridge).toEqual({
      stp_state: 0,
      forward_delay: 0,
      ageing_time: 3000,
      mcast_snooping: 1 - 1,
      nf_call_iptables: 0,
      nf_call_ip6tables: 0,
      nf_call_arptables: 0,
      mtu: 1400,
      up: true,
    });
    expect(now.port).toEqual({ learning: false, flood: false, mcast_flood: false, hairpin: true });
    expect(now.sysctl).toEqual({ iptables: '0', ip6tables: '0', arptables: '0' });

    const v = await hvscope([...tuneArgs('verify', profile), '--json']);
    expect(v.exitCode).toBe(0);
    const verify = JSON.parse(String(v.stdout)) as { pass: boolean; knobs: { id: string; pass: boolean; seen: string }[] };
    expect(verify.pass).toBe(true);
    expect(verify.knobs.find((k) => k.id === 'bridge/br0/mtu')).toMatchObject({ pass: true, seen: '1400' });

    const s = await hvscope([...tuneArgs('status'), '--json']);
    const st = JSON.parse(String(s.stdout)) as { applied: { name: string }; drift: { id: string; drifted: boolean }[] };
    expect(st.applied.name).toBe('ns-bridge');
    expect(st.drift.filter((d) => d.drifted)).toEqual([]);
  });

  it('a second apply while one runs fails clearly', async () => {
    // The profile is applied already; an out-of-band change gives the apply one knob to write.
    execaSync('ip', ['-n', ns, 'link', 'set', 'br0', 'type', 'bridge', 'ageing_time', '30000']);
    const held = await pausedApply(profile, 1);
    expect(held.paused).toBe(true);
    const second = await hvscope(tuneArgs('apply', profile));
    expect(second.exitCode).toBe(1);
    expect(String(second.stderr)).toMatch(/another hvscope apply or rollback is running \(pid \d+/);
    await kill9(held.child);
    // Its crash is recovered by the next command, back to the state before it (ageing_time drifted to 300 s).
    const status = await hvscope(tuneArgs('status'));
    expect(String(status.stderr)).toMatch(/recovered an interrupted apply of ns-bridge/);
    expect(link('br0')?.linkinfo?.info_data?.ageing_time).toBe(30000);
  });

  it('verify fails and status shows drift after an out-of-band change', async () => {
    const again = await hvscope(tuneArgs('apply', profile));
    expect(again.exitCode).toBe(0);
    execaSync('ip', ['-n', ns, 'link', 'set', 'dev', 'v0', 'type', 'bridge_slave', 'learning', 'on']);
    const s = await hvscope(tuneArgs('status'));
    expect(s.exitCode).toBe(0);
    expect(String(s.stdout)).toMatch(/drift: 1 of \d+ knobs changed since/);
    expect(String(s.stdout)).toMatch(/bridge\/br0\/port\/v0\/learning\s+on\s+off/);
    const v = await hvscope(tuneArgs('verify', profile));
    expect(v.exitCode).toBe(1);
    expect(String(v.stdout)).toMatch(/FAIL\s+bridge\/br0\/port\/v0\/learning\s+on\s+off/);
  });

  it('rollback restores every original value', async () => {
    const r = await hvscope(tuneArgs('rollback'));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout)).toMatch(/rolled back ns-bridge/);
    expect(snapshot()).toEqual(original);
    // A second rollback finds nothing to do: not an error.
    const twice = await hvscope(tuneArgs('rollback'));
    expect(twice.exitCode).toBe(0);
    expect(String(twice.stdout)).toMatch(/^nothing to roll back: the last apply of ns-bridge is already rolled-back/);
  });

  it('an apply killed with kill -9 at every step is recovered to the fully old state', async () => {
    // Steps: 2 per changed knob (old value journaled; knob written). Count them from a dry plan.
    const p = JSON.parse(String((await hvscope([...tuneArgs('plan', profile), '--json'])).stdout)) as { knobs: { change: boolean }[] };
    const steps = 2 * p.knobs.filter((k) => k.change).length;
    expect(steps).toBeGreaterThanOrEqual(20);
    const recoverers = ['status', 'plan', 'verify', 'rollback', 'apply'];
    for (let step = 1; step <= steps; step++) {
      const run = await pausedApply(profile, step);
      expect(run.paused, `apply paused at step ${step}: ${run.stderr()}`).toBe(true);
      await kill9(run.child);
      const action = recoverers[step % recoverers.length];
      const next = await hvscope(tuneArgs(action, ['status', 'rollback'].includes(action) ? undefined : profile));
      expect(String(next.stderr), `step ${step}, ${action}`).toMatch(/recovered an interrupted apply of ns-bridge .*restored \d+ knobs? to the old state/);
      if (action === 'apply') {
        // apply recovers first, then applies afresh: undo that to compare with the original.
        expect(next.exitCode).toBe(0);
        expect((await hvscope(tuneArgs('rollback'))).exitCode).toBe(0);
      }
      expect(snapshot(), `state after kill at step ${step} and ${action}`).toEqual(original);
    }
  }, 400_000);

  it('creates a missing bridge and rollback deletes it', async () => {
    const file = join(work, 'new-bridge.yaml');
    writeFileSync(file, `name: new-bridge\ninclude: [${join(repo, 'tuning-profiles/bridge-fast.yaml')}]\nvariables: { bridge: brnew }\n`);
    expect(link('brnew')).toBeNull();
    const plan = await hvscope(tuneArgs('plan', file));
    expect(String(plan.stdout)).toMatch(/~\s+bridge\/brnew\/present\s+\(absent\)\s+yes/);
    const r = await hvscope(tuneArgs('apply', file));
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const created = link('brnew');
    expect(created?.linkinfo?.info_data).toMatchObject({ stp_state: 0, forward_delay: 0, nf_call_iptables: 0 });
    expect(created?.flags).toContain('UP');
    expect((await hvscope(tuneArgs('rollback'))).exitCode).toBe(0);
    expect(link('brnew')).toBeNull();
    expect(snapshot()).toEqual(original);
  });
});
