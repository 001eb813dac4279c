// Test entry: the `profile` and `tune` commands alone, wired exactly as
// src/cli/index.ts wires them (cac + register). The e2e tests compile this with
// tsc and run it as a child process, so `kill -9` hits a real process and the
// test does not depend on the other commands' modules being complete.
import { cac } from 'cac';
import { reportError } from '../../src/cli/run-command.js';
import * as profile from '../../src/cli/profile.js';
import * as tune from '../../src/cli/tune.js';

const cli = cac('hvscope');
profile.register(cli);
tune.register(cli);
try {
  cli.parse(process.argv, { run: false });
  await cli.runMatchedCommand();
} catch (err) {
  const e = err as Error;
  if (e?.name === 'CACError') {
    process.stderr.write(`hvscope: ${e.message}\n`);
    process.exitCode = 2;
  } else process.exitCode = reportError(err);
}
