// hvscope profile list | show NAME | dump NAME | validate FILE
import type { CAC } from 'cac';
import { readFileSync } from 'node:fs';
import { UserError } from '../model/errors.js';
import { buildKnobs } from '../tuning/engine.js';
import { dumpProfile, listProfiles, loadProfile } from '../tuning/profile.js';
import { allTargets } from '../tuning/targets/index.js';
import { command, printJson } from './run-command.js';
import { subcommands } from './subcommands.js';

interface ProfileOptions {
  json?: boolean;
}

/** The knobs a profile sets. Nothing is read: targets that need a file (xen-domain) get a placeholder name. */
function knobSummary(sections: Record<string, unknown>) {
  const knobs = buildKnobs(sections, allTargets, { root: '/', options: { domainConfig: 'DOMAIN-CONFIG' } });
  return knobs.map((k) => ({ id: k.id, target: k.target, desired: k.desired, why: k.why, source: (k as { source?: string }).source }));
}

export async function profileCommand(action: string, name: string | undefined, opts: ProfileOptions): Promise<void> {
  const need = (what: string) => {
    if (!name) throw new UserError(`profile ${action}: missing ${what}`, 2);
    return String(name);
  };
  switch (action) {
    case 'list': {
      const profiles = listProfiles();
      if (opts.json) return printJson(profiles);
      const width = Math.max(4, ...profiles.map((p) => p.name.length));
      for (const p of profiles) process.stdout.write(`${p.name.padEnd(width)}  ${p.summary}\n`);
      return;
    }
    case 'show': {
      const p = loadProfile(need('NAME'), allTargets);
      if (opts.json) return printJson({ name: p.name, summary: p.summary, file: p.file, files: p.files, knobs: knobSummary(p.sections) });
      process.stdout.write(`# ${p.file}${p.files.length > 1 ? ` (includes ${p.files.slice(0, -1).join(', ')})` : ''}\n`);
      process.stdout.write(readFileSync(p.file, 'utf8'));
      return;
    }
    case 'dump': {
      const p = loadProfile(need('NAME'), allTargets);
      if (opts.json) return printJson({ name: p.name, summary: p.summary, variables: p.variables, ...p.sections });
      process.stdout.write(dumpProfile(p));
      return;
    }
    case 'validate': {
      const p = loadProfile(need('FILE'), allTargets);
      const knobs = knobSummary(p.sections);
      const targets = Object.keys(p.sections);
      if (opts.json) return printJson({ valid: true, name: p.name, file: p.file, files: p.files, targets, knobs: knobs.length });
      process.stdout.write(`${p.file}: valid profile ${p.name}: ${knobs.length} knob${knobs.length === 1 ? '' : 's'} in ${targets.join(', ') || 'no targets'}\n`);
      return;
    }
    default:
      throw new UserError(`profile: unknown action "${action}"; use list, show NAME, dump NAME or validate FILE`, 2);
  }
}

export function register(cli: CAC): void {
  const profile = cli
    .command('profile <action> [name]', 'Tuning profiles: list | show NAME | dump NAME (merged) | validate FILE')
    .option('--json', 'Machine-readable output')
    .example('  hvscope profile list')
    .example('  hvscope profile dump xen-unikernel        # after includes and variables')
    .example('  hvscope profile validate ./my-host.yaml   # file:line: key: message on any mistake')
    .action(command((action: string, name: string | undefined, opts: ProfileOptions) => profileCommand(action, name, opts)));
  subcommands(profile, [
    { name: 'list', summary: 'The shipped profiles (tuning-profiles/), one line each' },
    { name: 'show', args: '<name>', summary: 'Print a profile file as written (a shipped name or a path)' },
    { name: 'dump', args: '<name>', summary: 'Print a profile after includes and variables: what apply would use' },
    { name: 'validate', args: '<file>', summary: 'Check a profile file (YAML, keys, types, includes, variables); file:line: key: message on a mistake' },
  ]);
}
