// The `tiny` guest: a minimal x86 unikernel (guests/tiny) compiled with the
// machine's gcc and ld into a cache keyed by a hash of its sources, plus the
// QEMU devices it needs. The QEMU command line proper is assembled elsewhere.
import { join } from 'node:path';
import { UserError } from '../model/errors.js';
import { readXenElfNotes } from './elf-notes.js';
import { buildIntoCache, guestCacheDir, guestSourceDir, hashGuestSources, runGuestTool, type GuestRecipe } from './guest-build.js';

/** QEMU's exit status when tiny finished OK: isa-debug-exit turns the written 0x10 into (0x10 << 1) | 1. */
export const TINY_EXIT_OK_STATUS = 33;
/** QEMU's exit status when tiny's self-check failed (0x11 written). */
export const TINY_EXIT_FAILED_STATUS = 35;
/** isa-debug-exit port: not 0xf4, which carries the qemu-boot-time markers. */
export const TINY_DEBUG_EXIT_PORT = 0x501;

/** Serial console lines tiny writes, in order (each on its own line; see guests/tiny/README.md). */
export const TINY_SERIAL_LINES = {
  entry: 'tiny: entry',
  appStart: 'tiny: app start',
  done: 'tiny: done',
} as const;

/** qemu-boot-time codes tiny writes to port 0xf4: entry, then app start. */
export const TINY_BOOT_TIME_CODES = { linuxStartKernel: 6, linuxStartUser: 7 } as const;
/** Cloud Hypervisor-style codes tiny writes to port 0x80. */
export const TINY_DEBUG_PORT_CODES = { kernel: 0x40, user: 0x60, done: 0x7f } as const;

export type TinyMachine = 'microvm' | 'pc';

export interface TinyGuestBuild {
  /** ELF32 with the PVH entry note only: QEMU boots it through PVH on pc and microvm. */
  kernel: string;
  /** Same guest with a multiboot header as well; QEMU tries multiboot before PVH, so it boots through multiboot. */
  multibootKernel: string;
  /** Hash of the sources and build recipe; names the cache entry. */
  sourceHash: string;
  /** True when this call compiled; false when the cache already held the build. */
  built: boolean;
}

export interface TinyBuildOptions {
  /** Guest source directory (default: guests/tiny of this package). */
  sourceDir?: string;
  /** PATH used to find gcc and ld (default: the process's PATH). */
  searchPath?: string;
}

// Part of the cache key: change it when the recipe below changes.
const RECIPE_VERSION = 'tiny-build-1';
const SOURCES = ['entry.S', 'tiny.c', 'tiny.ld'] as const;
const CFLAGS = [
  '-m32', '-march=i686', '-ffreestanding', '-fno-pic', '-fno-pie', '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables', '-fno-builtin', '-mgeneral-regs-only', '-O2',
  '-Wall', '-Wextra', '-Werror',
];
const LDFLAGS = ['-m', 'elf_i386', '-n', '--build-id=none', '-z', 'noexecstack'];

const TINY_RECIPE: GuestRecipe = {
  label: 'tiny guest',
  name: 'tiny',
  sources: SOURCES,
  recipe: { RECIPE_VERSION, CFLAGS, LDFLAGS },
  arch: '32-bit x86',
};

/** guests/tiny of this package. */
export function tinyGuestSourceDir(): string {
  return guestSourceDir(TINY_RECIPE);
}

export function defaultTinyCacheDir(): string {
  return guestCacheDir('tiny');
}

/**
 * Compiles guests/tiny into `<cacheDir>/<hash>/` (tiny.elf, tiny-multiboot.elf), or
 * returns the cached build when the sources are unchanged.
 */
export async function buildTinyGuest(
  cacheDir: string = defaultTinyCacheDir(),
  options: TinyBuildOptions = {},
): Promise<TinyGuestBuild> {
  const sourceDir = options.sourceDir ?? tinyGuestSourceDir();
  const sourceHash = await hashGuestSources(TINY_RECIPE, sourceDir);
  const outputs = ['tiny.elf', 'tiny-multiboot.elf'];
  const env = options.searchPath === undefined ? undefined : { PATH: options.searchPath };
  const run = (tool: 'gcc' | 'ld', args: string[]) => runGuestTool(TINY_RECIPE, sourceDir, tool, args, env);
  const { outDir, built } = await buildIntoCache(TINY_RECIPE, { cacheDir, sourceDir, sourceHash, outputs }, async (work) => {
    await run('gcc', [...CFLAGS, '-c', join(sourceDir, 'tiny.c'), '-o', join(work, 'tiny.o')]);
    await run('gcc', ['-m32', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry-pvh.o')]);
    await run('gcc', ['-m32', '-DTINY_MULTIBOOT', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry-multiboot.o')]);
    const script = ['-T', join(sourceDir, 'tiny.ld')];
    await run('ld', [...LDFLAGS, ...script, '-o', join(work, 'tiny.elf'), join(work, 'entry-pvh.o'), join(work, 'tiny.o')]);
    await run('ld', [...LDFLAGS, ...script, '-o', join(work, 'tiny-multiboot.elf'), join(work, 'entry-multiboot.o'), join(work, 'tiny.o')]);
  });
  return { kernel: join(outDir, 'tiny.elf'), multibootKernel: join(outDir, 'tiny-multiboot.elf'), sourceHash, built };
}

/**
 * QEMU arguments for the devices tiny uses: its serial console (COM1) and
 * isa-debug-exit at 0x501, which makes QEMU exit with TINY_EXIT_OK_STATUS.
 * Assumes `-nodefaults` (otherwise -nographic already puts a monitor on stdio).
 * On microvm the console needs the machine's default `isa-serial=on`.
 * `serial` is a QEMU character device spec, e.g. `stdio` or `file:console.log`.
 */
export function tinyQemuArgs(machine: TinyMachine, serial = 'stdio'): string[] {
  if (machine !== 'microvm' && machine !== 'pc') {
    throw new UserError(`tiny guest: unknown machine ${JSON.stringify(machine)} (expected microvm or pc)`);
  }
  const debugExit = `isa-debug-exit,iobase=0x${TINY_DEBUG_EXIT_PORT.toString(16)},iosize=0x02`;
  // Both machines have an ISA bus with COM1 at 0x3f8 and accept isa-debug-exit.
  return ['-serial', serial, '-device', debugExit];
}

const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/**
 * The PVH entry address (XEN_ELFNOTE_PHYS32_ENTRY) of an ELF kernel, read the way
 * QEMU's loader does: from "Xen" notes in PT_NOTE program headers. Undefined when
 * the ELF has none; UserError when the file is not ELF.
 */
export async function pvhEntryOf(file: string): Promise<number | undefined> {
  const { is64, notes } = await readXenElfNotes(file);
  const note = notes.find((n) => n.type === XEN_ELFNOTE_PHYS32_ENTRY && n.desc.length >= 4);
  if (!note) return undefined;
  // A 64-bit ELF may store the 32-bit address in an 8-byte field; the low half is the address.
  return note.desc.length >= 8 && is64 ? Number(note.desc.readBigUInt64LE(0) & 0xffffffffn) : note.desc.readUInt32LE(0);
}
