import { describe, expect, it } from 'vitest';
import { checkNetns, readKernelFile, runInNetns } from './netns.js';

describe('netns helpers', () => {
  it('rejects bad or unknown namespace names before running anything', () => {
    expect(() => checkNetns('../etc')).toThrow('--netns "../etc": not a valid network namespace name');
    expect(() => checkNetns('a b')).toThrow(/not a valid network namespace name/);
    expect(() => checkNetns('hvscope-no-such-ns-for-test')).toThrow('--netns hvscope-no-such-ns-for-test: no such network namespace');
  });

  it('passes arguments as an array: shell metacharacters stay literal', async () => {
    const r = await runInNetns({}, 'echo', ['$(id)', ';', 'x']);
    expect(r).toEqual({ stdout: '$(id) ; x', stderr: '', exitCode: 0 });
  });

  it('reads a kernel file, and null for a missing one', async () => {
    expect(await readKernelFile({}, '/proc/sys/kernel/ostype')).toBe('Linux');
    expect(await readKernelFile({}, '/proc/sys/net/no-such-key')).toBeNull();
  });
});
