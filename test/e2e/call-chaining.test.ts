/**
 * Call chaining end to end (AAuth -11 §Call Chaining; digest §6-G; checklist §8.64), every party on its own
 * loopback listener: an agent calls resource R1 with an auth token; R1 — its own Agent Provider, publishing
 * `aauth-agent.json` — calls resource R2 for the same person with `agent.onBehalfOf(upstream auth token)`; the Tessera
 * Person Server issues R1's person and auth tokens for R2 on the upstream authorization, with the person's directed
 * identifier at R2. The person approves through the server's Deferred service (the consent page is covered in
 * three-party.test.ts).
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyResolver, createSigner, generateKeyPair, mintAgentToken, publicJwkOf, type PrivateJwk } from '@tessera/protocol';
import { findPersonByUsername, startDev, type DevServer } from '@tessera/server';
import { createAgent, type Agent, type InteractionRequest } from '@tessera/agent';
import { createResource } from '@tessera/resource';
import { aauthHono, honoHandler, type AAuthHonoEnv } from '@tessera/resource/hono';
import { testAgentProvider } from '../support/agent-provider.js';
import { startTestResource, type TestResource } from '../support/test-resource.js';

const now = () => Math.floor(Date.now() / 1000);
const idOf = (i: InteractionRequest): string => new URL(i.pendingUrl).pathname.split('/').pop()!;

interface Intermediary {
  readonly issuer: string;
  readonly agentId: string;
  readonly interactions: InteractionRequest[];
  readonly seen: { upstreamPerson?: unknown; downstream?: unknown };
  close(): Promise<void>;
}

describe('call chaining: agent → R1 → R2 through the Tessera Person Server (§8.64)', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let r2: TestResource;
  let r1: Intermediary;
  let personId: string;

  const deferred = () => dev.running.server.deferred;
  const approve = async (i: InteractionRequest): Promise<void> => {
    await deferred().interacting(idOf(i), personId);
    await deferred().approve(idOf(i), { personId, always: false });
  };

  /** R1: an auth-token resource whose handler calls R2 for the caller's person, as an agent of its own. */
  async function startIntermediary(ps: string, downstream: string): Promise<Intermediary> {
    const app = new Hono<AAuthHonoEnv>();
    const server: ServerType = serve({ fetch: (request) => app.fetch(request), port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    const address = server.address();
    const issuer = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    const agentId = 'aauth:summarizer@127.0.0.1';

    // R1 as a resource.
    const resourceKey = await generateKeyPair('Ed25519', 'r1-resource-1');
    const resolveKey = createKeyResolver({ fetch: (url, init) => globalThis.fetch(url, init), now, allowLoopbackHttp: true });
    const resource = createResource({ issuer, signer: await createSigner(resourceKey), resolveKey, now, trustedPersonServers: [ps], name: 'Summarizer (R1)' });
    // R1 as its own Agent Provider (AAuth §Call Chaining: the intermediary publishes aauth-agent.json) and its agent.
    const apKey = await generateKeyPair('Ed25519', 'r1-agent-provider-1');
    const requestKey: PrivateJwk = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(await createSigner(apKey), { iss: issuer, sub: agentId, cnf: { jwk: publicJwkOf(requestKey) } }, { now, ttl: 3600 });
    const interactions: InteractionRequest[] = [];
    const agent: Agent = createAgent({
      key: requestKey,
      agentToken,
      allowLoopbackHttp: true,
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      // The PS needs the person for R1's chained requests: in a real deployment R1 re-issues this as its own 202 to
      // its caller; here the test plays the person at once.
      onInteraction: async (i) => {
        interactions.push(i);
        await approve(i);
      },
    });
    app.get('/.well-known/aauth-agent.json', (c) => c.json({ issuer, jwks_uri: `${issuer}/agent-jwks.json`, client_name: 'Summarizer' }));
    app.get('/agent-jwks.json', (c) => c.json({ keys: [publicJwkOf(apKey)] }));
    app.use('*', honoHandler((request) => resource.handle(request)));

    const seen: Intermediary['seen'] = {};
    app.get('/summary', aauthHono(resource, { mode: 'auth-token', scopes: ['summary.read'] }), async (c) => {
      const identity = c.get('aauth');
      seen.upstreamPerson = identity.person;
      // The auth token this call came with is the upstream token of the onward call.
      const response = await agent.onBehalfOf(identity.request.jwt).fetch(`${downstream}/notes`);
      seen.downstream = await response.json();
      return c.json({ status: response.status, notes: seen.downstream });
    });
    return { issuer, agentId, interactions, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    ap = await testAgentProvider();
    personId = (await findPersonByUsername(dev.running.server.ctx, dev.username))!.id;
    r2 = await startTestResource({ ps: dev.issuers.ps });
    r1 = await startIntermediary(dev.issuers.ps, r2.issuer);
  }, 60_000);

  afterAll(async () => {
    await r1?.close();
    await r2?.close();
    await ap?.close();
    await dev?.close();
  });

  it("[§8.64] R1 gets person and auth tokens for R2 on the upstream token; R2 sees the person's directed sub at R2, never R1's; R1 stays unbound", async () => {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:assistant@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    const agent = createAgent({ key, agentToken, allowLoopbackHttp: true, relayInteractions: false, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))), onInteraction: approve });

    const response = await agent.fetch(`${r1.issuer}/summary`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: number; notes: { mode: string; person: { iss: string; sub: string }; scopes: string[] } };
    expect(body.status).toBe(200);
    expect(body.notes).toMatchObject({ mode: 'auth-token', scopes: ['notes.read'], person: { iss: dev.issuers.ps } });
    const upstreamPerson = r1.seen.upstreamPerson as { iss: string; sub: string };
    expect(upstreamPerson.iss).toBe(dev.issuers.ps);
    // Directed identifiers: the same person, a different sub at each resource (never copied down the chain).
    expect(body.notes.person.sub).not.toBe(upstreamPerson.sub);

    // R1 asked the PS twice for the person (its chained person token, its chained auth token), and was not bound.
    expect(r1.interactions.length).toBe(2);
    const row = await dev.running.server.ctx.store.db.selectFrom('agents').select('person_id').where('id', '=', r1.agentId).executeTakeFirstOrThrow();
    expect(row.person_id).toBeNull();
    const chained = await dev.running.server.ctx.store.db.selectFrom('issued_tokens').select(['kind', 'aud', 'person_id']).where('agent_id', '=', r1.agentId).execute();
    expect(chained.map((t) => [t.kind, t.aud, t.person_id]).sort()).toEqual([
      ['auth_token', r2.issuer, personId],
      ['person_token', r2.issuer, personId],
    ]);
  });
});
