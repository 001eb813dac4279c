// Synthetic bpftrace -f json lines in the probes' layout (probes/README.md), for unit tests.

/** One printf message as bpftrace -f json prints it. */
export const printf = (data: string) => JSON.stringify({ type: 'printf', data });

/**
 * The hex field probes/qemu.bt prints for `text` in a console_packed event:
 * complete 7-byte words in words 0-7, the partial tail in word 8, each %014llx
 * with its bytes little-endian; words past the complete ones hold stale bytes ('Z').
 */
export function packedHex(text: string): string {
  const bytes = Buffer.from(text, 'latin1');
  const complete = Math.floor(bytes.length / 7);
  const word = (chunk: Buffer) => Buffer.concat([chunk, Buffer.alloc(7 - chunk.length)]).reverse().toString('hex');
  let hex = '';
  for (let w = 0; w < 8; w++) hex += w < complete ? word(bytes.subarray(w * 7, w * 7 + 7)) : word(Buffer.from('ZZZZZZZ'));
  return hex + word(bytes.subarray(complete * 7));
}

/** A console_packed event of QEMU pid 10 (thread 11) at `ns`. */
export const packed = (ns: number, text: string) => printf(`console_packed\t${ns}\t10\t11\tfd=1\tlen=${Buffer.byteLength(text, 'latin1')}\thex=${packedHex(text)}\n`);
