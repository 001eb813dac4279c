// CLI entry: parses with cac and hands each command to its module in src/cli/.
import { cac } from 'cac';
import { reportError } from './run-command.js';
import { packageVersion } from '../package-root.js';
import * as demo from './demo.js';
import * as doctor from './doctor.js';
import * as trace from './trace.js';
import * as boot from './boot.js';
import * as importCmd from './import.js';
import * as render from './render.js';
import * as report from './report.js';
import * as diagnose from './diagnose.js';
import * as figure from './figure.js';
import * as profile from './profile.js';
import * as tune from './tune.js';
import * as lab from './lab.js';


export async function main(argv: string[]): Promise<number> {
  const cli = cac('hvscope');
  for (const mod of [demo, doctor, trace, boot, importCmd, render, report, diagnose, figure, profile, tune, lab]) mod.register(cli);
  cli.help();
  cli.version(packageVersion());
  cli.on('command:*', () => {
    process.stderr.write(`hvscope: unknown command "${cli.args.join(' ')}"; see hvscope --help\n`);
    process.exitCode = 2;
  });
  try {
    cli.parse(argv, { run: false });
    if (!cli.matchedCommand && cli.args.length === 0 && !cli.options.help && !cli.options.version) {
      cli.outputHelp();
      return 0;
    }
    await cli.runMatchedCommand();
  } catch (err) {
    // cac throws plain Errors for unknown options / missing args: those are user errors.
    const e = err as Error;
    if (e && e.name === 'CACError') {
      process.stderr.write(`hvscope: ${e.message}\n`);
      return 2;
    }
    return reportError(err);
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
