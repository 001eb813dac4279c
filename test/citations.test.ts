// Everything hvscope cites must be in its repository, so users can check it:
// no citation of the team's notes (ANCHORS.md, DESIGN.md, /work/shared), every
// repo path a text names exists, and every docs/references.md#anchor is a
// section there. Scans the product's text: code, profiles, probes, docs, tests.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repo } from './helpers/cli.js';

const SCANNED = ['src', 'bench', 'bin', 'docs', 'fixtures', 'guests', 'probes', 'scripts', 'test', 'tuning-profiles', 'README.md', 'package.json', '.ci'];
const TEXT = /\.(ts|md|ya?ml|bt|sh|c|h|S|ld|json)$|^(hvscope|run|setup)$/;
/** Recordings and data, not prose: their contents quote other systems. */
const SKIP = /_example\.txt$|\.hvtrace\.json$|\.log$|fixtures\/.*\.(json|txt|cfg)$|package-lock\.json$/;

/** Paths in other projects that share our top-level directory names (cited as theirs). */
const UPSTREAM_PATHS = [/^docs\/system\//, /^docs\/prod-host-setup\.md/, /^docs\/debug-port\.md/, /^scripts\/(fast-vif-bridge|ch-trace-visualiser\.py|extract-vmlinux|Makefile\.lib)/, /^src\/output/, /^src\/vmm\//];

function files(path: string, out: string[] = []): string[] {
  const abs = join(repo, path);
  if (!existsSync(abs)) return out;
  if (statSync(abs).isDirectory()) {
    for (const name of readdirSync(abs)) if (name !== 'node_modules' && name !== 'dist') files(join(path, name), out);
  } else if (TEXT.test(path.split('/').pop()!) && !SKIP.test(path)) out.push(path);
  return out;
}

const scanned = SCANNED.flatMap((p) => files(p)).filter((f) => f !== 'test/citations.test.ts');
const references = readFileSync(join(repo, 'docs/references.md'), 'utf8');
const anchors = new Set([...references.matchAll(/^##+ +(.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^\w -]/g, '').replace(/ /g, '-')));

function problems(check: (file: string, text: string) => string[]): string[] {
  return scanned.flatMap((f) => check(f, readFileSync(join(repo, f), 'utf8')).map((p) => `${f}: ${p}`));
}

describe('citations point at what is in the repository', () => {
  it('scans the product text', () => {
    expect(scanned.length).toBeGreaterThan(100);
    expect(scanned).toContain('src/analysis/diagnose.ts');
    expect(scanned).toContain('tuning-profiles/bridge-fast.yaml');
  });

  it("no citation of the team's notes, which users do not have", () => {
    const found = problems((_, text) => [...text.matchAll(/\bANCHORS(?:\.md)?\b|\bDESIGN\.md\b|\/work\/shared\b/g)].map((m) => m[0]));
    expect(found).toEqual([]);
  });

  it('every docs/references.md#anchor is a section of docs/references.md', () => {
    expect(anchors.size).toBeGreaterThan(5);
    const found = problems((_, text) => [...text.matchAll(/docs\/references\.md#([\w-]+)/g)].filter((m) => m[1] !== 'anchor' && !anchors.has(m[1])).map((m) => m[0]));
    expect(found).toEqual([]);
  });

  it('every repository path a text names exists', () => {
    // `bin/` is left out: texts name bin/sh, bin/busybox of guest images far more than our bin/hvscope.
    const path = /(?<![\w.~/$-])((?:src|docs|tuning-profiles|probes|fixtures|guests|scripts|bench|test)\/[\w./-]*[\w/])(?![\w./-]*(\$\{|\*))/g;
    const found = problems((file, text) =>
      [...text.matchAll(path)]
        .map((m) => m[1].replace(/\.$/, ''))
        .filter((p) => !p.includes('*') && !/[A-Z]{2,}/.test(p.split('/').pop()!) && !UPSTREAM_PATHS.some((u) => u.test(p)))
        .filter((p) => !existsSync(join(repo, p)) && !existsSync(join(repo, p.replace(/\.js$/, '.ts'))))
        .map((p) => `${p} (not in the repository)`)
        .filter(() => relative(repo, join(repo, file)) !== ''),
    );
    expect(found).toEqual([]);
  });
});
