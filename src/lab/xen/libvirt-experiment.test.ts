// Unit tests of the --via libvirt dom0 script (sh syntax, daemons started and
// stopped, groups alternating, XML as data) and of its result parser. Inputs
// are synthetic; test/e2e/xen-libvirt.test.ts runs the script in a real lab.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderTinyPvDomainXml } from './libvirt-xml.js';
import { LIBVIRT_LIBS, libvirtUprobeLines, parseLibvirtExperimentText, renderLibvirtExperiment, roundOrder } from './libvirt-experiment.js';

const stock = renderTinyPvDomainXml({ kernel: '/cache/tiny-pv.elf', memoryMb: 8 });
const tuned = stock.replace(/^\s*<input [^\n]*\n/gm, '');
const uprobes = ['p:hvscope/hv_create /usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0:0x32880', 'r:hvscope/hv_create_ret /usr/lib/x86_64-linux-gnu/libxenlight.so.4.17.0:0x32880'];
const groups = [
  { label: 'stock', dir: 'stock', xml: stock },
  { label: 'libvirt-unikernel', dir: 'libvirt-unikernel', xml: tuned },
];

describe('--via libvirt dom0 script', () => {
  const script = renderLibvirtExperiment({ groups, runs: 3, uprobes });

  it('is valid sh', () => {
    execFileSync('sh', ['-n'], { input: script });
  });

  it('starts virtlogd and libvirtd, stops them by pid on every exit, and waits for the libxl driver to answer', () => {
    expect(script).toMatch(/\/usr\/sbin\/virtlogd -d -p "\$work\/virtlogd\.pid"/);
    expect(script).toMatch(/\/usr\/sbin\/libvirtd -d -p "\$work\/libvirtd\.pid"/);
    expect(script).toMatch(/^trap stop_daemons EXIT$/m);
    expect(script).toMatch(/^trap 'stop_daemons; exit 130' INT TERM HUP$/m);
    expect(script).toMatch(/virsh -c xen:\/\/\/system version/);
    expect(script.indexOf('libvirtd -d')).toBeLessThan(script.indexOf('create_one 0 1 stock'));
    expect(script.lastIndexOf('stop_daemons\n')).toBeGreaterThan(script.lastIndexOf('create_one'));
  });

  it('alternates the groups run by run in a rotating order, after one untimed warm-up', () => {
    const creates = [...script.matchAll(/^create_one (\d+) (\d+) (\S+)$/gm)].map((m) => `${m[1]}/${m[2]}`);
    expect(creates).toEqual(['0/1', '1/1', '1/2', '0/2', '0/3', '1/3']);
    expect(script.indexOf('tpv-warmup')).toBeLessThan(script.indexOf('create_one 0 1 stock'));
    expect(roundOrder(3, 1)).toEqual([0, 1, 2]);
    expect(roundOrder(3, 2)).toEqual([1, 2, 0]);
    expect(roundOrder(3, 4)).toEqual([0, 1, 2]);
  });

  it('carries each XML as quoted here-document data, and the uprobe lines shell-quoted', () => {
    expect(script).toContain(`cat >"$work/group-1.xml" <<'HVSCOPE_DOMAIN_XML'\n${tuned}HVSCOPE_DOMAIN_XML\n`);
    expect(script).toContain(`'${uprobes[0]}' '${uprobes[1]}'`);
    expect(script).toMatch(/echo "profile p=1 dir=libvirt-unikernel" >>"\$res"/);
  });

  it('refuses what would break the script: no groups, a bad directory, a delimiter line, a bad uprobe line, a bad run count', () => {
    expect(() => renderLibvirtExperiment({ groups: [], runs: 1, uprobes })).toThrow(/no domain XML/);
    expect(() => renderLibvirtExperiment({ groups: [{ ...groups[0], dir: '../x' }], runs: 1, uprobes })).toThrow(/directory/);
    expect(() => renderLibvirtExperiment({ groups: [{ ...groups[0], xml: `${stock}HVSCOPE_DOMAIN_XML\n` }], runs: 1, uprobes })).toThrow(/holds the line HVSCOPE_DOMAIN_XML/);
    expect(() => renderLibvirtExperiment({ groups: [{ ...groups[0], xml: stock.replace('NAME', 'x') }], runs: 1, uprobes })).toThrow(/has no <name>NAME<\/name>/);
    expect(() => renderLibvirtExperiment({ groups, runs: 1, uprobes: ["p:hvscope/x /a b:0x1'; reboot"] })).toThrow(/bad uprobe line/);
    expect(() => renderLibvirtExperiment({ groups, runs: 0, uprobes })).toThrow(/--runs must be a whole number ≥ 1/);
  });
});

describe.skipIf(!existsSync(LIBVIRT_LIBS.libxenlight) && process.env.CI !== 'true')('uprobe lines from the host libraries', () => {
  it('probe libvirt, the libxl driver and libxenlight by file offset; a missing library is named', () => {
    const { lines, missing } = libvirtUprobeLines();
    if (existsSync(LIBVIRT_LIBS.libxlDriver)) {
      expect(missing).toEqual([]);
      expect(lines.map((l) => l.split(' ')[0])).toEqual([
        'p:hvscope/hv_api', 'r:hvscope/hv_api_ret', 'p:hvscope/hv_start', 'r:hvscope/hv_start_ret',
        'p:hvscope/hv_create', 'r:hvscope/hv_create_ret', 'p:hvscope/hv_unpause',
      ]);
    }
    for (const l of lines) expect(l).toMatch(/^[pr]:hvscope\/[a-z_]+ \/usr\/lib\/x86_64-linux-gnu\/\S+:0x[0-9a-f]+$/);
    const none = libvirtUprobeLines({ ...LIBVIRT_LIBS, libxlDriver: '/nonexistent/libvirt_driver_libxl.so' });
    expect(none.missing).toEqual(['libxlDomainStartNew (/nonexistent/libvirt_driver_libxl.so not found)']);
    expect(none.lines.some((l) => l.includes('hv_start'))).toBe(false);
  });
});

describe('libvirt-experiment.txt', () => {
  it('reads the uprobes and the daemon record', () => {
    const r = parseLibvirtExperimentText('uprobe event=hv_api ok=1\nuprobe event=hv_create ok=0\nuprobes enabled=1\nlibvirtd ready=1 ns=12000000000\n', 'f.txt');
    expect(r).toEqual({ uprobes: true, probes: { hv_api: true, hv_create: false }, daemonReady: true, daemonReadyNs: 12e9 });
  });

  it('names the file and line of anything malformed', () => {
    expect(() => parseLibvirtExperimentText('uprobes enabled=1\nlibvirtd ready=x ns=1', 'f.txt')).toThrow(/^f\.txt:2: libvirtd: ready must be an integer/);
    expect(() => parseLibvirtExperimentText('what now', 'f.txt')).toThrow(/^f\.txt:1: expected key=value/);
    expect(() => parseLibvirtExperimentText('other x=1', 'f.txt')).toThrow(/^f\.txt:1: unknown record "other"/);
  });
});
