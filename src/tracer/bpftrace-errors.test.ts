// Error mapping, tested on stderr/stdout recorded from bpftrace 0.17 (see
// testdata/bpftrace-0.17/README.md for how each case was provoked).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { bpftraceNotInstalled, errorLines, explainBpftraceFailure, isMemlockWarning } from './bpftrace-errors.js';

const rec = (name: string) => readFileSync(new URL(`./testdata/bpftrace-0.17/${name}`, import.meta.url), 'utf8');
const hostOk = { tracefsMounted: true, btfPresent: true, isRoot: true };

describe('explainBpftraceFailure on recorded bpftrace 0.17 failures', () => {
  it('not root', () => {
    const e = explainBpftraceFailure({ stderr: rec('not-root.stderr'), exitCode: 1 }, { ...hostOk, isRoot: false });
    expect(e).toBeInstanceOf(UserError);
    expect(e.kind).toBe('not-root');
    expect(e.message).toMatch(/needs root/);
  });

  it('tracefs not mounted: "tracepoint not found" becomes the mount command', () => {
    const e = explainBpftraceFailure({ stderr: rec('tracefs-not-mounted.stderr'), exitCode: 1 }, { ...hostOk, tracefsMounted: false });
    expect(e.kind).toBe('tracefs');
    expect(e.message).toContain('mount -t tracefs nodev /sys/kernel/tracing');
  });

  it('the same text with tracefs mounted is a missing tracepoint, named', () => {
    const e = explainBpftraceFailure({ stderr: rec('unknown-tracepoint.stderr'), exitCode: 1 }, hostOk);
    expect(e.kind).toBe('no-tracepoint');
    expect(e.message).toContain('nosuchcat:nosuchevent');
    expect(e.message).toContain("bpftrace -l 'tracepoint:nosuchcat:*'");
  });

  it('kprobe attach failure (no kprobe_events) vs tracefs missing', () => {
    const withTracefs = explainBpftraceFailure(
      { stderr: rec('kprobe-attach-fails.stderr'), stdout: rec('kprobe-attach-fails.stdout'), exitCode: 255 },
      hostOk,
    );
    expect(withTracefs.kind).toBe('kprobe-unsupported');
    expect(withTracefs.message).toMatch(/kprobes cannot attach on this kernel/);
    const withoutTracefs = explainBpftraceFailure({ stderr: rec('tracefs-not-mounted-kprobe.stderr'), exitCode: 255 }, { ...hostOk, tracefsMounted: false });
    expect(withoutTracefs.kind).toBe('tracefs');
  });

  it('unknown probe type', () => {
    const e = explainBpftraceFailure({ stderr: rec('unknown-probe-type.stderr'), exitCode: 134 }, hostOk);
    expect(e.kind).toBe('unknown-probe-type');
  });

  it('uprobe binary missing', () => {
    const e = explainBpftraceFailure({ stderr: rec('uprobe-no-binary.stderr'), exitCode: 1 }, hostOk);
    expect(e.kind).toBe('uprobe-target');
    expect(e.message).toContain('/nonexistent/qemu');
  });

  it('uprobe symbol missing / stripped binary ("No probes to attach" on stdout)', () => {
    const e = explainBpftraceFailure({ stderr: rec('uprobe-no-symbol.stderr'), stdout: rec('uprobe-no-symbol.stdout'), exitCode: 1 }, hostOk);
    expect(e.kind).toBe('uprobe-symbol');
    expect(e.message).toMatch(/stripped/);
  });

  it('kfunc unavailable: blamed on BTF only when BTF is missing', () => {
    expect(explainBpftraceFailure({ stderr: rec('kfunc-unavailable.stderr'), exitCode: 1 }, hostOk).kind).toBe('kfunc-unsupported');
    const noBtf = explainBpftraceFailure({ stderr: rec('kfunc-unavailable.stderr'), exitCode: 1 }, { ...hostOk, btfPresent: false });
    expect(noBtf.kind).toBe('btf');
    expect(noBtf.message).toContain('CONFIG_DEBUG_INFO_BTF');
  });

  it('syntax error names the problem, not the RLIMIT_MEMLOCK notice', () => {
    const e = explainBpftraceFailure({ stderr: rec('syntax-error.stderr'), exitCode: 1 }, hostOk);
    expect(e.kind).toBe('program');
    expect(e.message).toContain('syntax error');
    expect(e.message).not.toMatch(/RLIMIT/);
  });

  it('every message is one line', () => {
    for (const f of ['not-root', 'tracefs-not-mounted', 'unknown-tracepoint', 'syntax-error', 'uprobe-no-binary']) {
      expect(explainBpftraceFailure({ stderr: rec(`${f}.stderr`), exitCode: 1 }, hostOk).message).not.toContain('\n');
    }
  });
});

describe('helpers', () => {
  it('the RLIMIT_MEMLOCK notice is recognised and is not an error line', () => {
    const stderr = rec('tracefs-not-mounted.stderr');
    expect(isMemlockWarning(stderr.split('\n')[0])).toBe(true);
    expect(errorLines(stderr)).toEqual(['stdin:1:1-37: ERROR: tracepoint not found: syscalls:sys_enter_getpid']);
  });

  it('not installed says which package', () => {
    expect(bpftraceNotInstalled().message).toContain('apt-get install -y bpftrace');
  });

  it('unmatched failures still report the status and the error lines', () => {
    const e = explainBpftraceFailure({ stderr: 'ERROR: something new\n', exitCode: 2 }, hostOk);
    expect(e.kind).toBe('other');
    expect(e.message).toBe('bpftrace failed (exit status 2): something new');
  });
});
