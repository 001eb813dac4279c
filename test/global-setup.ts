// Builds dist/ once before the tests, so every end-to-end test runs the real
// entry users run (bin/hvscope → dist/src/cli/index.js), current with src/,
// with the same build steps as `npm run build`.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

export default function setup(): void {
  const repo = resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [resolve(repo, 'node_modules/typescript/bin/tsc'), '-p', resolve(repo, 'tsconfig.json')], {
    cwd: repo,
    stdio: 'inherit',
  });
  // The help data --help prints without loading command modules (src/cli/help-data.ts).
  execFileSync(process.execPath, [resolve(repo, 'dist/src/cli/build-help.js')], { cwd: repo, stdio: 'inherit' });
}
