/**
 * Requests signed by @hellocoop/httpsig — an implementation this team did not write — are accepted by the Tessera
 * Person Server over real HTTP: a person-token request (POST with a JSON body: content-digest and content-type
 * covered) answered 202 with an interaction, and its pending URL polled with an httpsig-signed GET.
 */
import { fetch as httpsigFetch } from '@hellocoop/httpsig';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, mintAgentToken, parseAAuthRequirement, publicJwkOf, type PrivateJwk } from '@tessera/protocol';
import { startDev, type DevServer } from '../../packages/server/src/dev.js';
import { testAgentProvider } from '../support/agent-provider.js';

describe('the Person Server accepts requests signed by @hellocoop/httpsig', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {} });
    ap = await testAgentProvider();
  }, 60_000);
  afterAll(async () => {
    await ap?.close();
    await dev?.close();
  });

  for (const alg of ['Ed25519', 'ES256'] as const) {
    it(`${alg}: person-token request → 202 interaction; the poll → 202 pending; an unsigned poll → 401`, async () => {
      const key: PrivateJwk = await generateKeyPair(alg, 'agent-httpsig');
      const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub: `aauth:httpsig-${alg.toLowerCase()}@127.0.0.1`, cnf: { jwk: publicJwkOf(key) } }, { now: () => Math.floor(Date.now() / 1000), ttl: 600 });
      const metadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;

      const response = (await httpsigFetch(metadata['person_token_endpoint']!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resource: dev.issuers.resource }),
        signingKey: { ...key },
        signatureKey: { type: 'jwt', jwt: agentToken },
        contentDigest: 'require',
      }));
      expect(response.status, await response.clone().text()).toBe(202);
      const requirement = parseAAuthRequirement(response.headers.get('aauth-requirement')!, { allowLoopbackHttp: true });
      expect(requirement.requirement).toBe('interaction');
      const location = new URL(response.headers.get('location')!, dev.issuers.ps).href;

      const poll = (await httpsigFetch(location, { method: 'GET', signingKey: { ...key }, signatureKey: { type: 'jwt', jwt: agentToken } }));
      expect(poll.status).toBe(202);
      expect(((await poll.json()) as { status: string }).status).toMatch(/^(pending|interacting)$/);

      const unsigned = await fetch(location);
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toBe('error=invalid_request');
    }, 30_000);
  }
});
