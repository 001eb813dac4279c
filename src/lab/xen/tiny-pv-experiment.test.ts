// The tiny-pv experiment's xl config and result file. The config is also
// accepted by the real `xl create` in test/e2e/xen-lab.test.ts.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { TINY_PV_MARKER } from '../tiny-pv-guest.js';
import { TINY_PV_RESULT, parseTinyPvResult, renderTinyPvExperiment, renderXlDomainConfig, tinyPvFailure } from './tiny-pv-experiment.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-tiny-pv-exp-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('renderXlDomainConfig', () => {
  it('writes a PV domain with one vif that is destroyed when it powers off', () => {
    expect(renderXlDomainConfig({ name: 'tiny-pv', kernel: '/k/tiny-pv.elf', memoryMb: 8, bridge: 'xenbr0' })).toBe(
      [
        'name = "tiny-pv"',
        'type = "pv"',
        'kernel = "/k/tiny-pv.elf"',
        'memory = 8',
        'vcpus = 1',
        'vif = [ "bridge=xenbr0" ]',
        'on_poweroff = "destroy"',
        'on_reboot = "destroy"',
        'on_crash = "destroy"',
        '',
      ].join('\n'),
    );
    expect(renderXlDomainConfig({ name: 'a', kernel: '/k', memoryMb: 4 })).not.toContain('vif');
  });

  it('refuses values xl would misread', () => {
    expect(() => renderXlDomainConfig({ name: 'x"y', kernel: '/k', memoryMb: 8 })).toThrow(UserError);
    expect(() => renderXlDomainConfig({ name: 'ok', kernel: '/k"; extra = "1', memoryMb: 8 })).toThrow(/kernel must be printable ASCII without quotes/);
    expect(() => renderXlDomainConfig({ name: 'ok', kernel: '/k', memoryMb: 0 })).toThrow(/memory/);
    expect(() => renderXlDomainConfig({ name: 'ok', kernel: '/k', memoryMb: 8, bridge: 'br 0' })).toThrow(/bridge/);
  });
});

describe('renderTinyPvExperiment', () => {
  it('waits for the tiny-pv marker by default, a given one otherwise', () => {
    expect(renderTinyPvExperiment({ kernel: '/k' })).toContain(`marker='${TINY_PV_MARKER}'`);
    expect(renderTinyPvExperiment({ kernel: '/k', marker: "it's" })).toContain(`marker='it'\\''s'`);
    expect(() => renderTinyPvExperiment({ kernel: '/k', markerTimeoutS: 0 })).toThrow(/timeouts/);
  });
});

describe('parseTinyPvResult', () => {
  it('reads the key=value lines into milliseconds and flags', async () => {
    const dir = join(scratch, 'ok');
    await mkdir(dir);
    // Synthetic values in the format the experiment script writes.
    await writeFile(join(dir, TINY_PV_RESULT), 'xl_create_exit=0\nxl_create_ns=6600069530\nmarker_seen=1\nmarker_ns=7670769155\ndomain_gone=1\ngone_ns=12278017790\n');
    const r = await parseTinyPvResult(dir);
    expect(r).toEqual({ xlCreateExit: 0, xlCreateMs: 6600.06953, markerSeen: true, markerMs: 7670.769155, domainGone: true, goneMs: 12278.01779 });
    expect(tinyPvFailure(0, r, dir)).toBeUndefined();
    expect(tinyPvFailure(1, { ...r, markerSeen: false }, dir)).toMatch(/^the guest never printed its marker/);
    expect(tinyPvFailure(2, { ...r, xlCreateExit: 3 }, dir)).toMatch(/^xl create failed with status 3/);
    expect(tinyPvFailure(2, undefined, dir)).toMatch(/left no tiny-pv-result\.txt/);
  });

  it('names the file and line of a malformed line, and a missing file', async () => {
    const dir = join(scratch, 'bad');
    await mkdir(dir);
    await writeFile(join(dir, TINY_PV_RESULT), 'xl_create_exit=0\nxl_create_ns=12abc\n');
    await expect(parseTinyPvResult(dir)).rejects.toThrow(`${join(dir, TINY_PV_RESULT)}:2: expected key=integer, got "xl_create_ns=12abc"`);
    await expect(parseTinyPvResult(join(scratch, 'none'))).rejects.toThrow(/is missing/);
  });
});
