// Where the hvscope package lives, found from this module (not from cwd), so
// shipped files (profiles, fixtures, probes, guests) are found from src/ under
// vitest and from dist/ alike.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { root: string; version: string } | undefined;

function locate(): { root: string; version: string } {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
        if (parsed.name === 'hvscope') return (cached = { root: dir, version: parsed.version ?? '0.0.0' });
      } catch {
        // not ours; keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot locate the hvscope package root');
    dir = up;
  }
}

export function packageRoot(): string {
  return locate().root;
}

export function packageVersion(): string {
  return locate().version;
}
