// Help text, rendered from help data (src/cli/help-data.ts) alone: printing
// help loads no command module. `hvscope --help`, `hvscope help [COMMAND...]`
// and `--help` anywhere on a command line all come here.
import { EXIT, usageError } from '../model/errors.js';
import { DEFAULT_MAX_INPUT, MAX_INPUT_ENV, formatSize } from '../model/input.js';
import { nearest } from '../model/suggest.js';
import type { CommandHelp, HelpData, OptionHelp } from './help-data.js';
import type { SubcommandSpec } from './subcommands.js';
import { terminalWidth, wrapText } from './text-wrap.js';

/** Options every command takes (handled before the command runs). */
export const GLOBAL_OPTIONS: OptionHelp[] = [
  { flags: '-h, --help', description: 'Show this help (also: hvscope help COMMAND...)' },
  { flags: '--version', description: 'Print the version' },
  {
    flags: '--max-input <size>',
    description: `Largest input file read (default ${formatSize(DEFAULT_MAX_INPUT.data)} for traces, logs and kernels, ${formatSize(DEFAULT_MAX_INPUT.config)} for profiles, specs and configs; or ${MAX_INPUT_ENV}=SIZE), e.g. 2G`,
  },
];

export const EXIT_STATUS_TEXT =
  `Exit status: ${EXIT.ok} success; ${EXIT.error} error (bad input, a failed run or check); ${EXIT.usage} usage error (unknown command or option, bad value, missing argument); ` +
  `${EXIT.interrupted} interrupted by Ctrl-C (143 by SIGTERM; what was finished is kept); ${EXIT.brokenPipe} output closed early (e.g. | head); ${EXIT.internal} internal error (a bug in hvscope).`;

function section(title: string, rows: [string, string][], width: number): string[] {
  if (rows.length === 0) return [];
  const labelWidth = Math.min(30, Math.max(...rows.map(([l]) => l.length)) + 4);
  const out = [`${title}:`];
  for (const [label, text] of rows) {
    const first = `  ${label}`;
    const lines = wrapText(text, Math.max(30, width - labelWidth));
    if (first.length + 2 > labelWidth) {
      out.push(first);
      out.push(...lines.map((l) => ' '.repeat(labelWidth) + l));
    } else out.push(...lines.map((l, i) => (i === 0 ? first.padEnd(labelWidth) : ' '.repeat(labelWidth)) + l));
  }
  return out.map((l) => l.trimEnd());
}

const optionRows = (options: OptionHelp[]): [string, string][] =>
  options.map((o) => [o.flags, o.default !== undefined ? `${o.description} (default: ${o.default})` : o.description]);

function paragraph(text: string, width: number): string[] {
  return wrapText(text, width);
}

export function topHelp(data: HelpData, version: string, width = terminalWidth()): string {
  const lines = [
    ...paragraph(`hvscope ${version}: trace, tune and visualise VM and unikernel boots (Xen, QEMU/KVM) with bpftrace`, width),
    '',
    'Usage: hvscope COMMAND [ARGUMENTS] [options]',
    '       hvscope help [COMMAND...]      (or hvscope COMMAND --help)',
    '',
    ...section('Commands', data.commands.map((c) => [c.name, c.summary]), width),
    '',
    ...section('Options of every command', optionRows(GLOBAL_OPTIONS), width),
    '',
    ...paragraph(EXIT_STATUS_TEXT, width),
  ];
  return lines.join('\n') + '\n';
}

const usageLine = (c: CommandHelp, sub?: SubcommandSpec): string =>
  sub ? `hvscope ${c.name} ${sub.name}${sub.args ? ` ${sub.args}` : ''} [options]` : `hvscope ${c.usage} [options]`;

const longName = (flags: string) => /--([a-z0-9-]+)/.exec(flags)?.[1];

export function commandHelpText(c: CommandHelp, sub: SubcommandSpec | undefined, width = terminalWidth()): string {
  const options = sub?.options ? c.options.filter((o) => sub.options!.includes(longName(o.flags) ?? '')) : c.options;
  const examples = sub ? c.examples.filter((e) => e.includes(` ${c.name} ${sub.name}`)) : c.examples;
  const lines = [
    ...paragraph(sub ? `hvscope ${c.name} ${sub.name}: ${sub.summary}` : `hvscope ${c.name}: ${c.summary}`, width),
    '',
    `Usage: ${usageLine(c, sub)}`,
  ];
  if (!sub && c.subcommands.length > 0) lines.push('', ...section('Actions', c.subcommands.map((s) => [`${s.name}${s.args ? ` ${s.args}` : ''}`, s.summary]), width));
  if (sub) lines.push('', ...paragraph(`Part of: hvscope ${c.name}: ${c.summary}`, width));
  lines.push('', ...section('Options', optionRows([...options, ...GLOBAL_OPTIONS.filter((g) => !g.flags.includes('--version'))]), width));
  if (examples.length > 0) lines.push('', 'Examples:', ...examples.map((e) => `  ${e}`));
  lines.push('', ...paragraph(EXIT_STATUS_TEXT, width));
  return lines.join('\n') + '\n';
}

/** The subcommand that the words after a command name start with, if any. */
export function matchSubcommand(c: CommandHelp | { subcommands: SubcommandSpec[] }, words: string[]): SubcommandSpec | undefined {
  return c.subcommands.find((s) => {
    const parts = s.name.split(' ');
    return parts.every((p, i) => words[i] === p);
  });
}

/**
 * Help for the words of a command line (`render FILE`, `tune plan`,
 * `lab xen run`): the command's, or its action's when one is named. With
 * `strict` (hvscope help WORDS) an unknown command is a usage error.
 */
export function helpFor(data: HelpData, version: string, words: string[], strict: boolean): string {
  if (words.length === 0) return topHelp(data, version);
  const c = data.commands.find((x) => x.name === words[0]);
  if (!c) {
    if (!strict) return topHelp(data, version);
    const near = nearest(words[0], data.commands.map((x) => x.name));
    throw usageError(`help: no command "${words[0]}"${near ? ` (did you mean "${near}"?)` : ''}; see hvscope --help`);
  }
  return commandHelpText(c, matchSubcommand(c, words.slice(1)));
}
