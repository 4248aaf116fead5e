/** PS metadata and JWKS (AAuth -11 §Person Server Metadata; digest §5). */
import { parsePersonMetadata } from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDeferred } from './fake-deferred.js';
import { STORE_KINDS } from './helpers.js';
import { PS, psFixture, type PsFixture } from './ps-fixture.js';

for (const kind of STORE_KINDS) {
  describe(`PS metadata on ${kind}`, () => {
    let f: PsFixture;
    beforeAll(async () => {
      f = await psFixture(kind);
    });
    afterAll(() => f.close());

    it('serves every PS member of the digest §5, valid for parsePersonMetadata', async () => {
      const res = await f.app.request(`${PS}/.well-known/aauth-person.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('public, max-age=300');
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc).toEqual({
        issuer: PS,
        jwks_uri: `${PS}/jwks.json`,
        person_token_endpoint: `${PS}/person-token`,
        auth_token_endpoint: `${PS}/token`,
        revocation_endpoint: `${PS}/revoke`,
        mission_endpoint: `${PS}/mission`,
        permission_endpoint: `${PS}/permission`,
        audit_endpoint: `${PS}/audit`,
        interaction_endpoint: `${PS}/relay`,
        introspection_endpoint: `${PS}/introspect`,
        accept_signature_algs: ['Ed25519', 'ES256'],
        scopes_supported: ['openid', 'profile'],
        claims_supported: ['sub', 'name', 'tenant'],
        name: 'Test Person Server',
      });
      const parsed = parsePersonMetadata(doc, { expectedIssuer: PS });
      expect(parsed.person_token_endpoint).toBe(`${PS}/person-token`);
    });

    it('includes logo_uri and description when configured', async () => {
      const { createPersonServerApp } = await import('../src/ps/ps-app.js');
      // A second app registers its handlers again: on a Deferred service of its own, as with the real one.
      const app = createPersonServerApp({ ...f.ctx, ps: { ...f.ctx.ps, logoUri: `${PS}/logo.png`, description: 'Mine' } }, new FakeDeferred(f.ctx));
      const doc = (await (await app.request(`${PS}/.well-known/aauth-person.json`)).json()) as Record<string, unknown>;
      expect(doc['logo_uri']).toBe(`${PS}/logo.png`);
      expect(doc['description']).toBe('Mine');
    });

    it('serves the JWKS: every key with kid and a fully specified alg, the signing key among them', async () => {
      const res = await f.app.request(`${PS}/jwks.json`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
      const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
      expect(jwks.keys.length).toBeGreaterThan(0);
      for (const k of jwks.keys) {
        expect(k['alg']).toBe('Ed25519');
        expect(typeof k['kid']).toBe('string');
        expect(k['d']).toBeUndefined();
      }
      const signer = await f.ctx.keys.signer('ps');
      expect(jwks.keys.map((k) => k['kid'])).toContain(signer.publicJwk.kid);
    });
  });
}
