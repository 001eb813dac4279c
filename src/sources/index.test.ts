// The importer registry: every format of the CLI contract (`hvscope import --from`) is
// importable, xl-log included (issue 5), and a wrong format is one clear message.
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { formatNames, IMPORTERS, importFile, importerFor } from './index.js';

describe('importer registry', () => {
  it('has an importer for every format named in docs/design.md', () => {
    expect(formatNames().sort()).toEqual(['bpftrace', 'chrome', 'qemu-log', 'serial', 'xl-log']);
    for (const name of formatNames()) expect(typeof importerFor(name)).toBe('function');
    expect(IMPORTERS['xl-log'].describe).toMatch(/stamped/);
  });

  it('imports the recorded xl -vvv log with --from xl-log, and names the file and line of an unstamped one', () => {
    const trace = importFile('fixtures/xen-lab-tiny-pv/xl-vvv-create.log', 'xl-log');
    expect(trace.meta.source).toBe('xl-log');
    expect(trace.spans.some((s) => s.name === 'do_domain_create')).toBe(true);
    expect(() => importFile('fixtures/xen-lab-tiny-pv/tiny-pv.cfg', 'xl-log')).toThrow(/^fixtures\/xen-lab-tiny-pv\/tiny-pv\.cfg:1: no timestamp/);
  });

  it('refuses an unknown format with the list of known ones', () => {
    expect(() => importerFor('xentrace')).toThrow(UserError);
    expect(() => importerFor('xentrace')).toThrow('--from xentrace: unknown format; one of bpftrace, qemu-log, serial, chrome, xl-log');
  });
});
