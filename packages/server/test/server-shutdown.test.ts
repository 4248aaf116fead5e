/**
 * Graceful shutdown waits for handlers that are still running, even when their client has gone: closing the store
 * under a running handler turned in-flight requests into 500s ("the database connection is not open").
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { bindPort } from '../src/server.js';

describe('bindPort close()', () => {
  it('waits for a running handler after its client disconnected, and still honours the grace period', async () => {
    const bound = await bindPort(0, ['127.0.0.1']);
    let release!: () => void;
    const entered = new Promise<void>((resolveEntered) => {
      bound.setHandler(async () => {
        resolveEntered();
        await new Promise<void>((r) => (release = r));
        return new Response('done');
      });
    });
    const req = request({ host: '127.0.0.1', port: bound.port, path: '/slow' });
    req.on('error', () => undefined);
    req.end();
    await entered;
    req.destroy(); // the client leaves while the handler runs

    let closed = false;
    const closing = bound.close(5_000).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(closed).toBe(false); // the handler is still running
    release();
    await closing;
    expect(closed).toBe(true);

    // A handler that never finishes is cut off at the grace period.
    const stuck = await bindPort(0, ['127.0.0.1']);
    stuck.setHandler(() => new Promise<Response>(() => undefined));
    const r2 = request({ host: '127.0.0.1', port: stuck.port, path: '/' });
    r2.on('error', () => undefined);
    r2.end();
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await stuck.close(300);
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('running server close()', () => {
  it('wakes long-polls first: a poll waiting on a pending request is answered 202 and shutdown takes no grace period', async () => {
    const { startDev } = await import('../src/dev.js');
    const { testAgentProvider } = await import('../../../test/support/agent-provider.js');
    const { generateKeyPair, mintAgentToken, publicJwkOf, signAAuthRequest, createSigner } = await import('@tessera/protocol');
    const dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    const ap = await testAgentProvider();
    try {
      const now = () => Math.floor(Date.now() / 1000);
      const key = await generateKeyPair('Ed25519');
      const signer = await createSigner(key);
      const token = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:poller@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 600 });
      const send = async (method: string, url: string, headers: Record<string, string>, body?: string): Promise<Response> => {
        const bytes = body === undefined ? undefined : new TextEncoder().encode(body);
        const signed = await signAAuthRequest({ method, url, headers: Object.entries(headers), ...(bytes === undefined ? {} : { body: bytes }) }, { signer, token, now });
        return fetch(url, { method, headers: { ...headers, ...signed.headers }, ...(bytes === undefined ? {} : { body: bytes }) });
      };
      const created = await send('POST', `${dev.issuers.ps}/person-token`, { 'content-type': 'application/json' }, JSON.stringify({ resource: dev.issuers.resource }));
      expect(created.status).toBe(202);
      const pendingUrl = new URL(created.headers.get('location')!, dev.issuers.ps).href;
      const poll = send('GET', pendingUrl, { prefer: 'wait=30' });
      await new Promise((r) => setTimeout(r, 300)); // the poll is now waiting
      const started = Date.now();
      await dev.close();
      expect(Date.now() - started).toBeLessThan(3_000); // not the 10 s grace period
      const answered = await poll;
      expect(answered.status).toBe(202);
    } finally {
      await ap.close();
      await dev.close();
    }
  }, 30_000);
});
