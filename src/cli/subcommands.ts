// Actions of a command that takes one as its first argument(s) (`tune plan`,
// `profile show`, `lab xen run`): declared beside the command's registration,
// so help has a description line for each and the CLI can check the action
// (with "did you mean") before the command's code runs.
import type { Command } from 'cac';

export interface SubcommandSpec {
  /** The action as typed: `plan`, or several words (`xen run`). */
  name: string;
  /** Its arguments after the action, as usage shows them (`<profile>`). */
  args?: string;
  /** One line: what it does. */
  summary: string;
  /** Long names of the command's options that apply to it (all when absent). */
  options?: string[];
}

const declared = new WeakMap<Command, SubcommandSpec[]>();

/** Declares the actions `command` takes; returns the command for chaining. */
export function subcommands(command: Command, specs: SubcommandSpec[]): Command {
  declared.set(command, specs);
  return command;
}

export function subcommandsOf(command: Command): SubcommandSpec[] {
  return declared.get(command) ?? [];
}
