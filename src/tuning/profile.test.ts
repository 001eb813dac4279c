import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { dumpProfile, levenshtein, listProfiles, loadProfile, resolveProfileRef, shippedProfilesDir, suggest } from './profile.js';
import { target as bridge } from './targets/bridge.js';
import { target as sysctl } from './targets/sysctl.js';
import { allTargets } from './targets/index.js';

const dir = join(import.meta.dirname, 'synthetic-profiles');
const targets = [sysctl, bridge];
const file = (name: string) => join(dir, `${name}.yaml`);

function errorOf(name: string): string {
  try {
    loadProfile(file(name), targets);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error(`${name} loaded without error`);
}

describe('loadProfile: includes and variables', () => {
  const p = loadProfile(file('good-child'), targets);

  it('merges parents in order (later wins) and the child over them', () => {
    const b = p.sections.bridge as Record<string, unknown>;
    expect(b.stp_state).toEqual({ value: 0, why: 'from B' }); // B after A
    expect(b.ageing_time).toEqual({ value: 300, why: 'from A', source: 'parent-a' }); // only in A
    expect((p.sections.sysctl as Record<string, unknown>)['net.ipv4.ip_forward']).toBe(1);
    expect(p.files.map((f) => f.split('/').pop())).toEqual(['good-parent-a.yaml', 'good-parent-b.yaml', 'good-child.yaml']);
  });

  it('expands variables everywhere, child values winning, whole-value variables keeping their type', () => {
    const b = p.sections.bridge as Record<string, unknown>;
    expect(b.name).toBe('br-child');
    expect(b.mtu).toBe(9000); // number, from B's variables
    expect(b.forward_delay).toEqual({ value: 0, why: 'bridge br-child is fast' });
  });

  it('dump prints the merged profile as YAML that loads back to the same sections', () => {
    const text = dumpProfile(p);
    expect(text).toContain('name: br-child');
    expect(text).not.toContain('${');
    expect(text).not.toContain('include');
  });
});

describe('loadProfile: bad profiles fail with file, line, key and a suggestion', () => {
  it('unknown key suggests the nearest valid one', () => {
    expect(errorOf('bad-unknown-key')).toBe(`${file('bad-unknown-key')}:5: bridge: unknown key "stp_sate" (did you mean "stp_state"?)`);
  });
  it('unknown target section suggests the nearest target', () => {
    expect(errorOf('bad-unknown-section')).toBe(`${file('bad-unknown-section')}:3: unknown key "brige" (did you mean "bridge"?)`);
  });
  it('unknown key inside the { value, why } form', () => {
    expect(errorOf('bad-unknown-key-in-entry')).toBe(`${file('bad-unknown-key-in-entry')}:7: bridge.stp_state: unknown key "wyh" (did you mean "why"?)`);
  });
  it('wrong type names the key, the expected type and the value', () => {
    expect(errorOf('bad-wrong-type')).toBe(`${file('bad-wrong-type')}:5: bridge.mtu: must be integer, got "big"`);
  });
  it('an error in an included file names that file and line', () => {
    expect(errorOf('bad-wrong-type-in-parent')).toBe(`${file('bad-wrong-type')}:5: bridge.mtu: must be integer, got "big"`);
  });
  it('invalid key names (a port name starting with -)', () => {
    expect(errorOf('bad-port-name')).toBe(`${file('bad-port-name')}:6: bridge.ports: invalid key "-n" (must match ^[A-Za-z0-9_][A-Za-z0-9_.:+-]{0,14}$)`);
  });
  it('include cycle', () => {
    expect(errorOf('bad-include-cycle-a')).toBe(`${file('bad-include-cycle-b')}:3: include cycle: bad-include-cycle-a → bad-include-cycle-b → bad-include-cycle-a`);
  });
  it('unknown variable suggests a defined one', () => {
    expect(errorOf('bad-unknown-variable')).toBe(`${file('bad-unknown-variable')}:5: bridge.name: unknown variable \${bridg} (did you mean "bridge"?)`);
  });
  it('unreadable include names the including file and line', () => {
    expect(errorOf('bad-include-unreadable')).toBe(
      `${file('bad-include-unreadable')}:5: include: ${join(shippedProfilesDir(), 'no-such-profile-here.yaml')}: cannot read profile: no such file`,
    );
  });
  it('unreadable profile file (missing, or a directory)', () => {
    expect(() => loadProfile(join(dir, 'missing.yaml'), targets)).toThrow(`${join(dir, 'missing.yaml')}: cannot read profile: no such file`);
    expect(() => loadProfile(join(dir, 'README.md/x.yaml'), targets)).toThrow(/cannot read profile/);
    expect(() => loadProfile('no-such-shipped-profile', targets)).toThrow(/no profile named "no-such-shipped-profile"/);
  });
  it('name must equal the file basename', () => {
    expect(errorOf('bad-name-mismatch')).toBe(`${file('bad-name-mismatch')}:1: name: "some-other-name" must equal the file's basename "bad-name-mismatch"`);
  });
  it('a bad value set through a child\'s variable is reported at the child\'s variable, naming where it is used', () => {
    expect(errorOf('bad-variable-in-child')).toBe(
      `${file('bad-variable-in-child')}:5: variables.delay: bad value for bridge.forward_delay: must be number, got "soon" (used at ${file('good-var-parent')}:7)`,
    );
  });
  it('YAML syntax errors carry the line', () => {
    // yaml reports the start of the broken value (`br0` continued on the badly indented line 5).
    expect(errorOf('bad-yaml-syntax')).toBe(`${file('bad-yaml-syntax')}:4: not valid YAML: Nested mappings are not allowed in compact mappings`);
    expect(errorOf('bad-yaml-duplicate-key')).toMatch(/bad-yaml-duplicate-key\.yaml:6: key "\w+" is given twice in this mapping$/);
  });
});

describe('shipped profiles', () => {
  it('resolve by name from the package, not the cwd', () => {
    expect(resolveProfileRef('bridge-fast')).toBe(join(shippedProfilesDir(), 'bridge-fast.yaml'));
    expect(listProfiles().map((p) => p.name)).toContain('bridge-fast');
  });

  it('every shipped profile loads with all targets, and every knob says why and where from', () => {
    for (const p of listProfiles()) {
      const loaded = loadProfile(p.name, allTargets);
      expect(loaded.summary, p.name).not.toBe('');
      for (const [section, body] of Object.entries(loaded.sections)) {
        if (section === 'qemu') continue; // renders a command line, checked by its own tests
        const walk = (v: unknown, path: string): void => {
          if (v && typeof v === 'object' && !Array.isArray(v)) {
            if ('value' in v) {
              expect((v as { why?: string }).why, `${p.name} ${path}: why`).toBeTruthy();
              expect((v as { source?: string }).source, `${p.name} ${path}: source`).toBeTruthy();
            } else for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
          }
        };
        if (section === 'bridge') {
          const { name: _n, ...knobs } = body as Record<string, unknown>;
          walk(knobs, section);
        } else if (section === 'sysctl') walk(body, section);
      }
    }
  });
});

describe('suggestions', () => {
  it('levenshtein distance', () => {
    expect(levenshtein('stp_sate', 'stp_state')).toBe(1);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
  });
  it('lists the valid keys when nothing is close', () => {
    expect(suggest('zzzzzz', ['mtu', 'name'])).toBe(' (valid keys: mtu, name)');
  });
});
