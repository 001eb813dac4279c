import { describe, expect, it } from 'vitest';
import { pickNewestKernelPackage } from './linux-guest.js';

describe('pickNewestKernelPackage', () => {
  it('takes the highest ABI number of the plain amd64 flavour, not the lexically last', () => {
    // synthetic apt-cache search output, in the unsorted order apt prints it
    const synthetic = [
      'linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)',
      'linux-image-6.1.0-56-amd64-dbg - Debug symbols for linux-image-6.1.0-56-amd64',
      'linux-image-6.1.0-57-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)',
      'linux-image-6.1.0-57-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)',
      'linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs',
      'linux-image-6.1.0-50-amd64 - Linux 6.1 for 64-bit PCs (signed)',
      'linux-image-6.1.0-56-amd64 - Linux 6.1 for 64-bit PCs (signed)',
    ].join('\n');
    expect(pickNewestKernelPackage(synthetic)).toBe('linux-image-6.1.0-56-amd64');
  });

  it('finds nothing when apt knows no such package', () => {
    expect(pickNewestKernelPackage('linux-image-6.1.0-56-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)\n')).toBeUndefined();
    expect(pickNewestKernelPackage('')).toBeUndefined();
  });
});
