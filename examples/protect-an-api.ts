/**
 * Protect an API with AAuth (Hono). Run beside `tessera dev`:
 *   npx tsx examples/protect-an-api.ts     # http://localhost:4200/notes needs an auth token for notes.read
 */
import { serve } from '@hono/node-server';
import { createKeyResolver, createSigner, generateKeyPair } from '@tessera/protocol';
import { createNodeEgressFetch } from '@tessera/protocol/node';
import { createResource } from '@tessera/resource';
import { aauthHono, type AAuthHonoEnv } from '@tessera/resource/hono';
import { Hono } from 'hono';

const now = () => Date.now() / 1000;
const resource = createResource({
  issuer: 'http://localhost:4200', // in production: https://api.example
  signer: await createSigner(await generateKeyPair('Ed25519', 'api-key-1')), // signs the resource tokens of challenges
  resolveKey: createKeyResolver({ fetch: createNodeEgressFetch({ allowHttp: true, allowLoopback: true }), now, allowLoopbackHttp: true }),
  now,
  name: 'Example notes API',
  scopeDescriptions: { 'notes.read': 'Read your notes' },
  trustedPersonServers: ['http://localhost:4100'],
});

const app = new Hono<AAuthHonoEnv>();
// The resource serves its own metadata (/.well-known/aauth-resource.json) and JWKS.
app.use(async (c, next) => (await resource.handle(c.req.raw)) ?? next());
app.get('/notes', aauthHono(resource, { mode: 'auth-token', scopes: ['notes.read'] }), (c) => {
  const { person, agent } = c.get('aauth'); // who the person is (iss, sub) and which agent key signed
  return c.json({ for: person, agent: agent.jkt, notes: ['Buy milk'] });
});

serve({ fetch: app.fetch, port: 4200 });
