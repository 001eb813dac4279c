import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProber, type TcpProber } from './tcp-ready.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const servers: Server[] = [];
const probers: TcpProber[] = [];
afterEach(async () => {
  for (const p of probers.splice(0)) await p.stop();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** A free port on 127.0.0.1 (bound then released). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function listen(port: number, onConnection: Parameters<typeof createServer>[0]): Promise<bigint> {
  const s = createServer(onConnection);
  servers.push(s);
  return new Promise((r) => s.listen(port, '127.0.0.1', () => r(process.hrtime.bigint())));
}

describe('startTcpProber (real sockets on 127.0.0.1)', () => {
  it('is ready at the first connect after the service listened, within a probe interval or so', async () => {
    const port = await freePort();
    const p = startTcpProber({ host: '127.0.0.1', port, intervalMs: 10, graceMs: 50 });
    probers.push(p);
    await sleep(300);
    expect(p.readyMonotonicNs).toBeUndefined();
    expect(p.attempts).toBeGreaterThan(3);
    expect(p.lastFailure).toBe('ECONNREFUSED');
    const listenedAt = await listen(port, () => undefined);
    for (let i = 0; i < 100 && p.readyMonotonicNs === undefined; i++) await sleep(20);
    expect(p.readyMonotonicNs).toBeDefined();
    const lateMs = Number(p.readyMonotonicNs! - listenedAt) / 1e6;
    expect(lateMs).toBeGreaterThanOrEqual(0);
    // one interval plus scheduling on a loaded host (a bound on correctness, not a speed goal)
    expect(lateMs).toBeLessThan(1000);
    const attempts = p.attempts;
    await sleep(100);
    expect(p.attempts).toBe(attempts);
  });

  it('is ready at once when the service sends data (no grace wait)', async () => {
    const port = await freePort();
    await listen(port, (sock) => sock.end('hello\n'));
    let readyAt: bigint | undefined;
    const p = startTcpProber({ host: '127.0.0.1', port, graceMs: 5000, onReady: (ns) => (readyAt = ns) });
    probers.push(p);
    for (let i = 0; i < 100 && readyAt === undefined; i++) await sleep(10);
    expect(readyAt).toBeDefined();
    expect(p.readyMonotonicNs).toBe(readyAt);
  });

  it('does not count a connection the peer closes at once without a word (a forwarder with nothing behind it)', async () => {
    const port = await freePort();
    await listen(port, (sock) => sock.end());
    const p = startTcpProber({ host: '127.0.0.1', port, intervalMs: 10, graceMs: 100 });
    probers.push(p);
    await sleep(400);
    expect(p.readyMonotonicNs).toBeUndefined();
    expect(p.attempts).toBeGreaterThan(2);
    expect(p.lastFailure).toMatch(/closed by the peer/);
  });

  it('stop() leaves no socket or timer behind, even mid-attempt', async () => {
    const port = await freePort();
    const p = startTcpProber({ host: '127.0.0.1', port, intervalMs: 1 });
    await sleep(30);
    await p.stop();
    const attempts = p.attempts;
    await sleep(50);
    expect(p.attempts).toBe(attempts);
    // stopping twice is harmless
    await p.stop();
  });
});
