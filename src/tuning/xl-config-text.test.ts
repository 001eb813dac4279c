import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADDED_MARKER,
  editConfigFile,
  getAtom,
  getList,
  getRaw,
  parseXlConfig,
  setAtom,
  setListItem,
  setRaw,
  UNSET_PREFIX,
  writeFileAtomic,
} from './xl-config-text.js';

const fixtures = path.resolve(import.meta.dirname, '../../fixtures/xen');
const F = 'test.cfg';

describe('parseXlConfig', () => {
  it('reads strings, numbers, lists over several lines, comments and ;', () => {
    const text = `a = "x\\"y" # comment\nb=0x10; c='q'\nd = [ 'p,q',\n  # inner comment\n  "r", ]\n`;
    const st = parseXlConfig(text, F);
    expect(st.map((s) => s.key)).toEqual(['a', 'b', 'c', 'd']);
    expect(getAtom(text, F, 'a')).toBe('x"y');
    expect(getAtom(text, F, 'b')).toBe('0x10');
    expect(getList(text, F, 'd')).toEqual(['p,q', 'r']);
    expect(st[3].line).toBe(3);
  });

  it('lets the later assignment win, like libxlutil', () => {
    expect(getAtom('a=1\na=2\n', F, 'a')).toBe('2');
  });

  it('rejects what Xen rejects, naming file and line', () => {
    expect(() => parseXlConfig('a=1\nautoballoon=off\n', 'xl.conf')).toThrow(/^xl\.conf:2: expected a quoted string/);
    expect(() => parseXlConfig('a="open\n', 'x.cfg')).toThrow(/^x\.cfg:1: unterminated string/);
    expect(() => parseXlConfig('v=[ "a"\n', 'x.cfg')).toThrow(/x\.cfg:1: list for v is not closed/);
    expect(() => parseXlConfig('Upper=1\n', 'x.cfg')).toThrow(/x\.cfg:1: expected a setting name/);
  });
});

describe('setAtom', () => {
  it('changes only the value token, keeping quotes, spacing and trailing comment', () => {
    const text = `# head\nlockfile = '/var/lock/xl'   # keep me\nx=1\n`;
    const out = setAtom(text, F, 'lockfile', '/run/xl.lock');
    expect(out).toBe(`# head\nlockfile = '/run/xl.lock'   # keep me\nx=1\n`);
    expect(setAtom(out, F, 'lockfile', '/var/lock/xl')).toBe(text);
  });

  it('quotes non-numbers, escapes quotes and backslashes, and refuses line breaks', () => {
    const out = setAtom('n=1\n', F, 'n', `a"b\\c`);
    expect(out).toBe(`n="a\\"b\\\\c"\n`);
    expect(getAtom(out, F, 'n')).toBe(`a"b\\c`);
    expect(() => setAtom('n=1\n', F, 'n', 'a\nb')).toThrow(/line break/);
  });

  it('adds an absent key after its commented-out default, in the default\'s quote style, and removes it again', () => {
    const text = `# intro\n#autoballoon="auto"\n\n#run_hotplug_scripts=1\n`;
    const on = setAtom(text, F, 'autoballoon', 'off');
    expect(on).toBe(`# intro\n#autoballoon="auto"\nautoballoon="off" ${ADDED_MARKER}\n\n#run_hotplug_scripts=1\n`);
    const both = setAtom(on, F, 'run_hotplug_scripts', '0');
    expect(both.endsWith(`#run_hotplug_scripts=1\nrun_hotplug_scripts=0 ${ADDED_MARKER}\n`)).toBe(true);
    expect(setAtom(setAtom(both, F, 'run_hotplug_scripts', null), F, 'autoballoon', null)).toBe(text);
  });

  it('appends at the end, also to a file without a final newline, and removes byte-exactly', () => {
    for (const text of ['a=1', 'a=1\n', '']) {
      const out = setAtom(text, F, 'b', 'x');
      expect(getAtom(out, F, 'b')).toBe('x');
      expect(getAtom(out, F, 'a')).toBe(text ? '1' : null);
      expect(setAtom(out, F, 'b', null)).toBe(text);
    }
  });

  it('comments out the user\'s own line on removal and restores it byte-exactly', () => {
    const text = `x=1\nclaim_mode = 1 # mine\ny=2\n`;
    const removed = setAtom(text, F, 'claim_mode', null);
    expect(removed).toBe(`x=1\n${UNSET_PREFIX}claim_mode = 1 # mine\ny=2\n`);
    expect(getAtom(removed, F, 'claim_mode')).toBeNull();
    expect(setAtom(removed, F, 'claim_mode', '1')).toBe(text);
    // Restoring a different value still reuses the user's line.
    expect(setAtom(removed, F, 'claim_mode', '0')).toBe(`x=1\nclaim_mode = 0 # mine\ny=2\n`);
  });

  it('refuses to remove a setting that shares its line, and += settings', () => {
    expect(() => setAtom('a=1; b=2\n', F, 'b', null)).toThrow(/test\.cfg:1: b shares its line/);
    expect(() => setAtom('a="x"\na += "y"\n', F, 'a', 'z')).toThrow(/test\.cfg:2: a is set with '\+='/);
  });

  it('keeps every other byte of the Debian xl.conf through apply and restore', async () => {
    const text = await readFile(path.join(fixtures, 'debian-12-xl.conf'), 'utf8');
    const settings: Record<string, string> = {
      autoballoon: 'off',
      run_hotplug_scripts: '1',
      'vif.default.script': 'vif-bridge-fast',
      'vif.default.backend': '0',
      claim_mode: '0',
      max_grant_frames: '64',
    };
    let out = text;
    for (const [k, v] of Object.entries(settings)) out = setAtom(out, 'xl.conf', k, v);
    for (const [k, v] of Object.entries(settings)) expect(getAtom(out, 'xl.conf', k)).toBe(v);
    expect(out).toContain(`#vif.default.backend="0"\nvif.default.backend="0" ${ADDED_MARKER}\n`);
    // Only added lines differ.
    const removedAdded = out.split('\n').filter((l) => !l.includes(ADDED_MARKER)).join('\n');
    expect(removedAdded).toBe(text);
    for (const k of Object.keys(settings).reverse()) out = setAtom(out, 'xl.conf', k, null);
    expect(out).toBe(text);
  });
});

describe('lists and raw values', () => {
  it('edits one list item in place and appends/removes items', () => {
    const text = `vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\n`;
    const out = setListItem(text, F, 'vif', 0, 'mac=00:16:3e:00:00:01,bridge=br1');
    expect(out).toBe(`vif = [ 'mac=00:16:3e:00:00:01,bridge=br1' ]\n`);
    const two = setListItem(text, F, 'vif', 1, 'bridge=br2');
    expect(getList(two, F, 'vif')).toEqual(['mac=00:16:3e:00:00:01,bridge=xenbr0', 'bridge=br2']);
    expect(setListItem(two, F, 'vif', 1, null)).toBe(text);
    const created = setListItem('name="x"\n', F, 'vif', 0, 'bridge=b');
    expect(getList(created, F, 'vif')).toEqual(['bridge=b']);
    expect(setListItem(created, F, 'vif', 0, null)).toBe('name="x"\n');
  });

  it('removes and restores a multi-line list through its raw text', () => {
    const text = `name = "g"\ndisk = [ 'a,raw,xvda,rw',\n         'b,raw,xvdb,rw' ]\nmemory = 16\n`;
    const raw = getRaw(text, F, 'disk');
    expect(raw).toBe(`[ 'a,raw,xvda,rw',\n         'b,raw,xvdb,rw' ]`);
    const removed = setRaw(text, F, 'disk', null);
    expect(getRaw(removed, F, 'disk')).toBeNull();
    expect(parseXlConfig(removed, F).map((s) => s.key)).toEqual(['name', 'memory']);
    expect(setRaw(removed, F, 'disk', raw)).toBe(text);
    expect(() => setRaw(text, F, 'disk', '[ unquoted ]')).toThrow(/value for disk/);
  });
});

describe('files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'hvscope-xlcfg-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes atomically: keeps the mode, leaves no temp file, replaces the inode', async () => {
    const f = path.join(dir, 'xl.conf');
    await writeFile(f, 'a=1\n', { mode: 0o600 });
    const before = await stat(f);
    await writeFileAtomic(f, 'a=2\n');
    const after = await stat(f);
    expect(await readFile(f, 'utf8')).toBe('a=2\n');
    expect(after.mode & 0o777).toBe(0o600);
    expect(after.ino).not.toBe(before.ino);
    expect(await readdir(dir)).toEqual(['xl.conf']);
  });

  it('creates a missing file and deletes it again when its last setting goes', async () => {
    const f = path.join(dir, 'etc', 'xen', 'xl.conf');
    await editConfigFile(f, (t) => setAtom(t, f, 'autoballoon', 'off'));
    expect(getAtom(await readFile(f, 'utf8'), f, 'autoballoon')).toBe('off');
    await editConfigFile(f, (t) => setAtom(t, f, 'autoballoon', null));
    await expect(stat(f)).rejects.toThrow(/ENOENT/);
  });
});
