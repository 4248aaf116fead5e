/**
 * Interaction relay through the Person Server (AAuth -11 §Relaying Through the Person Server, §Interaction Endpoint;
 * digest §6 B, §8.50) with @tessera/agent against the real Tessera servers (`startDev`, in process) and a small
 * resource that answers `202 requirement=interaction` (test/support/test-resource.ts, `GET /session`).
 *
 * The person has a personal API token, so the PS can reach them: they see a relayed interaction in the approver API
 * (`GET /api/pending`) and complete it at the resource, whose pending request the test approves by the code the PS
 * showed. An agent is bound to the person by a first approval at the PS (a person token for `GET /person`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, mintAgentToken, publicJwkOf, type PrivateJwk } from '@tessera/protocol';
import { createApiToken, findPersonByUsername, startDev, type DevServer } from '@tessera/server';
import { createAgent, isAgentError, type AgentOptions, type InteractionRequest } from '@tessera/agent';
import { testAgentProvider } from '../../../test/support/agent-provider.js';
import { startTestResource, type TestResource } from '../../../test/support/test-resource.js';

const now = () => Math.floor(Date.now() / 1000);
const lastSegment = (url: string): string => new URL(url).pathname.split('/').pop()!;

interface RelayItem {
  readonly id: string;
  readonly kind: string;
  readonly agent_id: string;
  readonly relay?: { readonly type: string; readonly url: string; readonly code: string; readonly link: string };
}

describe('§8.50 interaction relay through the Person Server (tessera dev)', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let rs: TestResource;
  let personId: string;
  let approverToken: string;
  let relayEndpoint: string;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    ap = await testAgentProvider();
    rs = await startTestResource({ ps: dev.issuers.ps });
    personId = (await findPersonByUsername(dev.running.server.ctx, dev.username))!.id;
    // The person's approver app: the PS's channel to them (without one the PS answers 424).
    approverToken = (await createApiToken(dev.running.server.ctx, personId, 'relay test')).token;
    const metadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
    relayEndpoint = metadata['interaction_endpoint']!;
  }, 60_000);

  afterAll(async () => {
    await rs?.close();
    await ap?.close();
    await dev?.close();
  });

  const deferred = () => dev.running.server.deferred;
  const isResourcePending = (i: InteractionRequest) => i.pendingUrl.startsWith(`${rs.issuer}/`);

  /** The person approves a request at the PS (consent for a person token). */
  const approveAtPs = async (i: InteractionRequest): Promise<void> => {
    await deferred().interacting(lastSegment(i.pendingUrl), personId);
    await deferred().approve(lastSegment(i.pendingUrl), { personId, always: false });
  };
  /** The person completes the resource's own interaction, found by its code. */
  const completeAtResource = (code: string): void => {
    const pending = [...rs.interactions.values()].find((p) => p.code === code);
    expect(pending).toBeDefined();
    pending!.approved = true;
  };

  async function agentToken(local: string, key: PrivateJwk, withPs = true): Promise<string> {
    return mintAgentToken(ap.signer, { iss: ap.issuer, sub: `aauth:${local}@127.0.0.1`, cnf: { jwk: publicJwkOf(key) }, ...(withPs ? { ps: dev.issuers.ps } : {}) }, { now, ttl: 3600 });
  }

  /**
   * An agent whose calls are recorded (`METHOD url status`). `onInteraction` approves at the PS, or, for the
   * resource's own interaction, records it in `prompted` and completes it (the agent directing the person itself).
   */
  function makeAgent(key: PrivateJwk, token: string, extra: Partial<AgentOptions> & { handler?: boolean } = {}) {
    const calls: string[] = [];
    const prompted: InteractionRequest[] = [];
    const { handler = true, fetch: innerFetch, ...rest } = extra;
    const agent = createAgent({
      key,
      agentToken: token,
      allowLoopbackHttp: true,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      maxWaitMs: 20_000,
      fetch: async (url, init) => {
        const response = await (innerFetch ?? fetch)(url, init);
        calls.push(`${init?.method ?? 'GET'} ${url} ${response.status}`);
        return response;
      },
      ...(handler
        ? {
            onInteraction: async (i: InteractionRequest) => {
              if (!isResourcePending(i)) return approveAtPs(i);
              prompted.push(i);
              completeAtResource(i.code);
            },
          }
        : {}),
      ...rest,
    });
    return { agent, calls, prompted };
  }

  /** A new agent, bound to the person by a first approval at the PS (a person token for `GET /person`). */
  async function boundAgent(local: string) {
    const key = await generateKeyPair('Ed25519');
    const token = await agentToken(local, key);
    const { agent } = makeAgent(key, token);
    const first = await agent.fetch(`${rs.issuer}/person`);
    expect(first.status).toBe(200);
    await first.body?.cancel();
    return { key, token };
  }

  /** The person, in their approver app: waits for the agent's relay, then completes it at the resource. */
  async function personTakesUpRelay(agentId: string): Promise<RelayItem> {
    for (let n = 0; n < 500; n++) {
      const listed = (await (await fetch(`${dev.issuers.ps}/api/pending`, { headers: { authorization: `Bearer ${approverToken}` } })).json()) as { pending: RelayItem[] };
      const item = listed.pending.find((p) => p.kind === 'interaction' && p.agent_id === agentId);
      if (item?.relay !== undefined) {
        completeAtResource(item.relay.code);
        // The person followed the link: the relay ends at the PS (the resource still decides).
        const followed = await fetch(`${dev.issuers.ps}/api/pending/${item.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${approverToken}` } });
        expect(followed.status).toBe(200);
        return item;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the relay never reached the person');
  }

  it('§8.50 relay accepted: the PS takes the interaction (202) → onInteraction is not called; the call completes after the person acts; the agent polls the resource’s Location, never the PS’s', async () => {
    const { key, token } = await boundAgent('relay-accepted');
    const relayed: InteractionRequest[] = [];
    const { agent, calls, prompted } = makeAgent(key, token, { onInteractionRelayed: (i) => void relayed.push(i) });
    const [response, item] = await Promise.all([agent.fetch(`${rs.issuer}/session`), personTakesUpRelay('aauth:relay-accepted@127.0.0.1')]);
    expect(response.status).toBe(200);
    // The application is told once that the PS took it (tessera fetch prints it).
    expect(relayed.map((i) => i.url)).toEqual([`${rs.issuer}/interact`]);
    expect(await response.json()).toMatchObject({ mode: 'session-token', scopes: ['notes.read'] });
    expect(prompted).toEqual([]);
    // What the person saw: the resource's own url and code, and the link to open.
    expect(item.relay).toMatchObject({ type: 'interaction', url: `${rs.issuer}/interact` });
    expect(item.relay!.link).toBe(`${rs.issuer}/interact?code=${encodeURIComponent(item.relay!.code)}`);
    // One relay, answered 202; then only the resource's pending URL is polled.
    expect(calls.filter((c) => c.startsWith(`POST ${relayEndpoint} `))).toEqual([`POST ${relayEndpoint} 202`]);
    expect(calls.some((c) => c.includes(`${dev.issuers.ps}/pending/`))).toBe(false);
    expect(calls.filter((c) => c.startsWith(`GET ${rs.issuer}/session-pending/`)).length).toBeGreaterThan(0);
    expect(calls.at(-1)).toMatch(new RegExp(`^GET ${rs.issuer}/session-pending/\\S+ 200$`));
  });

  it('§8.50 a relayed interaction completes without any onInteraction handler', async () => {
    const { key, token } = await boundAgent('relay-no-handler');
    const { agent, calls } = makeAgent(key, token, { handler: false });
    const [response] = await Promise.all([agent.fetch(`${rs.issuer}/session`), personTakesUpRelay('aauth:relay-no-handler@127.0.0.1')]);
    expect(response.status).toBe(200);
    expect(calls.filter((c) => c.startsWith(`POST ${relayEndpoint} `))).toEqual([`POST ${relayEndpoint} 202`]);
  });

  it('§8.50 the PS answers 424 interaction_unavailable (an agent bound to no person) → the agent falls back to onInteraction and completes', async () => {
    const key = await generateKeyPair('Ed25519');
    const relayed: InteractionRequest[] = [];
    const { agent, calls, prompted } = makeAgent(key, await agentToken('relay-unbound', key), { onInteractionRelayed: (i) => void relayed.push(i) });
    const response = await agent.fetch(`${rs.issuer}/session`);
    expect(relayed).toEqual([]); // not taken: 424
    expect(response.status).toBe(200);
    expect(calls.filter((c) => c.startsWith(`POST ${relayEndpoint} `))).toEqual([`POST ${relayEndpoint} 424`]);
    expect(prompted).toHaveLength(1);
    expect(prompted[0]!.url).toBe(`${rs.issuer}/interact`);
    expect(prompted[0]!.pendingUrl.startsWith(`${rs.issuer}/session-pending/`)).toBe(true);
    expect(calls.some((c) => c.includes(`${dev.issuers.ps}/pending/`))).toBe(false);
  });

  it('§8.50 424 and no onInteraction handler → AgentError interaction_required', async () => {
    const key = await generateKeyPair('Ed25519');
    const { agent } = makeAgent(key, await agentToken('relay-unbound-bare', key), { handler: false });
    const error = await agent.fetch(`${rs.issuer}/session`).catch((e: unknown) => e);
    expect(isAgentError(error, 'interaction_required')).toBe(true);
  });

  it('§8.50 relayInteractions: false → no relay, onInteraction directs the person even when the PS could relay', async () => {
    const { key, token } = await boundAgent('relay-off');
    const { agent, calls, prompted } = makeAgent(key, token, { relayInteractions: false });
    const response = await agent.fetch(`${rs.issuer}/session`);
    expect(response.status).toBe(200);
    expect(prompted).toHaveLength(1);
    expect(calls.some((c) => c.startsWith(`POST ${relayEndpoint} `))).toBe(false);
  });

  it('§8.50 a PS without interaction_endpoint, or no PS at all → onInteraction, no relay', async () => {
    const { key, token } = await boundAgent('relay-no-endpoint');
    const stripped = makeAgent(key, token, {
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (url !== `${dev.issuers.ps}/.well-known/aauth-person.json`) return response;
        const { interaction_endpoint: _dropped, ...doc } = (await response.json()) as Record<string, unknown>;
        return Response.json(doc);
      },
    });
    expect((await stripped.agent.fetch(`${rs.issuer}/session`)).status).toBe(200);
    expect(stripped.prompted).toHaveLength(1);
    expect(stripped.calls.some((c) => c.startsWith(`POST ${relayEndpoint} `))).toBe(false);

    const bare = await generateKeyPair('Ed25519');
    const noPs = makeAgent(bare, await agentToken('relay-no-ps', bare, false));
    expect((await noPs.agent.fetch(`${rs.issuer}/session`)).status).toBe(200);
    expect(noPs.prompted).toHaveLength(1);
    expect(noPs.calls.some((c) => c.includes(` ${dev.issuers.ps}/`))).toBe(false);
  });

  it('§8.50 any other answer of the interaction endpoint → AgentError unexpected_response with the PS’s status and error; the person is not prompted', async () => {
    const { key, token } = await boundAgent('relay-error');
    const { agent, prompted } = makeAgent(key, token, {
      fetch: (url, init) =>
        url === relayEndpoint
          ? Promise.resolve(new Response(JSON.stringify({ error: 'server_error', detail: 'down' }), { status: 500, headers: { 'content-type': 'application/problem+json' } }))
          : fetch(url, init),
    });
    const error = await agent.fetch(`${rs.issuer}/session`).catch((e: unknown) => e);
    expect(isAgentError(error, 'unexpected_response')).toBe(true);
    expect(error).toMatchObject({ status: 500, error: 'server_error' });
    expect(prompted).toEqual([]);
  });
});
