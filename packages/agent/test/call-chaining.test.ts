/**
 * `agent.onBehalfOf(upstreamToken)` (AAuth -11 §Call Chaining; §8.64): what the agent checks before it sends anything.
 * The PS side and the whole chain run in test/e2e/call-chaining.test.ts and packages/server/test/ps-call-chaining.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createSigner, generateKeyPair, mintAgentToken, mintAuthToken, publicJwkOf } from '@tessera/protocol';
import { createAgent, isAgentError } from '@tessera/agent';

const T0 = 1_800_000_000;

async function setup() {
  const clock = { now: T0 };
  const now = () => clock.now;
  const key = await generateKeyPair('Ed25519');
  const issuerKey = await createSigner(await generateKeyPair('Ed25519', 'k1'));
  const agentToken = await mintAgentToken(issuerKey, { iss: 'https://r1.example', sub: 'aauth:api@r1.example', cnf: { jwk: publicJwkOf(key) } }, { now, ttl: 3600 });
  const sent: string[] = [];
  const agent = createAgent({ key, agentToken, now, fetch: (url) => (sent.push(String(url)), Promise.reject(new Error('no network in this test'))) });
  const upstream = await mintAuthToken(issuerKey, { iss: 'https://ps.example', ps: 'https://ps.example', aud: 'https://r1.example', sub: 's', cnf: { jwk: publicJwkOf(key) }, scope: 'a' }, { now, ttl: 600 });
  return { agent, clock, upstream, sent, issuerKey, key, now };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return isAgentError(error) ? error.code : `untyped: ${String(error)}`;
  }
  return 'resolved';
}

describe('agent.onBehalfOf', () => {
  it('[§8.64] routes to the upstream token\'s ps and reads its jti and exp', async () => {
    const { agent, upstream } = await setup();
    const chained = agent.onBehalfOf(upstream);
    expect(chained.upstream.ps).toBe('https://ps.example');
    expect(chained.upstream.exp).toBe(T0 + 600);
  });

  it('refuses what is not an auth token with ps, jti and exp: invalid_upstream_token, before any request', async () => {
    const { agent, issuerKey, key, now, sent } = await setup();
    const personToken = await mintAgentToken(issuerKey, { iss: 'https://ap.example', sub: 'aauth:x@ap.example', cnf: { jwk: publicJwkOf(key) } }, { now, ttl: 60 });
    for (const bad of ['not a jwt', 'a.b.c', personToken]) {
      expect(() => agent.onBehalfOf(bad), bad.slice(0, 12)).toThrow(expect.objectContaining({ code: 'invalid_upstream_token' }) as Error);
    }
    expect(sent).toEqual([]);
  });

  it('[§8.64] an expired upstream token: expired_upstream_token, and no request is sent', async () => {
    const { agent, upstream, clock, sent } = await setup();
    const chained = agent.onBehalfOf(upstream);
    clock.now = T0 + 600;
    expect(await codeOf(chained.fetch('https://r2.example/notes'))).toBe('expired_upstream_token');
    expect(sent).toEqual([]);
  });
});
