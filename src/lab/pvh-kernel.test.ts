// The bzImage → PVH ELF extraction on synthetic bzImages: a minimal ELF (one PT_LOAD,
// one PT_NOTE) wrapped the way arch/x86/boot builds a bzImage (setup sectors, a
// setup header with payload_offset/payload_length, the compressed payload followed by
// its uncompressed size). The real Debian kernel is extracted in test/e2e/qemu-profiles.test.ts.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { bzImagePayload, isElf, preparePvhKernel, pvhEntry, pvhKernelFor, XEN_ELFNOTE_PHYS32_ENTRY } from './pvh-kernel.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-pvh-kernel-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A synthetic 64-bit ELF: header, two program headers (LOAD, NOTE), a Xen note of `noteType`, 64 bytes of "code". */
function syntheticElf(noteType: number, entry = 0x1000000): Buffer {
  const note = Buffer.alloc(12 + 4 + 4);
  note.writeUInt32LE(4, 0); // namesz ("Xen\0")
  note.writeUInt32LE(4, 4); // descsz
  note.writeUInt32LE(noteType, 8);
  note.write('Xen\0', 12, 'latin1');
  note.writeUInt32LE(entry, 16);
  const phoff = 64;
  const notesAt = phoff + 2 * 56;
  const codeAt = notesAt + note.length;
  const elf = Buffer.alloc(codeAt + 64, 0x90);
  elf.writeUInt32BE(0x7f454c46, 0);
  elf[4] = 2; // 64-bit
  elf[5] = 1; // little-endian
  elf[6] = 1;
  elf.fill(0, 7, 64);
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(62, 18); // x86-64
  elf.writeBigUInt64LE(BigInt(entry), 24);
  elf.writeBigUInt64LE(BigInt(phoff), 32);
  elf.writeBigUInt64LE(0n, 40); // no section headers
  elf.writeUInt16LE(56, 54);
  elf.writeUInt16LE(2, 56);
  const ph = (i: number, type: number, offset: number, size: number) => {
    const at = phoff + i * 56;
    elf.fill(0, at, at + 56);
    elf.writeUInt32LE(type, at);
    elf.writeBigUInt64LE(BigInt(offset), at + 8);
    elf.writeBigUInt64LE(BigInt(size), at + 32);
  };
  ph(0, 1, codeAt, 64); // PT_LOAD
  ph(1, 4, notesAt, note.length); // PT_NOTE
  note.copy(elf, notesAt);
  return elf;
}

/** A bzImage around `payload` (already compressed), as arch/x86/boot/tools/build.c lays it out. */
function syntheticBzImage(compressed: Buffer, uncompressedSize: number, version = 0x020f): Buffer {
  const setupSects = 2;
  const payloadOffset = 32; // from the start of the protected-mode code
  const pm = (setupSects + 1) * 512;
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(uncompressedSize, 0);
  const payload = Buffer.concat([compressed, trailer]);
  const image = Buffer.alloc(pm + payloadOffset + payload.length + 16);
  image[0x1f1] = setupSects;
  image.write('HdrS', 0x202, 'latin1');
  image.writeUInt16LE(version, 0x206);
  image.writeUInt32LE(payloadOffset, 0x248);
  image.writeUInt32LE(payload.length, 0x24c);
  payload.copy(image, pm + payloadOffset);
  return image;
}

describe('bzImagePayload', () => {
  it('finds the payload from the setup header and names its compression', () => {
    const elf = syntheticElf(XEN_ELFNOTE_PHYS32_ENTRY);
    const gz = gzipSync(elf);
    const p = bzImagePayload(syntheticBzImage(gz, elf.length), 'k');
    expect(p).toEqual({ offset: 3 * 512 + 32, length: gz.length, compression: 'gzip', size: elf.length });
    const xzMagic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]);
    expect(bzImagePayload(syntheticBzImage(xzMagic, 100), 'k').compression).toBe('xz');
  });

  it('refuses what is not a bzImage it can read, naming the file', () => {
    expect(() => bzImagePayload(Buffer.alloc(4096), '/k')).toThrow(/\/k: not a bzImage/);
    expect(() => bzImagePayload(syntheticBzImage(Buffer.from([0x1f, 0x8b, 0, 0]), 1, 0x0206), '/k')).toThrow(/boot protocol 2\.6 has no payload fields/);
    expect(() => bzImagePayload(syntheticBzImage(Buffer.from('what is this'), 1), '/k')).toThrow(/unknown kernel compression \(payload starts 7768617420697320\)/);
    const truncated = syntheticBzImage(gzipSync(Buffer.alloc(10)), 10).subarray(0, 3 * 512 + 40);
    expect(() => bzImagePayload(truncated, '/k')).toThrow(/points past the end of the file/);
  });
});

describe('preparePvhKernel', () => {
  it('extracts the ELF, drops what the kernel appended after it, checks the PVH note and caches the result', async () => {
    const elf = syntheticElf(XEN_ELFNOTE_PHYS32_ENTRY, 0x1000123);
    const withRelocs = Buffer.concat([elf, Buffer.from('relocation table')]);
    const bz = join(dir, 'bzImage-gz');
    writeFileSync(bz, syntheticBzImage(gzipSync(withRelocs), withRelocs.length));
    const cache = join(dir, 'cache');
    const first = await preparePvhKernel(bz, cache);
    expect(first).toMatchObject({ entry: 0x1000123, compression: 'gzip', built: true });
    expect(readFileSync(first.kernel)).toEqual(elf);
    expect(await isElf(first.kernel)).toBe(true);
    expect(await pvhEntry(first.kernel)).toBe(0x1000123);
    const again = await preparePvhKernel(bz, cache);
    expect(again).toMatchObject({ kernel: first.kernel, built: false });
  });

  it('unpacks xz like Debian kernels (xz-utils)', async () => {
    const elf = syntheticElf(XEN_ELFNOTE_PHYS32_ENTRY);
    const raw = join(dir, 'elf-for-xz');
    writeFileSync(raw, elf);
    // xz-utils is one of scripts/setup's packages
    const xz = await execa('xz', ['-c', '--check=crc32', raw], { encoding: 'buffer' });
    const bz = join(dir, 'bzImage-xz');
    writeFileSync(bz, syntheticBzImage(Buffer.from(xz.stdout), elf.length));
    const out = await preparePvhKernel(bz, join(dir, 'cache-xz'));
    expect(statSync(out.kernel).size).toBe(elf.length);
  });

  it('says so when the kernel has no PVH entry, and leaves no cache entry behind', async () => {
    const elf = syntheticElf(6); // a Xen note, but not PHYS32_ENTRY
    const bz = join(dir, 'bzImage-nopvh');
    writeFileSync(bz, syntheticBzImage(gzipSync(elf), elf.length));
    const cache = join(dir, 'cache-nopvh');
    await expect(preparePvhKernel(bz, cache)).rejects.toThrow(/no PVH entry .*CONFIG_PVH/);
    expect(existsSync(cache) ? readdirSync(cache) : []).toEqual([]);
  });

  it('refuses a payload whose size does not match the trailer', async () => {
    const elf = syntheticElf(XEN_ELFNOTE_PHYS32_ENTRY);
    const bz = join(dir, 'bzImage-short');
    writeFileSync(bz, syntheticBzImage(gzipSync(elf), elf.length + 1));
    await expect(preparePvhKernel(bz, join(dir, 'cache-short'))).rejects.toThrow(/unpacked \d+ bytes of the kernel, the bzImage says \d+/);
  });
});

describe('pvhKernelFor', () => {
  it('takes an ELF with a PVH note as it is, and refuses one without', async () => {
    const pvh = join(dir, 'pvh.elf');
    writeFileSync(pvh, syntheticElf(XEN_ELFNOTE_PHYS32_ENTRY));
    expect(await pvhKernelFor(pvh, () => expect.fail('nothing to extract'))).toBe(pvh);
    const plain = join(dir, 'plain.elf');
    writeFileSync(plain, syntheticElf(5));
    await expect(pvhKernelFor(plain)).rejects.toThrow(/plain\.elf: an ELF kernel without a PVH entry note/);
  });
});
