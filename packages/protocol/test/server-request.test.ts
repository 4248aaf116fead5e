import { fetch as httpsigFetch, verify as httpsigVerify } from '@hellocoop/httpsig';
import { describe, expect, it } from 'vitest';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { jwkThumbprint } from '../src/crypto/thumbprint.js';
import { importVerifyKey } from '../src/crypto/verify-key.js';
import { toErrorResponse } from '../src/error-response.js';
import type { HttpRequestMessage } from '../src/http-message.js';
import { signAAuthRequest } from '../src/request-signer.js';
import { signHwkRequest, signServerRequest, verifyHwkRequest, verifyServerRequest } from '../src/server-request.js';
import type { KeyResolver } from '../src/tokens/verify-token.js';

const now = () => Math.floor(Date.now() / 1000);
const base = (): HttpRequestMessage => ({
  method: 'POST',
  url: 'https://ap.example/enrol',
  headers: [['content-type', 'application/json']],
  body: new TextEncoder().encode('{"local":"assistant"}'),
});
const withHeaders = (m: HttpRequestMessage, h: Readonly<Record<string, string>>): HttpRequestMessage => ({
  ...m,
  headers: [...(m.headers as [string, string][]), ...Object.entries(h)],
});

describe('hwk requests (SK-08 §Header Web Key)', () => {
  for (const alg of ['Ed25519', 'ES256'] as const) {
    it(`${alg}: signed with the inline key, verified with it; the thumbprint names the key`, async () => {
      const jwk = await generateKeyPair(alg);
      const signed = await signHwkRequest(base(), { signer: await createSigner(jwk), now });
      expect(signed.headers['signature-key']).toMatch(/^sig=hwk;kty="(OKP|EC)"/);
      expect(signed.headers['signature-key']).not.toContain('kid');
      const r = await verifyHwkRequest(withHeaders(base(), signed.headers), { now, requireContentDigest: true });
      expect(r.ok).toBe(true);
      if (r.ok) {
        expect(r.value.jkt).toBe(await jwkThumbprint(publicJwkOf(jwk)));
        expect(r.value.jwk.alg).toBe(alg);
      }
    });
  }

  it('a changed body or a different key fails; a jwt-scheme request is unsupported_scheme here', async () => {
    const jwk = await generateKeyPair('Ed25519');
    const signed = await signHwkRequest(base(), { signer: await createSigner(jwk), now });
    const tampered = { ...withHeaders(base(), signed.headers), body: new TextEncoder().encode('{"local":"x"}') };
    const r1 = await verifyHwkRequest(tampered, { now });
    expect(r1.ok || r1.error.code).toBe('invalid_signature');
    const jwtSigned = await signAAuthRequest(base(), { signer: await createSigner(jwk), token: 'a.b.c', now });
    const r2 = await verifyHwkRequest(withHeaders(base(), jwtSigned.headers), { now });
    expect(r2.ok || r2.error.code).toBe('unsupported_scheme');
  });

  it('[§8.7] an hwk key with EdDSA or no alg is refused', async () => {
    const jwk = await generateKeyPair('Ed25519');
    const signed = await signHwkRequest(base(), { signer: await createSigner(jwk), now });
    for (const bad of [signed.headers['signature-key']!.replace('alg="Ed25519"', 'alg="EdDSA"'), signed.headers['signature-key']!.replace(';alg="Ed25519"', '')]) {
      const r = await verifyHwkRequest(withHeaders(base(), { ...signed.headers, 'signature-key': bad }), { now });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(['invalid_key', 'unsupported_algorithm', 'invalid_request', 'invalid_signature']).toContain(r.error.code);
    }
  });

  it('interop: @hellocoop/httpsig hwk requests verify with Tessera, and Tessera hwk requests verify with httpsig', async () => {
    const jwk = await generateKeyPair('Ed25519');
    const { headers } = await httpsigFetch('https://ap.example/enrol', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"local":"assistant"}',
      signingKey: { ...jwk },
      signatureKey: { type: 'hwk' },
      dryRun: true,
    });
    const theirs = await verifyHwkRequest({ ...base(), headers }, { now, requireContentDigest: true });
    expect(theirs.ok, theirs.ok ? '' : theirs.error.message).toBe(true);

    const signed = await signHwkRequest(base(), { signer: await createSigner(jwk), now });
    const ours = await httpsigVerify({
      method: 'POST',
      authority: 'ap.example',
      path: '/enrol',
      headers: { 'content-type': 'application/json', ...signed.headers },
      body: '{"local":"assistant"}',
    });
    expect(ours.verified, ours.error).toBe(true);
    expect(ours.keyType).toBe('hwk');
  });
});

describe('jwks_uri requests (SK-08 §JWKS URI): server to server', () => {
  async function setup() {
    const jwk = await generateKeyPair('Ed25519', 'ap-1');
    const key = await importVerifyKey(publicJwkOf(jwk));
    const lookups: string[] = [];
    const resolveKey: KeyResolver = ({ iss, dwk, kid }) => {
      lookups.push(`${iss} ${dwk} ${kid}`);
      return iss === 'https://ap.example' && kid === 'ap-1' ? Promise.resolve(key) : Promise.reject(new Error('unknown'));
    };
    return { signer: await createSigner(jwk), resolveKey, lookups };
  }
  const revoke = (): HttpRequestMessage => ({
    method: 'POST',
    url: 'https://ps.example/revoke',
    headers: [['content-type', 'application/json']],
    body: new TextEncoder().encode('{"iss":"https://ap.example","jti":"j1"}'),
  });

  it('[§8.61] the AP signs a revocation; the PS resolves the key from the AP metadata and verifies', async () => {
    const s = await setup();
    const signed = await signServerRequest(revoke(), { signer: s.signer, id: 'https://ap.example', dwk: 'aauth-agent.json', now });
    expect(signed.headers['signature-key']).toBe('sig=jwks_uri;id="https://ap.example";dwk="aauth-agent.json";kid="ap-1"');
    const r = await verifyServerRequest(withHeaders(revoke(), signed.headers), { now, resolveKey: s.resolveKey, requireContentDigest: true });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value).toMatchObject({ scheme: 'jwks_uri', id: 'https://ap.example', dwk: 'aauth-agent.json', kid: 'ap-1' });
    expect(s.lookups).toEqual(['https://ap.example aauth-agent.json ap-1']);
  });

  it('acceptIds limits who may call; an unknown kid fails through the resolver', async () => {
    const s = await setup();
    const signed = await signServerRequest(revoke(), { signer: s.signer, id: 'https://ap.example', dwk: 'aauth-agent.json', now });
    const r = await verifyServerRequest(withHeaders(revoke(), signed.headers), { now, resolveKey: s.resolveKey, acceptIds: ['https://other.example'] });
    expect(r.ok || r.error.code).toBe('invalid_key');
    const wrongKid = await signServerRequest(revoke(), { signer: s.signer, id: 'https://ap.example', dwk: 'aauth-agent.json', kid: 'nope', now });
    const r2 = await verifyServerRequest(withHeaders(revoke(), wrongKid.headers), { now, resolveKey: s.resolveKey });
    expect(r2.ok).toBe(false);
  });

  it('[§8.6] an hwk request at a jwks_uri endpoint → unsupported_scheme with Accept-Signature-Scheme', async () => {
    const s = await setup();
    const signed = await signHwkRequest(revoke(), { signer: s.signer, now });
    const r = await verifyServerRequest(withHeaders(revoke(), signed.headers), { now, resolveKey: s.resolveKey });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('unsupported_scheme');
      expect(toErrorResponse(r.error).status).toBe(401);
    }
  });
});

describe('createNodeSigner (node:crypto) matches the WebCrypto signer', () => {
  it('Ed25519 signatures are byte-identical (deterministic); ES256 and both verify either way', async () => {
    const { createNodeSigner } = await import('../src/node/signer.js');
    const data = new TextEncoder().encode('signature base');
    const ed = await generateKeyPair('Ed25519', 'k');
    expect(await (await createNodeSigner(ed)).sign(data)).toEqual(await (await createSigner(ed)).sign(data));
    const es = await generateKeyPair('ES256', 'k');
    const key = await importVerifyKey(publicJwkOf(es));
    const sig = await (await createNodeSigner(es)).sign(data);
    expect(sig.length).toBe(64); // raw r‖s, never DER
    expect(await key.verify(data, sig)).toBe(true);
  });
});
