// The traced `xl create` experiment script and its result file. The script
// itself runs in the real lab in test/e2e/xen-probes.test.ts; here: what it
// runs, that nothing from the options reaches the shell unquoted, and the
// result parser's messages.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../model/errors.js';
import { TRACED_CREATE_FILES, parseTracedCreateResult, renderTracedCreateExperiment } from './traced-create.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'hvscope-traced-create-unit-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const base = { kernel: '/k/tiny-pv.elf', hvscope: ['node', '/opt/hv scope/bin/hvscope'], probesDir: '/opt/hv scope/probes' };

describe('renderTracedCreateExperiment', () => {
  it('runs hvscope trace on a plain xl create of the config it writes, with the xen, exec and net sets', () => {
    const script = renderTracedCreateExperiment(base);
    expect(script).toContain(
      `'node' '/opt/hv scope/bin/hvscope' trace --probes xen,exec,net --attach-timeout 120 -o "$out/${TRACED_CREATE_FILES.trace}" -- xl create "$out/${TRACED_CREATE_FILES.config}"`,
    );
    expect(script).toContain('name = "tiny-pv"');
    expect(script).toContain('vif = [ "bridge=xenbr0" ]');
    // only the deliverable unless asked
    expect(script).not.toContain('bpftrace -f json');
    expect(script).not.toContain('xl -vvv');
    // a shell can parse it
    expect(() => execFileSync('sh', ['-n'], { input: script })).not.toThrow();
  });

  it('adds the raw probes/xen.bt recording and the stamped xl -vvv log when asked, each on its own domain', () => {
    const script = renderTracedCreateExperiment({ ...base, raw: true, xlLog: true });
    expect(script).toContain(`bpftrace -f json '/opt/hv scope/probes/xen.bt' "$held"`);
    expect(script).toContain('xl -vvv create "$work/vvv.cfg" 2>&3');
    expect(script).toContain('# hvscope-xl-log 1 clock=monotonic');
    for (const name of ['tiny-pv-raw', 'tiny-pv', 'tiny-pv-vvv']) expect(script).toContain(`name = "${name}"`);
    expect(() => execFileSync('sh', ['-n'], { input: script })).not.toThrow();
  });

  it('refuses options that would not make a sound script', () => {
    expect(() => renderTracedCreateExperiment({ ...base, hvscope: [] })).toThrow(UserError);
    expect(() => renderTracedCreateExperiment({ ...base, probes: ['xen;reboot'] })).toThrow(/bad probe set list/);
    expect(() => renderTracedCreateExperiment({ ...base, goneTimeoutS: 0 })).toThrow(/whole seconds/);
    expect(() => renderTracedCreateExperiment({ ...base, kernel: '/k"x' })).toThrow(UserError);
  });
});

describe('parseTracedCreateResult', () => {
  it('reads key=integer lines', async () => {
    await writeFile(join(scratch, TRACED_CREATE_FILES.result), 'trace_exit=0\ntraced_gone=1\n\n');
    expect(Object.fromEntries(await parseTracedCreateResult(scratch))).toEqual({ trace_exit: 0, traced_gone: 1 });
  });

  it('names the file and line of a bad line, and a missing file', async () => {
    await writeFile(join(scratch, TRACED_CREATE_FILES.result), 'trace_exit=0\noops\n');
    await expect(parseTracedCreateResult(scratch)).rejects.toThrow(`${join(scratch, TRACED_CREATE_FILES.result)}:2: expected key=integer, got "oops"`);
    await expect(parseTracedCreateResult(join(scratch, 'none'))).rejects.toThrow(/is missing \(the experiment did not start/);
  });
});
