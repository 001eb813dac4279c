// Builds the real tiny guest with the machine's gcc/ld and checks what QEMU's
// loaders rely on: an ELF32 i386 image, the PVH note pointing into its code,
// the multiboot header only in the multiboot image, and the source-hash cache.
import { execFileSync } from 'node:child_process';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { hasCommand, requireOrSkip } from '../../test/helpers/requirements.js';
import {
  TINY_DEBUG_EXIT_PORT,
  buildTinyGuest,
  pvhEntryOf,
  tinyGuestSourceDir,
  tinyQemuArgs,
  type TinyGuestBuild,
  type TinyMachine,
} from './tiny-guest.js';

const noToolchain = requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld (Debian packages gcc, binutils)');

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-tiny-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Program headers of an ELF32 little-endian file. */
function programHeaders(elf: Buffer): { type: number; vaddr: number; filesz: number; memsz: number; flags: number }[] {
  const phoff = elf.readUInt32LE(28);
  const size = elf.readUInt16LE(42);
  return Array.from({ length: elf.readUInt16LE(44) }, (_, i) => {
    const ph = phoff + i * size;
    return {
      type: elf.readUInt32LE(ph),
      vaddr: elf.readUInt32LE(ph + 8),
      filesz: elf.readUInt32LE(ph + 16),
      memsz: elf.readUInt32LE(ph + 20),
      flags: elf.readUInt32LE(ph + 24),
    };
  });
}

/** Offsets of a valid multiboot v1 header (magic, flags, checksum summing to 0) in the first 8 KiB. */
function multibootHeaders(elf: Buffer): number[] {
  const found: number[] = [];
  for (let at = 0; at + 12 <= Math.min(elf.length, 8192); at += 4) {
    if (elf.readUInt32LE(at) !== 0x1badb002) continue;
    if (((elf.readUInt32LE(at) + elf.readUInt32LE(at + 4) + elf.readUInt32LE(at + 8)) >>> 0) === 0) found.push(at);
  }
  return found;
}

describe.skipIf(noToolchain)('buildTinyGuest', () => {
  let build: TinyGuestBuild;
  beforeAll(async () => {
    build = await buildTinyGuest(join(scratch, 'cache'));
  });

  it('compiles an ELF32 i386 executable loaded at 1 MiB', async () => {
    const elf = await readFile(build.kernel);
    expect(elf.readUInt32BE(0)).toBe(0x7f454c46);
    expect(elf[4]).toBe(1); // ELFCLASS32: QEMU's multiboot loader refuses ELF64
    expect(elf.readUInt16LE(16)).toBe(2); // ET_EXEC
    expect(elf.readUInt16LE(18)).toBe(3); // EM_386
    const loads = programHeaders(elf).filter((p) => p.type === 1);
    expect(loads.length).toBeGreaterThan(0);
    expect(Math.min(...loads.map((p) => p.vaddr))).toBe(0x100000);
    // No segment both writable and executable.
    expect(loads.filter((p) => (p.flags & 3) === 3)).toEqual([]);
  });

  it('carries the PVH entry note inside a PT_NOTE segment, pointing at tiny_entry_pvh in the code', async () => {
    const elf = await readFile(build.kernel);
    const entry = await pvhEntryOf(build.kernel);
    expect(entry).toBeDefined();
    const code = programHeaders(elf).find((p) => p.type === 1 && p.flags & 1)!;
    expect(entry!).toBeGreaterThanOrEqual(code.vaddr);
    expect(entry!).toBeLessThan(code.vaddr + code.filesz);
    const symbols = execFileSync('nm', [build.kernel], { encoding: 'utf8' });
    const pvhSymbol = /^([0-9a-f]+) T tiny_entry_pvh$/m.exec(symbols);
    expect(pvhSymbol).not.toBeNull();
    expect(entry).toBe(parseInt(pvhSymbol![1], 16));
  });

  it.skipIf(!hasCommand('readelf'))('agrees with readelf -n about the note (type 18, owner Xen)', async () => {
    const notes = execFileSync('readelf', ['-n', build.kernel], { encoding: 'utf8' });
    expect(notes).toMatch(/Xen\s+0x00000004\s+Unknown note type: \(0x00000012\)/);
    const bytes = /description data: ((?:[0-9a-f]{2} ?){4})/.exec(notes);
    expect(bytes).not.toBeNull();
    const fromReadelf = Buffer.from(bytes![1].trim().split(' ').map((b) => parseInt(b, 16))).readUInt32LE(0);
    expect(fromReadelf).toBe(await pvhEntryOf(build.kernel));
  });

  it('puts a multiboot header only in the multiboot image (QEMU would pick multiboot over PVH)', async () => {
    expect(multibootHeaders(await readFile(build.kernel))).toEqual([]);
    const multiboot = await readFile(build.multibootKernel);
    expect(multibootHeaders(multiboot)).toHaveLength(1);
    expect(await pvhEntryOf(build.multibootKernel)).toBeDefined();
  });

  it('reuses the cached build while the sources are unchanged', async () => {
    const before = await stat(build.kernel);
    const again = await buildTinyGuest(join(scratch, 'cache'));
    expect(again.built).toBe(false);
    expect(again.kernel).toBe(build.kernel);
    expect((await stat(again.kernel)).mtimeMs).toBe(before.mtimeMs);
  });

  it('rebuilds into a new cache entry when a source changes', async () => {
    const sources = join(scratch, 'sources');
    await rm(sources, { recursive: true, force: true });
    await mkdir(sources);
    for (const name of ['entry.S', 'tiny.c', 'tiny.ld']) await copyFile(join(tinyGuestSourceDir(), name), join(sources, name));
    const same = await buildTinyGuest(join(scratch, 'cache'), { sourceDir: sources });
    expect(same.sourceHash).toBe(build.sourceHash);
    expect(same.built).toBe(false);

    await appendFile(join(sources, 'tiny.c'), '\n/* changed */\n');
    const changed = await buildTinyGuest(join(scratch, 'cache'), { sourceDir: sources });
    expect(changed.sourceHash).not.toBe(build.sourceHash);
    expect(changed.built).toBe(true);
    expect(await pvhEntryOf(changed.kernel)).toBeDefined();
  });

  it('reports a compile error in the sources as a UserError with the compiler output', async () => {
    const broken = join(scratch, 'broken');
    await mkdir(broken, { recursive: true });
    for (const name of ['entry.S', 'tiny.ld']) await copyFile(join(tinyGuestSourceDir(), name), join(broken, name));
    await writeFile(join(broken, 'tiny.c'), 'int this is not C;\n');
    const err = await buildTinyGuest(join(scratch, 'cache'), { sourceDir: broken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/gcc failed/);
    expect((err as Error).message).toMatch(/tiny\.c/);
  });
});

describe('buildTinyGuest without a toolchain', () => {
  it('names the Debian package when gcc is not on PATH, and leaves no cache entry', async () => {
    const emptyPath = join(scratch, 'empty-path');
    const cache = join(scratch, 'cache-no-gcc');
    await mkdir(emptyPath, { recursive: true });
    const err = await buildTinyGuest(cache, { searchPath: emptyPath }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/gcc not found/);
    expect((err as Error).message).toMatch(/apt-get install gcc/);
    expect(await readdir(cache)).toEqual([]);
  });
});

describe('pvhEntryOf', () => {
  it('rejects a file that is not ELF, naming it', async () => {
    const notElf = join(scratch, 'not-elf.bin');
    await writeFile(notElf, 'MZ this is not an ELF kernel, just some bytes to fill the header'.repeat(2));
    await expect(pvhEntryOf(notElf)).rejects.toThrow(new UserError(`${notElf}: not an ELF file`));
  });

  it.skipIf(noToolchain)('returns undefined for an ELF without the PVH note', async () => {
    const src = join(scratch, 'plain.c');
    const obj = join(scratch, 'plain.o');
    await writeFile(src, 'int plain(void) { return 1; }\n');
    execFileSync('gcc', ['-m32', '-c', src, '-o', obj]);
    expect(await pvhEntryOf(obj)).toBeUndefined();
  });
});

describe('tinyQemuArgs', () => {
  it.each(['microvm', 'pc'] as const)('%s: serial on stdio and isa-debug-exit away from the 0xf4 marker port', (machine) => {
    const args = tinyQemuArgs(machine);
    expect(args).toEqual(['-serial', 'stdio', '-device', 'isa-debug-exit,iobase=0x501,iosize=0x02']);
    expect(TINY_DEBUG_EXIT_PORT).not.toBe(0xf4);
  });

  it('passes another serial backend through', () => {
    expect(tinyQemuArgs('pc', 'file:/tmp/console.log').slice(0, 2)).toEqual(['-serial', 'file:/tmp/console.log']);
  });

  it('rejects an unknown machine with a UserError', () => {
    expect(() => tinyQemuArgs('q35' as TinyMachine)).toThrow(UserError);
  });
});
