/**
 * @tessera/agent against @hellocoop/mockin (a -11 Person Server mock that auto-approves) and a small resource that
 * trusts it: person tokens (§6 C), three-party auth tokens (§6 D, 401 and deferred 202 deliveries, §8.27), session
 * tokens (§8.52), unknown requirements (§8.28).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, generateKeyPair, mintAgentToken, publicJwkOf, type PrivateJwk } from '@tessera/protocol';
import { createAgent, isAgentError, type AgentOptions } from '@tessera/agent';
import { testAgentProvider } from '../../../test/support/agent-provider.js';
import { startMockin } from './support/mockin.js';
import { testResource, type TestResource } from './support/test-resource.js';

const now = () => Math.floor(Date.now() / 1000);

describe('agent against mockin', () => {
  let mockin: Awaited<ReturnType<typeof startMockin>>;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let resource: TestResource;

  beforeAll(async () => {
    mockin = await startMockin();
    ap = await testAgentProvider();
    resource = await testResource({ ps: mockin.issuer });
  }, 30_000);

  afterAll(async () => {
    mockin?.close();
    await ap?.close();
    await resource?.close();
  });

  async function agent(extra: Partial<AgentOptions> = {}) {
    const key: PrivateJwk = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:agent-sdk@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: mockin.issuer }, { now, ttl: 3600 });
    const calls: string[] = [];
    const a = createAgent({
      key,
      agentToken,
      allowLoopbackHttp: true,
      sleep: () => Promise.resolve(),
      fetch: (url, init) => {
        calls.push(`${init?.method ?? 'GET'} ${url}`);
        return fetch(url, init);
      },
      ...extra,
    });
    return { agent: a, calls, key };
  }

  it('§6 C person token from mockin: 401 person-token → person token → 200', async () => {
    const { agent: a, calls } = await agent();
    const response = await a.fetch(`${resource.issuer}/whoami`);
    expect(response.status).toBe(200);
    const json = (await response.json()) as { sub: string; iss: string };
    expect(json.iss).toBe(mockin.issuer);
    expect(calls.filter((c) => c.startsWith('POST') && c.includes(mockin.issuer))).toHaveLength(1);
  });

  it('§8.27 §8.39 three-party auth token from mockin (401 delivery), then cached; §8.52 session token replaced and sent', async () => {
    const { agent: a, calls } = await agent();
    const first = await a.fetch(`${resource.issuer}/data`);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { scope: string }).scope).toBe('data.read');
    const psPosts = () => calls.filter((c) => c.startsWith('POST') && c.includes(mockin.issuer)).length;
    expect(psPosts()).toBe(2); // one person token, one auth token
    const before = resource.authorizations.length;
    const second = await a.fetch(`${resource.issuer}/data`);
    expect(second.status).toBe(200);
    expect(psPosts()).toBe(2);
    // The first 200 sent AAuth-Access: session-N; the next request carries it (and each new value replaces it).
    const sent = resource.authorizations.slice(before);
    expect(sent[0]).toMatch(/^AAuth session-\d+$/);
    const third = await a.fetch(`${resource.issuer}/data`);
    expect(third.status).toBe(200);
    const latest = resource.authorizations.at(-1)!;
    expect(Number(latest.split('-')[1])).toBe(Number(sent[0]!.split('-')[1]) + 1);
  });

  it('§8.27 deferred auth-token delivery (202 + Location) is completed by polling with the auth token', async () => {
    const { agent: a } = await agent();
    const response = await a.fetch(`${resource.issuer}/data?deferred`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ deferred: true });
  });

  it('§8.28 an unknown requirement value → AgentError unknown_requirement', async () => {
    const { agent: a } = await agent();
    const error = await a.fetch(`${resource.issuer}/odd`).catch((e: unknown) => e);
    expect(isAgentError(error, 'unknown_requirement')).toBe(true);
    expect((error as { status: number }).status).toBe(401);
  });

  it('keys can live outside the process: a Signer works as the key', async () => {
    const key = await generateKeyPair('ES256');
    const inner = await createSigner(key);
    const signer = { alg: inner.alg, publicJwk: inner.publicJwk, sign: (data: Uint8Array) => inner.sign(data) };
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:kms-agent@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: mockin.issuer }, { now, ttl: 3600 });
    const a = createAgent({ key: signer, agentToken, allowLoopbackHttp: true, sleep: () => Promise.resolve() });
    expect((await a.fetch(`${resource.issuer}/data`)).status).toBe(200);
  });
});
