// Test entry: the `lab` command alone, wired as src/cli/index.ts wires commands
// (cac + register). The e2e test compiles it with tsc and runs it as a child
// process, so SIGINT and a non-root user hit a real process.
import { cac } from 'cac';
import { reportError } from '../../src/cli/run-command.js';
import * as lab from '../../src/cli/lab.js';

const cli = cac('hvscope');
lab.register(cli);
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
