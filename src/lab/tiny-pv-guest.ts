// The `tiny-pv` guest: a minimal 64-bit Xen PV unikernel (guests/tiny-pv), the
// stand-in for ClickOS in the Xen lab. Compiled with the machine's gcc and ld
// into a cache keyed by a hash of its sources; nothing is downloaded.
import { join } from 'node:path';
import { fileError } from '../model/errors.js';
import { readXenElfNotes, type XenElfNote } from './elf-notes.js';
import { buildIntoCache, guestCacheDir, guestSourceDir, hashGuestSources, runGuestTool, type GuestRecipe } from './guest-build.js';

export type { XenElfNote } from './elf-notes.js';

/** The line tiny-pv prints on its PV console (xenconsoled's guest log, `xl console`). */
export const TINY_PV_MARKER = 'tiny-pv: hello from a Xen PV guest';
/**
 * Second console line: what HYPERVISOR_console_io(CONSOLEIO_write) returned to the
 * guest, e.g. `tiny-pv: console_io returned -1` (-EPERM: see guests/tiny-pv/README.md).
 */
export const TINY_PV_CONSOLE_IO_STATUS = /^tiny-pv: console_io returned (-?\d+)\r?$/m;
/** Memory (MiB) for an `xl` config: the image, stack and Xen's bootstrap tables fit in far less. */
export const TINY_PV_MEMORY_MB = 8;

export interface TinyPvGuestBuild {
  /** ELF64 with the Xen PV notes: give it to `xl` as `kernel = "..."`, `type = "pv"`. */
  kernel: string;
  /** Hash of the sources and build recipe; names the cache entry. */
  sourceHash: string;
  /** True when this call compiled; false when the cache already held the build. */
  built: boolean;
}

// Part of the cache key: change it when the recipe below changes.
const RECIPE_VERSION = 'tiny-pv-build-1';
const SOURCES = ['entry.S', 'tiny-pv.c', 'tiny-pv.ld'] as const;
const CFLAGS = [
  '-m64', '-ffreestanding', '-fno-pic', '-fno-pie', '-fno-stack-protector', '-mno-red-zone',
  '-fno-asynchronous-unwind-tables', '-fno-builtin', '-mgeneral-regs-only', '-O2',
  '-Wall', '-Wextra', '-Werror',
];
const LDFLAGS = ['-m', 'elf_x86_64', '-n', '--build-id=none', '-z', 'noexecstack'];

const TINY_PV_RECIPE: GuestRecipe = {
  label: 'tiny-pv guest',
  name: 'tiny-pv',
  sources: SOURCES,
  recipe: { RECIPE_VERSION, CFLAGS, LDFLAGS },
  arch: 'x86_64',
};

/** guests/tiny-pv of this package. */
export function tinyPvSourceDir(): string {
  return guestSourceDir(TINY_PV_RECIPE);
}

export function defaultTinyPvCacheDir(): string {
  return guestCacheDir('tiny-pv');
}

/** Compiles guests/tiny-pv into `<cacheDir>/<hash>/tiny-pv.elf`, or returns the cached build. */
export async function buildTinyPvGuest(
  cacheDir: string = defaultTinyPvCacheDir(),
  options: { sourceDir?: string } = {},
): Promise<TinyPvGuestBuild> {
  const sourceDir = options.sourceDir ?? tinyPvSourceDir();
  const sourceHash = await hashGuestSources(TINY_PV_RECIPE, sourceDir);
  const run = (tool: 'gcc' | 'ld', args: string[]) => runGuestTool(TINY_PV_RECIPE, sourceDir, tool, args);
  const { outDir, built } = await buildIntoCache(TINY_PV_RECIPE, { cacheDir, sourceDir, sourceHash, outputs: ['tiny-pv.elf'] }, async (work) => {
    await run('gcc', [...CFLAGS, '-c', join(sourceDir, 'tiny-pv.c'), '-o', join(work, 'tiny-pv.o')]);
    await run('gcc', ['-m64', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry.o')]);
    await run('ld', [...LDFLAGS, '-T', join(sourceDir, 'tiny-pv.ld'), '-o', join(work, 'tiny-pv.elf'), join(work, 'entry.o'), join(work, 'tiny-pv.o')]);
  });
  return { kernel: join(outDir, 'tiny-pv.elf'), sourceHash, built };
}

/** Xen ELF note types (xen/include/public/elfnote.h) that a 64-bit PV kernel carries. */
export const XEN_ELFNOTE = {
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  FEATURES: 10,
} as const;

/**
 * The "Xen" notes of an ELF64 kernel, read from its PT_NOTE program headers as
 * libxenguest does. UserError naming the file when it is not a 64-bit x86 ELF.
 */
export async function xenNotesOf(file: string): Promise<XenElfNote[]> {
  const { is64, machine, notes } = await readXenElfNotes(file);
  if (!is64 || machine !== 62) throw fileError(file, undefined, 'not a 64-bit little-endian x86-64 ELF');
  return notes;
}
