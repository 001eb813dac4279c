// End-to-end: `hvscope render` options that reach past the timeline itself, on the real Xen creation.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { criticalPathSpans } from '../../src/analysis/critical-path.js';
import { readTrace } from '../../src/model/io.js';
import { hvscope, repo, scratchDir } from './trace-cli.js';

const XEN = join(repo, 'fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json');
const work = scratchDir('hvscope-render-e2e-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('hvscope render', () => {
  it('--critical-path outlines exactly the spans report --critical-path walks, with a legend entry', async () => {
    const out = join(work, 'cp.svg');
    const r = await hvscope(['render', XEN, '--critical-path', '--static', '-o', out]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const svg = readFileSync(out, 'utf8');
    // Span rects have the class "s …"; the legend's swatch carries the highlight class too.
    const marked = (svg.match(/<rect class="s [^"]*\bhl-critical-path\b/g) ?? []).length;
    expect(marked).toBe(criticalPathSpans(readTrace(XEN)).size);
    expect(svg).toContain('>critical path</text>');
  });

  it('--critical-path with a non-SVG format is refused with one line, and nothing is written', async () => {
    const out = join(work, 'cp.json');
    const r = await hvscope(['render', XEN, '--critical-path', '--format', 'chrome', '-o', out]);
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr).trim()).toMatch(/--critical-path applies to --format svg only$/);
    expect(() => readFileSync(out)).toThrow();
  });
});
