// Parses a command's arguments against its registered options (cac's Option
// objects), instead of leaving it to cac/mri: every value stays the string the
// user typed (mri turns `--title 007` into 7), `-o -` means stdout, an unknown
// option gets "did you mean", a missing value or argument is a usage error
// (exit 2), and an action (`tune plan`) is checked against the declared ones.
import type { Command } from 'cac';
import { quoteInput, usageError } from '../model/errors.js';
import { nearest } from '../model/suggest.js';
import { subcommandsOf } from './subcommands.js';

export interface CommandLine {
  /** Positional arguments, as typed. */
  args: string[];
  /** Option values under every name cac gives them (camelCase long name, short alias), defaults filled in; `--` holds what followed `--`. */
  options: Record<string, unknown>;
}

interface OptionDef {
  long?: string;
  short?: string;
  takesValue: boolean;
  repeatable: boolean;
  /** cac's names for the value (`output`, `o`). */
  names: string[];
  defaultValue: unknown;
}

function optionDefs(command: Command): OptionDef[] {
  return command.options.map((o) => {
    const flags = o.rawName.split(',').map((f) => f.trim().split(/[\s<[]/)[0]);
    return {
      long: flags.find((f) => f.startsWith('--'))?.slice(2),
      short: flags.find((f) => /^-[^-]/.test(f))?.slice(1),
      takesValue: !o.isBoolean,
      repeatable: Array.isArray(o.config.type),
      names: o.names,
      defaultValue: o.config.default,
    };
  });
}

/** `--name` or `-n` as the user would type it. */
const flagOf = (d: OptionDef) => (d.long ? `--${d.long}` : `-${d.short}`);

/** Parses the words after `hvscope NAME`. `path` is how usage errors name the command (`render`). */
export function parseCommandLine(command: Command, words: string[], path: string): CommandLine {
  const defs = optionDefs(command);
  const seeHelp = `; see hvscope ${path} --help`;
  const byLong = new Map(defs.filter((d) => d.long).map((d) => [d.long!, d]));
  const byShort = new Map(defs.filter((d) => d.short).map((d) => [d.short!, d]));
  const isOptionWord = (w: string) => (w.startsWith('--') && byLong.has(w.slice(2).split('=')[0])) || (/^-[^-\d]/.test(w) && byShort.has(w[1]));
  const values = new Map<OptionDef, string[]>();
  const args: string[] = [];
  let rest: string[] = [];

  const give = (d: OptionDef, value: string | undefined) => {
    const list = values.get(d) ?? [];
    if (list.length > 0 && !d.repeatable) throw usageError(`${flagOf(d)} is given more than once${seeHelp}`);
    list.push(value ?? 'true');
    values.set(d, list);
  };
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === '--') {
      rest = words.slice(i + 1);
      break;
    }
    let def: OptionDef | undefined;
    let attached: string | undefined;
    if (w.startsWith('--') && w.length > 2) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w.slice(2) : w.slice(2, eq);
      attached = eq < 0 ? undefined : w.slice(eq + 1);
      def = byLong.get(name);
      if (!def) {
        const near = nearest(name, [...byLong.keys()]);
        throw usageError(`unknown option --${name} for ${path}${near ? ` (did you mean --${near}?)` : ''}${seeHelp}`);
      }
    } else if (/^-[^-\d]/.test(w)) {
      def = byShort.get(w[1]);
      if (!def) {
        const near = nearest(w.slice(1), [...byLong.keys()]);
        throw usageError(`unknown option ${w.slice(0, 2)} for ${path}${near && w.length > 2 ? ` (did you mean --${near}?)` : ''}${seeHelp}`);
      }
      if (w.length > 2) attached = w[2] === '=' ? w.slice(3) : w.slice(2);
    } else {
      args.push(w);
      continue;
    }
    if (!def.takesValue) {
      if (attached !== undefined) throw usageError(`${flagOf(def)} takes no value${seeHelp}`);
      give(def, undefined);
      continue;
    }
    if (attached === undefined) {
      const next = words[i + 1];
      // `-` (stdout/stdin) and negative numbers are values; another option or `--` is not.
      if (next === undefined || next === '--' || isOptionWord(next)) throw usageError(`${flagOf(def)} needs a value${seeHelp}`);
      attached = next;
      i++;
    }
    give(def, attached);
  }
  checkArguments(command, args, path, seeHelp);

  const options: Record<string, unknown> = { '--': rest };
  for (const d of defs) {
    const given = values.get(d);
    const value = given === undefined ? d.defaultValue : !d.takesValue ? true : d.repeatable ? given : given[0];
    if (value !== undefined) for (const n of d.names) options[n] = value;
  }
  return { args, options };
}

function checkArguments(command: Command, args: string[], path: string, seeHelp: string): void {
  const subs = subcommandsOf(command);
  if (subs.length > 0) {
    if (args.length === 0) throw usageError(`${path}: missing action: ${subs.map((s) => s.name).join(', ')}${seeHelp}`);
    const match = subs.find((s) => s.name.split(' ').every((p, i) => args[i] === p));
    if (!match) {
      const typed = args.slice(0, Math.max(...subs.map((s) => s.name.split(' ').length))).join(' ');
      const near = nearest(args[0], subs.map((s) => s.name.split(' ')[0]));
      const full = near ? subs.find((s) => s.name.startsWith(near))!.name : undefined;
      throw usageError(`${path}: unknown action "${typed}"${full ? ` (did you mean "${full}"?)` : ''}; one of ${subs.map((s) => s.name).join(', ')}${seeHelp}`);
    }
  }
  const required = command.args.filter((a) => a.required);
  if (args.length < required.length) {
    const missing = required[args.length].value;
    throw usageError(`${path}: missing ${missing.toUpperCase()}${seeHelp}`);
  }
  const variadic = command.args.some((a) => a.variadic);
  if (!variadic && args.length > command.args.length) {
    throw usageError(`${path}: unexpected argument ${quoteInput(args[command.args.length])}${seeHelp}`);
  }
}
