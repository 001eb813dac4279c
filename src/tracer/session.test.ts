import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../model/errors.js';
import { checkCommand, interruptedExitCode, withInterrupts } from './session.js';

const dir = mkdtempSync(join(tmpdir(), 'hvscope-session-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkCommand', () => {
  it('rejects an empty command with a hint to use --', () => {
    expect(() => checkCommand([])).toThrow(UserError);
    expect(() => checkCommand([])).toThrow(/put the command to trace after --/);
  });
  it('finds commands on PATH and rejects unknown ones by name', () => {
    expect(() => checkCommand(['sh', '-c', 'true'])).not.toThrow();
    expect(() => checkCommand(['hvscope-surely-not-a-command'])).toThrow('hvscope-surely-not-a-command: command not found on PATH');
  });
  it('checks paths for existence and the execute bit', () => {
    const file = join(dir, 'script.sh');
    writeFileSync(file, '#!/bin/sh\n');
    chmodSync(file, 0o644);
    expect(() => checkCommand([file])).toThrow(`${file}: not executable`);
    chmodSync(file, 0o755);
    expect(() => checkCommand([file])).not.toThrow();
    expect(() => checkCommand([join(dir, 'missing')])).toThrow(/no such file/);
  });
});

describe('interrupts', () => {
  it('map SIGINT and SIGTERM to the shell exit statuses 130 and 143', () => {
    expect(interruptedExitCode('SIGINT')).toBe(130);
    expect(interruptedExitCode('SIGTERM')).toBe(143);
  });

  it('withInterrupts turns a SIGINT into an abort of the run, reports it and removes its handlers', async () => {
    const before = process.listenerCount('SIGINT');
    const { value, signal } = await withInterrupts(async (abort) => {
      expect(process.listenerCount('SIGINT')).toBe(before + 1);
      process.emit('SIGINT', 'SIGINT');
      expect(abort.aborted).toBe(true);
      return 'partial';
    });
    expect(value).toBe('partial');
    expect(signal).toBe('SIGINT');
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('withInterrupts reports no signal when none came', async () => {
    const { signal } = await withInterrupts(async (abort) => {
      expect(abort.aborted).toBe(false);
    });
    expect(signal).toBeNull();
  });
});
