import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { profileCommand } from './profile.js';
import { listProfiles } from '../tuning/profile.js';

/** Runs the command and returns what it printed on stdout. */
async function run(action: string, name?: string, json = false): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await profileCommand(action, name, { json });
  } finally {
    spy.mockRestore();
  }
  return out;
}

let tmp = '';
afterEach(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = '';
});

describe('hvscope profile', () => {
  it('list shows every shipped profile with its summary', async () => {
    const out = await run('list');
    expect(out).toMatch(/^bridge-fast\s+Linux bridge for fast VM attach/m);
    const json = JSON.parse(await run('list', undefined, true)) as { name: string }[];
    expect(json.map((p) => p.name)).toEqual(listProfiles().map((p) => p.name));
  });

  it('validate accepts every shipped profile', async () => {
    for (const p of listProfiles()) expect(await run('validate', p.file)).toMatch(new RegExp(`valid profile ${p.name}: \\d+ knobs? in `));
  });

  it('dump prints the merged profile: includes resolved, variables expanded', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hvscope-profile-cli-'));
    const child = join(tmp, 'my-bridge.yaml');
    writeFileSync(child, `name: my-bridge\nsummary: mine\ninclude: [bridge-fast]\nvariables: { bridge: br7 }\nbridge:\n  mtu: 9000\n`);
    const merged = parse(await run('dump', child)) as { name: string; bridge: Record<string, unknown>; include?: unknown };
    expect(merged.name).toBe('my-bridge');
    expect(merged.include).toBeUndefined();
    expect(merged.bridge.name).toBe('br7');
    expect(merged.bridge.mtu).toBe(9000);
    expect(merged.bridge.stp_state).toMatchObject({ value: 0 });
    const show = JSON.parse(await run('show', child, true)) as { knobs: { id: string }[] };
    expect(show.knobs.map((k) => k.id)).toContain('bridge/br7/mtu');
  });

  it('unknown action or missing name is a usage error', async () => {
    await expect(run('frob')).rejects.toThrow('profile: unknown action "frob"');
    await expect(run('show')).rejects.toThrow('profile show: missing NAME');
  });
});
