import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import {
  ALL_PROBE_SET_NAMES,
  assembleProgram,
  DEFAULT_PROBE_SET_NAMES,
  defaultProbesDir,
  parseProbeSets,
  PROBE_SET_NAMES,
  PROBE_SETS,
  splitBlocks,
  splitProbeFile,
} from './probes.js';

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

describe('probe files', () => {
  for (const set of PROBE_SETS) {
    it(`${set.file} opens with a header saying what it traces, usage and parameters`, () => {
      const text = readFileSync(join(defaultProbesDir(), set.file), 'utf8');
      expect(text.startsWith('#!/usr/bin/env bpftrace\n/*\n')).toBe(true);
      const header = text.slice(0, text.indexOf('*/'));
      expect(header).toContain(`${set.file}\t`);
      expect(header).toMatch(/USAGE: bpftrace -f json \S+\.bt ROOT_PID/);
      expect(header).toContain('ROOT_PID ($1)');
      expect(header).toContain(`${set.name}_example.txt`);
    });
  }
});

describe('assembleProgram', () => {
  it('combines sets into one program with one BEGIN, one END and every set’s probes', () => {
    const { program, params, sets, unavailable } = assembleProgram(['qemu', 'net', 'exec'], { rootPid: 4242 });
    expect(sets).toEqual(['qemu', 'net', 'exec']);
    expect(params).toEqual(['4242', '1', '1']);
    expect(unavailable).toEqual([]);
    expect(count(program, /^BEGIN$/gm)).toBe(1);
    expect(count(program, /^END$/gm)).toBe(1);
    expect(count(program, /hvscope prelude: begin/g)).toBe(1);
    for (const probe of ['tracepoint:kvm:kvm_pio', 'tracepoint:syscalls:sys_enter_sendmsg', 'tracepoint:syscalls:sys_enter_writev']) {
      expect(program).toContain(probe);
    }
    // END clears every map so bpftrace dumps none on exit
    for (const map of ['@hv_tree', '@qemu_pid', '@qemu_ioctl', '@qemu_ran', '@net_tool']) expect(program).toContain(`clear(${map});`);
    // parameters stay positional: the pid is not in the text
    expect(program).not.toContain('4242');
  });

  it('passes the console fd as $2 and de-duplicates sets', () => {
    const r = assembleProgram(['exec', 'exec'], { rootPid: 0, consoleFd: 5 });
    expect(r.sets).toEqual(['exec']);
    expect(r.params).toEqual(['0', '5', '1']);
    expect(r.program).not.toContain('kvm_pio');
  });

  it('sets $3 only when the exec set is in, and the other sets print exec/exit only when $3 is 0', () => {
    expect(assembleProgram(['qemu', 'net'], { rootPid: 1 }).params[2]).toBe('0');
    expect(assembleProgram(['qemu', 'exec'], { rootPid: 1 }).params[2]).toBe('1');
    // In every set but exec, each exec/exit printf sits inside `if ($3 == 0)`,
    // except the xen set's hotplug-script exec (such a script may join the tree only there).
    for (const set of ['qemu', 'net', 'xen']) {
      const text = readFileSync(join(defaultProbesDir(), `${set}.bt`), 'utf8');
      const body = splitProbeFile(text, `${set}.bt`).body;
      for (const block of splitBlocks(body, `${set}.bt`)) {
        if (!/printf\("(exec|exec_args|exit)\\t/.test(block.text)) continue;
        const hotplug = block.text.includes('strncmp(str(args->filename), "/etc/xen/scripts/"');
        expect(/if \(\$3 == 0\)/.test(block.text), `${set}.bt: ${block.probes.join(',')}`).toBe(!hotplug);
      }
    }
  });

  it('rejects an unknown set with the list of valid ones', () => {
    expect(() => assembleProgram(['qemu', 'hyperv', 'disk'], { rootPid: 1 })).toThrow(UserError);
    expect(() => assembleProgram(['qemu', 'hyperv', 'disk'], { rootPid: 1 })).toThrow(
      "unknown probe sets 'hyperv', 'disk'; valid sets: qemu, net, exec, xen",
    );
    expect(() => assembleProgram([], { rootPid: 1 })).toThrow('no probe set given; valid sets: qemu, net, exec, xen');
  });

  it('rejects a root pid or console fd that is not a non-negative integer', () => {
    expect(() => assembleProgram(['exec'], { rootPid: -1 })).toThrow('root pid must be a non-negative integer, got -1');
    expect(() => assembleProgram(['qemu'], { rootPid: 1, consoleFd: 1.5 })).toThrow(UserError);
  });

  it('leaves out probes on missing tracepoints and says which', () => {
    const r = assembleProgram(['qemu'], { rootPid: 1, hasTracepoint: (category) => category !== 'kvm' });
    expect(r.program).not.toContain('kvm:kvm_pio');
    expect(r.program).toContain('tracepoint:syscalls:sys_enter_ioctl');
    expect(r.unavailable).toEqual([{ what: 'qemu: tracepoint:kvm:kvm_pio', why: 'tracepoint not available on this kernel' }]);
  });

  it('xen: uprobes on the Xen libraries, found where Debian puts them or in a trusted system directory', () => {
    const debian = (path: string) => path.startsWith('/usr/lib/x86_64-linux-gnu/');
    const r = assembleProgram(['xen'], { rootPid: 7, fileExists: debian });
    expect(r.unavailable).toEqual([]);
    for (const fn of ['libxl_domain_create_new', 'xc_domain_create', 'xc_dom_boot_image', 'xs_write', 'xs_transaction_end']) {
      expect(r.program).toMatch(new RegExp(`^uprobe:/usr/lib/x86_64-linux-gnu/lib[a-z]+\\.so[.0-9]*:${fn}$`, 'm'));
      expect(r.program).toMatch(new RegExp(`^uretprobe:/usr/lib/x86_64-linux-gnu/lib[a-z]+\\.so[.0-9]*:${fn}$`, 'm'));
    }
    // another distribution's layout: same file names under /usr/lib64
    const lib64 = assembleProgram(['xen'], { rootPid: 7, fileExists: (p) => p.startsWith('/usr/lib64/') });
    expect(lib64.unavailable).toEqual([]);
    expect(lib64.program).toContain('uprobe:/usr/lib64/libxenstore.so.4:xs_read\n');
    expect(lib64.program).not.toContain('x86_64-linux-gnu');
  });

  it('xen: a missing library leaves its probes out, one line for the set; the rest stays', () => {
    const r = assembleProgram(['xen', 'exec'], { rootPid: 7, fileExists: (p) => !p.includes('libxenguest') });
    expect(r.unavailable).toEqual([
      { what: 'xen: uprobes on /usr/lib/x86_64-linux-gnu/libxenguest.so.4.17', why: 'library not found (not installed here?)' },
    ]);
    // a host without Xen: one line, the set's tracepoint probes still there
    const none = assembleProgram(['xen'], { rootPid: 7, fileExists: () => false });
    expect(none.unavailable).toHaveLength(1);
    expect(none.unavailable[0].what).toMatch(/^xen: uprobes on \S+libxenlight\.so\.4\.17, .*libxenstore\.so\.4/);
    expect(none.unavailable[0].why).toBe('libraries not found (not installed here?)');
    expect(none.program).not.toMatch(/^u(ret)?probe:/m);
    expect(none.program).toContain('/etc/xen/scripts/');
    expect(r.program).not.toContain('xc_dom_');
    expect(r.program).toContain(':libxl_domain_create_new');
    expect(r.program).toContain('/etc/xen/scripts/');
  });

  describe('with edited probe files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-probes-test-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    for (const set of PROBE_SETS) writeFileSync(join(dir, set.file), readFileSync(join(defaultProbesDir(), set.file)));

    it('refuses sets whose preludes differ', () => {
      const net = readFileSync(join(dir, 'net.bt'), 'utf8');
      writeFileSync(join(dir, 'net.bt'), net.replace('@hv_tree[args->child_pid] = 1;', '@hv_tree[args->child_pid] = 2;'));
      expect(() => assembleProgram(['qemu', 'net'], { rootPid: 1, probesDir: dir })).toThrow(/net\.bt: its prelude differs/);
      expect(() => assembleProgram(['net'], { rootPid: 1, probesDir: dir })).not.toThrow();
    });

    it('refuses a file without prelude markers', () => {
      writeFileSync(join(dir, 'exec.bt'), 'BEGIN { printf("hi\\n"); }\n');
      expect(() => assembleProgram(['exec'], { rootPid: 1, probesDir: dir })).toThrow(/exec\.bt: missing the hvscope prelude markers/);
    });
  });
});

describe('splitBlocks', () => {
  it('splits on top-level braces, ignoring braces in strings and comments', () => {
    const body = [
      '// a { comment',
      'tracepoint:a:b,',
      'tracepoint:c:d',
      '/pid == 1/',
      '{ if (1) { printf("}{\\n"); } /* } */ }',
      '',
      'tracepoint:e:f { @x = 1; }',
    ].join('\n');
    const blocks = splitBlocks(body, 'synthetic.bt');
    expect(blocks.map((b) => b.probes)).toEqual([['tracepoint:a:b', 'tracepoint:c:d'], ['tracepoint:e:f']]);
    expect(blocks[0].text.startsWith('// a { comment')).toBe(true);
  });

  it('rejects unbalanced braces', () => {
    expect(() => splitBlocks('tracepoint:a:b { {', 'synthetic.bt')).toThrow("synthetic.bt: unbalanced '{'");
    expect(() => splitBlocks('tracepoint:a:b { } }', 'synthetic.bt')).toThrow("synthetic.bt: unbalanced '}'");
  });

  it('finds every probe of the real files', () => {
    const { body } = splitProbeFile(readFileSync(join(defaultProbesDir(), 'qemu.bt'), 'utf8'), 'qemu.bt');
    const probes = splitBlocks(body, 'qemu.bt').flatMap((b) => b.probes);
    expect(probes).toContain('tracepoint:kvm:kvm_pio');
    expect(probes.filter((p) => !/^tracepoint:[a-z_]+:[a-z_0-9]+$/.test(p))).toEqual([
      'uprobe:/usr/bin/qemu-system-x86_64:address_space_rw',
      'uprobe:/usr/bin/qemu-system-x86_64:cpu_x86_update_cr4',
    ]);
  });

  it('reads uprobe specs whose library path contains slashes, predicate on the next line or the same one', () => {
    const body = ['uprobe:/usr/lib/libx.so.1:f,', 'uretprobe:/usr/lib/libx.so.1:f', '/pid == 1/', '{ }', 'uprobe:/lib/liby.so:g /tid/ { }'].join('\n');
    expect(splitBlocks(body, 'synthetic.bt').map((b) => b.probes)).toEqual([
      ['uprobe:/usr/lib/libx.so.1:f', 'uretprobe:/usr/lib/libx.so.1:f'],
      ['uprobe:/lib/liby.so:g'],
    ]);
  });
});

describe('default probe sets', () => {
  it('are every set but xen, which is valid only when named', () => {
    expect(DEFAULT_PROBE_SET_NAMES).toEqual(['qemu', 'net', 'exec']);
    expect(PROBE_SET_NAMES).toEqual(DEFAULT_PROBE_SET_NAMES);
    expect(ALL_PROBE_SET_NAMES).toEqual(['qemu', 'net', 'exec', 'xen', 'libvirt']);
    expect(parseProbeSets('xen,exec,net')).toEqual(['xen', 'exec', 'net']);
  });
});

describe('parseProbeSets', () => {
  it('splits a --probes value', () => {
    expect(parseProbeSets('qemu, net,,qemu')).toEqual(['qemu', 'net']);
    expect(() => parseProbeSets('qemu,kvm')).toThrow("unknown probe set 'kvm'; valid sets: qemu, net, exec, xen");
    expect(() => parseProbeSets('')).toThrow(UserError);
  });
});
