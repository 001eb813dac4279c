// The benchmark registry. A *measurement* runs alone in a child process (so one
// figure's memory never inflates another's peak RSS) and returns numbers; a *figure*
// orchestrates measurements and yields one JSON line. To add a figure: add its
// measurements to `measurements` and a Figure to `figures`.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderTimelineSvg } from '../src/render/svg-timeline.js';
import { ingestFigures, ingestMeasurements } from './ingest.js';
import { renderNaiveSvg } from './naive.js';
import { renderFigures, renderSpans, renderStartup } from './render.js';
import { syntheticTrace } from './synthetic.js';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type Result = { [key: string]: Json };

/** Runs inside the child process; `wall_ms` is whatever it chooses to time. */
export type Measurement = (params: Result) => Result | Promise<Result>;

export interface MeasureOutcome {
  ok: boolean;
  /** What the measurement returned, plus peak_rss_mb of its process. */
  result: Result;
  /** When !ok: 'timeout after N ms' or the child's last error line. */
  failure?: string;
}

export interface BenchContext {
  /** Runs a measurement in a fresh child process, killed after timeoutMs. Cached by name and params. */
  measure(name: string, params: Result, timeoutMs: number): Promise<MeasureOutcome>;
  /** Milliseconds left of the whole bench's budget. */
  remainingMs(): number;
}

export interface Figure {
  name: string;
  run(ctx: BenchContext): Promise<Result>;
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const rssMb = () => mb(process.memoryUsage().rss);

function timed<T>(fn: () => T): { value: T; wallMs: number } {
  const started = performance.now();
  const value = fn();
  return { value, wallMs: Math.round((performance.now() - started) * 10) / 10 };
}

export const measurements: Record<string, Measurement> = {
  // read-trace, import-bpftrace (bench/ingest.ts)
  ...ingestMeasurements,
  'render-ours': (p) => {
    const trace = syntheticTrace({ spans: Number(p.spans), seed: 7 });
    const dataRss = rssMb();
    const { value: svg, wallMs } = timed(() => renderTimelineSvg([{ label: 'synthetic', trace }], { interactive: true }));
    return {
      spans: trace.spans.length,
      wall_ms: wallMs,
      data_rss_mb: dataRss,
      svg_bytes: Buffer.byteLength(svg),
      svg_span_elements: svg.split('<rect class="s ').length - 1,
    };
  },
  'render-startup': renderStartup,
  'render-spans': renderSpans,
  'render-naive': (p) => {
    const trace = syntheticTrace({ spans: Number(p.spans), seed: 7 });
    const dataRss = rssMb();
    const { value: svg, wallMs } = timed(() => renderNaiveSvg(trace));
    return { spans: trace.spans.length, wall_ms: wallMs, data_rss_mb: dataRss, svg_bytes: Buffer.byteLength(svg) };
  },
};

const ratio = (a: Json | undefined, b: Json | undefined) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? Math.round((a / b) * 10) / 10 : null);

const ONE_MILLION = 1_000_000;
/** The naive renderer gets at most this long per size. */
const NAIVE_CAP_MS = 120_000;

export const figures: Figure[] = [
  // ingest-1M-events, ingest-bpftrace-real (bench/ingest.ts).
  ...ingestFigures,
  // render-startup, render-10k-spans, render-100k-spans, render-1M-spans (bench/render.ts).
  ...renderFigures,
  {
    name: 'render-naive-vs-ours',
    async run(ctx) {
      // Grow N until the naive renderer would not finish within its cap (or the bench
      // budget); compare both at the largest N where naive finished.
      const ladder: Result[] = [];
      let best: { n: number; naive: Result; ours: Result } | undefined;
      let stoppedBecause: string | null = null;
      let lastNaiveMs = 0;
      let lastN = 0;
      for (const n of [10_000, 30_000, 100_000, 300_000, ONE_MILLION]) {
        // Naive cost grows at least linearly: skip sizes that clearly cannot finish in
        // time; near the limit, try (it is killed at the cap, or fails for memory).
        const predicted = lastN > 0 ? (lastNaiveMs * n) / lastN : 0;
        const budget = Math.min(NAIVE_CAP_MS, ctx.remainingMs() - 30_000);
        if (predicted > 2 * budget) {
          stoppedBecause = `naive at ${n} spans predicted ${Math.round(predicted / 1000)} s > ${Math.round(budget / 1000)} s allowed`;
          break;
        }
        const naive = await ctx.measure('render-naive', { spans: n }, budget);
        if (!naive.ok) {
          stoppedBecause = `naive at ${n} spans: ${naive.failure}`;
          ladder.push({ spans: n, naive_failed: naive.failure ?? 'failed' });
          break;
        }
        const ours = await ctx.measure('render-ours', { spans: n }, budget);
        if (!ours.ok) {
          stoppedBecause = `ours at ${n} spans: ${ours.failure}`;
          break;
        }
        ladder.push({ spans: n, naive_wall_ms: naive.result.wall_ms, ours_wall_ms: ours.result.wall_ms });
        best = { n, naive: naive.result, ours: ours.result };
        lastNaiveMs = Number(naive.result.wall_ms);
        lastN = n;
      }
      const ours1M = await ctx.measure('render-ours', { spans: ONE_MILLION }, Math.min(300_000, ctx.remainingMs()));
      const pick = (r: Result) => ({ wall_ms: r.wall_ms, peak_rss_mb: r.peak_rss_mb, svg_bytes: r.svg_bytes });
      return {
        data: 'synthetic',
        spans: best?.n ?? null,
        naive: best ? pick(best.naive) : null,
        ours: best ? pick(best.ours) : null,
        ratio_naive_over_ours: best
          ? {
              wall: ratio(best.naive.wall_ms, best.ours.wall_ms),
              rss: ratio(best.naive.peak_rss_mb, best.ours.peak_rss_mb),
              bytes: ratio(best.naive.svg_bytes, best.ours.svg_bytes),
            }
          : null,
        naive_cap_ms: NAIVE_CAP_MS,
        naive_stopped: stoppedBecause,
        ladder,
        ours_1M: ours1M.ok ? pick(ours1M.result) : { failed: ours1M.failure ?? 'failed' },
      };
    },
  },
];

// probe-effect (bench/probe-effect.ts): traced vs untraced time-to-exit of the tiny guest.
// Registered here by appending, so the figures above stay as their owner wrote them.
import { probeEffect, probeEffectFigure } from './probe-effect.js';
measurements['probe-effect'] = probeEffect;
figures.push(probeEffectFigure);

// xen-lab (bench/xen-lab.ts): stock vs tuned `xl create` of tiny-pv in the Xen-in-QEMU lab.
import { xenLab, xenLabFigure } from './xen-lab.js';
measurements['xen-lab'] = xenLab;
figures.push(xenLabFigure);

// qemu-profiles (bench/qemu-profiles.ts): time to init of the linux guest per shipped QEMU
// profile against qemu-default, alternating; qemu-variants: one-setting changes of a profile.
import { qemuProfiles, qemuProfilesFigure, qemuVariants } from './qemu-profiles.js';
measurements['qemu-profiles'] = qemuProfiles;
measurements['qemu-variants'] = qemuVariants;
figures.push(qemuProfilesFigure);
// cli-help-startup (bench/cli-startup.ts): `hvscope --help` vs `node -e 0`, side by side.
import { cliHelpStartupFigure } from './cli-startup.js';
figures.push(cliHelpStartupFigure);
// marker-accuracy (bench/marker-accuracy.ts): error of measured gaps between guest markers, traced and rootless.
import { markerAccuracy, markerAccuracyFigure } from './marker-accuracy.js';
measurements['marker-accuracy'] = markerAccuracy;
figures.push(markerAccuracyFigure);
// libvirt (bench/libvirt.ts): tiny through a private libvirtd vs on a plain QEMU command line, alternating.
import { libvirtFigure, libvirtOverhead } from './libvirt.js';
measurements['libvirt-overhead'] = libvirtOverhead;
import { libvirtUnikernel } from './libvirt-unikernel.js';
measurements['libvirt-unikernel'] = libvirtUnikernel;
figures.push(libvirtFigure);

// tune-optimize (bench/tune-optimize.ts): the profile `tune optimize` found for the linux
// guest, confirmed in fresh runs against qemu-default and qemu-microvm-fast.
import { tuneOptimizeConfirm, tuneOptimizeFigure } from './tune-optimize.js';
measurements['tune-optimize'] = tuneOptimizeConfirm;
figures.push(tuneOptimizeFigure);
// tune-optimize-xen (bench/tune-optimize-xen.ts): xen-lab-found against xen-stock in fresh Xen lab cycles.
import { tuneOptimizeXen, tuneOptimizeXenFigure } from './tune-optimize-xen.js';
measurements['tune-optimize-xen'] = tuneOptimizeXen;
figures.push(tuneOptimizeXenFigure);
