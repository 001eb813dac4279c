// The CLI's shared machinery: help data = the registrations (one source), help
// that loads no command module, and the argument parser every command uses.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cac } from 'cac';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { parseCommandLine } from './argv.js';
import { collectHelpData, type HelpData } from './help-data.js';
import { commandHelpText, helpFor, topHelp } from './help.js';
import { COMMANDS } from './index.js';
import { subcommands } from './subcommands.js';

const repo = resolve(import.meta.dirname, '../..');
const live = () => collectHelpData(COMMANDS, () => cac('hvscope'));

describe('help data is the registrations, extracted at build time', () => {
  it('dist/src/cli/help-data.json (npm run build) equals what the command modules register', async () => {
    const built = JSON.parse(readFileSync(join(repo, 'dist/src/cli/help-data.json'), 'utf8')) as HelpData;
    delete built.fingerprint;
    expect(built).toEqual(JSON.parse(JSON.stringify(await live())));
  });

  it('every command is registered by its module under its name, with a description; every option and action has one', async () => {
    const data = await live();
    expect(data.commands.map((c) => c.name)).toEqual(Object.keys(COMMANDS));
    for (const c of data.commands) {
      expect(c.summary.length, c.name).toBeGreaterThan(10);
      for (const o of c.options) expect(o.description.length, `${c.name} ${o.flags}`).toBeGreaterThan(3);
      for (const s of c.subcommands) expect(s.summary.length, `${c.name} ${s.name}`).toBeGreaterThan(10);
    }
    expect(data.commands.find((c) => c.name === 'tune')?.subcommands.map((s) => s.name)).toEqual(['plan', 'apply', 'verify', 'rollback', 'status', 'optimize']);
    expect(data.commands.find((c) => c.name === 'lab')?.subcommands.map((s) => s.name)).toEqual(['xen run']);
  });

  it('help text: a description line for a command and for each action, options, exit statuses', async () => {
    const data = await live();
    const tune = data.commands.find((c) => c.name === 'tune')!;
    const plan = commandHelpText(tune, tune.subcommands[0], 100);
    expect(plan.split('\n')[0]).toMatch(/^hvscope tune plan: Show each knob of PROFILE/);
    expect(plan).toMatch(/Usage: hvscope tune plan <profile> \[options\]/);
    expect(plan).not.toMatch(/--dry-run/); // apply's only
    expect(plan).toMatch(/Exit status: 0 success; 1 error .*2 usage error.*130 interrupted/s);
    expect(topHelp(data, '9.9.9', 100)).toMatch(/^hvscope 9\.9\.9: /);
    for (const line of topHelp(data, '9.9.9', 80).split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    expect(() => helpFor(data, '1', ['rendr'], true)).toThrow(/help: no command "rendr" \(did you mean "render"\?\)/);
    expect(helpFor(data, '1', ['render', 'some-file.json'], false)).toMatch(/^hvscope render: /);
  });
});

describe('--help loads no command module; a command loads only its own', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-imports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.IMPORT_LOG, r.url + '\\n');
  return r;
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + hooks)});\n`);

  /** The modules `hvscope ARGS` imports (run as users run it: bin/hvscope → dist). */
  function importsOf(args: string[]): string[] {
    const log = join(dir, `log-${Math.random().toString(36).slice(2)}`);
    writeFileSync(log, '');
    try {
      execFileSync(process.execPath, ['--import', register, join(repo, 'bin/hvscope'), ...args], { env: { ...process.env, IMPORT_LOG: log }, stdio: 'pipe' });
    } catch {
      // usage errors exit non-zero; only the imports matter here
    }
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  }
  const commandModules = (urls: string[]) => urls.filter((u) => Object.keys(COMMANDS).some((n) => u.endsWith(`/dist/src/cli/${n}.js`))).map((u) => u.split('/').pop());

  for (const args of [['--help'], ['help', 'tune'], ['render', 'x.json', '--help'], ['lab', 'xen', 'run', '--help'], ['tune', 'plan', '--help']]) {
    it(`hvscope ${args.join(' ')}`, () => {
      const urls = importsOf(args);
      expect(urls.some((u) => u.endsWith('/dist/src/cli/index.js'))).toBe(true);
      expect(commandModules(urls)).toEqual([]);
      expect(urls.filter((u) => /node_modules\/(d3-node|ajv|jsdom|yaml|execa)\//.test(u))).toEqual([]);
    });
  }
  it('hvscope profile list loads profile.js and no other command module', () => {
    expect(commandModules(importsOf(['profile', 'list']))).toEqual(['profile.js']);
  });
});

describe('parseCommandLine', () => {
  const cli = cac('hvscope');
  const render = cli
    .command('render <trace> [...more]', 'Draw')
    .option('-o, --output <file>', 'out')
    .option('--format <format>', 'fmt')
    .option('--static', 'no script')
    .option('--title <title>', 'title')
    .option('--runs <n>', 'runs', { default: 1 });
  const lab = cli.command('lab <hypervisor> <action>', 'Lab').option('--profile <name>', 'repeatable', { type: [String] });
  subcommands(lab, [{ name: 'xen run', summary: 'run the lab' }]);
  const usage = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(UserError);
      expect((err as UserError).exitCode).toBe(2);
      return (err as Error).message;
    }
    throw new Error('no usage error');
  };

  it('keeps values as typed, takes - as a value, fills defaults under every name', () => {
    const r = parseCommandLine(render, ['a.json', '-o', '-', '--title', '007', '--static', 'b.json'], 'render');
    expect(r.args).toEqual(['a.json', 'b.json']);
    expect(r.options).toMatchObject({ o: '-', output: '-', title: '007', static: true, runs: 1, '--': [] });
    expect(() => parseCommandLine(render, ['a', '--output=-', '-oX'], 'render')).toThrow(/--output is given more than once/);
    expect(parseCommandLine(render, ['a', '--runs', '-1'], 'render').options.runs).toBe('-1');
    expect(parseCommandLine(render, ['a', '--', '-x', '--y'], 'render').options['--']).toEqual(['-x', '--y']);
  });

  it('unknown options get "did you mean"; missing values and arguments are usage errors', () => {
    expect(usage(() => parseCommandLine(render, ['a', '--fromat', 'svg'], 'render'))).toBe('unknown option --fromat for render (did you mean --format?); see hvscope render --help');
    expect(usage(() => parseCommandLine(render, ['a', '-o'], 'render'))).toMatch(/^--output needs a value/);
    expect(usage(() => parseCommandLine(render, ['a', '-o', '--static'], 'render'))).toMatch(/^--output needs a value/);
    expect(usage(() => parseCommandLine(render, ['a', '--static=yes'], 'render'))).toMatch(/^--static takes no value/);
    expect(usage(() => parseCommandLine(render, [], 'render'))).toBe('render: missing TRACE; see hvscope render --help');
  });

  it('actions are checked, with "did you mean"; repeatable options collect', () => {
    expect(usage(() => parseCommandLine(lab, ['xen', 'rn'], 'lab'))).toMatch(/^lab: unknown action "xen rn" \(did you mean "xen run"\?\)/);
    expect(usage(() => parseCommandLine(lab, ['kvm', 'run'], 'lab'))).toMatch(/unknown action "kvm run"/);
    expect(usage(() => parseCommandLine(lab, ['xen', 'run', 'extra'], 'lab'))).toMatch(/unexpected argument "extra"/);
    expect(parseCommandLine(lab, ['xen', 'run', '--profile', 'a', '--profile', 'b'], 'lab').options.profile).toEqual(['a', 'b']);
  });
});
