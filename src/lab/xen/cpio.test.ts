// The newc writer against the real cpio(1) reader (GNU cpio, as Debian ships it)
// and against our own reader.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../../test/helpers/requirements.js';
import { readCpio, writeCpio, type CpioEntry } from './cpio.js';

const noCpio = requireOrSkip(hasCommand('cpio'), 'cpio (Debian package cpio)');

// Synthetic archive for the format test.
const SYNTHETIC: CpioEntry[] = [
  { kind: 'dir', path: 'bin' },
  { kind: 'dir', path: 'dev' },
  { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
  { kind: 'file', path: 'bin/tool', data: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), mode: 0o755 },
  { kind: 'file', path: 'init', data: '#!/bin/sh\necho odd length\n' },
  { kind: 'symlink', path: 'bin/sh', target: 'tool' },
];

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-cpio-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('writeCpio', () => {
  it('reads back with our reader: paths, modes, data, device numbers', () => {
    const members = readCpio(writeCpio(SYNTHETIC));
    expect(members.map((m) => m.path)).toEqual(['bin', 'dev', 'dev/console', 'bin/tool', 'init', 'bin/sh']);
    expect(members[2]).toMatchObject({ mode: 0o020600, rdevMajor: 5, rdevMinor: 1 });
    expect(members[3].mode).toBe(0o100755);
    expect(members[3].data).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]));
    expect(members[4].data.toString()).toBe('#!/bin/sh\necho odd length\n');
    expect(members[5]).toMatchObject({ mode: 0o120777, data: Buffer.from('tool') });
  });

  it('ends every record on a 4-byte boundary and with the trailer', () => {
    const archive = writeCpio(SYNTHETIC);
    expect(archive.length % 4).toBe(0);
    expect(archive.includes(Buffer.from('TRAILER!!!\0'))).toBe(true);
  });

  it.skipIf(noCpio)('is read by GNU cpio the same way', async () => {
    const file = join(scratch, 'synthetic.cpio');
    await writeFile(file, writeCpio(SYNTHETIC));
    const listing = execFileSync('cpio', ['-itv', '--quiet', '-F', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toHaveLength(SYNTHETIC.length);
    expect(listing[2]).toMatch(/^crw------- .* 5, +1 .* dev\/console$/);
    expect(listing[3]).toMatch(/^-rwxr-xr-x .* 7 .* bin\/tool$/);
    expect(listing[5]).toMatch(/^lrwxrwxrwx .* bin\/sh -> tool$/);
  });

  it('refuses an empty path', () => {
    expect(() => writeCpio([{ kind: 'dir', path: '/' }])).toThrow(/empty path/);
  });
});
