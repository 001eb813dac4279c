// End-to-end: `hvscope blame` as users run it, on the real recorded Xen domain creation.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hvscope, repo } from './trace-cli.js';

const XEN = join(repo, 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');

describe('hvscope blame', () => {
  it('prints spans longest first, filtered; --json carries the filters and the spans in ns', async () => {
    const text = await hvscope(['blame', XEN, '--min', '1.5s']);
    expect(text.exitCode, String(text.stderr)).toBe(0);
    expect(String(text.stdout).split('\n').filter(Boolean).map((l) => l.split(/\s{2,}/).at(-1))).toEqual(['span', 'xl', 'libxl_domain_create_new', 'vif-bridge', 'vif-bridge']);
    const json = await hvscope(['blame', XEN, '--name', '^xs_', '--phase', 'devices', '--pid', '506', '--json']);
    expect(json.exitCode, String(json.stderr)).toBe(0);
    const out = JSON.parse(String(json.stdout));
    expect(out.filters).toEqual({ pid: 506, name: '^xs_', phase: 'devices', minNs: null });
    expect(out.count).toBe(out.spans.length);
    expect(out.count).toBeGreaterThan(10);
    for (const s of out.spans) expect(s).toMatchObject({ pid: 506, phase: 'devices', name: expect.stringMatching(/^xs_/) });
    const d = out.spans.map((s: { durationNs: number }) => s.durationNs);
    expect(d).toEqual([...d].sort((a, b) => b - a));
  });

  it('says what is wrong with a bad regex or duration, exits non-zero, prints nothing on stdout', async () => {
    for (const [args, message] of [
      [['--name', '(xs'], '--name "(xs": not a valid regular expression: Unterminated group'],
      [['--min', '5'], '--min "5": not a duration (add a unit: ns, us, ms, s, min); expected e.g. 5ms, 1.5s, 200us, 2min'],
    ] as const) {
      const r = await hvscope(['blame', XEN, ...args]);
      expect(r.exitCode).not.toBe(0);
      // One line naming the option (the prefix is the CLI's own).
      expect(String(r.stderr).trim().split('\n')).toEqual([expect.stringContaining(message)]);
      expect(String(r.stdout)).toBe('');
    }
  });
});
