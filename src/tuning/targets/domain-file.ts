// The domain file a domain target (xen-domain, libvirt-domain) edits: the
// user's --domain-config, written in place or to --domain-output; once the
// output exists it is what the knobs read (the input stays as it was).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../model/errors.js';
import type { TuneContext } from '../knob.js';
import { readConfigFile, writeFileAtomic } from '../xl-config-text.js';

export interface DomainFile {
  /** The file the knobs read now (the output once it exists). */
  file: string;
  text: string;
  input: string;
  output: string;
  inputText: string;
}

/** Input and output paths; `what` names the section and the kind of file in the error ("the xen-domain section needs a domain config"). */
export function domainFiles(ctx: TuneContext, what: { section: string; kind: string }): { input: string; output: string } {
  const given = ctx.options.domainConfig;
  if (!given) throw new UserError(`the ${what.section} section needs a ${what.kind}: pass --domain-config FILE (and optionally --domain-output FILE)`);
  const input = path.resolve(given);
  return { input, output: ctx.options.domainOutput ? path.resolve(ctx.options.domainOutput) : input };
}

export async function readDomainFile(ctx: TuneContext, what: { section: string; kind: string }): Promise<DomainFile> {
  const { input, output } = domainFiles(ctx, what);
  const inputText = await readConfigFile(input);
  if (inputText === null) throw new UserError(`${input}: ${what.kind} not found`);
  if (output !== input) {
    const outText = await readConfigFile(output);
    if (outText !== null) return { file: output, text: outText, input, output, inputText };
  }
  return { file: input, text: inputText, input, output, inputText };
}

/**
 * Writes a domain file's new text where the knobs write it: back to exactly the
 * input removes the output file (as before apply); a new output file gets the
 * input's permissions (domain configs may hold secrets).
 */
export async function writeDomainFile(d: DomainFile, next: string): Promise<void> {
  if (d.output !== d.input && next === d.inputText) {
    await fs.rm(d.output, { force: true });
    return;
  }
  if (next === d.text && d.file === d.output) return;
  const mode = d.file === d.input && d.output !== d.input ? (await fs.stat(d.input)).mode & 0o7777 : undefined;
  await writeFileAtomic(d.output, next, mode);
}
