// The `tiny` guest: a minimal x86 unikernel (guests/tiny) compiled with the
// machine's gcc and ld into a cache keyed by a hash of its sources, plus the
// QEMU devices it needs. The QEMU command line proper is assembled elsewhere.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { UserError, fileError } from '../model/errors.js';

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

/** guests/tiny of this package, found from this module both as src/lab (tsx/vitest) and dist/src/lab. */
export function tinyGuestSourceDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'guests', 'tiny');
    if (existsSync(join(candidate, 'tiny.c'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new UserError('tiny guest sources (guests/tiny) not found next to hvscope');
    dir = parent;
  }
}

export function defaultTinyCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hvscope', 'tiny');
}

async function hashSources(sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ RECIPE_VERSION, CFLAGS, LDFLAGS }));
  for (const name of SOURCES) {
    let text: Buffer;
    try {
      text = await readFile(join(sourceDir, name));
    } catch {
      throw new UserError(`tiny guest: ${join(sourceDir, name)} is missing`);
    }
    hash.update(`\0${name}\0${text.length}\0`);
    hash.update(text);
  }
  return hash.digest('hex').slice(0, 16);
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
  const sourceHash = await hashSources(sourceDir);
  const outDir = join(cacheDir, sourceHash);
  const result = (built: boolean): TinyGuestBuild => ({
    kernel: join(outDir, 'tiny.elf'),
    multibootKernel: join(outDir, 'tiny-multiboot.elf'),
    sourceHash,
    built,
  });
  if (existsSync(join(outDir, 'tiny.elf')) && existsSync(join(outDir, 'tiny-multiboot.elf'))) return result(false);

  await mkdir(cacheDir, { recursive: true });
  // Build in a private directory and rename it into place, so a concurrent
  // build or an interrupted one never leaves a half-written cache entry.
  const work = await mkdtemp(join(cacheDir, `.build-${sourceHash}-`));
  try {
    const env = options.searchPath === undefined ? undefined : { PATH: options.searchPath };
    const run = (tool: 'gcc' | 'ld', args: string[]) => runTool(tool, args, sourceDir, env);
    await run('gcc', [...CFLAGS, '-c', join(sourceDir, 'tiny.c'), '-o', join(work, 'tiny.o')]);
    await run('gcc', ['-m32', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry-pvh.o')]);
    await run('gcc', ['-m32', '-DTINY_MULTIBOOT', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry-multiboot.o')]);
    const script = ['-T', join(sourceDir, 'tiny.ld')];
    await run('ld', [...LDFLAGS, ...script, '-o', join(work, 'tiny.elf'), join(work, 'entry-pvh.o'), join(work, 'tiny.o')]);
    await run('ld', [...LDFLAGS, ...script, '-o', join(work, 'tiny-multiboot.elf'), join(work, 'entry-multiboot.o'), join(work, 'tiny.o')]);
    for (const name of await readdir(work)) if (name.endsWith('.o')) await rm(join(work, name));
    await chmod(work, 0o755); // mkdtemp makes it private; the cache entry is ordinary output
    await writeFile(join(work, 'build.json'), JSON.stringify({ recipe: RECIPE_VERSION, sourceDir, sourceHash }, null, 2) + '\n');
    try {
      await rename(work, outDir);
    } catch (err) {
      // Another build finished first; its output is the same.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return result(true);
}

const DEBIAN_PACKAGE = { gcc: 'gcc', ld: 'binutils' } as const;

async function runTool(tool: 'gcc' | 'ld', args: string[], sourceDir: string, env?: { PATH: string }): Promise<void> {
  const r = await execa(tool, args, { reject: false, env, stripFinalNewline: true });
  if (r.exitCode === 0) return;
  const message = r.message ?? '';
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(message))) {
    throw new UserError(
      `tiny guest: ${tool} not found; it is needed to build guests/tiny (install the Debian package ${DEBIAN_PACKAGE[tool]}: apt-get install ${DEBIAN_PACKAGE[tool]})`,
    );
  }
  const detail = String(r.stderr || r.stdout || message).split('\n').slice(0, 6).join('\n');
  throw new UserError(`tiny guest: ${tool} failed building ${sourceDir} for 32-bit x86 (exit ${r.exitCode ?? '?'}):\n${detail}`);
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
  let data: Buffer;
  try {
    const handle = await open(file, 'r');
    try {
      data = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw fileError(file, undefined, `cannot read kernel: ${(err as Error).message}`);
  }
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) throw fileError(file, undefined, 'not an ELF file');
  const is64 = data[4] === 2;
  if (data[5] !== 1) throw fileError(file, undefined, 'big-endian ELF is not an x86 kernel');
  const phoff = is64 ? Number(data.readBigUInt64LE(32)) : data.readUInt32LE(28);
  const phentsize = data.readUInt16LE(is64 ? 54 : 42);
  const phnum = data.readUInt16LE(is64 ? 56 : 44);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > data.length) throw fileError(file, undefined, 'truncated ELF program headers');
    if (data.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const offset = is64 ? Number(data.readBigUInt64LE(ph + 8)) : data.readUInt32LE(ph + 4);
    const size = is64 ? Number(data.readBigUInt64LE(ph + 32)) : data.readUInt32LE(ph + 16);
    const entry = findXenEntryNote(data, offset, Math.min(offset + size, data.length), is64);
    if (entry !== undefined) return entry;
  }
  return undefined;
}

function findXenEntryNote(data: Buffer, start: number, end: number, is64: boolean): number | undefined {
  const align4 = (n: number) => (n + 3) & ~3;
  for (let at = start; at + 12 <= end; ) {
    const namesz = data.readUInt32LE(at);
    const descsz = data.readUInt32LE(at + 4);
    const type = data.readUInt32LE(at + 8);
    const name = data.subarray(at + 12, at + 12 + namesz).toString('latin1').replace(/\0+$/, '');
    const desc = at + 12 + align4(namesz);
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY && desc + 4 <= end) {
      // A 64-bit ELF may store the 32-bit address in an 8-byte field; the low half is the address.
      return descsz >= 8 && is64 ? Number(data.readBigUInt64LE(desc) & 0xffffffffn) : data.readUInt32LE(desc);
    }
    at = desc + align4(descsz);
  }
  return undefined;
}
