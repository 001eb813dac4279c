// Render benchmarks (#14):
// - render-startup: `hvscope render` of a real ~300-span Xen trace to SVG, wall time as a
//   ratio to `node -e 0`, both run alternately in one go (the host is shared, so only the
//   ratio means something); also whether d3-node/jsdom were loaded at all.
// - render-10k-spans, render-100k-spans, render-1M-spans: synthetic traces to an
//   interactive SVG, so that the growth with the number of spans shows (ns per span).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { median } from '../src/analysis/stats.js';
import { renderTimelineSvg } from '../src/render/svg-timeline.js';
import type { Figure, Measurement, Result } from './figures.js';
import { syntheticTrace } from './synthetic.js';

const REPO = resolve(import.meta.dirname, '../..');
const XEN_TRACE = 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json';
const STARTUP_ROUNDS = 15;
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

async function wallMs(args: string[]): Promise<number> {
  const started = performance.now();
  await execa(process.execPath, args, { cwd: REPO, stdin: 'ignore' });
  return performance.now() - started;
}

/** Heavy CommonJS modules `hvscope render` loads, seen from a fresh process that runs the CLI's main. */
async function heavyModulesLoaded(out: string): Promise<string[]> {
  const entry = pathToFileURL(join(REPO, 'dist/src/cli/index.js')).href;
  const code = [
    `import { createRequire } from 'node:module';`,
    `const { main } = await import(${JSON.stringify(entry)});`,
    `process.stderr.write = () => true;`,
    `await main([process.execPath, 'hvscope', 'render', ${JSON.stringify(join(REPO, XEN_TRACE))}, '-o', ${JSON.stringify(out)}]);`,
    `console.log(JSON.stringify(Object.keys(createRequire(process.cwd() + '/').cache)));`,
  ].join('\n');
  const r = await execa(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO, stdin: 'ignore' });
  const loaded = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as string[];
  const heavy: Record<string, string> = { 'd3-node': '/node_modules/d3-node/', jsdom: '/node_modules/jsdom/', 'ajv compiler': '/node_modules/ajv/dist/compile/' };
  return Object.keys(heavy).filter((name) => loaded.some((path) => path.includes(heavy[name])));
}

export const renderStartup: Measurement = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvscope-bench-startup-'));
  try {
    const out = join(dir, 'xen.svg');
    const node: number[] = [];
    const render: number[] = [];
    // Warm the file cache once, then alternate so both see the same load.
    await wallMs([join(REPO, 'bin/hvscope'), 'render', XEN_TRACE, '-o', out]);
    for (let i = 0; i < STARTUP_ROUNDS; i++) {
      node.push(await wallMs(['-e', '0']));
      render.push(await wallMs([join(REPO, 'bin/hvscope'), 'render', XEN_TRACE, '-o', out]));
    }
    const nodeMs = median(node);
    const renderMs = median(render);
    return {
      trace: XEN_TRACE,
      rounds: STARTUP_ROUNDS,
      node_e0_ms: Math.round(nodeMs),
      render_ms: Math.round(renderMs),
      ratio: Math.round((renderMs / nodeMs) * 100) / 100,
      goal_ratio: 3,
      svg_bytes: statSync(out).size,
      heavy_modules_loaded: await heavyModulesLoaded(out),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

export const renderSpans: Measurement = (p) => {
  const trace = syntheticTrace({ spans: Number(p.spans), seed: 7 });
  const dataRss = mb(process.memoryUsage().rss);
  const started = performance.now();
  const svg = renderTimelineSvg([{ label: 'synthetic', trace }], { interactive: true });
  const wall = performance.now() - started;
  const data = /\nvar D = (.*);\n/.exec(svg);
  return {
    spans: trace.spans.length,
    wall_ms: Math.round(wall * 10) / 10,
    ns_per_span: Math.round((wall * 1e6) / trace.spans.length),
    data_rss_mb: dataRss,
    svg_bytes: Buffer.byteLength(svg),
    items: data ? (JSON.parse(data[1]) as { il: number[] }).il.length : null,
  };
};

const GOALS_1M: Result = { wall_ms: 3000, peak_rss_mb: 400, svg_bytes: 5_000_000 };

/**
 * One size; from `from` spans on, also the cost of each extra span (the fixed costs of a
 * cold process, parsing and compiling the renderer, weigh on small sizes).
 */
function spansFigure(name: string, spans: number, goal?: Result, from?: number): Figure {
  return {
    name,
    async run(ctx) {
      const out = await ctx.measure('render-spans', { spans }, Math.min(300_000, ctx.remainingMs()));
      let marginal: Result = {};
      if (from !== undefined && out.ok) {
        const base = await ctx.measure('render-spans', { spans: from }, Math.min(300_000, ctx.remainingMs()));
        const extra = Number(out.result.spans) - Number(base.result.spans);
        if (base.ok && extra > 0)
          marginal = { [`ns_per_span_above_${from / 1000}k`]: Math.round(((Number(out.result.wall_ms) - Number(base.result.wall_ms)) * 1e6) / extra) };
      }
      return { data: 'synthetic', ...out.result, ...marginal, ...(goal ? { goal } : {}), ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
    },
  };
}

export const renderFigures: Figure[] = [
  {
    name: 'render-startup',
    async run(ctx) {
      const out = await ctx.measure('render-startup', {}, Math.min(300_000, ctx.remainingMs()));
      return { ...out.result, ...(out.ok ? {} : { failed: out.failure ?? 'failed' }) };
    },
  },
  spansFigure('render-10k-spans', 10_000),
  spansFigure('render-100k-spans', 100_000),
  spansFigure('render-1M-spans', 1_000_000, GOALS_1M, 100_000),
];
