/**
 * @tessera/gateway over real sockets on 127.0.0.1: a plain upstream that knows nothing of AAuth, the gateway in
 * front of it. Test names carry the AAuth digest §8 checklist numbers where they apply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDictionary } from 'structured-headers';
import { createGateway, parseGatewayConfig, type Gateway } from '@tessera/gateway';
import { agentToken, authToken, BIG_BYTES, bigByte, keys, personToken, resolver, RESOURCE, sign, startUpstream, type Received, type Signed } from './fixtures.js';

let upstream: Awaited<ReturnType<typeof startUpstream>>;
let gateway: Gateway;
let base: string;

/** Waits (polling, at most 10 s) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
  expect(condition()).toBe(true);
}

async function send(s: Signed, extra: Record<string, string> = {}, body: string | undefined = s.body): Promise<Response> {
  return fetch(s.url, { method: s.method, headers: { ...s.headers, ...extra }, ...(body === undefined ? {} : { body }) });
}

beforeAll(async () => {
  upstream = await startUpstream();
  const config = parseGatewayConfig(
    {
      issuer: RESOURCE,
      signingKeyFile: 'unused.jwk',
      trustedPersonServers: ['https://ps.example'],
      maxBodyBytes: 4096,
      upstreamTimeoutMs: 400,
      // Many requests here share (jkt, created, method, authority, path); the replay cache has its own test below.
      replayCache: false,
      extAuthz: { pathPrefix: '/ext-authz' },
      routes: [
        { pathPrefix: '/api', upstream: upstream.url, policy: { mode: 'auth-token', scopes: { GET: ['notes.read'], POST: ['notes.write'] } } },
        { pathPrefix: '/agent', upstream: upstream.url, policy: { mode: 'agent-token' } },
        { pathPrefix: '/sse', upstream: upstream.url, policy: { mode: 'agent-token' } },
        { pathPrefix: '/slow', upstream: upstream.url, policy: { mode: 'agent-token' } },
        { pathPrefix: '/big', upstream: upstream.url, policy: { mode: 'agent-token' } },
        { pathPrefix: '/down', upstream: 'http://127.0.0.1:1', policy: { mode: 'agent-token' } },
      ],
    },
    'test-gateway.json',
  );
  gateway = await createGateway(config, { signer: await import('@tessera/protocol').then(async (p) => p.createSigner((await keys()).resourceJwk)), resolveKey: await resolver() });
  base = (await gateway.listen(0, '127.0.0.1')).url;
});

afterAll(async () => {
  upstream.release();
  await gateway.close();
  await upstream.close();
});

describe('reverse proxy', () => {
  it('§8.40 a signed request with an auth token reaches the upstream with the identity headers', async () => {
    const before = upstream.calls.length;
    const res = await send(await sign('GET', `${base}/api/notes?x=1`, await authToken('notes.read')));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-upstream')).toBe('plain');
    const got = (await res.json()) as Received;
    expect(upstream.calls.length).toBe(before + 1);
    expect(got.url).toBe('/api/notes?x=1');
    expect(got.headers['x-aauth-person-iss']).toBe('https://ps.example');
    expect(got.headers['x-aauth-person-sub']).toBe('person-1');
    expect(got.headers['x-aauth-scope']).toBe('notes.read');
    expect(got.headers['x-aauth-agent-jkt']).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(got.headers['x-aauth-token-id']).toBeTruthy();
    expect(got.headers['x-aauth-agent']).toBeUndefined(); // no token a resource receives names the agent (§4)
    // The credentials stay at the gateway.
    for (const h of ['signature', 'signature-input', 'signature-key']) expect(got.headers[h]).toBeUndefined();
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-forwarded-proto']).toBe('http');
    expect(got.headers['x-forwarded-host']).toBe(new URL(base).host);
  });

  it('an agent token grants agent-token routes and names the agent', async () => {
    const res = await send(await sign('GET', `${base}/agent/x`, await agentToken()));
    expect(res.status).toBe(200);
    const got = (await res.json()) as Received;
    expect(got.headers['x-aauth-agent']).toBe('aauth:assistant@agent.example');
    expect(got.headers['x-aauth-person-sub']).toBeUndefined();
  });

  it('strips spoofed identity headers and X-Forwarded-* from the client', async () => {
    const s = await sign('GET', `${base}/agent/spoof`, await agentToken());
    const res = await send(s, {
      'x-aauth-person-sub': 'admin',
      'X-AAuth-Person-Iss': 'https://evil.example',
      'x-aauth-anything': 'x',
      'x-forwarded-for': '10.0.0.1',
      'x-kept': 'yes',
    });
    expect(res.status).toBe(200);
    const got = (await res.json()) as Received;
    expect(got.headers['x-aauth-person-sub']).toBeUndefined();
    expect(got.headers['x-aauth-person-iss']).toBeUndefined();
    expect(got.headers['x-aauth-anything']).toBeUndefined();
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(got.headers['x-kept']).toBe('yes');
    // hop-by-hop fields of the upstream's response are not passed back
    expect(res.headers.get('x-hop')).toBeNull();
  });

  it('a spoofed x-aauth-person-sub cannot replace the verified person', async () => {
    const res = await send(await sign('GET', `${base}/api/notes`, await authToken('notes.read', 'alice')), { 'x-aauth-person-sub': 'bob' });
    const got = (await res.json()) as Received;
    expect(got.headers['x-aauth-person-sub']).toBe('alice');
    expect(got.raw.filter((h) => h.toLowerCase() === 'x-aauth-person-sub')).toHaveLength(1);
  });

  it('forwards a signed body whose Content-Digest matches', async () => {
    const res = await send(await sign('POST', `${base}/api/notes`, await authToken('notes.read notes.write'), { body: '{"text":"hi"}' }));
    expect(res.status).toBe(200);
    const got = (await res.json()) as Received;
    expect(got.body).toBe('{"text":"hi"}');
    expect(got.headers['content-length']).toBe('13');
    expect(got.headers['content-digest']).toMatch(/^sha-256=:/);
  });

  it('refuses a tampered body: 401 invalid_signature, upstream never called', async () => {
    const before = upstream.calls.length;
    const s = await sign('POST', `${base}/api/notes`, await authToken('notes.write'), { body: '{"amount":1}' });
    const res = await send(s, {}, '{"amount":9}');
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/invalid_signature/);
    expect(upstream.calls.length).toBe(before);
  });

  it('refuses a body whose signature does not cover content-digest (401 invalid_input)', async () => {
    const before = upstream.calls.length;
    const k = await keys();
    const { signAAuthRequest } = await import('@tessera/protocol');
    const url = `${base}/api/notes`;
    const signed = await signAAuthRequest({ method: 'POST', url, headers: [['content-type', 'application/json']], body: new TextEncoder().encode('{}') }, { signer: k.agent, token: await authToken('notes.write'), contentDigest: false });
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/invalid_input/);
    expect(upstream.calls.length).toBe(before);
  });

  it('§8.25 unsigned → 401 challenge; a person token earns requirement=auth-token with a resource token', async () => {
    const unsigned = await fetch(`${base}/api/notes`);
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('aauth-requirement')).toBe('requirement=person-token');
    const res = await send(await sign('GET', `${base}/api/notes`, await personToken()));
    expect(res.status).toBe(401);
    const dict = parseDictionary(res.headers.get('aauth-requirement') ?? '');
    const requirement = dict.get('requirement')?.[0];
    expect(typeof requirement === 'object' && requirement !== null && 'toString' in requirement ? String(requirement as { toString(): string }) : requirement).toBe('auth-token');
    expect(typeof dict.get('requirement')?.[1].get('resource-token')).toBe('string');
  });

  it('§8.22 a person token never grants an auth-token route (upstream not called)', async () => {
    const before = upstream.calls.length;
    const res = await send(await sign('GET', `${base}/api/notes`, await personToken()));
    expect(res.status).toBe(401);
    expect(upstream.calls.length).toBe(before);
  });

  it('§8.11 a missing method-specific scope → 403 without Signature-Error or Accept-Signature-*', async () => {
    const res = await send(await sign('POST', `${base}/api/notes`, await authToken('notes.read'), { body: '{}' }));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_scope');
    expect(res.headers.get('signature-error')).toBeNull();
    expect(res.headers.get('accept-signature-alg')).toBeNull();
    expect(res.headers.get('accept-signature-scheme')).toBeNull();
  });

  it('an unmatched route → 404; a method with no scopes → 405; a too large body → 413', async () => {
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect((await fetch(`${base}/apix`)).status).toBe(404);
    expect((await fetch(`${base}/api/notes`, { method: 'DELETE' })).status).toBe(405);
    const big = await fetch(`${base}/agent/x`, { method: 'POST', body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
  });

  it('streams SSE unbuffered: the first event arrives before the upstream finishes', async () => {
    const res = await send(await sign('GET', `${base}/sse/events`, await agentToken()));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('first')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toContain('data: first');
    expect(text).not.toContain('second'); // the upstream has not finished: it waits for release()
    upstream.release();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toContain('data: second');
  });

  it('upstream down → 502 problem+json bad_gateway', async () => {
    const res = await send(await sign('GET', `${base}/down/x`, await agentToken()));
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(((await res.json()) as { error: string }).error).toBe('bad_gateway');
  });

  it('upstream timeout → 504 problem+json', async () => {
    const res = await send(await sign('GET', `${base}/slow/x`, await agentToken()));
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: string }).error).toBe('gateway_timeout');
  });

  it('keeps backpressure: a client that stops reading stops the upstream, and every byte arrives in order', async () => {
    const s = await sign('GET', `${base}/big/file`, await agentToken());
    const url = new URL(s.url);
    const { request } = await import('node:http');
    const result = await new Promise<{ finishedWhilePaused: boolean; received: number; mismatch: number }>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', headers: s.headers }, (res) => {
        let received = 0;
        let mismatch = -1;
        let paused = false;
        let finishedWhilePaused = false;
        res.on('data', (chunk: Buffer) => {
          for (let i = 0; i < chunk.length && mismatch < 0; i++) if (chunk[i] !== bigByte(received + i)) mismatch = received + i;
          received += chunk.length;
          if (!paused) {
            // Stop reading for a while after the first chunk: the gateway must stop reading the upstream too.
            paused = true;
            res.pause();
            setTimeout(() => {
              finishedWhilePaused = upstream.bigFinished();
              res.resume();
            }, 600);
          }
        });
        res.on('end', () => resolve({ finishedWhilePaused, received, mismatch }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(result.mismatch).toBe(-1);
    expect(result.received).toBe(BIG_BYTES);
    // Without backpressure the gateway would read all 64 MiB into memory while the client waits, and the upstream
    // would have finished long before the pause ended.
    expect(result.finishedWhilePaused).toBe(false);
    expect(upstream.bigFinished()).toBe(true);
  }, 30_000);

  it('a client gone before the upstream answers cancels the upstream request (well before the upstream timeout)', async () => {
    const patient = await createGateway(
      parseGatewayConfig(
        { issuer: RESOURCE, signingKeyFile: 'unused.jwk', replayCache: false, upstreamTimeoutMs: 60_000, routes: [{ pathPrefix: '/slow', upstream: upstream.url, policy: { mode: 'agent-token' } }] },
        'test-gateway.json',
      ),
      { signer: await import('@tessera/protocol').then(async (p) => p.createSigner((await keys()).resourceJwk)), resolveKey: await resolver() },
    );
    const url = (await patient.listen(0, '127.0.0.1')).url;
    try {
      const s = await sign('GET', `${url}/slow/cancel-me`, await agentToken());
      const client = new AbortController();
      const pending = fetch(s.url, { headers: s.headers, signal: client.signal }).catch((e: unknown) => e);
      await until(() => upstream.calls.some((c) => c.url === '/slow/cancel-me'));
      expect(upstream.closed).not.toContain('/slow/cancel-me');
      client.abort();
      await pending;
      await until(() => upstream.closed.includes('/slow/cancel-me')); // the 60 s upstream timeout never comes into it
    } finally {
      await patient.close();
    }
  });

  it('serves the resource metadata and JWKS', async () => {
    const meta = (await (await fetch(`${base}/.well-known/aauth-resource.json`)).json()) as { issuer: string; jwks_uri: string };
    expect(meta.issuer).toBe(RESOURCE);
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys[0]?.kid).toBe('resource-1');
  });
});

describe('replay cache (on by default)', () => {
  it('a replayed signed request is refused', async () => {
    const config = parseGatewayConfig({ issuer: RESOURCE, routes: [{ pathPrefix: '/', upstream: upstream.url, policy: { mode: 'agent-token' } }] }, 'replay.json');
    const g = await createGateway(config, { resolveKey: await resolver() });
    try {
      const url = (await g.listen(0, '127.0.0.1')).url;
      const s = await sign('GET', `${url}/agent/once`, await agentToken());
      expect((await send(s)).status).toBe(200);
      const again = await send(s);
      expect(again.status).toBe(401);
      expect(again.headers.get('signature-error')).toMatch(/invalid_signature/);
    } finally {
      await g.close();
    }
  });
});

describe('Envoy ext_authz HTTP service', () => {
  it('allow: 200 with identity headers and headers to remove', async () => {
    const s = await sign('GET', `${base}/api/notes`, await authToken('notes.read'));
    const before = upstream.calls.length;
    const res = await fetch(`${base}/ext-authz/api/notes`, { headers: s.headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-aauth-person-sub')).toBe('person-1');
    expect(res.headers.get('x-aauth-scope')).toBe('notes.read');
    const remove = (res.headers.get('x-envoy-auth-headers-to-remove') ?? '').split(',');
    expect(remove).toEqual(expect.arrayContaining(['signature', 'signature-input', 'signature-key', 'x-aauth-agent']));
    expect(upstream.calls.length).toBe(before); // a check never reaches the upstream
  });

  it('deny: the challenge status, headers and body for Envoy to return', async () => {
    const res = await fetch(`${base}/ext-authz/api/notes`);
    expect(res.status).toBe(401);
    expect(res.headers.get('aauth-requirement')).toBe('requirement=person-token');
    const bad = await sign('GET', `${base}/api/other`, await authToken('notes.read'));
    const wrongPath = await fetch(`${base}/ext-authz/api/notes`, { headers: bad.headers });
    expect(wrongPath.status).toBe(401);
    expect(wrongPath.headers.get('signature-error')).toMatch(/invalid_signature/);
  });

  it('deny with a body check: a tampered body is refused', async () => {
    const s = await sign('POST', `${base}/api/notes`, await authToken('notes.write'), { body: '{"a":1}' });
    const ok = await fetch(`${base}/ext-authz/api/notes`, { method: 'POST', headers: s.headers, body: s.body ?? null });
    expect(ok.status).toBe(200);
    const tampered = await fetch(`${base}/ext-authz/api/notes`, { method: 'POST', headers: s.headers, body: '{"a":2}' });
    expect(tampered.status).toBe(401);
  });
});
