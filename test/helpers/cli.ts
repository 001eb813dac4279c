// The hvscope CLI as users run it (bin/hvscope → dist/), built by test/global-setup.ts.
import { resolve } from 'node:path';

export const repo = resolve(import.meta.dirname, '../..');
export const hvscopeBin = resolve(repo, 'bin/hvscope');
