import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userErrorOf } from '../../test/helpers/fixtures.js';
import { profileDirs, readRunSet } from './run-sets.js';

const LAB = 'fixtures/xen-lab-stock-vs-unikernel';
const scratch = mkdtempSync(join(tmpdir(), 'hvscope-run-sets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('run sets named on the command line', () => {
  it('a lab output: profiles in the order they ran; DIR:PROFILE picks one by profile or directory name', () => {
    expect(profileDirs(LAB)).toEqual([
      { profile: 'xen-stock', dir: 'xen-stock' },
      { profile: 'xen-unikernel', dir: 'xen-unikernel' },
    ]);
    const set = readRunSet(`${LAB}:xen-unikernel`);
    expect(set.runs).toHaveLength(4);
    expect(set.profile).toBe('xen-unikernel');
    expect(set.label).toBe(`${LAB}:xen-unikernel`);
    expect(readRunSet(`${LAB}/xen-stock`).runs).toHaveLength(4);
    expect(readRunSet(`${LAB}/xen-stock/run-1.hvtrace.json`).runs).toHaveLength(1);
  });

  it('a profile given twice (boot A/A): the second set by its directory name', () => {
    const set = readRunSet('fixtures/qemu-tiny-aa:qemu-microvm-min-2');
    expect(set.path).toMatch(/qemu-microvm-min-2$/);
    expect(set.runs).toHaveLength(5);
  });

  it('an output of one profile needs no :PROFILE; without report.json the order is alphabetical', () => {
    const one = join(scratch, 'one');
    mkdirSync(one);
    cpSync(`${LAB}/xen-stock`, join(one, 'xen-stock'), { recursive: true });
    expect(readRunSet(one).profile).toBe('xen-stock');
    const two = join(scratch, 'two');
    cpSync(`${LAB}/xen-unikernel`, join(two, 'b'), { recursive: true });
    cpSync(`${LAB}/xen-stock`, join(two, 'a'), { recursive: true });
    expect(profileDirs(two).map((p) => p.dir)).toEqual(['a', 'b']);
    expect(profileDirs(two).map((p) => p.profile)).toEqual(['xen-stock', 'xen-unikernel']);
  });

  it('one clear line for what cannot be read', () => {
    expect(userErrorOf(() => readRunSet(LAB)).message).toMatch(/holds runs of 2 profiles \(xen-stock, xen-unikernel\); pick one as .*:PROFILE/);
    expect(userErrorOf(() => readRunSet(`${LAB}:nope`)).message).toMatch(/no profile "nope" in .*; it holds xen-stock, xen-unikernel/);
    expect(userErrorOf(() => readRunSet('no/such/dir')).message).toMatch(/no such file or directory/);
    expect(userErrorOf(() => readRunSet(`${LAB}/xen-stock/run-1.hvtrace.json:x`)).message).toMatch(/is a file/);
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    expect(userErrorOf(() => readRunSet(empty)).message).toMatch(/holds no \*\.hvtrace\.json files/);
  });
});
