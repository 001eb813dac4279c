// Runs many hvscope command lines in one process through the CLI's own main()
// (dist/src/cli/index.js, what bin/hvscope runs), so a fuzz test can afford a
// thousand cases: Node's start-up is paid once. Usage:
//   node cli-harness.mjs CASES.json
// CASES.json: [{ "id": "...", "args": ["report", "FILE"] }, ...]. Prints one
// JSON line per case, written before the next starts: { id, code, stderr,
// stdoutBytes, ms } — and a { started: id } line before each, so a case that
// never ends is named by whoever kills this process.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { main } = await import(join(repo, 'dist/src/cli/index.js'));
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const realStdout = process.stdout.write.bind(process.stdout);
const realStderr = process.stderr.write.bind(process.stderr);
const say = (obj) => realStdout(JSON.stringify(obj) + '\n');

for (const c of cases) {
  say({ started: c.id });
  let stderr = '';
  let stdoutBytes = 0;
  const capture = (sink) => (chunk, encoding, callback) => {
    sink(chunk);
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (cb) queueMicrotask(() => cb());
    return true;
  };
  process.stdout.write = capture((chunk) => (stdoutBytes += chunk.length));
  process.stderr.write = capture((chunk) => (stderr += chunk.toString()));
  process.exitCode = undefined;
  const started = performance.now();
  let code;
  try {
    code = await main(['node', 'hvscope', ...c.args]);
  } catch (err) {
    code = 'threw';
    stderr += String(err && err.stack ? err.stack : err);
  } finally {
    process.stdout.write = realStdout;
    process.stderr.write = realStderr;
  }
  say({ id: c.id, code, stderr, stdoutBytes, ms: Math.round(performance.now() - started) });
}
process.exitCode = 0;
