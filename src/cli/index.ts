// CLI entry: parses with cac and hands each command to its module in src/cli/.
import { cac } from 'cac';
import { reportError } from './run-command.js';
import { packageVersion } from '../package-root.js';
import type { CAC } from 'cac';

type CommandModule = { register(cli: CAC): void };

/**
 * Command modules, loaded on demand: `hvscope tune apply` should not pay for
 * d3-node/jsdom (render) or the tracer. That matters inside the Xen lab's dom0,
 * where every module is read over 9p. Order = order in --help.
 */
const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  demo: () => import('./demo.js'),
  doctor: () => import('./doctor.js'),
  trace: () => import('./trace.js'),
  boot: () => import('./boot.js'),
  import: () => import('./import.js'),
  render: () => import('./render.js'),
  report: () => import('./report.js'),
  diff: () => import('./diff.js'),
  blame: () => import('./blame.js'),
  diagnose: () => import('./diagnose.js'),
  figure: () => import('./figure.js'),
  profile: () => import('./profile.js'),
  tune: () => import('./tune.js'),
  lab: () => import('./lab.js'),
};

/** The modules this argv needs: just the named command's, or all (for --help, unknown names, options first). */
async function commandModules(argv: string[]): Promise<CommandModule[]> {
  const name = argv[2];
  if (name !== undefined && Object.hasOwn(COMMANDS, name)) return [await COMMANDS[name]()];
  return Promise.all(Object.values(COMMANDS).map((load) => load()));
}

export async function main(argv: string[]): Promise<number> {
  const cli = cac('hvscope');
  for (const mod of await commandModules(argv)) mod.register(cli);
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
