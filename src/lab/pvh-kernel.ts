// The uncompressed kernel inside a bzImage, to boot it through the PVH entry.
//
// Why: a bzImage is a small decompressor (plus the 16-bit setup code) around the
// compressed kernel; under TCG the decompression alone costs seconds (about 2.3 s of
// the linux guest's 4 s boot, README "What we measured"). Linux kernels built with
// CONFIG_PVH carry an ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) with a 32-bit entry point;
// QEMU loads such an uncompressed ELF straight into guest memory and starts it there
// (hw/i386/x86.c load_elfboot, with qboot or the pvh.bin option ROM), skipping both.
//
// Where the ELF is: the bzImage's setup header (Linux boot protocol ≥ 2.08) says where
// the compressed payload lies (payload_offset, payload_length, from the start of the
// protected-mode code). The payload is the stripped vmlinux (an ELF, with the
// relocation table appended when the kernel is relocatable), compressed by one of
// the kernel's compressors, and followed by 4 bytes: its uncompressed size
// (scripts/Makefile.lib size_append). Documentation/arch/x86/boot.rst; arch/x86/boot/
// compressed/Makefile and mkpiggy.c.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { fileError, UserError } from '../model/errors.js';
import { readXenElfNotes } from './elf-notes.js';
import { buildIntoCache, guestCacheDir, type GuestRecipe } from './guest-build.js';

/** Xen ELF note type of the PVH (32-bit, paging off) entry point: xen/include/public/elfnote.h. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** A kernel compressor: how its output starts, and the tool that undoes it. */
interface Compression {
  name: string;
  magic: readonly number[];
  command: readonly string[];
  /** Debian package of the tool. */
  debian: string;
}

/** The compressors Linux offers for bzImages (init/Kconfig KERNEL_*), by their magic numbers. */
const COMPRESSIONS: readonly Compression[] = [
  { name: 'gzip', magic: [0x1f, 0x8b], command: ['gzip', '-dc'], debian: 'gzip' },
  { name: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], command: ['xz', '-dc', '--single-stream'], debian: 'xz-utils' },
  { name: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd], command: ['zstd', '-dcq'], debian: 'zstd' },
  { name: 'bzip2', magic: [0x42, 0x5a, 0x68], command: ['bzip2', '-dc'], debian: 'bzip2' },
  { name: 'lzma', magic: [0x5d, 0x00, 0x00], command: ['xz', '-dc', '--format=lzma'], debian: 'xz-utils' },
  { name: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18], command: ['lz4', '-dcq'], debian: 'lz4' },
  { name: 'lzo', magic: [0x89, 0x4c, 0x5a, 0x4f], command: ['lzop', '-dc'], debian: 'lzop' },
];

export interface BzImagePayload {
  /** Byte offset of the compressed kernel in the file. */
  offset: number;
  /** Its length, without the 4-byte size trailer. */
  length: number;
  compression: string;
  /** Uncompressed size, from the trailer. */
  size: number;
}

/** Where the compressed kernel lies in a bzImage, and how it is compressed; a UserError naming the file otherwise. */
export function bzImagePayload(data: Buffer, file: string): BzImagePayload {
  if (data.length < 0x250 || data.toString('latin1', 0x202, 0x206) !== 'HdrS') throw fileError(file, undefined, 'not a bzImage (no "HdrS" setup header)');
  const version = data.readUInt16LE(0x206);
  if (version < 0x208) throw fileError(file, undefined, `boot protocol ${version >> 8}.${version & 0xff} has no payload fields (needs 2.08+)`);
  const setupSects = data[0x1f1] || 4;
  const offset = (setupSects + 1) * 512 + data.readUInt32LE(0x248);
  const total = data.readUInt32LE(0x24c);
  if (total < 8 || offset + total > data.length) throw fileError(file, undefined, 'the setup header points past the end of the file (truncated bzImage?)');
  const head = data.subarray(offset, offset + 8);
  const compression = COMPRESSIONS.find((c) => c.magic.every((b, i) => head[i] === b));
  if (!compression) throw fileError(file, undefined, `unknown kernel compression (payload starts ${head.toString('hex')})`);
  return { offset, length: total - 4, compression: compression.name, size: data.readUInt32LE(offset + total - 4) };
}

/** The entry address of a PVH ELF note, or undefined when the ELF has none. */
export async function pvhEntry(file: string): Promise<number | undefined> {
  const note = (await readXenElfNotes(file)).notes.find((n) => n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (!note || note.desc.length < 4) return undefined;
  return note.desc.readUInt32LE(0);
}

/** Whether `file` starts like an ELF (so it may be booted through PVH as it is). */
export async function isElf(file: string): Promise<boolean> {
  const fd = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    await fd.read(buf, 0, 4, 0);
    return buf.readUInt32BE(0) === 0x7f454c46;
  } finally {
    await fd.close();
  }
}

/** End of an ELF's own contents (program data, section headers): what follows is the appended relocation table. */
function elfEnd(data: Buffer): number {
  const is64 = data[4] === 2;
  const u = (at: number) => (is64 ? Number(data.readBigUInt64LE(at)) : data.readUInt32LE(at));
  const phoff = u(is64 ? 32 : 28);
  const shoff = u(is64 ? 40 : 32);
  const phentsize = data.readUInt16LE(is64 ? 54 : 42);
  const phnum = data.readUInt16LE(is64 ? 56 : 44);
  const shentsize = data.readUInt16LE(is64 ? 58 : 46);
  const shnum = data.readUInt16LE(is64 ? 60 : 48);
  let end = Math.max(phoff + phentsize * phnum, shoff + shentsize * shnum);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const offset = is64 ? u(ph + 8) : u(ph + 4);
    const filesz = is64 ? u(ph + 32) : u(ph + 16);
    end = Math.max(end, offset + filesz);
  }
  return end;
}

const RECIPE: GuestRecipe = {
  label: 'PVH kernel',
  name: 'pvh-kernel',
  sources: [],
  // Bump when the extraction changes what it writes.
  recipe: { layout: 1 },
  arch: 'x86-64',
};

export interface PvhKernel {
  /** The uncompressed ELF (vmlinux) with a PVH entry note. */
  kernel: string;
  /** Its PVH entry (physical address). */
  entry: number;
  /** The bzImage's compression. */
  compression: string;
  /** Whether this call extracted it (false: from the cache). */
  built: boolean;
}

/**
 * The uncompressed kernel of `bzImage`, extracted once into
 * `$XDG_CACHE_HOME/hvscope/pvh-kernel/<hash of the bzImage>/vmlinux` (atomically: built
 * in a private directory and renamed into place). A UserError says why when the bzImage
 * cannot be unpacked or its kernel has no PVH entry (built without CONFIG_PVH).
 */
export async function preparePvhKernel(bzImage: string, cacheDir = guestCacheDir(RECIPE.name)): Promise<PvhKernel> {
  let data: Buffer;
  try {
    data = await readFile(bzImage);
  } catch (err) {
    throw fileError(bzImage, undefined, `cannot read kernel: ${(err as Error).message}`);
  }
  const payload = bzImagePayload(data, bzImage);
  const sourceHash = createHash('sha256').update(JSON.stringify(RECIPE.recipe)).update(data).digest('hex').slice(0, 16);
  const { outDir, built } = await buildIntoCache(RECIPE, { cacheDir, sourceDir: bzImage, sourceHash, outputs: ['vmlinux'] }, async (work) => {
    const out = join(work, 'vmlinux');
    await decompress(data.subarray(payload.offset, payload.offset + payload.length), payload, out, bzImage);
    const elf = await readFile(out);
    if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw fileError(bzImage, undefined, `its ${payload.compression} payload is not an ELF kernel`);
    await truncate(out, Math.min(elf.length, elfEnd(elf)));
    if ((await pvhEntry(out)) === undefined)
      throw fileError(bzImage, undefined, 'its kernel has no PVH entry (no Xen ELF note 18, XEN_ELFNOTE_PHYS32_ENTRY): it was built without CONFIG_PVH and boots only as a bzImage');
  });
  const kernel = join(outDir, 'vmlinux');
  const entry = await pvhEntry(kernel);
  if (entry === undefined) throw fileError(kernel, undefined, 'cached PVH kernel has no PVH entry note (remove the directory to rebuild it)');
  return { kernel, entry, compression: payload.compression, built };
}

async function decompress(compressed: Buffer, payload: BzImagePayload, out: string, bzImage: string): Promise<void> {
  const c = COMPRESSIONS.find((x) => x.name === payload.compression)!;
  const r = await execa(c.command[0], c.command.slice(1), { input: compressed, stdout: { file: out }, stderr: 'pipe', reject: false });
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(r.message ?? '')))
    throw new UserError(`${bzImage}: its kernel is ${c.name}-compressed and ${c.command[0]} is not installed (apt-get install ${c.debian})`);
  // gzip exits 2 for the trailer it ignores; the size check below decides.
  const size = existsSync(out) ? (await stat(out)).size : 0;
  if (size !== payload.size)
    throw fileError(bzImage, undefined, `${c.command[0]} unpacked ${size} bytes of the kernel, the bzImage says ${payload.size}${r.stderr ? ` (${String(r.stderr).trim().split('\n')[0]})` : ''}`);
}

/**
 * The PVH-bootable form of a kernel: the file itself when it is an ELF with a PVH note,
 * else the uncompressed kernel extracted from the bzImage (cached).
 */
export async function pvhKernelFor(kernel: string, progress: (m: string) => void = () => undefined): Promise<string> {
  if (await isElf(kernel)) {
    if ((await pvhEntry(kernel)) === undefined) throw fileError(kernel, undefined, 'an ELF kernel without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) cannot boot with kernel-entry: pvh');
    return kernel;
  }
  progress(`extracting the uncompressed kernel of ${kernel} for the PVH entry (cached)`);
  return (await preparePvhKernel(kernel)).kernel;
}
