/** Deferred responses from the agent's side (§8.42–§8.44), the token cache (single-flight), and keys. */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  mintResourceToken,
  publicJwkOf,
} from '@tessera/protocol';
import {
  AgentError,
  TokenCache,
  checkResourceToken,
  isAgentError,
  keyThumbprint,
  loadOrCreateKeyFile,
  pollDeferred,
  readKeyFile,
  retryAfterSeconds,
  toSigner,
  tokenKey,
  type PollContext,
} from '@tessera/agent';

const PENDING = 'https://ps.example/pending/abc';

function script(responses: Response[]) {
  const sent: { method: string; url: string; headers: Record<string, string>; body?: Uint8Array }[] = [];
  const sleeps: number[] = [];
  const ctx: PollContext = {
    send: (r) => {
      sent.push(r);
      const next = responses.shift();
      if (!next) throw new Error('no more responses');
      return Promise.resolve(next);
    },
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    clock: () => 0,
    maxWaitMs: 600_000,
    preferWait: 45,
    terminalErrors: true,
  };
  return { ctx, sent, sleeps };
}

const accepted = (headers: Record<string, string> = {}, body: unknown = { status: 'pending' }) =>
  new Response(JSON.stringify(body), { status: 202, headers: { location: '/pending/abc', 'content-type': 'application/json', ...headers } });

describe('polling', () => {
  it('§8.43 polls with signed GETs (no body), honours Retry-After, defaults to 5 s, adds 5 s after a 429, sends Prefer: wait', async () => {
    const { ctx, sent, sleeps } = script([accepted(), new Response(null, { status: 429, headers: { 'retry-after': '2' } }), accepted({ 'retry-after': '1' }), new Response('{"ok":1}', { status: 200 })]);
    const final = await pollDeferred(accepted({ 'retry-after': '3' }), 'https://ps.example/token', ctx);
    expect(final.status).toBe(200);
    expect(sleeps).toEqual([3000, 5000, 7000, 6000]);
    expect(sent.every((r) => r.method === 'GET' && r.url === PENDING && r.body === undefined)).toBe(true);
    expect(sent[0]!.headers['prefer']).toBe('wait=45');
  });

  it.each([
    [403, 'denied'],
    [403, 'abandoned'],
    [408, 'expired'],
    [410, 'invalid_code'],
  ])('§8.44 a terminal %i (%s) → AgentError pending_failed with the problem error', async (status, error) => {
    const { ctx } = script([new Response(JSON.stringify({ error, detail: 'x' }), { status, headers: { 'content-type': 'application/problem+json' } })]);
    const thrown = await pollDeferred(accepted(), 'https://ps.example/token', ctx).catch((e: unknown) => e);
    expect(isAgentError(thrown, 'pending_failed')).toBe(true);
    expect(thrown).toMatchObject({ status, error });
  });

  it('§8.44 unknown status = pending; prompts once, and not at all once interacting', async () => {
    const interaction = 'requirement=interaction; url="https://ps.example/interact"; code="ABCD2345"';
    const prompts: string[] = [];
    const { ctx } = script([accepted({ 'aauth-requirement': interaction }, { status: 'weird' }), new Response('{}', { status: 200 })]);
    const final = await pollDeferred(accepted({ 'aauth-requirement': interaction }), 'https://ps.example/token', {
      ...ctx,
      onInteraction: (i) => void prompts.push(i.fullUrl),
    });
    expect(final.status).toBe(200);
    expect(prompts).toEqual(['https://ps.example/interact?code=ABCD2345']);
    const quiet = script([new Response('{}', { status: 200 })]);
    await pollDeferred(accepted({ 'aauth-requirement': interaction }, { status: 'interacting' }), 'https://ps.example/token', {
      ...quiet.ctx,
      onInteraction: () => {
        throw new Error('should not prompt');
      },
    });
  });

  it('clarification: onClarification answers with POST {action: "clarification_response"} to the pending URL', async () => {
    const { ctx, sent } = script([accepted(), new Response('{}', { status: 200 })]);
    const final = await pollDeferred(accepted({ 'aauth-requirement': 'requirement=clarification' }, { status: 'pending', clarification: 'Which notes?' }), 'https://ps.example/token', {
      ...ctx,
      onClarification: (q) => Promise.resolve(`all of them (${q.clarification})`),
    });
    expect(final.status).toBe(200);
    expect(sent[0]!.method).toBe('POST');
    expect(JSON.parse(new TextDecoder().decode(sent[0]!.body))).toEqual({ action: 'clarification_response', clarification_response: 'all of them (Which notes?)' });
  });

  it('a Location on another origin is refused; polling stops at maxWaitMs', async () => {
    const { ctx } = script([]);
    const cross = new Response(null, { status: 202, headers: { location: 'https://evil.example/pending/1' } });
    expect(isAgentError(await pollDeferred(cross, 'https://ps.example/token', ctx).catch((e: unknown) => e), 'unexpected_response')).toBe(true);
    const slow = script([]);
    const error = await pollDeferred(accepted({ 'retry-after': '30' }), 'https://ps.example/token', { ...slow.ctx, maxWaitMs: 1000 }).catch((e: unknown) => e);
    expect(isAgentError(error, 'timeout')).toBe(true);
  });

  it('Retry-After as delta-seconds or HTTP-date', () => {
    expect(retryAfterSeconds('7', 0)).toBe(7);
    expect(retryAfterSeconds(new Date(10_000).toUTCString(), 0)).toBe(10);
    expect(retryAfterSeconds('soon', 0)).toBeUndefined();
  });
});

describe('token cache', () => {
  it('single-flight: concurrent callers share one exchange; cached until exp (minus leeway)', async () => {
    let t = 1000;
    const cache = new TokenCache({ now: () => t, leeway: 30 });
    let runs = 0;
    const fetcher = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 10));
      return { token: `t${runs}`, exp: t + 100 };
    };
    const key = tokenKey.auth('https://r.example', 'b a');
    const results = await Promise.all(Array.from({ length: 5 }, () => cache.getOrFetch(key, fetcher)));
    expect(new Set(results.map((r) => r.token))).toEqual(new Set(['t1']));
    expect(runs).toBe(1);
    expect(tokenKey.auth('https://r.example', 'a b')).toBe(key);
    t += 69;
    expect(cache.get(key)?.token).toBe('t1');
    t += 2;
    expect(cache.get(key)).toBeUndefined();
    expect((await cache.getOrFetch(key, fetcher)).token).toBe('t2');
  });

  it('a failed exchange is shared and not cached', async () => {
    const cache = new TokenCache({ now: () => 0 });
    const failing = () => Promise.reject(new AgentError('token_request_failed', { status: 500, error: 'server_error' }));
    const results = await Promise.allSettled([cache.getOrFetch('k', failing), cache.getOrFetch('k', failing)]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(cache.exchanges).toBe(1);
    expect((await cache.getOrFetch('k', () => Promise.resolve({ token: 'ok', exp: undefined }))).token).toBe('ok');
  });
});

describe('keys', () => {
  it('generates Ed25519 by default, saves with mode 0600 and loads it back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agent-keys-'));
    try {
      const path = join(dir, 'keys', 'agent.jwk');
      const created = await loadOrCreateKeyFile(path);
      expect(created.alg).toBe('Ed25519');
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await readKeyFile(path)).toEqual(created);
      expect(await loadOrCreateKeyFile(path)).toEqual(created);
      const es = await loadOrCreateKeyFile(join(dir, 'es.jwk'), { alg: 'ES256' });
      expect(es.alg).toBe('ES256');
      expect(await keyThumbprint(await toSigner(es))).toBe(await jwkThumbprint(publicJwkOf(es)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('resource token checks at the agent (§4, §8.27)', () => {
  it('checks iss, agent_jkt, ps, sub and exp, and the signature', async () => {
    const resourceKey = await generateKeyPair('Ed25519', 'r1');
    const resourceSigner = await createSigner(resourceKey);
    const verifyKey = await importVerifyKey(publicJwkOf(resourceKey));
    const ctx = { resolveKey: () => Promise.resolve(verifyKey), now: () => Math.floor(Date.now() / 1000), jkt: 'JKT', ps: 'https://ps.example' };
    const mint = (claims: Record<string, unknown> = {}) =>
      mintResourceToken(
        resourceSigner,
        { iss: 'https://r.example', aud: 'https://ps.example', ps: 'https://ps.example', sub: 'S', presented_jti: 'j', agent_jkt: 'JKT', scope: 'a', ...claims },
        { now: ctx.now, ttl: 300 },
      );
    await expect(checkResourceToken(await mint(), 'https://r.example', 'S', ctx)).resolves.toMatchObject({ sub: 'S' });
    for (const [claims, resource, sub] of [
      [{}, 'https://other.example', 'S'],
      [{ agent_jkt: 'OTHER' }, 'https://r.example', 'S'],
      [{ ps: 'https://ps2.example' }, 'https://r.example', 'S'],
      [{}, 'https://r.example', 'T'],
    ] as const) {
      const error = await checkResourceToken(await mint(claims), resource, sub, ctx).catch((e: unknown) => e);
      expect(isAgentError(error, 'invalid_resource_token')).toBe(true);
    }
    const otherKey = await importVerifyKey(publicJwkOf(await generateKeyPair('Ed25519', 'r1')));
    const forged = await checkResourceToken(await mint(), 'https://r.example', 'S', { ...ctx, resolveKey: () => Promise.resolve(otherKey) }).catch((e: unknown) => e);
    expect(isAgentError(forged, 'invalid_resource_token')).toBe(true);
  });
});
