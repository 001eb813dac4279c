// Test entry: the `trace`, `boot` and `demo` commands alone, wired exactly as
// src/cli/index.ts wires them (cac + register). The e2e tests compile this with
// tsc and run it as a child process, so signals hit a real process and the
// tests do not depend on the other commands' modules being complete.
import { cac } from 'cac';
import { reportError } from '../../src/cli/run-command.js';
import * as trace from '../../src/cli/trace.js';
import * as boot from '../../src/cli/boot.js';
import * as demo from '../../src/cli/demo.js';

const cli = cac('hvscope');
trace.register(cli);
boot.register(cli);
demo.register(cli);
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
