/**
 * @tessera/agent end to end against the real Tessera servers (`startDev`, in process): enrolment with the Tessera
 * Agent Provider (agent identity), person token (§6 C, 202 approved), three-party auth token (§6 D, 202 approved)
 * then cached, standing grants (approve always), single-flight (5 concurrent fetches → one exchange), a terminal 403
 * (§8.44) as a typed error. Approvals go through the server's Deferred service, with the pending id taken from the
 * pending URL that `onInteraction` receives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, mintAgentToken, publicJwkOf } from '@tessera/protocol';
import { findPersonByUsername, startDev, type DevServer } from '@tessera/server';
import { createAgent, isAgentError, type AgentOptions, type InteractionRequest } from '@tessera/agent';
import { testAgentProvider } from '../../../test/support/agent-provider.js';

const now = () => Math.floor(Date.now() / 1000);
const idOf = (i: InteractionRequest): string => new URL(i.pendingUrl).pathname.split('/').pop()!;

describe('agent against tessera dev', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let personId: string;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    ap = await testAgentProvider();
    personId = (await findPersonByUsername(dev.running.server.ctx, dev.username))!.id;
  }, 60_000);

  afterAll(async () => {
    await ap?.close();
    await dev?.close();
  });

  const deferred = () => dev.running.server.deferred;
  const approve = (always = false) => async (i: InteractionRequest) => {
    await deferred().interacting(idOf(i), personId);
    await deferred().approve(idOf(i), { personId, always });
  };

  async function agentWithToken(local: string, extra: Partial<AgentOptions> & { fetch?: AgentOptions['fetch'] } = {}) {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: `aauth:${local}@127.0.0.1`, cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    return makeAgent(key, agentToken, extra);
  }

  function makeAgent(key: Awaited<ReturnType<typeof generateKeyPair>>, agentToken: string, extra: Partial<AgentOptions> = {}) {
    const calls: string[] = [];
    const extraFetch = extra.fetch;
    const interactions: InteractionRequest[] = [];
    const { onInteraction, fetch: _fetch, ...rest } = extra;
    const agent = createAgent({
      key,
      agentToken,
      allowLoopbackHttp: true,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      fetch:
        extraFetch ??
        ((url, init) => {
          calls.push(`${init?.method ?? 'GET'} ${url}`);
          return fetch(url, init);
        }),
      onInteraction: async (i) => {
        interactions.push(i);
        await (onInteraction ?? approve())(i);
      },
      ...rest,
    });
    return { agent, calls, interactions };
  }

  it('agent identity: enrols with the Tessera Agent Provider (hwk, 202, poll) and signs with the agent token (§8.1, §8.2)', async () => {
    const key = await generateKeyPair('Ed25519');
    const grants: string[] = [];
    const interactions: InteractionRequest[] = [];
    const agent = createAgent({
      key,
      enrolWith: dev.issuers.ap,
      enrolment: { name: 'SDK test agent', ps: dev.issuers.ps },
      personServer: dev.issuers.ps,
      allowLoopbackHttp: true,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      onInteraction: async (i) => {
        interactions.push(i);
        await approve()(i);
      },
      onAgentToken: (g) => void grants.push(g.agentToken),
    });
    const token = await agent.agentToken();
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.fullUrl).toBe(`${interactions[0]!.url}?code=${encodeURIComponent(interactions[0]!.code)}`);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iss: string; ps: string; cnf: { jwk: { x: string } } };
    expect(claims.iss).toBe(dev.issuers.ap);
    expect(claims.ps).toBe(dev.issuers.ps);
    expect(claims.cnf.jwk.x).toBe(key.x);
    // Renewal: POST {ap}/token signed with the current agent token.
    const renewed = await agent.renew();
    expect(renewed.agentToken).not.toBe(token);
    expect(grants).toEqual([token, renewed.agentToken]);
    // An enrolled agent goes through the whole three-party flow.
    const notes = await agent.fetch(`${dev.issuers.resource}/notes`);
    expect(notes.status).toBe(200);
  });

  it('§6 C + D: person token (202, approved) → auth token (202, approved) → 200; then cached: a second fetch makes no PS call', async () => {
    const capabilitiesToPs: string[] = [];
    const { agent, interactions, calls } = await agentWithToken('sdk-cache', {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        if (url.startsWith(dev.issuers.ps) && headers.has('aauth-capabilities')) capabilitiesToPs.push(url);
        calls.push(`${init?.method ?? 'GET'} ${url}`);
        return fetch(url, init);
      },
    });
    const first = await agent.fetch(`${dev.issuers.resource}/notes`);
    expect(first.status).toBe(200);
    expect(interactions).toHaveLength(2);
    // §8.63: never AAuth-Capabilities to the PS.
    expect(capabilitiesToPs).toEqual([]);
    const psCalls = calls.filter((c) => c.includes(dev.issuers.ps)).length;
    const second = await agent.fetch(`${dev.issuers.resource}/notes`);
    expect(second.status).toBe(200);
    expect(calls.filter((c) => c.includes(dev.issuers.ps)).length).toBe(psCalls);
    expect(calls.at(-1)).toBe(`GET ${dev.issuers.resource}/notes`);
  });

  it('a new agent instance with the tokens restored (as tessera fetch persists them) presents its auth token at once: one request, no challenge', async () => {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:sdk-restore@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    const first = makeAgent(key, agentToken);
    expect((await first.agent.fetch(`${dev.issuers.resource}/notes`)).status).toBe(200);
    const second = makeAgent(key, agentToken);
    for (const [k, entry] of first.agent.tokens.snapshot()) second.agent.tokens.set(k, entry);
    const response = await second.agent.fetch(`${dev.issuers.resource}/notes`);
    expect(response.status).toBe(200);
    expect(second.calls).toEqual([`GET ${dev.issuers.resource}/notes`]);
    expect(second.interactions).toEqual([]);
  });

  it('standing grant: approved always → a new agent instance gets person and auth tokens without a person', async () => {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:sdk-always@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    const first = makeAgent(key, agentToken, { onInteraction: approve(true) });
    expect((await first.agent.fetch(`${dev.issuers.resource}/notes`)).status).toBe(200);
    expect(first.interactions).toHaveLength(2);
    const later = makeAgent(key, agentToken, {
      onInteraction: () => {
        throw new Error('no person should be asked');
      },
    });
    expect((await later.agent.fetch(`${dev.issuers.resource}/notes`)).status).toBe(200);
    expect(later.interactions).toHaveLength(0);
    expect(later.agent.tokens.exchanges).toBe(2);
  });

  it('single-flight: 5 concurrent fetches → one person-token and one auth-token exchange', async () => {
    const { agent, interactions, calls } = await agentWithToken('sdk-flight');
    const responses = await Promise.all(Array.from({ length: 5 }, () => agent.fetch(`${dev.issuers.resource}/notes`)));
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(interactions).toHaveLength(2);
    expect(agent.tokens.exchanges).toBe(2);
    const metadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
    expect(calls.filter((c) => c === `POST ${metadata['person_token_endpoint']}`)).toHaveLength(1);
    expect(calls.filter((c) => c === `POST ${metadata['auth_token_endpoint']}`)).toHaveLength(1);
  });

  it('§8.44 a terminal 403 on the pending URL → AgentError pending_failed carrying the problem error (denied)', async () => {
    const { agent } = await agentWithToken('sdk-denied', {
      onInteraction: async (i) => {
        await deferred().interacting(idOf(i), personId);
        await deferred().refuse(idOf(i), 'denied', personId);
      },
    });
    const error = await agent.fetch(`${dev.issuers.resource}/notes`).catch((e: unknown) => e);
    expect(isAgentError(error, 'pending_failed')).toBe(true);
    expect(error).toMatchObject({ status: 403, error: 'denied' });
  });

  it('interaction without an onInteraction handler → AgentError interaction_required', async () => {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:sdk-nohandler@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    const agent = createAgent({ key, agentToken, allowLoopbackHttp: true });
    const error = await agent.fetch(`${dev.issuers.resource}/notes`).catch((e: unknown) => e);
    expect(isAgentError(error, 'interaction_required')).toBe(true);
  });
});
