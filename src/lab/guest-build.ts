// Building the project's own guests (guests/tiny, guests/tiny-pv) with the
// machine's gcc and ld into a cache keyed by a hash of their sources. Shared by
// every guest so caching, atomic cache entries and tool errors behave alike.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { packageRoot } from '../package-root.js';

export interface GuestRecipe {
  /** Name in messages, e.g. "tiny guest". */
  label: string;
  /** Directory under guests/ and under the cache, e.g. "tiny". */
  name: string;
  /** Source files that make up the guest (hashed into the cache key). */
  sources: readonly string[];
  /** Everything else that changes the output (recipe version, flags); hashed too. */
  recipe: unknown;
  /** What the tools build for, in messages: "32-bit x86". */
  arch: string;
}

/** guests/NAME of this package (found from the package root, so it works from src/ and dist/). */
export function guestSourceDir(recipe: GuestRecipe): string {
  const dir = join(packageRoot(), 'guests', recipe.name);
  if (!existsSync(join(dir, recipe.sources[0]))) throw new UserError(`${recipe.label} sources (guests/${recipe.name}) not found next to hvscope`);
  return dir;
}

/** `$XDG_CACHE_HOME/hvscope/NAME` (or ~/.cache/hvscope/NAME). */
export function guestCacheDir(name: string): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'hvscope', name);
}

export async function hashGuestSources(recipe: GuestRecipe, sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(recipe.recipe));
  for (const name of recipe.sources) {
    let text: Buffer;
    try {
      text = await readFile(join(sourceDir, name));
    } catch {
      throw new UserError(`${recipe.label}: ${join(sourceDir, name)} is missing`);
    }
    hash.update(`\0${name}\0${text.length}\0`);
    hash.update(text);
  }
  return hash.digest('hex').slice(0, 16);
}

const DEBIAN_PACKAGE = { gcc: 'gcc', ld: 'binutils' } as const;
export type GuestTool = keyof typeof DEBIAN_PACKAGE;

/** Runs gcc or ld; a missing tool or a failed build becomes one UserError naming the Debian package or the compiler output. */
export async function runGuestTool(recipe: GuestRecipe, sourceDir: string, tool: GuestTool, args: string[], env?: { PATH: string }): Promise<void> {
  const r = await execa(tool, args, { reject: false, env, stdin: 'ignore', stripFinalNewline: true });
  if (r.exitCode === 0) return;
  const message = r.message ?? '';
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(message))) {
    const pkg = DEBIAN_PACKAGE[tool];
    throw new UserError(`${recipe.label}: ${tool} not found; it is needed to build guests/${recipe.name} (install the Debian package ${pkg}: apt-get install ${pkg})`);
  }
  const detail = String(r.stderr || r.stdout || message).split('\n').slice(0, 6).join('\n');
  throw new UserError(`${recipe.label}: ${tool} failed building ${sourceDir} for ${recipe.arch} (exit ${r.exitCode ?? '?'}):\n${detail}`);
}

/**
 * Returns `<cacheDir>/<sourceHash>` holding `outputs`, building it with `build(workDir)`
 * when missing. Builds in a private directory renamed into place, so a concurrent or
 * interrupted build never leaves a half-written cache entry. `built` says whether this call compiled.
 */
export async function buildIntoCache(
  recipe: GuestRecipe,
  opts: { cacheDir: string; sourceDir: string; sourceHash: string; outputs: string[] },
  build: (workDir: string) => Promise<void>,
): Promise<{ outDir: string; built: boolean }> {
  const outDir = join(opts.cacheDir, opts.sourceHash);
  if (opts.outputs.every((o) => existsSync(join(outDir, o)))) return { outDir, built: false };
  await mkdir(opts.cacheDir, { recursive: true });
  const work = await mkdtemp(join(opts.cacheDir, `.build-${opts.sourceHash}-`));
  try {
    await build(work);
    for (const name of await readdir(work)) if (name.endsWith('.o')) await rm(join(work, name));
    await chmod(work, 0o755); // mkdtemp makes it private; the cache entry is ordinary output
    const meta = { recipe: recipe.recipe, sourceDir: opts.sourceDir, sourceHash: opts.sourceHash };
    await writeFile(join(work, 'build.json'), JSON.stringify(meta, null, 2) + '\n');
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
  return { outDir, built: true };
}
