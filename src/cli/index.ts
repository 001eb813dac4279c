// CLI entry: finds the command, loads only its module, parses its arguments
// (src/cli/argv.ts) and runs it; help never loads a command module.
//
// Adding a command NAME:
//  1. src/cli/NAME.ts exports `register(cli: CAC)`, which declares the command
//     with cac as the others do: `cli.command('NAME <arg> [...more]', 'One line
//     of what it does')`, `.option(...)` per option (`{ default }`; `{ type:
//     [String] }` for one that may be repeated), `.example(...)`, and
//     `.action(command(async (...) => ...))` (src/cli/run-command.ts: errors
//     become one line and an exit status). A command whose first argument is
//     an action (`tune plan`) declares its actions with `subcommands()`
//     (src/cli/subcommands.ts): help describes each, and a mistyped action is
//     refused with "did you mean".
//  2. Add `NAME: () => import('./NAME.js')` to COMMANDS below (order = order
//     in --help). The file name must be NAME.ts.
//  3. `npm run build` extracts the help (src/cli/help-data.ts); the test in
//     src/cli/index.test.ts checks that it matches the registrations.
// Shared behaviour comes for free: --help anywhere, `hvscope help NAME`,
// unknown options with "did you mean", `-o -` as a value, values kept as typed
// strings, --max-input, exit statuses (usage 2, runtime 1, Ctrl-C 130; see
// EXIT in src/model/errors.ts), and a quiet end when stdout is closed.
// Throw `usageError()` for a bad option value, `UserError` for a runtime
// failure; write output with `writeOutput(target, text)` so `-` is stdout.
import { usageError } from '../model/errors.js';
import { setMaxInput } from '../model/input.js';
import { nearest } from '../model/suggest.js';
import { packageVersion } from '../package-root.js';
import { readHelpData, type CommandModule, type HelpData } from './help-data.js';
import { helpFor } from './help.js';
import { endQuietlyOnClosedPipe, reportError } from './report-error.js';

/** Command modules, loaded on demand: `hvscope tune apply` should not pay for d3-node/jsdom (render) or the tracer. */
export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
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

async function newCli() {
  const { cac } = await import('cac');
  return cac('hvscope');
}

/** Help data: extracted at build time, else (running from src/, or a stale build) read off every module. */
export async function loadHelpData(): Promise<HelpData> {
  const data = readHelpData();
  if (data) return data;
  const { collectHelpData } = await import('./help-data.js');
  const { cac } = await import('cac');
  return collectHelpData(COMMANDS, () => cac('hvscope'));
}

async function printHelp(words: string[], strict: boolean): Promise<number> {
  process.stdout.write(helpFor(await loadHelpData(), packageVersion(), words, strict));
  return 0;
}

/** Takes the options every command accepts out of the words (before any `--`); returns what is left. */
function takeGlobalOptions(words: string[]): { words: string[]; help: boolean; version: boolean } {
  const out: string[] = [];
  let help = false;
  let version = false;
  setMaxInput(undefined); // main() may run more than once in a process (tests)
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === '--') {
      out.push(...words.slice(i));
      break;
    }
    if (w === '-h' || w === '--help') help = true;
    else if (w === '--version' || (w === '-v' && out.length === 0)) version = true;
    else if (w === '--max-input' || w.startsWith('--max-input=')) {
      const value = w.includes('=') ? w.slice(w.indexOf('=') + 1) : words[++i];
      if (value === undefined) throw usageError('--max-input needs a value (e.g. 512M)');
      setMaxInput(value);
    } else out.push(w);
  }
  return { words: out, help, version };
}

export async function main(argv: string[]): Promise<number> {
  endQuietlyOnClosedPipe();
  try {
    const { words, help, version } = takeGlobalOptions(argv.slice(2));
    const name = words[0];
    if (name === 'help') return await printHelp(words.slice(1).filter((w) => !w.startsWith('-')), true);
    if (help) return await printHelp(words.filter((w, i) => !w.startsWith('-') || i === 0).slice(0, 3), false);
    if (version && (name === undefined || words.length === 0)) {
      process.stdout.write(`hvscope ${packageVersion()}\n`);
      return 0;
    }
    if (name === undefined) return await printHelp([], false);
    if (name.startsWith('-')) throw usageError(`${name}: give the command first (hvscope COMMAND ${name} ...); see hvscope --help`);
    if (!Object.hasOwn(COMMANDS, name)) {
      const near = nearest(name, Object.keys(COMMANDS));
      throw usageError(`unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''}; see hvscope --help`);
    }
    return await runCommand(name, words.slice(1));
  } catch (err) {
    return reportError(err);
  }
}

async function runCommand(name: string, words: string[]): Promise<number> {
  const cli = await newCli();
  (await COMMANDS[name]()).register(cli);
  const command = cli.commands.find((c) => c.name === name);
  if (!command) throw new Error(`src/cli/${name}.ts registers no command "${name}"`);
  const { parseCommandLine } = await import('./argv.js');
  const parsed = parseCommandLine(command, words, name);
  // Hand cac the parsed line; it maps the arguments onto the action's parameters.
  cli.args = parsed.args;
  cli.options = parsed.options as typeof cli.options;
  cli.matchedCommand = command;
  cli.matchedCommandName = name;
  process.exitCode = undefined;
  await cli.runMatchedCommand();
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
