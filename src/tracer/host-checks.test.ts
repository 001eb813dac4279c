import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand, requireOrSkip } from '../../test/helpers/requirements.js';
import { compareVersions, parseBpftraceVersion, parseGccVersion, parseQemuVersion, parseXlInfo } from './host-checks.js';
import { KVM_PROBE_ASM, accelProbeFirmware } from './accel-probe.js';

describe('version parsing', () => {
  it('bpftrace --version, as printed by 0.17 here and by newer builds', () => {
    expect(parseBpftraceVersion('bpftrace v0.17.0\n')).toBe('0.17.0');
    expect(parseBpftraceVersion('bpftrace v0.21.2-12-g3f8a\n')).toBe('0.21.2');
    expect(parseBpftraceVersion('bpftrace 0.24.1')).toBe('0.24.1');
    expect(parseBpftraceVersion('command not found')).toBeNull();
  });

  it('compares versions numerically', () => {
    expect(compareVersions('0.17.0', [0, 17, 0])).toBe(0);
    expect(compareVersions('0.9.4', [0, 17, 0])).toBeLessThan(0);
    expect(compareVersions('0.24', '0.17.1')).toBeGreaterThan(0);
  });

  it('qemu-system-x86_64 --version (7.2 on this host)', () => {
    const text = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n';
    expect(parseQemuVersion(text)).toBe('7.2.22');
    expect(parseQemuVersion('QEMU emulator version 9.1.0\n')).toBe('9.1.0');
  });

  it('gcc --version', () => {
    expect(parseGccVersion('gcc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.\n')).toBe('12.2.0');
  });

  it('xl info: xen_version, or major/minor/extra', () => {
    expect(parseXlInfo('host : x\nxen_major : 4\nxen_minor : 17\nxen_extra : .3\nxen_version : 4.17.3\n').version).toBe('4.17.3');
    expect(parseXlInfo('xen_major              : 4\nxen_minor              : 17\nxen_extra              : .0\n').version).toBe('4.17.0');
    expect(parseXlInfo('nothing').version).toBeNull();
  });
});

describe('accelerator probe firmware', () => {
  it('is a 64 KiB image with the reset vector jump at 0xFFF0', () => {
    const fw = accelProbeFirmware();
    expect(fw.length).toBe(0x10000);
    expect(fw.subarray(0xfff0, 0xfff5).toString('hex')).toBe('ea000000f0');
    expect(fw[0]).toBe(0xfa); // cli
  });

  const noToolchain = requireOrSkip(hasCommand('gcc') && hasCommand('ld'), 'gcc and ld (binutils)');
  it.skipIf(noToolchain)('matches KVM_PROBE_ASM assembled with gcc + ld', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hvscope-fw-'));
    try {
      writeFileSync(join(dir, 'probe.S'), KVM_PROBE_ASM);
      execFileSync('gcc', ['-c', '-o', join(dir, 'probe.o'), join(dir, 'probe.S')]);
      execFileSync('ld', ['-m', 'elf_x86_64', '-Ttext=0', '--oformat', 'binary', '-o', join(dir, 'probe.bin'), join(dir, 'probe.o')]);
      const built = readFileSync(join(dir, 'probe.bin'));
      expect(built.equals(accelProbeFirmware())).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
