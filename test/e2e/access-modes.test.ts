/**
 * Every AAuth access mode end to end with Tessera on both sides (digest §2, §6 A–D): the agent is @tessera/agent,
 * the resource is built with @tessera/resource (test/support/test-resource.ts), and the Person Server is the one of
 * `tessera dev` (@tessera/server); a minimal Agent Provider mints the agent tokens (test/support/agent-provider.ts).
 *
 * Every party listens on 127.0.0.1 (port 0) and every call crosses a real socket over HTTP. Limitation: the parties
 * run in this one test process (test/e2e/processes.test.ts runs each party as its own OS process); the person
 * approves through the server's Deferred service instead of the consent page (test/e2e/three-party.test.ts covers
 * the page in a browser).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJws, generateKeyPair, mintAgentToken, parseAAuthRequirement, publicJwkOf, signAAuthRequest, createSigner, type PrivateJwk } from '@tessera/protocol';
import { findPersonByUsername, startDev, type DevServer } from '@tessera/server';
import { createAgent, isAgentError, tokenKey, type AgentOptions, type InteractionRequest } from '@tessera/agent';
import { testAgentProvider } from '../support/agent-provider.js';
import { startTestResource, type TestResource } from '../support/test-resource.js';

const now = () => Math.floor(Date.now() / 1000);
const lastSegment = (url: string): string => new URL(url).pathname.split('/').pop()!;
const claimsOf = (jwt: string): Record<string, unknown> => decodeJws(jwt).payload;

describe('access modes end to end (Tessera agent, resource and Person Server on loopback)', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let rs: TestResource;
  let personId: string;
  let psMetadata: Record<string, string>;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    ap = await testAgentProvider();
    rs = await startTestResource({ ps: dev.issuers.ps });
    personId = (await findPersonByUsername(dev.running.server.ctx, dev.username))!.id;
    psMetadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
  }, 60_000);

  afterAll(async () => {
    await rs?.close();
    await ap?.close();
    await dev?.close();
  });

  const deferred = () => dev.running.server.deferred;

  /** The person approves a pending request at the PS (once, or always: a standing grant). */
  const approveAtPs = async (i: InteractionRequest, always = false): Promise<void> => {
    await deferred().interacting(lastSegment(i.pendingUrl), personId);
    await deferred().approve(lastSegment(i.pendingUrl), { personId, always });
  };

  /** Approves whatever asks: the PS's pending requests through its Deferred service, the resource's own flow directly. */
  const approveAny =
    (always = false) =>
    async (i: InteractionRequest): Promise<void> => {
      if (i.pendingUrl.startsWith(`${rs.issuer}/`)) {
        const pending = rs.interactions.get(lastSegment(i.pendingUrl));
        expect(pending?.code).toBe(i.code);
        pending!.approved = true;
        return;
      }
      await approveAtPs(i, always);
    };

  async function mintFor(local: string, key: PrivateJwk): Promise<string> {
    return mintAgentToken(ap.signer, { iss: ap.issuer, sub: `aauth:${local}@127.0.0.1`, cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
  }

  function makeAgent(key: PrivateJwk, agentToken: string, extra: Partial<AgentOptions> = {}) {
    const interactions: InteractionRequest[] = [];
    const { onInteraction, ...rest } = extra;
    const agent = createAgent({
      key,
      agentToken,
      allowLoopbackHttp: true,
      // Polls honour Retry-After in protocol terms; the test shortens the real waits (bounded by maxWaitMs).
      sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
      maxWaitMs: 20_000,
      onInteraction: async (i) => {
        interactions.push(i);
        await (onInteraction ?? approveAny())(i);
      },
      ...rest,
    });
    return { agent, interactions };
  }

  async function newAgent(local: string, extra: Partial<AgentOptions> = {}) {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintFor(local, key);
    return { key, agentToken, ...makeAgent(key, agentToken, extra) };
  }

  it('1. agent identity (agent-token mode): 200 naming the agent; unsigned → 401 requirement=agent-token', async () => {
    const unsigned = await fetch(`${rs.issuer}/agent`);
    expect(unsigned.status).toBe(401);
    expect(parseAAuthRequirement(unsigned.headers.get('aauth-requirement')!)).toEqual({ requirement: 'agent-token' });
    await unsigned.body?.cancel();

    const { agent, interactions } = await newAgent('modes-agent');
    const r = await agent.fetch(`${rs.issuer}/agent`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ mode: 'agent-token', agent: 'aauth:modes-agent@127.0.0.1', jkt: await agent.thumbprint() });
    expect(interactions).toHaveLength(0);
    expect(agent.tokens.exchanges).toBe(0);
  });

  it('2. resource-managed two-party (session-token mode): 202 interaction → AAuth-Access → Authorization: AAuth covered; a new AAuth-Access replaces the old (§8.52)', async () => {
    const seen: { url: string; authorization: string | null; covered: boolean }[] = [];
    const { agent, interactions } = await newAgent('modes-session', {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        if (url.startsWith(rs.issuer)) seen.push({ url, authorization: headers.get('authorization'), covered: (headers.get('signature-input') ?? '').includes('"authorization"') });
        return fetch(url, init);
      },
    });
    const first = await agent.fetch(`${rs.issuer}/session`);
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ mode: 'session-token', person: { iss: rs.issuer, sub: 'local-user-1' }, scopes: ['notes.read'] });
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.pendingUrl.startsWith(`${rs.issuer}/session-pending/`)).toBe(true);
    const session1 = first.headers.get('aauth-access');
    expect(session1).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // Later calls carry Authorization: AAuth <token>, covered by the signature (§8.1, §8.51); no new interaction.
    const second = await agent.fetch(`${rs.issuer}/session`);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ person: { iss: rs.issuer, sub: 'local-user-1' } });
    expect(seen.at(-1)).toMatchObject({ url: `${rs.issuer}/session`, authorization: `AAuth ${session1}`, covered: true });
    expect(interactions).toHaveLength(1);

    // The resource rotates the session: the old token is revoked, the agent uses the new one from then on.
    const rotated = await agent.fetch(`${rs.issuer}/session/rotate`);
    expect(rotated.status).toBe(200);
    const session2 = rotated.headers.get('aauth-access');
    expect(session2).not.toBeNull();
    expect(session2).not.toBe(session1);
    const third = await agent.fetch(`${rs.issuer}/session`);
    expect(third.status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ authorization: `AAuth ${session2}`, covered: true });
    expect(rs.sessionAuthorizations.at(-1)).toBe(`AAuth ${session2}`);
    expect(interactions).toHaveLength(1);
  });

  it('3. person identity (person-token mode): person token from the Tessera PS (the person approves) → the resource sees (iss, sub)', async () => {
    const { agent, interactions } = await newAgent('modes-person');
    const r = await agent.fetch(`${rs.issuer}/person`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { mode: string; person: { iss: string; sub: string }; jkt: string };
    expect(body.mode).toBe('person-token');
    expect(body.person.iss).toBe(dev.issuers.ps);
    expect(body.jkt).toBe(await agent.thumbprint());
    const personToken = agent.tokens.get(tokenKey.person(rs.issuer))!.token;
    expect(claimsOf(personToken)).toMatchObject({ iss: dev.issuers.ps, aud: rs.issuer, sub: body.person.sub });
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.pendingUrl.startsWith(`${dev.issuers.ps}/`)).toBe(true);
  });

  it('4a. PS three-party (auth-token mode) with the person approving: person token → resource token → auth token → 200', async () => {
    const { agent, interactions } = await newAgent('modes-three-party');
    const r = await agent.fetch(`${rs.issuer}/notes`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { mode: string; person: { iss: string; sub: string }; scopes: string[] };
    expect(body).toMatchObject({ mode: 'auth-token', person: { iss: dev.issuers.ps }, scopes: ['notes.read'] });
    expect(interactions).toHaveLength(2);
    expect(agent.tokens.exchanges).toBe(2);
    const authToken = agent.tokens.get(tokenKey.auth(rs.issuer, 'notes.read'))!.token;
    expect(claimsOf(authToken)).toMatchObject({ iss: dev.issuers.ps, ps: dev.issuers.ps, aud: rs.issuer, sub: body.person.sub, scope: 'notes.read' });
    // Cached: the next call goes straight to the resource.
    expect((await agent.fetch(`${rs.issuer}/notes`)).status).toBe(200);
    expect(agent.tokens.exchanges).toBe(2);
  });

  it('4b. standing grant: approved always → a second agent instance gets its person and auth tokens with no human', async () => {
    const key = await generateKeyPair('Ed25519');
    const agentToken = await mintFor('modes-always', key);
    const first = makeAgent(key, agentToken, { onInteraction: approveAny(true) });
    expect((await first.agent.fetch(`${rs.issuer}/notes`)).status).toBe(200);
    expect(first.interactions).toHaveLength(2);

    const second = makeAgent(key, agentToken, {
      onInteraction: () => {
        throw new Error('no person should be asked');
      },
    });
    const r = await second.agent.fetch(`${rs.issuer}/notes`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ mode: 'auth-token', scopes: ['notes.read'] });
    expect(second.interactions).toHaveLength(0);
    expect(second.agent.tokens.exchanges).toBe(2);
  });

  it('5. deferred auth-token mode: 202 auth-token → auth token → the first valid poll runs the handler once; later polls replay it (§8.26)', async () => {
    const statuses: { method: string; url: string; status: number; requirement: string | null }[] = [];
    const { agent, key } = await newAgent('modes-deferred', {
      fetch: async (url, init) => {
        const response = await fetch(url, init);
        if (url.startsWith(rs.issuer)) statuses.push({ method: init?.method ?? 'GET', url, status: response.status, requirement: response.headers.get('aauth-requirement') });
        return response;
      },
    });
    const r = await agent.fetch(`${rs.issuer}/deferred`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'hello' }) });
    expect(r.status).toBe(201);
    const result = (await r.json()) as { run: number; person: { iss: string }; scopes: string[]; note: unknown };
    expect(result).toMatchObject({ run: 1, person: { iss: dev.issuers.ps }, scopes: ['notes.write'], note: { text: 'hello' } });
    expect(rs.deferredRuns()).toBe(1);

    // The resource answered the person-token call with a 202 auth-token (not a 401), and the agent polled its Location.
    const deferredAnswer = statuses.find((s) => s.status === 202 && s.requirement?.startsWith('requirement=auth-token'));
    expect(deferredAnswer).toBeDefined();
    const poll = statuses.find((s) => s.url.startsWith(`${rs.issuer}/deferred-pending/`) && s.status === 201)!;
    expect(poll.method).toBe('GET');

    // A later poll, signed again with the auth token, replays the stored result; the handler does not run again.
    const authToken = agent.tokens.get(tokenKey.auth(rs.issuer, 'notes.write'))!.token;
    const signer = await createSigner(key);
    const signed = await signAAuthRequest({ method: 'GET', url: poll.url, headers: {} }, { signer, token: authToken, now });
    const again = await fetch(poll.url, { headers: signed.headers });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(result);
    expect(rs.deferredRuns()).toBe(1);
  });

  it('6a. interaction and clarification from the resource: 202 interaction (onInteraction) → 202 clarification (onClarification) → 200', async () => {
    const questions: string[] = [];
    const { agent, interactions } = await newAgent('modes-interactive', {
      onClarification: (q) => {
        questions.push(q.clarification);
        expect(q.options).toEqual(['work', 'home']);
        return Promise.resolve('work');
      },
    });
    const r = await agent.fetch(`${rs.issuer}/interactive`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ mode: 'agent-token', agent: 'aauth:modes-interactive@127.0.0.1', notebook: 'work' });
    expect(interactions).toHaveLength(1);
    expect(interactions[0]!.url).toBe(`${rs.issuer}/interact`);
    expect(interactions[0]!.fullUrl).toBe(`${rs.issuer}/interact?code=${encodeURIComponent(interactions[0]!.code)}`);
    expect(questions).toEqual(['Which notebook?']);
  });

  it('6b. clarification from the Person Server: the person asks during consent, onClarification answers, then the person approves', async () => {
    const answered: string[] = [];
    let watcher: Promise<void> | undefined;
    const { agent } = await newAgent('modes-ps-clarify', {
      onInteraction: async (i) => {
        const id = lastSegment(i.pendingUrl);
        await deferred().interacting(id, personId);
        // The server's Deferred service also asks clarifications (ExtendedDeferredService, not exported by the package).
        const service = deferred() as ReturnType<typeof deferred> & { clarify(id: string, q: { clarification: string; options?: string[] }, personId: string): Promise<unknown> };
        await service.clarify(id, { clarification: 'Which **account** should I use?', options: ['work', 'personal'] }, personId);
        // The person approves once the agent's answer has arrived (bounded wait).
        watcher = (async () => {
          for (let n = 0; n < 500; n++) {
            const pending = await deferred().get(id);
            const rounds = (JSON.parse(pending?.clarification ?? '{}') as { rounds?: { response?: string }[] }).rounds ?? [];
            const response = rounds.at(-1)?.response;
            if (response !== undefined) {
              answered.push(response);
              await deferred().approve(id, { personId, always: false });
              return;
            }
            await new Promise((r) => setTimeout(r, 20));
          }
          throw new Error('the agent never answered the clarification');
        })();
      },
      // Default Prefer: wait (45 s): the PS answers a poll at once while a question is open, so this stays quick.
      onClarification: (q) => {
        expect(q.clarification).toBe('Which **account** should I use?');
        expect(q.options).toEqual(['work', 'personal']);
        return Promise.resolve('personal');
      },
    });
    const r = await agent.fetch(`${rs.issuer}/person`);
    expect(r.status).toBe(200);
    await watcher;
    expect(answered).toEqual(['personal']);
    expect(await r.json()).toMatchObject({ mode: 'person-token', person: { iss: dev.issuers.ps } });
  });

  it('7. a revoked agent token is refused: the agent revokes its own token at the PS /revoke → the PS answers 401 invalid_jwt', async () => {
    const { agent, key, agentToken } = await newAgent('modes-revoked');
    const claims = claimsOf(agentToken) as { iss: string; jti: string };
    const revocationEndpoint = psMetadata['revocation_endpoint']!;
    expect(revocationEndpoint).toBeDefined();
    const body = new TextEncoder().encode(JSON.stringify({ iss: claims.iss, jti: claims.jti }));
    const signed = await signAAuthRequest(
      { method: 'POST', url: revocationEndpoint, headers: { 'content-type': 'application/json' }, body },
      { signer: await createSigner(key), token: agentToken, now },
    );
    const revoked = await fetch(revocationEndpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body: Buffer.from(body) });
    expect(revoked.status).toBe(200);
    await revoked.body?.cancel();

    const error = await agent.fetch(`${rs.issuer}/person`).catch((e: unknown) => e);
    expect(isAgentError(error, 'token_request_failed')).toBe(true);
    expect(error).toMatchObject({ status: 401, error: 'invalid_jwt' });
    expect(agent.tokens.get(tokenKey.person(rs.issuer))).toBeUndefined();
  });

  it('8. an expired resource token is re-challenged: the PS answers expired_resource_token, the agent gets a fresh resource token and succeeds', async () => {
    const psAnswers: { status: number; error?: string }[] = [];
    const resourceTokens: string[] = [];
    let delayed = false;
    const { agent, interactions } = await newAgent('modes-expired', {
      fetch: async (url, init) => {
        if (url === psMetadata['auth_token_endpoint'] && init?.method === 'POST') {
          const sent = JSON.parse(new TextDecoder().decode(init.body as Uint8Array)) as { resource_token: string };
          resourceTokens.push(sent.resource_token);
          if (!delayed) {
            // The first request reaches the PS only after its resource token (2 s lifetime) has expired.
            delayed = true;
            const exp = claimsOf(sent.resource_token)['exp'] as number;
            for (let n = 0; n < 100 && Date.now() / 1000 <= exp; n++) await new Promise((r) => setTimeout(r, 50));
          }
          const response = await fetch(url, init);
          const problem = response.status === 400 ? ((await response.clone().json()) as { error?: string }) : undefined;
          psAnswers.push({ status: response.status, ...(problem?.error === undefined ? {} : { error: problem.error }) });
          return response;
        }
        return fetch(url, init);
      },
    });
    const r = await agent.fetch(`${rs.issuer}/expiring`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ mode: 'auth-token', scopes: ['notes.read'] });
    expect(psAnswers[0]).toEqual({ status: 400, error: 'expired_resource_token' });
    expect(psAnswers.at(-1)!.status).toBe(202);
    expect(resourceTokens).toHaveLength(2);
    expect(resourceTokens[1]).not.toBe(resourceTokens[0]);
    expect(claimsOf(resourceTokens[1]!)['exp'] as number).toBeLessThanOrEqual(now() + 2);
    // Person token once, auth token once (the expired attempt produced no approval).
    expect(interactions).toHaveLength(2);
  }, 30_000);
});
