// hvscope figure SPEC.yaml [-o DIR] [--pdf] [--json]
import { dirname, join, resolve } from 'node:path';
import type { CAC } from 'cac';
import { execa } from 'execa';
import { UserError } from '../model/errors.js';
import { writeFileAtomic } from '../model/io.js';
import { renderFigureSpec } from '../render/figures/index.js';
import { loadFigureSpec } from '../render/figures/spec.js';
import { command, printJson, progress } from './run-command.js';

export const PDF_CONVERTER = 'rsvg-convert';

/** Whether rsvg-convert (Debian librsvg2-bin) can be run. */
async function hasPdfConverter(): Promise<boolean> {
  const r = await execa(PDF_CONVERTER, ['--version'], { reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}

/** SVG → PDF with rsvg-convert (cairo embeds the fonts it used). */
async function svgToPdf(svgFile: string, pdfFile: string): Promise<void> {
  const r = await execa(PDF_CONVERTER, ['-f', 'pdf', '-o', `${pdfFile}.tmp-${process.pid}`, svgFile], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new UserError(`${svgFile}: ${PDF_CONVERTER} failed: ${String(r.stderr).trim().split('\n')[0] || `exit ${r.exitCode}`}`);
  const { rename } = await import('node:fs/promises');
  await rename(`${pdfFile}.tmp-${process.pid}`, pdfFile);
}

export interface FigureCommandOptions {
  outDir?: string;
  pdf?: boolean;
  json?: boolean;
}

export interface FigureOutput {
  kind: string;
  svg: string;
  pdf?: string;
  title?: string;
  data: unknown;
}

/** Loads the spec, renders every figure, writes SVGs (and PDFs). Returns what was written. */
export async function runFigure(specFile: string, opts: FigureCommandOptions): Promise<FigureOutput[]> {
  const spec = loadFigureSpec(specFile);
  // Check for the converter before writing anything, so a missing one is said up front.
  if (opts.pdf && !(await hasPdfConverter()))
    throw new UserError(`--pdf needs ${PDF_CONVERTER}, which is not installed (Debian: apt-get install -y librsvg2-bin); without --pdf the SVGs are written`);
  const figures = renderFigureSpec(spec);
  const outDir = resolve(opts.outDir ?? dirname(resolve(specFile)));
  const written: FigureOutput[] = [];
  for (const fig of figures) {
    const svgFile = join(outDir, fig.output);
    writeFileAtomic(svgFile, fig.svg);
    let pdfFile: string | undefined;
    if (opts.pdf) {
      pdfFile = svgFile.replace(/\.svg$/i, '.pdf');
      await svgToPdf(svgFile, pdfFile);
    }
    if (!opts.json) progress(`wrote ${svgFile}${pdfFile ? ` and ${pdfFile}` : ''}`);
    written.push({ kind: fig.data.kind, svg: svgFile, ...(pdfFile ? { pdf: pdfFile } : {}), ...(fig.title ? { title: fig.title } : {}), data: fig.data });
  }
  return written;
}

export function register(cli: CAC): void {
  cli
    .command('figure <spec>', 'Paper-ready figures (stacked phase bars, CDF, scaling) from a YAML spec')
    .option('-o, --out-dir <dir>', 'Directory for the figures (default: the spec file\'s directory)')
    .option('--pdf', `Also write a PDF of each figure (needs ${PDF_CONVERTER}, Debian librsvg2-bin)`)
    .option('--json', 'Print the numbers behind every bar, curve and point (ns) as JSON')
    .example('hvscope figure docs/figures/boot-by-machine.yaml -o out/')
    .example('hvscope figure figures.yaml --pdf --json')
    .action(
      command(async (spec: string, opts: { outDir?: string; pdf?: boolean; json?: boolean }) => {
        const written = await runFigure(spec, { outDir: opts.outDir, pdf: opts.pdf, json: opts.json });
        if (opts.json) printJson({ spec: resolve(spec), figures: written });
      }),
    );
}
