// The README's first step, `bash scripts/setup`, decides how to get root and where
// to put hvscope on the PATH; checked here as a dry run (HVSCOPE_SETUP_DRY_RUN=1:
// it prints what it would run and runs nothing), as root and as an unprivileged
// user without sudo. The full run, and a user with sudo, are checked by hand in
// a scratch clone (slow: npm ci and a build).
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repo } from '../helpers/cli.js';
import { hasCommand, isRoot, requireOrSkip } from '../helpers/requirements.js';

/** scripts/setup's dry run (stdout and stderr), optionally as uid 65534 with HOME. */
function dryRun(nobodyHome?: string): string {
  const as = nobodyHome ? `setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=${nobodyHome} PATH=/usr/bin:/bin ` : '';
  return execFileSync('bash', ['-c', `HVSCOPE_SETUP_DRY_RUN=1 ${as}bash ${repo}/scripts/setup 2>&1`], { encoding: 'utf8' });
}

const missing = requireOrSkip(isRoot && hasCommand('setpriv'), 'root and setpriv');
describe.skipIf(missing)('scripts/setup (dry run)', () => {
  it('as root: no sudo, builds, links /usr/local/bin/hvscope', () => {
    const out = dryRun();
    expect(out).not.toMatch(/sudo/);
    expect(out).toMatch(/would run: npm (ci|install) /);
    expect(out).toMatch(/would run: npm run build/);
    expect(out).toMatch(new RegExp(`would run: ln -sfn ${repo}/bin/hvscope /usr/local/bin/hvscope`));
  });
  it.skipIf(hasCommand('sudo'))('as a user without sudo: skips the packages, links ~/.local/bin/hvscope and says how to put it on the PATH', () => {
    const home = mkdtempSync(join(tmpdir(), 'hvscope-setup-'));
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

