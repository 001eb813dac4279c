// Help as data. The single source is each command's registration (its cac
// command: usage, description, options, examples, and its declared actions);
// `npm run build` extracts it once into dist/src/cli/help-data.json, so
// `hvscope --help` and `hvscope COMMAND --help` print help without loading any
// command module (d3-node, ajv, the tracer...). The file records the size and
// mtime of every compiled CLI module: when one changed since (tsc run alone),
// help is taken from the live registrations instead, never stale.
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CAC, Command } from 'cac';
import { subcommandsOf, type SubcommandSpec } from './subcommands.js';

export interface OptionHelp {
  /** As registered: `-o, --output <file>`. */
  flags: string;
  description: string;
  default?: string;
}

export interface CommandHelp {
  name: string;
  /** `render <trace> [...more]` */
  usage: string;
  summary: string;
  options: OptionHelp[];
  examples: string[];
  subcommands: SubcommandSpec[];
}

export interface HelpData {
  commands: CommandHelp[];
  /** Compiled CLI module → `size:mtimeMs` when the data was extracted. */
  fingerprint?: Record<string, string>;
}

export type CommandModule = { register(cli: CAC): void };

/** One command's help, read off its registration. */
export function commandHelp(command: Command): CommandHelp {
  return {
    name: command.name,
    usage: command.rawName,
    summary: command.description,
    options: command.options.map((o) => ({
      flags: o.rawName,
      description: o.description,
      ...(o.config.default !== undefined ? { default: String(o.config.default) } : {}),
    })),
    examples: command.examples.filter((e): e is string => typeof e === 'string').map((e) => e.trim()),
    subcommands: subcommandsOf(command),
  };
}

/** Help of every command, from the modules themselves (loads them all). */
export async function collectHelpData(modules: Record<string, () => Promise<CommandModule>>, makeCli: () => CAC): Promise<HelpData> {
  const commands: CommandHelp[] = [];
  for (const load of Object.values(modules)) {
    const cli = makeCli();
    (await load()).register(cli);
    commands.push(...cli.commands.map(commandHelp));
  }
  return { commands };
}

const here = dirname(fileURLToPath(import.meta.url));
export const HELP_DATA_FILE = join(here, 'help-data.json');

/** Size and mtime of each compiled module beside this one (dist/src/cli/*.js). */
export function cliFingerprint(dir = here): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.js')) continue;
    const st = statSync(join(dir, name));
    out[name] = `${st.size}:${Math.round(st.mtimeMs)}`;
  }
  return out;
}

/** The extracted help, or null when absent (running from src/) or stale. */
export function readHelpData(file = HELP_DATA_FILE): HelpData | null {
  let data: HelpData;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as HelpData;
  } catch {
    return null;
  }
  const now = cliFingerprint(dirname(file));
  const then = data.fingerprint ?? {};
  const same = Object.keys(now).length === Object.keys(then).length && Object.entries(now).every(([k, v]) => then[k] === v);
  return same ? data : null;
}

export function writeHelpData(data: HelpData, file = HELP_DATA_FILE): void {
  writeFileSync(file, JSON.stringify({ ...data, fingerprint: cliFingerprint(dirname(file)) }, null, 1) + '\n');
}
