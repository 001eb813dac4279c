// The `tiny-pv` guest: a minimal 64-bit Xen PV unikernel (guests/tiny-pv), the
// stand-in for ClickOS in the Xen lab. Compiled with the machine's gcc and ld
// into a cache keyed by a hash of its sources; nothing is downloaded.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { UserError, fileError } from '../model/errors.js';

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

/** guests/tiny-pv of this package, found both from src/lab (vitest) and dist/src/lab. */
export function tinyPvSourceDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'guests', 'tiny-pv');
    if (existsSync(join(candidate, 'tiny-pv.c'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new UserError('tiny-pv guest sources (guests/tiny-pv) not found next to hvscope');
    dir = parent;
  }
}

export function defaultTinyPvCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hvscope', 'tiny-pv');
}

async function hashSources(sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ RECIPE_VERSION, CFLAGS, LDFLAGS }));
  for (const name of SOURCES) {
    let text: Buffer;
    try {
      text = await readFile(join(sourceDir, name));
    } catch {
      throw new UserError(`tiny-pv guest: ${join(sourceDir, name)} is missing`);
    }
    hash.update(`\0${name}\0${text.length}\0`);
    hash.update(text);
  }
  return hash.digest('hex').slice(0, 16);
}

/** Compiles guests/tiny-pv into `<cacheDir>/<hash>/tiny-pv.elf`, or returns the cached build. */
export async function buildTinyPvGuest(
  cacheDir: string = defaultTinyPvCacheDir(),
  options: { sourceDir?: string } = {},
): Promise<TinyPvGuestBuild> {
  const sourceDir = options.sourceDir ?? tinyPvSourceDir();
  const sourceHash = await hashSources(sourceDir);
  const outDir = join(cacheDir, sourceHash);
  const kernel = join(outDir, 'tiny-pv.elf');
  if (existsSync(kernel)) return { kernel, sourceHash, built: false };

  await mkdir(cacheDir, { recursive: true });
  // Build privately and rename into place: no half-written cache entry, even when interrupted.
  const work = await mkdtemp(join(cacheDir, `.build-${sourceHash}-`));
  try {
    await runTool('gcc', [...CFLAGS, '-c', join(sourceDir, 'tiny-pv.c'), '-o', join(work, 'tiny-pv.o')], sourceDir);
    await runTool('gcc', ['-m64', '-c', join(sourceDir, 'entry.S'), '-o', join(work, 'entry.o')], sourceDir);
    await runTool('ld', [...LDFLAGS, '-T', join(sourceDir, 'tiny-pv.ld'), '-o', join(work, 'tiny-pv.elf'), join(work, 'entry.o'), join(work, 'tiny-pv.o')], sourceDir);
    await rm(join(work, 'entry.o'));
    await rm(join(work, 'tiny-pv.o'));
    await chmod(work, 0o755);
    await writeFile(join(work, 'build.json'), JSON.stringify({ recipe: RECIPE_VERSION, sourceDir, sourceHash }, null, 2) + '\n');
    try {
      await rename(work, outDir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err; // another build won; same output
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { kernel, sourceHash, built: true };
}

const DEBIAN_PACKAGE = { gcc: 'gcc', ld: 'binutils' } as const;

async function runTool(tool: 'gcc' | 'ld', args: string[], sourceDir: string): Promise<void> {
  const r = await execa(tool, args, { reject: false, stdin: 'ignore' });
  if (r.exitCode === 0) return;
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(r.message ?? ''))) {
    throw new UserError(`tiny-pv guest: ${tool} not found; install the Debian package ${DEBIAN_PACKAGE[tool]} (apt-get install ${DEBIAN_PACKAGE[tool]})`);
  }
  const detail = String(r.stderr || r.stdout || r.message).split('\n').slice(0, 6).join('\n');
  throw new UserError(`tiny-pv guest: ${tool} failed building ${sourceDir} for x86_64 (exit ${r.exitCode ?? '?'}):\n${detail}`);
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

export interface XenElfNote {
  type: number;
  desc: Buffer;
}

/**
 * The "Xen" notes of an ELF64 kernel, read from its PT_NOTE program headers as
 * libxenguest does. UserError naming the file when it is not a 64-bit x86 ELF.
 */
export async function xenNotesOf(file: string): Promise<XenElfNote[]> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw fileError(file, undefined, `cannot read kernel: ${(err as Error).message}`);
  }
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) throw fileError(file, undefined, 'not an ELF file');
  if (data[4] !== 2 || data[5] !== 1 || data.readUInt16LE(18) !== 62) throw fileError(file, undefined, 'not a 64-bit little-endian x86-64 ELF');
  const phoff = Number(data.readBigUInt64LE(32));
  const phentsize = data.readUInt16LE(54);
  const phnum = data.readUInt16LE(56);
  const notes: XenElfNote[] = [];
  const align4 = (n: number) => (n + 3) & ~3;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + phentsize > data.length) throw fileError(file, undefined, 'truncated ELF program headers');
    if (data.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const start = Number(data.readBigUInt64LE(ph + 8));
    const end = Math.min(start + Number(data.readBigUInt64LE(ph + 32)), data.length);
    for (let at = start; at + 12 <= end; ) {
      const namesz = data.readUInt32LE(at);
      const descsz = data.readUInt32LE(at + 4);
      const type = data.readUInt32LE(at + 8);
      const name = data.subarray(at + 12, at + 12 + namesz).toString('latin1').replace(/\0+$/, '');
      const desc = at + 12 + align4(namesz);
      if (name === 'Xen') notes.push({ type, desc: Buffer.from(data.subarray(desc, desc + descsz)) });
      at = desc + align4(descsz);
    }
  }
  return notes;
}
