import { describe, expect, it } from 'vitest';
import { readTrace } from '../model/io.js';
import { buildSpanTree } from './span-tree.js';
import { normaliseName, spanKey } from './span-keys.js';

describe('span keys', () => {
  it('replaces the numbers that differ from run to run, and only those', () => {
    expect(normaliseName('xl [506]')).toBe('xl [N]');
    expect(normaliseName('/local/domain/3/device/vif/0/state')).toBe('/local/domain/N/device/vif/N/state');
    expect(normaliseName('vif3.0 up')).toBe('vifN up');
    expect(normaliseName('attach tap12 to xenbr0')).toBe('attach tapN to xenbrN');
    expect(normaliseName('domid 17 pid=512 fd:9')).toBe('domid N pid=N fd:N');
    expect(normaliseName('handle 0x7f3a2c001000')).toBe('handle 0xN');
    // Names whose digits are part of the name stay whole.
    expect(normaliseName('qemu-system-x86_64')).toBe('qemu-system-x86_64');
    expect(normaliseName('libxl__xs_transaction_start')).toBe('libxl__xs_transaction_start');
    expect(normaliseName('e1000e')).toBe('e1000e');
  });

  it('puts the spans of a traced `xl create` in their categories (fixtures/xen-lab-tiny-pv)', () => {
    const tree = buildSpanTree(readTrace('fixtures/xen-lab-tiny-pv/xl-create.hvtrace.json'));
    const categories = new Map<string, string>();
    for (const n of tree.nodes) categories.set(n.span.name, spanKey(n).category);
    expect(categories.get('vif-bridge')).toBe('process');
    expect(categories.get('xl')).toBe('process');
    expect(categories.get('xs_write')).toBe('xenstore');
    expect(categories.get('libxl_domain_create_new')).toBe('function');
    expect(categories.get('xc_dom_boot_image')).toBe('function');
  });
});
