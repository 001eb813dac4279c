// The README's first step, `bash scripts/setup`, decides how to get root and where
// to put hvscope on the PATH; checked here as a dry run (HVSCOPE_SETUP_DRY_RUN=1:
// it prints what it would run and runs nothing), as root and as an unprivileged
// user without sudo. The full run, and a user with sudo, are checked by hand in
// a scratch clone (slow: npm ci and a build).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repo } from '../helpers/cli.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';

/** scripts/setup's dry run (stdout and stderr), optionally as uid 65534 with HOME. */
function dryRun(nobodyHome?: string, systemBin?: string): string {
  const as = nobodyHome ? `setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=${nobodyHome} PATH=/usr/bin:/bin ` : '';
  // A scratch directory stands for /usr/local/bin, which a machine that ran setup already links.
  const bin = systemBin ? `HVSCOPE_SETUP_SYSTEM_BIN=${systemBin} ` : '';
  return execFileSync('bash', ['-c', `HVSCOPE_SETUP_DRY_RUN=1 ${bin}${as}bash ${repo}/scripts/setup 2>&1`], { encoding: 'utf8' });
}

function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'hvscope-setup-'));
}

const missing = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv');
describe.skipIf(missing)('scripts/setup (dry run)', () => {
  it('as root: no sudo, builds, links the system bin directory (/usr/local/bin)', () => {
    const bin = scratchDir();
    try {
      const out = dryRun(undefined, bin);
      expect(out).not.toMatch(/sudo/);
      expect(out).toMatch(/would run: npm (ci|install) /);
      expect(out).toMatch(/would run: npm run build/);
      expect(out).toMatch(new RegExp(`would run: ln -sfn ${repo}/bin/hvscope ${bin}/hvscope`));
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
  it('run again: a link that is already there is kept; a file that is not a link is left alone', () => {
    const bin = scratchDir();
    try {
      symlinkSync(`${repo}/bin/hvscope`, join(bin, 'hvscope'));
      let out = dryRun(undefined, bin);
      expect(out).toContain(`hvscope is on the PATH: ${bin}/hvscope → ${repo}/bin/hvscope`);
      expect(out).not.toMatch(/would run: ln /);
      rmSync(join(bin, 'hvscope'));
      writeFileSync(join(bin, 'hvscope'), '#!/bin/sh\n');
      out = dryRun(undefined, bin);
      expect(out).toContain(`${bin}/hvscope exists and is not a link: left alone`);
      expect(out).not.toMatch(/would run: ln /);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
  it.skipIf(hasCommand('sudo'))('as a user without sudo: skips the packages, links ~/.local/bin/hvscope and says how to put it on the PATH', () => {
    const home = scratchDir();
    chownSync(home, 65534, 65534);
    try {
      const out = dryRun(home);
      expect(out).toMatch(/not root and no sudo: skipping Debian packages/);
      expect(out).toMatch(new RegExp(`would run: ln -sfn ${repo}/bin/hvscope ${home}/.local/bin/hvscope`));
      expect(out).toMatch(/add hvscope to your PATH: echo 'export PATH="\$HOME\/\.local\/bin:\$PATH"' >> ~\/\.bashrc/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

