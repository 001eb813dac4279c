import { describe, expect, it } from 'vitest';
import type { HostCheck } from '../tracer/host-checks.js';
import { formatChecks, summarize } from './doctor.js';

// Synthetic checks (the real ones run in test/e2e/doctor.test.ts).
const synthetic: HostCheck[] = [
  { id: 'root', name: 'root', status: 'ok', value: 'yes (euid 0)' },
  { id: 'probe.kprobe', name: '  kprobe probes', status: 'warn', value: 'do not attach: x', fix: 'none needed' },
  { id: 'xen.xl', name: 'Xen tools (xl)', status: 'missing', value: 'not installed', fix: 'apt-get install -y xen-utils-common' },
];

describe('doctor output', () => {
  it('aligns the value column and lists fixes for what is not ok', () => {
    const text = formatChecks(synthetic);
    const rows = text.split('\n').slice(0, 4);
    const valueColumn = rows.map((r, i) => r.indexOf(i === 0 ? 'value' : synthetic[i - 1].value));
    expect(new Set(valueColumn).size).toBe(1);
    expect(text).toContain('to fix:\n  kprobe probes: none needed\n  Xen tools (xl): apt-get install -y xen-utils-common');
    expect(text.trimEnd().split('\n').at(-1)).toBe('1 ok, 1 warn, 1 missing');
  });

  it('counts statuses', () => {
    expect(summarize(synthetic)).toEqual({ ok: 1, warn: 1, missing: 1 });
  });
});
