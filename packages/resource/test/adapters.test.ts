/**
 * The four adapters give the same answers (status, AAuth-Requirement, Signature-Error, verified identity) on the
 * same signed requests, each served on 127.0.0.1:0 and called over real HTTP; a duplicate header line reaches the
 * core intact through the Node adapters (headers from rawHeaders).
 */
import { request as httpRequest, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { parseAAuthRequirement } from '@tessera/protocol';
import type { Resource, RoutePolicy } from '@tessera/resource';
import { aauthExpress, expressHandler } from '@tessera/resource/express';
import { aauthFastify, aauthPreHandler, fastifyHandler } from '@tessera/resource/fastify';
import { aauthHono, honoHandler, type AAuthHonoEnv } from '@tessera/resource/hono';
import { aauthNode, nodeHandler, requestUrl, sendFetchResponse, type AAuthIdentity } from '@tessera/resource/node';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToken, authToken, keys, personToken, signLines, testResource } from './fixtures.js';

const ROUTES: Record<string, RoutePolicy> = {
  '/agent': { mode: 'agent-token' },
  '/notes': { mode: 'auth-token', scopes: ['notes.read'] },
  '/admin': { mode: 'auth-token', scopes: ['notes.admin'] },
};

/** What each app answers on a granted request. */
function view(identity: AAuthIdentity | null | undefined, body?: string): Record<string, unknown> {
  return {
    jkt: identity?.agent.jkt,
    agentId: identity?.agent.id ?? null,
    person: identity?.person ?? null,
    scopes: identity?.scopes,
    kind: identity?.token.kind,
    body: body ?? null,
  };
}
const text = (identity: AAuthIdentity | null | undefined): string | undefined => (identity?.body === undefined ? undefined : new TextDecoder().decode(identity.body));

type Started = { name: string; origin: string; close: () => Promise<void> };

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}
const closer = (server: Server) => () => new Promise<void>((resolve) => server.close(() => resolve()));

async function startNode(resource: Resource): Promise<Started> {
  const guards = Object.fromEntries(Object.entries(ROUTES).map(([path, policy]) => [path, aauthNode(resource, policy)]));
  const wellKnown = nodeHandler((request) => resource.handle(request));
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const guard = guards[path];
    if (guard === undefined) return void wellKnown(req, res);
    void guard(req, res).then((identity) => {
      if (identity === undefined) return;
      return sendFetchResponse(res, Response.json(view(identity, text(identity))));
    });
  });
  return { name: 'node', origin: await listen(server), close: closer(server) };
}

async function startExpress(resource: Resource): Promise<Started> {
  const app = express();
  for (const [path, policy] of Object.entries(ROUTES)) {
    app.all(path, aauthExpress(resource, policy), (req, res) => {
      res.json(view(req.aauth, text(req.aauth)));
    });
  }
  app.use(expressHandler((request) => resource.handle(request)));
  const server = createServer(app);
  return { name: 'express', origin: await listen(server), close: closer(server) };
}

async function startFastify(resource: Resource): Promise<Started> {
  const app = Fastify();
  await app.register(async (scope) => {
    await scope.register(aauthFastify);
    for (const [path, policy] of Object.entries(ROUTES)) {
      scope.route({ method: ['GET', 'POST'], url: path, preHandler: aauthPreHandler(resource, policy), handler: (req) => view(req.aauth, text(req.aauth)) });
    }
    const own = fastifyHandler((request) => resource.handle(request));
    scope.route({ method: ['GET', 'POST'], url: '/.well-known/*', handler: own });
    scope.route({ method: ['GET', 'POST'], url: '/authorize', handler: own });
  });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  return { name: 'fastify', origin: address, close: () => app.close() };
}

async function startHono(resource: Resource): Promise<Started> {
  const app = new Hono<AAuthHonoEnv>();
  for (const [path, policy] of Object.entries(ROUTES)) {
    app.on(['GET', 'POST'], path, aauthHono(resource, policy), (c) => c.json(view(c.get('aauth'), text(c.get('aauth')))));
  }
  app.use(honoHandler((request) => resource.handle(request)));
  const origin = await new Promise<{ origin: string; server: Server }>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve({ origin: `http://127.0.0.1:${info.port}`, server: server as Server }));
  });
  return { name: 'hono', origin: origin.origin, close: closer(origin.server) };
}

interface Answer {
  status: number;
  requirement: string | null;
  signatureError: string | null;
  json: unknown;
}

/** A raw HTTP request: header lines are sent exactly as given (duplicates included). */
function call(origin: string, method: string, path: string, lines: [string, string][], body?: Uint8Array): Promise<Answer> {
  const grouped: Record<string, string[]> = {};
  for (const [n, v] of lines) (grouped[n.toLowerCase()] ??= []).push(v);
  const headers: Record<string, string | string[]> = {};
  for (const [n, vs] of Object.entries(grouped)) headers[n] = vs.length === 1 ? (vs[0] as string) : vs;
  if (body !== undefined) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown = raw;
        try {
          json = raw.length === 0 ? null : JSON.parse(raw);
        } catch {
          /* not JSON */
        }
        const h = (name: string) => (res.headers[name] === undefined ? null : String(res.headers[name]));
        resolve({ status: res.statusCode ?? 0, requirement: h('aauth-requirement'), signatureError: h('signature-error'), json });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}

/** A request whose request-target is sent exactly as given (e.g. absolute-form); answers the status. */
function rawTarget(origin: string, target: string, lines: [string, string][]): Promise<number> {
  const { hostname, port } = new URL(origin);
  const headers: Record<string, string> = {};
  for (const [n, v] of lines) headers[n] = v;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path: target, method: 'GET', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function signedCall(s: Started, options: { method?: string; path: string; token: string; body?: string; headers?: [string, string][]; tamper?: boolean }): Promise<Answer> {
  const method = options.method ?? 'GET';
  const signed = await signLines({ method, url: `${s.origin}${options.path}`, token: options.token, ...(options.body === undefined ? {} : { body: options.body }), ...(options.headers === undefined ? {} : { headers: options.headers }) });
  // tamper: send the signature made for `path` to another route (the covered @path no longer matches)
  const path = options.tamper === true ? '/notes' : options.path;
  return call(s.origin, method, path, signed.headers, signed.body);
}

/** Comparable: resource tokens differ per mint, so an auth-token challenge compares by its requirement value. */
function normalize(answer: Answer): Answer {
  const requirement = answer.requirement === null ? null : parseAAuthRequirement(answer.requirement).requirement;
  const json = answer.json as Record<string, unknown> | null;
  return { ...answer, requirement, json: json !== null && typeof json === 'object' && 'error' in json ? { error: json['error'] } : json };
}

describe('adapters: node:http, Express 5, Fastify 5, Hono — same answers over real HTTP', () => {
  let servers: Started[] = [];

  beforeAll(async () => {
    const resource = await testResource();
    servers = await Promise.all([startNode(resource), startExpress(resource), startFastify(resource), startHono(resource)]);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  async function all(run: (s: Started) => Promise<Answer>): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (const s of servers) answers.push(normalize(await run(s)));
    for (const [i, a] of answers.entries()) expect(a, servers[i]?.name).toEqual(answers[0]);
    return answers;
  }

  it('unsigned → 401 requirement=agent-token / person-token', async () => {
    const [a] = await all((s) => call(s.origin, 'GET', '/agent', []));
    expect(a).toMatchObject({ status: 401, requirement: 'agent-token', signatureError: null });
    const [b] = await all((s) => call(s.origin, 'GET', '/notes', []));
    expect(b).toMatchObject({ status: 401, requirement: 'person-token' });
  });

  it('agent token → 200 with the agent; on an auth-token route → 401 requirement=person-token', async () => {
    const k = await keys();
    const token = await agentToken();
    const [a] = await all((s) => signedCall(s, { path: '/agent', token }));
    expect(a).toMatchObject({ status: 200, json: { jkt: k.agentJkt, agentId: 'aauth:assistant@agent.example', kind: 'aa-agent+jwt', person: null, scopes: [] } });
    const [b] = await all((s) => signedCall(s, { path: '/notes', token }));
    expect(b).toMatchObject({ status: 401, requirement: 'person-token' });
  });

  it('person token on an auth-token route → 401 requirement=auth-token with a resource token', async () => {
    const token = await personToken();
    const [a] = await all((s) => signedCall(s, { path: '/notes', token }));
    expect(a).toMatchObject({ status: 401, requirement: 'auth-token', signatureError: null });
  });

  it('auth token → 200 with the person and scopes; insufficient scope → 403 without Signature-Error', async () => {
    const k = await keys();
    const token = await authToken();
    const [a] = await all((s) => signedCall(s, { path: '/notes', token }));
    expect(a).toMatchObject({ status: 200, json: { jkt: k.agentJkt, person: { iss: 'https://ps.example', sub: 'person-1' }, scopes: ['notes.read'], kind: 'aa-auth+jwt' } });
    const [b] = await all((s) => signedCall(s, { path: '/admin', token }));
    expect(b).toMatchObject({ status: 403, signatureError: null, json: { error: 'invalid_scope' } });
  });

  it('a signature that does not match the request → 401 Signature-Error', async () => {
    const token = await agentToken();
    const [a] = await all((s) => signedCall(s, { path: '/agent', token, tamper: true }));
    expect(a?.status).toBe(401);
    expect(a?.signatureError).not.toBeNull();
  });

  it('a POST body reaches the core once, Content-Digest checked', async () => {
    const token = await agentToken();
    const [a] = await all((s) => signedCall(s, { method: 'POST', path: '/agent', token, body: '{"hello":"world"}', headers: [['content-type', 'application/json']] }));
    expect(a).toMatchObject({ status: 200, json: { body: '{"hello":"world"}' } });
  });

  it('two Content-Type lines reach the core intact through the Node adapters (rawHeaders)', async () => {
    const token = await agentToken();
    const nodeServers = servers.filter((s) => s.name !== 'hono');
    for (const s of nodeServers) {
      const answer = await signedCall(s, { method: 'POST', path: '/agent', token, body: 'plain body', headers: [['content-type', 'text/plain'], ['content-type', 'charset=utf-8']] });
      expect(answer.status, s.name).toBe(200);
      expect((answer.json as { body: string }).body, s.name).toBe('plain body');
    }
  });

  it('a request target starting with // is a path here, and one in absolute-form is refused: neither names another authority (node:http)', async () => {
    const s = servers.find((x) => x.name === 'node')!;
    const token = await agentToken();
    // Signed for another server. `new URL('//evil.example/agent', origin)` would have read it as that server's URL.
    const elsewhere = await signLines({ method: 'GET', url: 'http://evil.example/agent', token });
    const viaPath = await call(s.origin, 'GET', '//evil.example/agent', elsewhere.headers);
    expect(viaPath.status).toBe(401);
    expect(viaPath.signatureError).not.toBeNull();
    const absolute = await rawTarget(s.origin, 'http://evil.example/agent', elsewhere.headers);
    expect(absolute).toBe(400);
    // The other Node adapters: refused too (400, or 404 where the framework's router finds no route), never verified.
    for (const other of servers.filter((x) => x.name !== 'node' && x.name !== 'hono')) {
      expect([400, 404], other.name).toContain(await rawTarget(other.origin, 'http://evil.example/agent', elsewhere.headers));
    }
    // A Host header that is no authority, where no origin is configured: 400, not a crash.
    expect(await rawTarget(s.origin, '/agent', [...elsewhere.headers.filter(([n]) => n.toLowerCase() !== 'host'), ['Host', 'bad host']])).toBe(400);
    const express = servers.find((x) => x.name === 'express')!;
    expect(await rawTarget(express.origin, 'http://evil.example/agent', elsewhere.headers)).toBe(400);
    // Signed for this server's `//evil.example/agent`: accepted, so the 401 above is the authority, not the path.
    const here = await signLines({ method: 'GET', url: `${s.origin}//evil.example/agent`, token });
    expect((await call(s.origin, 'GET', '//evil.example/agent', here.headers)).status).toBe(200);
  });

  it("Hono with `origin`: a path starting with // stays a path under the configured origin", async () => {
    const resource = await testResource();
    const app = new Hono<AAuthHonoEnv>();
    app.get('*', aauthHono(resource, { mode: 'agent-token' }, { origin: 'https://resource.example' }), (c) => c.json({ jkt: c.get('aauth').agent.jkt }));
    const token = await agentToken();
    const send = async (signedFor: string) => {
      const signed = await signLines({ method: 'GET', url: signedFor, token });
      const headers = new Headers();
      for (const [n, v] of signed.headers) headers.append(n, v);
      return (await app.request('http://127.0.0.1:9//evil.example/agent', { headers })).status;
    };
    expect(await send('https://evil.example/agent')).toBe(401);
    expect(await send('https://resource.example//evil.example/agent')).toBe(200);
  });

  it('requestUrl: the configured origin or the Host header, then the target as received (Express: originalUrl)', () => {
    const req = (url: string, extra: Record<string, unknown> = {}) => ({ url, headers: { host: 'resource.example:8443' }, socket: {}, ...extra }) as unknown as Parameters<typeof requestUrl>[0];
    expect(requestUrl(req('//evil.example/x?y=1'), 'https://resource.example')).toBe('https://resource.example//evil.example/x?y=1');
    expect(requestUrl(req('/a/../notes'))).toBe('http://resource.example:8443/notes');
    expect(requestUrl(req('/notes', { originalUrl: '/api/notes' }), 'https://resource.example')).toBe('https://resource.example/api/notes');
    expect(() => requestUrl(req('http://evil.example/x'), 'https://resource.example')).toThrow(/origin-form/);
    expect(() => requestUrl(req('/x', { headers: { host: 'bad host' } }))).toThrow();
  });

  it('serves metadata and the authorization endpoint through the fetch-handler bridges', async () => {
    for (const s of servers) {
      const meta = await call(s.origin, 'GET', '/.well-known/aauth-resource.json', []);
      expect(meta.status, s.name).toBe(200);
      expect((meta.json as { issuer: string }).issuer).toBe('https://resource.example');
    }
    const [a] = await all((s) => call(s.origin, 'POST', '/authorize', [['content-type', 'application/json']], new TextEncoder().encode('{"scope":"notes.read"}')));
    expect(a).toMatchObject({ status: 401, requirement: 'person-token' });
  });
});
