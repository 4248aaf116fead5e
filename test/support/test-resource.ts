/**
 * A small AAuth resource built with @tessera/resource (Hono app, `@hono/node-server` on 127.0.0.1 port 0) with one
 * route per access mode, for the end-to-end access-mode tests (test/e2e/access-modes.test.ts):
 *
 * - `GET /agent`        agent-token mode (digest §6 A);
 * - `GET /session`      session-token mode (two-party, §6 B): without a session, `onSessionRequired` answers
 *                       `202 requirement=interaction` with a pending URL `/session-pending/{id}`; once the test
 *                       approves it, the poll answers 200 with `AAuth-Access` (a session token from the SDK's store);
 * - `GET /session/rotate` session-token mode: revokes the presented session and answers with a new `AAuth-Access`;
 * - `GET /person`       person-token mode (§6 C);
 * - `GET /notes`        auth-token mode, scope `notes.read` (three-party, §6 D);
 * - `POST /deferred`    auth-token mode delivered deferred (`deferredAuthToken`, scope `notes.write`, §8.26),
 *                       pending URLs under `/deferred-pending/`; the handler counts its runs;
 * - `GET /interactive`  agent-token mode behind the resource's own `202 requirement=interaction`, then a
 *                       `requirement=clarification` round (built with the protocol's `buildAAuthRequirement`);
 * - `GET /expiring`     auth-token mode whose resource tokens live 2 s (a second `Resource` with the same issuer and key).
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import {
  b64urlEncode,
  buildAAuthRequirement,
  createKeyResolver,
  createSigner,
  generateInteractionCode,
  generateKeyPair,
  parseAAuthAuthorization,
} from '@tessera/protocol';
import { createResource, MemorySessionStore, type Resource, type SessionRequiredInfo } from '@tessera/resource';
import { aauthHono, honoHandler, type AAuthHonoEnv } from '@tessera/resource/hono';

const NO_STORE = 'no-store';

interface InteractionPending {
  readonly agentJkt: string;
  readonly code: string;
  approved: boolean;
  /** The interactive route asks a clarification after approval. */
  readonly clarify: boolean;
  answer?: string;
}

export interface TestResource {
  readonly issuer: string;
  readonly resource: Resource;
  /** Pending interactions of this resource, by id (the last path segment of the pending URL). */
  readonly interactions: Map<string, InteractionPending>;
  /** `Authorization` headers seen on session-token routes, in order. */
  readonly sessionAuthorizations: string[];
  /** How often the deferred handler ran. */
  readonly deferredRuns: () => number;
  close(): Promise<void>;
}

export async function startTestResource(options: { ps: string }): Promise<TestResource> {
  const now = () => Date.now() / 1000;
  const app = new Hono<AAuthHonoEnv>();
  const server: ServerType = serve({ fetch: (request) => app.fetch(request), port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    if (server.listening) return resolve();
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const address = server.address();
  const issuer = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;

  const signer = await createSigner(await generateKeyPair('Ed25519', 'resource-e2e-1'));
  const resolveKey = createKeyResolver({ fetch: (url, init) => globalThis.fetch(url, init), now, allowLoopbackHttp: true });
  const sessionStore = new MemorySessionStore({ now });
  const interactions = new Map<string, InteractionPending>();
  const sessionAuthorizations: string[] = [];
  let runs = 0;

  /** `202 requirement=interaction` with a pending URL on this origin (AAuth -11 §Interaction Required). */
  function interactionResponse(pendingPrefix: string, agentJkt: string, clarify: boolean): Response {
    const id = b64urlEncode(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    const code = generateInteractionCode();
    interactions.set(id, { agentJkt, code, approved: false, clarify });
    return new Response(JSON.stringify({ status: 'pending' }), {
      status: 202,
      headers: {
        'aauth-requirement': buildAAuthRequirement('interaction', { url: `${issuer}/interact`, code }, { allowLoopbackHttp: true }),
        location: `${issuer}${pendingPrefix}/${id}`,
        'retry-after': '1',
        'cache-control': NO_STORE,
        'content-type': 'application/json',
      },
    });
  }

  const common = { issuer, signer, resolveKey, now, sessionStore, trustedPersonServers: [options.ps] } as const;
  const resource = createResource({
    ...common,
    name: 'Access-mode test resource',
    scopeDescriptions: { 'notes.read': 'Read notes', 'notes.write': 'Write notes' },
    onSessionRequired: (info: SessionRequiredInfo) => interactionResponse('/session-pending', info.agent.jkt, false),
  });
  // Same identifier and key, short-lived resource tokens (§8.30: the PS answers expired_resource_token).
  const expiring = createResource({ ...common, resourceTokenTtl: 2 });

  const deferred = resource.deferredAuthToken({
    policy: { mode: 'auth-token', scopes: ['notes.write'] },
    pendingPath: '/deferred-pending',
    retryAfter: 1,
    handler: (identity, original) => {
      runs++;
      const note = original.body === undefined ? undefined : (JSON.parse(new TextDecoder().decode(original.body)) as unknown);
      return Response.json({ run: runs, person: identity.person, scopes: identity.scopes, note }, { status: 201 });
    },
  });

  const recordAuthorization = (c: Context): void => {
    sessionAuthorizations.push(c.req.header('authorization') ?? '');
  };

  app.use('*', honoHandler((request) => resource.handle(request)));

  app.get('/agent', aauthHono(resource, { mode: 'agent-token' }), (c) => {
    const id = c.get('aauth');
    return c.json({ mode: id.mode, agent: id.agent.id, jkt: id.agent.jkt });
  });

  app.get(
    '/session',
    async (c, next) => {
      recordAuthorization(c);
      await next();
    },
    aauthHono(resource, { mode: 'session-token', scopes: ['notes.read'] }),
    (c) => {
      const id = c.get('aauth');
      return c.json({ mode: id.mode, person: id.person, scopes: id.scopes });
    },
  );

  app.get(
    '/session/rotate',
    async (c, next) => {
      recordAuthorization(c);
      await next();
    },
    aauthHono(resource, { mode: 'session-token', scopes: ['notes.read'] }),
    async (c) => {
      const id = c.get('aauth');
      const old = parseAAuthAuthorization(c.req.header('authorization')!);
      if (old.scheme === 'AAuth') await resource.revokeSessionToken(old.token);
      const issued = await resource.issueSessionToken({ agentJkt: id.agent.jkt, scopes: id.scopes, ...(id.person === undefined ? {} : { person: id.person }) });
      return c.json({ rotated: true }, 200, { ...issued.headers });
    },
  );

  // The pending URL of the resource's own flow (two-party): polls are signed with the agent token.
  app.get('/session-pending/:id', aauthHono(resource, { mode: 'agent-token' }), async (c) => {
    const pending = interactions.get(c.req.param('id'));
    const id = c.get('aauth');
    if (pending === undefined || pending.agentJkt !== id.agent.jkt) return c.json({ error: 'invalid_request' }, 404);
    if (!pending.approved) return c.json({ status: 'pending' }, 202, { 'retry-after': '1', 'cache-control': NO_STORE });
    interactions.delete(c.req.param('id'));
    // The resource's own flow established the person (in its own namespace) and the scopes.
    const issued = await resource.issueSessionToken({ agentJkt: id.agent.jkt, person: { iss: issuer, sub: 'local-user-1' }, scopes: ['notes.read'] });
    return c.json({ mode: 'session-token', person: issued.record.person, scopes: issued.record.scopes }, 200, { ...issued.headers, 'cache-control': NO_STORE });
  });

  app.get('/person', aauthHono(resource, { mode: 'person-token' }), (c) => {
    const id = c.get('aauth');
    return c.json({ mode: id.mode, person: id.person, jkt: id.agent.jkt });
  });

  app.get('/notes', aauthHono(resource, { mode: 'auth-token', scopes: ['notes.read'] }), (c) => {
    const id = c.get('aauth');
    return c.json({ mode: id.mode, person: id.person, scopes: id.scopes });
  });

  app.get('/expiring', aauthHono(expiring, { mode: 'auth-token', scopes: ['notes.read'] }), (c) => {
    const id = c.get('aauth');
    return c.json({ mode: id.mode, person: id.person, scopes: id.scopes });
  });

  app.post('/deferred', (c) => deferred.handle(c.req.raw));
  app.get('/deferred-pending/:id', (c) => deferred.poll(c.req.raw));

  // Interaction then clarification, on an agent-token route.
  app.get('/interactive', async (c) => {
    const verified = await resource.verifyRequest(c.req.raw, { mode: 'agent-token' });
    if (!verified.ok) return verified.response;
    return interactionResponse('/interactive-pending', verified.agent.jkt, true);
  });
  app.on(['GET', 'POST'], '/interactive-pending/:id', async (c) => {
    const verified = await resource.verifyRequest(c.req.raw, { mode: 'agent-token' });
    if (!verified.ok) return verified.response;
    const pending = interactions.get(c.req.param('id'));
    if (pending === undefined || pending.agentJkt !== verified.agent.jkt) return c.json({ error: 'invalid_request' }, 404);
    if (c.req.method === 'POST') {
      const body = JSON.parse(new TextDecoder().decode(verified.body ?? new Uint8Array())) as { action?: string; clarification_response?: string };
      if (body.action !== 'clarification_response' || typeof body.clarification_response !== 'string') return c.json({ error: 'invalid_request' }, 400);
      pending.answer = body.clarification_response;
      return c.json({ status: 'pending' }, 202, { 'retry-after': '0', 'cache-control': NO_STORE });
    }
    if (!pending.approved) return c.json({ status: 'pending' }, 202, { 'retry-after': '1', 'cache-control': NO_STORE });
    if (pending.answer === undefined) {
      return c.json({ status: 'pending', clarification: 'Which notebook?', options: ['work', 'home'] }, 202, {
        'aauth-requirement': buildAAuthRequirement('clarification'),
        'retry-after': '1',
        'cache-control': NO_STORE,
      });
    }
    interactions.delete(c.req.param('id'));
    return c.json({ mode: 'agent-token', agent: verified.agent.id, notebook: pending.answer });
  });

  return {
    issuer,
    resource,
    interactions,
    sessionAuthorizations,
    deferredRuns: () => runs,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
