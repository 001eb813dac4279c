// Test entry: runInXenLab used as a library, with no AbortSignal, so its own
// SIGINT/SIGTERM handling is what ends QEMU. Usage: node xen-lab-entry.js OUTDIR
// (the experiment sleeps until interrupted).
import { runInXenLab } from '../../src/lab/xen/run.js';

const outDir = process.argv[2];
if (!outDir) throw new Error('usage: xen-lab-entry OUTDIR');
await runInXenLab({ script: 'sleep 600\n', outDir, timeoutMs: 300_000, onProgress: (m) => process.stderr.write(`progress: ${m}\n`) });
