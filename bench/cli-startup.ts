// cli-help-startup: wall time of `hvscope --help` (bin/hvscope → dist, as users run
// it) over that of `node -e 0` on the same host, measured side by side in one run,
// alternating, so host load hits both alike. Goal (issue #14): ≤ 1.5×.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/package-root.js';
import { median } from '../src/analysis/stats.js';
import type { Figure, Result } from './figures.js';

export const CLI_HELP_GOAL = 1.5;
const ROUNDS = 21;

function wallMs(args: string[]): number {
  const started = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(0, 200)}`);
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export const cliHelpStartupFigure: Figure = {
  name: 'cli-help-startup',
  async run(): Promise<Result> {
    const bin = join(packageRoot(), 'bin/hvscope');
    const node: number[] = [];
    const help: number[] = [];
    wallMs(['-e', '0']);
    wallMs([bin, '--help']); // warm the page cache for both
    for (let i = 0; i < ROUNDS; i++) {
      if (i % 2 === 0) {
        node.push(wallMs(['-e', '0']));
        help.push(wallMs([bin, '--help']));
      } else {
        help.push(wallMs([bin, '--help']));
        node.push(wallMs(['-e', '0']));
      }
    }
    const ratios = help.map((h, i) => h / node[i]);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const ratio = r2(median(ratios));
    return {
      rounds: ROUNDS,
      node_e0_ms: r2(median(node)),
      help_ms: r2(median(help)),
      ratio_help_over_node: ratio,
      goal_ratio: CLI_HELP_GOAL,
      meets_goal: ratio <= CLI_HELP_GOAL,
    };
  },
};
