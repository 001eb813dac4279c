// uprobeOffsets on the host's real libraries (the ones dom0 sees), checked
// against binutils' own reading (nm -D for the value, readelf -l for the segment).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uprobeOffsets } from './uprobe-offset.js';

const libxenlight = '/usr/lib/x86_64-linux-gnu/libxenlight.so.4.17';
const missing = !existsSync(libxenlight) || !existsSync('/usr/bin/nm');

/** What binutils says: the symbol's value moved from its LOAD segment's vaddr to the segment's file offset. */
function binutilsOffset(file: string, symbol: string): number {
  const nm = execFileSync('nm', ['-D', '--defined-only', file], { encoding: 'utf8' });
  const value = Number.parseInt(new RegExp(`^([0-9a-f]+) T ${symbol}(@|$)`, 'm').exec(nm)![1], 16);
  const loads = execFileSync('readelf', ['-lW', file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\s*LOAD\s/.test(l))
    .map((l) => l.trim().split(/\s+/))
    .map((f) => ({ offset: Number.parseInt(f[1], 16), vaddr: Number.parseInt(f[2], 16), filesz: Number.parseInt(f[4], 16) }));
  const seg = loads.find((s) => value >= s.vaddr && value < s.vaddr + s.filesz)!;
  return value - seg.vaddr + seg.offset;
}

describe.skipIf(missing && process.env.CI !== 'true')('uprobeOffsets', () => {
  it("finds libxenlight's exported functions where binutils does; an unknown name is absent", () => {
    const found = uprobeOffsets(libxenlight, ['libxl_domain_create_new', 'libxl_domain_unpause', 'no_such_function']);
    expect(found.get('libxl_domain_create_new')).toBe(binutilsOffset(libxenlight, 'libxl_domain_create_new'));
    expect(found.get('libxl_domain_unpause')).toBe(binutilsOffset(libxenlight, 'libxl_domain_unpause'));
    expect(found.has('no_such_function')).toBe(false);
  });

  it('refuses a file that is not a 64-bit ELF, and a missing one, in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-uprobe-'));
    try {
      writeFileSync(join(dir, 'x.so'), 'not an elf\n');
      expect(() => uprobeOffsets(join(dir, 'x.so'), ['f'])).toThrow(/x\.so: not a 64-bit little-endian ELF file$/);
      expect(() => uprobeOffsets(join(dir, 'none.so'), ['f'])).toThrow(/none\.so: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
