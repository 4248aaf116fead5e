/**
 * `createServer` + `listen`: boots on SQLite and PostgreSQL with ports 0, serves both metadata documents with the
 * configured issuers, applies the edge middleware (request ids, body limit, rate limit), and shuts down cleanly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig, type TesseraConfig } from '../src/config.js';
import { bindPort, createServer, egressPolicy, listen, psRouteGroup, scopesPerResource, type RunningServer, type TesseraServer } from '../src/server.js';
import { fromJson } from '../src/store/store.js';
import { PG_URL, STORE_KINDS, type StoreKind } from './helpers.js';

const ADMIN_TOKEN = `tsa_${'k'.repeat(40)}`;
const silent = pino({ level: 'silent' });
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A fresh store configuration of `kind` (a temporary directory, or a new PostgreSQL database), removed after the test. */
async function storeFor(kind: StoreKind): Promise<Record<string, unknown>> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-server-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return { kind: 'sqlite', dataDir: dir };
  }
  const name = `tessera_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    // pg's pool.end() resolves before its connections have closed: wait for them rather than terminating them
    // (a forced drop makes a closing client emit an unhandled error).
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}${attempt < 40 ? '' : ' WITH (FORCE)'}`);
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt >= 40) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await c.end();
  });
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { kind: 'postgres', connectionString: url.href, maxConnections: 4 };
}

async function productionConfig(kind: StoreKind, extra: Record<string, unknown> = {}): Promise<TesseraConfig> {
  return parseConfig(
    {
      ps: { issuer: 'https://ps.example', name: 'Example PS' },
      ap: { issuer: 'https://ap.example', name: 'Example AP' },
      store: await storeFor(kind),
      adminToken: ADMIN_TOKEN,
      ...extra,
    },
    { mode: 'production' },
  );
}

async function boot(config: TesseraConfig): Promise<TesseraServer> {
  const server = await createServer(config, { log: silent });
  cleanups.push(() => server.close());
  return server;
}

/** Whether a TCP connection to the port is refused. */
function refused(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      res.resume();
      resolve(false);
    });
    req.on('error', () => resolve(true));
    req.end();
  });
}

for (const kind of STORE_KINDS) {
  describe(`createServer on ${kind}`, () => {
    it('boots with ports 0, serves both metadata documents with the configured issuers, and shuts down cleanly', async () => {
      const server = await boot(await productionConfig(kind));
      const running: RunningServer = await listen(server, { ps: 0, ap: 0, addresses: ['127.0.0.1'] });
      expect(running.ports.ps).toBeGreaterThan(0);
      expect(running.ports.ap).not.toBe(running.ports.ps);
      expect(running.urls.ps).toBe(`http://127.0.0.1:${running.ports.ps}`);

      const person = await fetch(`${running.urls.ps}/.well-known/aauth-person.json`);
      expect(person.status).toBe(200);
      const personDoc = (await person.json()) as Record<string, unknown>;
      expect(personDoc['issuer']).toBe('https://ps.example');
      expect(personDoc['jwks_uri']).toBe('https://ps.example/jwks.json');
      expect(personDoc['person_token_endpoint']).toBe('https://ps.example/person-token');
      expect(person.headers.get('x-request-id')).toMatch(/^[\w=-]+$/);

      const agent = await fetch(`${running.urls.ap}/.well-known/aauth-agent.json`);
      expect(agent.status).toBe(200);
      expect(((await agent.json()) as Record<string, unknown>)['issuer']).toBe('https://ap.example');

      const psJwks = (await (await fetch(`${running.urls.ps}/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] };
      const apJwks = (await (await fetch(`${running.urls.ap}/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] };
      expect(psJwks.keys).toHaveLength(1);
      expect(apJwks.keys).toHaveLength(1);
      expect(psJwks.keys[0]!.kid).toMatch(/^ps-/);
      expect(apJwks.keys[0]!.kid).toMatch(/^ap-/);
      expect(psJwks.keys[0]!.d).toBeUndefined();

      await running.close();
      await running.close(); // idempotent
      expect(await refused(`${running.urls.ps}/.well-known/aauth-person.json`)).toBe(true);
      expect(await refused(`${running.urls.ap}/.well-known/aauth-agent.json`)).toBe(true);
    });

    it('with an `as` section, serves the Access Server on its own port and identifier (metadata, JWKS of role as)', async () => {
      const server = await boot(await productionConfig(kind, { as: { issuer: 'https://as.example', name: 'Example AS', acceptPersonServers: ['https://ps.example'] } }));
      const running = await listen(server, { ps: 0, ap: 0, as: 0, addresses: ['127.0.0.1'] });
      try {
        expect(new Set([running.ports.ps, running.ports.ap, running.ports.as]).size).toBe(3);
        const meta = (await (await fetch(`${running.urls.as}/.well-known/aauth-access.json`)).json()) as Record<string, unknown>;
        expect(meta).toMatchObject({ issuer: 'https://as.example', jwks_uri: 'https://as.example/jwks.json', auth_token_endpoint: 'https://as.example/token', name: 'Example AS' });
        const jwks = (await (await fetch(`${running.urls.as}/jwks.json`)).json()) as { keys: { kid: string; d?: string }[] };
        expect(jwks.keys[0]!.kid).toMatch(/^as-/);
        expect(jwks.keys[0]!.d).toBeUndefined();
        // An unsigned token request: 401 with Signature-Error, as every AAuth endpoint answers it.
        const token = await fetch(`${running.urls.as}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(token.status).toBe(401);
        expect(token.headers.get('signature-error')).toMatch(/^error=/);
        // The PS host does not answer the AS's paths, nor the AS host the PS's.
        expect((await fetch(`${running.urls.ps}/.well-known/aauth-access.json`)).status).toBe(404);
        expect((await fetch(`${running.urls.as}/.well-known/aauth-person.json`)).status).toBe(404);
      } finally {
        await running.close();
      }
      expect(await refused(`${running.urls.as}/.well-known/aauth-access.json`)).toBe(true);
    });

    it('stores only the SHA-256 of the admin token, which then opens the admin API', async () => {
      const server = await boot(await productionConfig(kind));
      const row = await server.ctx.store.db.selectFrom('settings').selectAll().where('key', '=', 'admin_token_sha256').executeTakeFirst();
      expect(fromJson(row?.value ?? null, '')).toBe(createHash('sha256').update(ADMIN_TOKEN).digest('hex'));
      const audit = await server.ctx.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'admin.token.set').execute();
      expect(audit).toHaveLength(1);
      expect(audit[0]!.detail).not.toContain(ADMIN_TOKEN);
      expect((await server.ps.request('https://ps.example/admin/agents', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
      expect((await server.ps.request('https://ps.example/admin/agents', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    });

    it('a restart keeps the signing keys (ensure creates them only once)', async () => {
      const config = await productionConfig(kind);
      const first = await createServer(config, { log: silent });
      const jwks1 = await first.ctx.keys.jwks('ps');
      await first.close();
      const second = await boot(config);
      expect(await second.ctx.keys.jwks('ps')).toEqual(jwks1);
    });
  });
}

describe('edge middleware', () => {
  it('refuses bodies over 64 KiB with 413 problem+json on AAuth endpoints', async () => {
    const server = await boot(await productionConfig('sqlite'));
    const res = await server.ps.request('https://ps.example/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(65 * 1024) },
      body: 'x'.repeat(65 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    const ap = await server.ap.request('https://ap.example/enrol', { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(65 * 1024) });
    expect(ap.status).toBe(413);
  });

  it('the admin API has its own limit: a 100 KiB body passes the edge (64 KiB elsewhere), one over 256 KiB is 413', async () => {
    const server = await boot(await productionConfig('sqlite'));
    const post = (size: number) =>
      server.ps.request('https://ps.example/admin/resources', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(size), authorization: `Bearer ${ADMIN_TOKEN}` },
        body: 'x'.repeat(size),
      });
    // Not JSON, so the admin API refuses it as a bad request: it got that far.
    const middling = await post(100 * 1024);
    expect(middling.status).toBe(400);
    const tooLarge = await post(257 * 1024);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toBe('application/problem+json');
  });

  it('over a socket: a declared Content-Length over 64 KiB → 413 from the headers alone; a streamed body over it → 413; a small body reaches the endpoint', async () => {
    const server = await boot(await productionConfig('sqlite'));
    const running = await listen(server, { ps: 0, ap: 0, addresses: ['127.0.0.1'] });
    const send = (headers: Record<string, string>, chunks: string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${running.urls.ps}/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    try {
      // Declared too large: answered before a byte of the body is sent.
      const declared = await send({ 'content-length': String(65 * 1024) }, []);
      expect(declared.status).toBe(413);
      expect(JSON.parse(declared.body)).toMatchObject({ error: 'invalid_request' });
      // Streamed (chunked) past the limit: counted as it arrives.
      const streamed = await send({ 'transfer-encoding': 'chunked' }, Array.from({ length: 5 }, () => 'x'.repeat(16 * 1024)));
      expect(streamed.status).toBe(413);
      // A small body is read and reaches the endpoint, which refuses it for being unsigned.
      const small = await send({ 'content-length': '2' }, ['{}']);
      expect(small.status).toBe(401);
    } finally {
      await running.close();
    }
  });

  it('keeps a well-formed incoming x-request-id and replaces a malformed one', async () => {
    const server = await boot(await productionConfig('sqlite'));
    const kept = await server.ap.request('https://ap.example/.well-known/aauth-agent.json', { headers: { 'x-request-id': 'proxy-id-123' } });
    expect(kept.headers.get('x-request-id')).toBe('proxy-id-123');
    const replaced = await server.ap.request('https://ap.example/.well-known/aauth-agent.json', { headers: { 'x-request-id': 'bad id<script>' } });
    expect(replaced.headers.get('x-request-id')).not.toContain('<');
  });

  it('over a socket: x-request-id on every response (the edge\'s own, forwarded apps\', errors), one value, a proxy\'s kept', async () => {
    const server = await boot(await productionConfig('sqlite'));
    const running = await listen(server, { ps: 0, ap: 0, addresses: ['127.0.0.1'] });
    const get = (url: string, headers: Record<string, string> = {}, method = 'GET') =>
      new Promise<{ status: number; ids: string[] }>((resolve, reject) => {
        const req = httpRequest(url, { method, headers, agent: false }, (res) => {
          res.resume();
          res.on('end', () => {
            const ids: string[] = [];
            for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]!.toLowerCase() === 'x-request-id') ids.push(res.rawHeaders[i + 1]!);
            resolve({ status: res.statusCode ?? 0, ids });
          });
        });
        req.on('error', reject);
        req.end();
      });
    try {
      for (const [url, method] of [
        [`${running.urls.ps}/.well-known/aauth-person.json`, 'GET'], // forwarded to the PS app
        [`${running.urls.ps}/token`, 'POST'], // the PS app's 401 error
        [`${running.urls.ps}/api/pending`, 'GET'], // the approver app (routed), 401
        [`${running.urls.ps}/login`, 'GET'], // the pages app (forwarded)
        [`${running.urls.ap}/.well-known/aauth-agent.json`, 'GET'],
        [`${running.urls.ps}/no/such/path`, 'GET'],
      ] as const) {
        const answer = await get(url, method === 'POST' ? { 'content-type': 'application/json', 'content-length': '0' } : {}, method);
        expect(answer.ids, url).toHaveLength(1);
        expect(answer.ids[0], url).toMatch(/^[\w=-]{1,128}$/);
      }
      const kept = await get(`${running.urls.ps}/.well-known/aauth-person.json`, { 'x-request-id': 'proxy-id-123' });
      expect(kept.ids).toEqual(['proxy-id-123']);
      const replaced = await get(`${running.urls.ps}/.well-known/aauth-person.json`, { 'x-request-id': 'x'.repeat(129) });
      expect(replaced.ids).toHaveLength(1);
      expect(replaced.ids[0]).not.toBe('x'.repeat(129));
    } finally {
      await running.close();
    }
  });

  it('rate-limits per route group: 429 slow_down with Retry-After', async () => {
    const server = await boot(await productionConfig('sqlite', { rateLimit: { burst: 2, perSecond: 0.1 } }));
    const url = 'https://ps.example/.well-known/aauth-person.json';
    expect((await server.ps.request(url)).status).toBe(200);
    expect((await server.ps.request(url)).status).toBe(200);
    const limited = await server.ps.request(url);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('10');
    expect(await limited.json()).toMatchObject({ error: 'slow_down' });
    // Another group (the pages) is not affected.
    expect((await server.ps.request('https://ps.example/login')).status).not.toBe(429);
  });

  it('groups PS routes for rate limiting', () => {
    expect(psRouteGroup('/pending/abc')).toBe('pending');
    expect(psRouteGroup('/api/pending')).toBe('api');
    expect(psRouteGroup('/admin/agents')).toBe('admin');
    expect(psRouteGroup('/interaction')).toBe('pages');
    expect(psRouteGroup('/.well-known/aauth-person.json')).toBe('metadata');
    expect(psRouteGroup('/token')).toBe('endpoints');
  });

  it('[§8.14] production egress refuses http and loopback; development allows both', async () => {
    const production = egressPolicy(await productionConfig('sqlite'));
    expect(production.allowHttp).toBeUndefined();
    expect(production.allowLoopback).toBeUndefined();
    const development = egressPolicy(
      parseConfig({ ps: { issuer: 'http://localhost:1' }, ap: { issuer: 'http://localhost:2' }, store: { kind: 'sqlite', dataDir: ':memory:' } }, { mode: 'development' }),
    );
    expect(development).toMatchObject({ allowHttp: true, allowLoopback: true });
  });

  it('[§8.14] production key discovery does not fetch from loopback', async () => {
    const server = await boot(await productionConfig('sqlite'));
    await expect(server.ctx.resolveKey({ iss: 'http://localhost:4100', dwk: 'aauth-agent.json', kid: 'k' })).rejects.toMatchObject({ code: 'invalid_jwt' });
    await expect(server.ctx.resolveKey({ iss: 'https://localhost', dwk: 'aauth-agent.json', kid: 'k' })).rejects.toMatchObject({ code: 'invalid_key' });
  });
});

describe('bindPort: graceful shutdown', () => {
  it('lets an in-flight request finish, then stops accepting', async () => {
    const port = await bindPort(0, ['127.0.0.1']);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inside = new Promise<void>((resolve) => (started = resolve));
    port.setHandler(async () => {
      started();
      await gate;
      return new Response('done');
    });
    const url = `http://127.0.0.1:${port.port}/`;
    const pending = fetch(url).then(async (r) => ({ status: r.status, text: await r.text() }));
    await inside;
    const closed = port.close(5000);
    expect(await refused(url)).toBe(true);
    release();
    expect(await pending).toEqual({ status: 200, text: 'done' });
    await closed;
  });

  it('closes connections still open after the grace period', async () => {
    const port = await bindPort(0, ['127.0.0.1']);
    port.setHandler(() => new Promise<Response>(() => undefined)); // never answers
    const url = `http://127.0.0.1:${port.port}/`;
    const pending = fetch(url).then(
      () => 'answered',
      () => 'connection closed',
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await port.close(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await pending).toBe('connection closed');
  });

  it('answers 503 until a handler is set', async () => {
    const port = await bindPort(0, ['127.0.0.1']);
    cleanups.push(() => port.close(0));
    const res = await fetch(`http://127.0.0.1:${port.port}/`);
    expect(res.status).toBe(503);
    port.setHandler(() => new Response('ready'));
    expect(await (await fetch(`http://127.0.0.1:${port.port}/`)).text()).toBe('ready');
  });
});

describe('scopesPerResource (the `as.resources` policy)', () => {
  const input = (resource: string, requested: string[]) =>
    ({ ps: 'https://ps.example', resource, sub: 's', requested, resourceToken: {}, agent: {} }) as unknown as Parameters<ReturnType<typeof scopesPerResource>>[0];
  const policy = scopesPerResource({ 'https://api.example': { scopes: ['notes.read', 'notes.write'] } });
  it('grants the requested scopes the resource lists, nothing more', () => {
    expect(policy(input('https://api.example', ['notes.read', 'admin']))).toEqual({ grant: 'notes.read' });
  });
  it('denies a resource it does not list', () => {
    expect(policy(input('https://other.example', ['notes.read']))).toMatchObject({ deny: true });
  });
});
