// hvscope doctor [--json]: what this host can do (root, bpftrace and which probe
// types attach, tracefs, BTF, QEMU and which accelerators really run, Xen,
// network namespaces, gcc) and how to fix what is missing. A report: exit 0
// even when things are missing; a crash of the checks themselves exits non-zero.
import type { CAC } from 'cac';
import { runHostChecks, type HostCheck } from '../tracer/host-checks.js';
import { ExitStatus, command, printJson } from './run-command.js';

export function register(cli: CAC): void {
  cli
    .command('doctor', 'Check what this host supports (bpftrace probes, tracefs, BTF, QEMU accelerators, Xen, netns) and how to fix gaps')
    .option('--json', 'Machine-readable output')
    .action(
      command(async (options: { json?: boolean }) => {
        let checks: HostCheck[];
        try {
          checks = await runHostChecks();
        } catch (err) {
          // A missing tool is a finding, not a crash; reaching here is a bug in a check.
          process.stderr.write(`hvscope: doctor: a check crashed: ${(err as Error)?.stack ?? String(err)}\n`);
          throw new ExitStatus(1);
        }
        if (options.json) {
          printJson({ checks, summary: summarize(checks) });
        } else {
          process.stdout.write(formatChecks(checks));
        }
      }),
    );
}

export function summarize(checks: HostCheck[]): { ok: number; warn: number; missing: number } {
  return {
    ok: checks.filter((c) => c.status === 'ok').length,
    warn: checks.filter((c) => c.status === 'warn').length,
    missing: checks.filter((c) => c.status === 'missing').length,
  };
}

/** Aligned table: check, status, value; fixes listed under the table. */
export function formatChecks(checks: HostCheck[]): string {
  const nameWidth = Math.max(5, ...checks.map((c) => c.name.length));
  const statusWidth = 7;
  const lines = [`${'check'.padEnd(nameWidth)}  ${'status'.padEnd(statusWidth)}  value`];
  for (const c of checks) lines.push(`${c.name.padEnd(nameWidth)}  ${c.status.padEnd(statusWidth)}  ${c.value}`);
  const fixes = checks.filter((c) => c.status !== 'ok' && c.fix);
  if (fixes.length > 0) {
    lines.push('', 'to fix:');
    for (const c of fixes) lines.push(`  ${c.name.trim()}: ${c.fix}`);
  }
  const s = summarize(checks);
  lines.push('', `${s.ok} ok, ${s.warn} warn, ${s.missing} missing`);
  return lines.join('\n') + '\n';
}
