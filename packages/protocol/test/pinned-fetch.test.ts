import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeEgressFetch, createPinnedFetch } from '../src/node/index.js';
import { rejection } from './support.js';

// Every test talks to 127.0.0.1 only: names are "resolved" by an injected resolver.

let server: Server;
let port: number;
const seen: { host: string | undefined; url: string | undefined }[] = [];

function handler(req: IncomingMessage, res: ServerResponse): void {
  seen.push({ host: req.headers.host, url: req.url });
  switch (req.url) {
    case '/json':
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      return;
    case '/echo-host':
      res.writeHead(200, { 'content-type': 'text/plain' }).end(req.headers.host ?? '');
      return;
    case '/redirect-same':
      res.writeHead(302, { location: '/json' }).end();
      return;
    case '/redirect-cross':
      res.writeHead(302, { location: `http://localhost:${port}/json` }).end();
      return;
    case '/big':
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.alloc(64 * 1024));
      return;
    case '/big-chunked': {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const timer = setInterval(() => {
        if (sent >= 64 || res.destroyed) {
          clearInterval(timer);
          res.end();
          return;
        }
        sent++;
        res.write(Buffer.alloc(1024));
      }, 1);
      return;
    }
    case '/slow':
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(200).end('late');
      }, 2000).unref();
      return;
    default:
      res.writeHead(404).end();
  }
}

beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const DEV = { allowHttp: true, allowLoopback: true };
const toLoopback = (): Promise<string[]> => Promise.resolve(['127.0.0.1']);

describe('createPinnedFetch / createNodeEgressFetch', () => {
  it('[§8.14] dev policy (loopback allowed) fetches from 127.0.0.1', async () => {
    const response = await createNodeEgressFetch(DEV)(`http://127.0.0.1:${port}/json`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(response.headers.get('content-type')).toBe('application/json');
  });

  it('[§8.14] the default policy refuses loopback and http', async () => {
    expect((await rejection(createNodeEgressFetch({ allowHttp: true })(`http://127.0.0.1:${port}/json`))).code).toBe('egress_denied');
    expect((await rejection(createNodeEgressFetch()(`http://127.0.0.1:${port}/json`))).code).toBe('egress_denied');
    expect((await rejection(createNodeEgressFetch({ allowHttp: true })(`http://localhost:${port}/json`))).code).toBe('egress_denied');
  });

  it('[§8.14] a public-looking name resolving to a private or loopback address is refused', async () => {
    const before = seen.length;
    const toPrivate = (): Promise<string[]> => Promise.resolve(['10.1.2.3']);
    expect((await rejection(createNodeEgressFetch({ allowHttp: true }, { resolve: toPrivate })(`http://public.example:${port}/json`))).code).toBe(
      'egress_denied',
    );
    expect((await rejection(createNodeEgressFetch({ allowHttp: true }, { resolve: toLoopback })(`http://public.example:${port}/json`))).code).toBe(
      'egress_denied',
    );
    // One bad address among good ones refuses the host (rebinding across records).
    const mixed = (): Promise<string[]> => Promise.resolve(['93.184.216.34', '::ffff:7f00:1']);
    expect((await rejection(createPinnedFetch({ allowHttp: true }, { resolve: mixed })(`http://public.example:${port}/json`))).code).toBe('egress_denied');
    expect(seen.length).toBe(before);
  });

  it('[§8.14] connects to the checked address while Host keeps the name (DNS pinning)', async () => {
    let lookups = 0;
    const resolve = (host: string): Promise<string[]> => {
      lookups++;
      expect(host).toBe('pinned.test');
      return Promise.resolve(['127.0.0.1']);
    };
    const response = await createNodeEgressFetch(DEV, { resolve })(`http://pinned.test:${port}/echo-host`);
    expect(await response.text()).toBe(`pinned.test:${port}`);
    expect(lookups).toBe(1);
  });

  it('[§8.14] follows a same-host redirect', async () => {
    const response = await createNodeEgressFetch(DEV)(`http://127.0.0.1:${port}/redirect-same`);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('[§8.14] refuses a cross-host redirect', async () => {
    const error = await rejection(createNodeEgressFetch(DEV)(`http://127.0.0.1:${port}/redirect-cross`));
    expect(error.code).toBe('egress_denied');
    expect(error.detail).toMatch(/different host/);
  });

  it('[§8.14] refuses an oversized body (declared and chunked)', async () => {
    const fetch = createNodeEgressFetch({ ...DEV, maxResponseBytes: 16 * 1024 });
    expect((await rejection(fetch(`http://127.0.0.1:${port}/big`))).code).toBe('fetch_failed');
    const chunked = await rejection(createPinnedFetch({ ...DEV, maxResponseBytes: 16 * 1024 })(`http://127.0.0.1:${port}/big-chunked`));
    expect(chunked.code).toBe('fetch_failed');
    expect(chunked.detail).toMatch(/larger/);
  });

  it('[§8.14] times out a slow server', async () => {
    const started = Date.now();
    const error = await rejection(createNodeEgressFetch({ ...DEV, timeoutMs: 200 })(`http://127.0.0.1:${port}/slow`));
    expect(error.code).toBe('fetch_failed');
    expect(error.detail).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(1500);
    const direct = await rejection(createPinnedFetch({ ...DEV, timeoutMs: 200 })(`http://127.0.0.1:${port}/slow`));
    expect(direct.code).toBe('fetch_failed');
  });

  it('a refused connection is fetch_failed', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect((await rejection(createNodeEgressFetch(DEV)(`http://127.0.0.1:${freePort}/json`))).code).toBe('fetch_failed');
  });

  it('the pinned fetch alone returns redirects without following them', async () => {
    const response = await createPinnedFetch(DEV)(`http://127.0.0.1:${port}/redirect-cross`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`http://localhost:${port}/json`);
  });
});
