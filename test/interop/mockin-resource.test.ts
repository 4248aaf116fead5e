/**
 * A Tessera resource (@tessera/resource) accepting the auth tokens @hellocoop/mockin issues — a -11 Person Server
 * mock this team did not write — with the Tessera agent SDK in between, over real HTTP on loopback.
 *
 * mockin 2.0.0 reads the resource token's link to the person token as `person_token_jti` where -11 says
 * `presented_jti`: the resource is created with `compatibility: { personTokenJti: true }` and sends both.
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent } from '@tessera/agent';
import { createKeyResolver, createSigner, generateKeyPair, mintAgentToken, publicJwkOf } from '@tessera/protocol';
import { createResource, type Resource } from '@tessera/resource';
import { aauthHono, type AAuthHonoEnv } from '@tessera/resource/hono';
import { startMockin } from '../../packages/agent/test/support/mockin.js';
import { testAgentProvider } from '../support/agent-provider.js';

const now = () => Date.now() / 1000;

async function serveResource(options: { compatibility: boolean; ps: string }) {
  // The routes reach `resource` when called, after it exists (it needs the bound port for its identifier).
  const app = new Hono<AAuthHonoEnv>();
  app.use(async (c, next) => (await resource.handle(c.req.raw)) ?? next());
  app.get('/notes', async (c, next) => aauthHono(resource, { mode: 'auth-token', scopes: ['notes.read'] })(c, next), (c) =>
    c.json({ person: c.get('aauth').person, notes: ['from mockin'] }),
  );
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address();
  const issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const resource: Resource = createResource({
    issuer,
    signer: await createSigner(await generateKeyPair('Ed25519', 'rs-1')),
    resolveKey: createKeyResolver({ fetch: (u, i) => globalThis.fetch(u, i), now, allowLoopbackHttp: true }),
    now,
    trustedPersonServers: [options.ps],
    ...(options.compatibility ? { compatibility: { personTokenJti: true } } : {}),
  });
  return { issuer, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('a Tessera resource accepts auth tokens issued by @hellocoop/mockin', () => {
  let mockin: Awaited<ReturnType<typeof startMockin>>;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  beforeAll(async () => {
    mockin = await startMockin();
    ap = await testAgentProvider();
  }, 30_000);
  afterAll(async () => {
    mockin?.close();
    await ap?.close();
  });

  async function agentFor() {
    const key = await generateKeyPair('Ed25519', 'agent-mockin');
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: 'aauth:mockin-interop@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ps: mockin.issuer }, { now, ttl: 600 });
    return createAgent({ key, agentToken, allowLoopbackHttp: true });
  }

  it('person token and auth token from mockin; the resource verifies the auth token and sees the person', async () => {
    const resource = await serveResource({ compatibility: true, ps: mockin.issuer });
    try {
      const response = await (await agentFor()).fetch(`${resource.issuer}/notes`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { person: { iss: string; sub: string }; notes: string[] };
      expect(body.person.iss).toBe(mockin.issuer);
      expect(typeof body.person.sub).toBe('string');
    } finally {
      await resource.close();
    }
  }, 30_000);

  it('without the compatibility option mockin refuses the resource token (the claim-name divergence, pinned)', async () => {
    const resource = await serveResource({ compatibility: false, ps: mockin.issuer });
    try {
      const error = await (await agentFor()).fetch(`${resource.issuer}/notes`).then(
        () => undefined,
        (e: unknown) => e as { error?: string; detail?: string },
      );
      expect(error?.error).toBe('invalid_resource_token');
      expect(error?.detail).toMatch(/person_token_jti/);
    } finally {
      await resource.close();
    }
  }, 30_000);
});
