/**
 * signAAuthRequest / verifyAAuthRequest: the AAuth -11 §HTTP Message Signatures Profile end to end, in the
 * verification order of the digest §3 (each failure's code is its Signature-Error code).
 */
import { createPrivateKey, sign as nodeSign, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { importVerifyKey, VerifyKeyCache } from '../src/crypto/verify-key.js';
import type { PrivateJwk, VerifyKey } from '../src/crypto/types.js';
import { toErrorResponse } from '../src/error-response.js';
import type { HttpRequestMessage } from '../src/http-message.js';
import { importNodeVerifyKey } from '../src/node/verify-key.js';
import { MemoryReplayCache } from '../src/replay-cache.js';
import { signAAuthRequest } from '../src/request-signer.js';
import { verifyAAuthRequest, type RequestTokenTyp, type VerifyAAuthRequestOptions } from '../src/request-verifier.js';
import { mintAuthToken } from '../src/tokens/auth-token.js';
import { mintPersonToken } from '../src/tokens/person-token.js';
import { VerifiedTokenCache } from '../src/tokens/token-cache.js';
import type { KeyResolver } from '../src/tokens/verify-token.js';

// ../shared/spec/vectors.md §2
const AGENT_JWK: PrivateJwk = { kty: 'OKP', crv: 'Ed25519', kid: 'test-key-ed25519', alg: 'Ed25519', d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' };
const AP_JWK: PrivateJwk = { kty: 'OKP', crv: 'Ed25519', kid: 'ap-key-1', alg: 'Ed25519', d: 'wDM88T93YS50ZtT04y1ZoJcjdZYaVNE-OOWjhHX51t8', x: 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U' };
const VECTOR_TOKEN =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJkd2siOiJhYXV0aC1hZ2VudC5qc29uIiwic3ViIjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJqdGkiOiJhZ3QtMDAwMSIsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiJKclFMajVQXzg5aVhFUzktdkZnckl5MjljbEY5Q0Nfb1BQc3czYzVEMGJzIiwiYWxnIjoiRWQyNTUxOSJ9fSwiaWF0IjoxNzMwMjE3NjAwLCJleHAiOjE3MzAyMjEyMDB9.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c1Bb2zDimYYlD2Cr_6IKu7oEzYT-A0sEcmVK3mQjgxBw';
const T0 = 1730217600;
const AP = 'https://agent.example';
const PS = 'https://ps.example';
const RESOURCE = 'https://resource.example';

const keys = new Map<string, Promise<VerifyKey>>([
  [`${AP}|ap-key-1`, importVerifyKey(publicJwkOf(AP_JWK))],
  [`${PS}|ap-key-1`, importVerifyKey(publicJwkOf(AP_JWK))],
]);
const resolveKey: KeyResolver = ({ iss, kid }) => keys.get(`${iss}|${kid}`) ?? Promise.reject(new Error('no key'));

const at = (t: number) => () => t;
const now = () => Math.floor(Date.now() / 1000);

function withHeaders(base: HttpRequestMessage, added: Readonly<Record<string, string>>): HttpRequestMessage {
  return { ...base, headers: [...(base.headers as [string, string][]), ...Object.entries(added)] };
}

async function agentRequest(init: Partial<HttpRequestMessage> & { components?: string[]; token?: string; created?: number; signer?: PrivateJwk } = {}) {
  const base: HttpRequestMessage = {
    method: init.method ?? 'GET',
    url: init.url ?? 'https://resource.example/api/documents',
    headers: (init.headers as [string, string][] | undefined) ?? [['host', 'resource.example']],
    ...(init.body === undefined ? {} : { body: init.body }),
  };
  const signed = await signAAuthRequest(base, {
    signer: await createSigner(init.signer ?? AGENT_JWK),
    token: init.token ?? VECTOR_TOKEN,
    created: init.created ?? T0,
    ...(init.components ? { components: init.components } : {}),
  });
  return { request: withHeaders(base, signed.headers), signed };
}

function verify<K extends RequestTokenTyp>(request: HttpRequestMessage, extra: Partial<VerifyAAuthRequestOptions<K>> & { accept?: readonly [K, ...K[]] } = {}) {
  return verifyAAuthRequest(request, { accept: ['aa-agent+jwt'] as unknown as readonly [K, ...K[]], resolveKey, now: at(T0), ...extra });
}

async function expectCode(p: ReturnType<typeof verify>, code: string) {
  const r = await p;
  expect(r.ok, r.ok ? 'verified' : '').toBe(false);
  if (!r.ok) expect(r.error.code, r.error.message).toBe(code);
  return r;
}

/** Replaces one header's value (all lines of it). */
function replaceHeader(request: HttpRequestMessage, name: string, value: string | undefined): HttpRequestMessage {
  const lines = (request.headers as [string, string][]).filter(([n]) => n.toLowerCase() !== name);
  return { ...request, headers: value === undefined ? lines : [...lines, [name, value]] };
}

/** Signs an arbitrary `@signature-params` (for parameters our signer never emits) with the agent key. */
function rawSign(base: string): string {
  const sig = nodeSign(null, Buffer.from(base), createPrivateKey({ key: AGENT_JWK as unknown as NodeJsonWebKey, format: 'jwk' }));
  return `sig=:${sig.toString('base64')}:`;
}

describe('signAAuthRequest', () => {
  it('[§8.1] covers @method @authority @path signature-key, then content-digest content-type on a body', async () => {
    const get = await agentRequest();
    expect(get.signed.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    const post = await agentRequest({ method: 'POST', headers: [['content-type', 'application/json']], body: new TextEncoder().encode('{}') });
    expect(post.signed.components).toEqual(['@method', '@authority', '@path', 'signature-key', 'content-digest', 'content-type']);
    expect(post.signed.headers['content-digest']).toMatch(/^sha-256=:/);
  });

  it('[§8.1] covers authorization when an AAuth session token is sent', async () => {
    const r = await agentRequest({ headers: [['authorization', 'AAuth abc.def']] });
    expect(r.signed.components).toContain('authorization');
  });

  it('[§8.2] created = now, no alg, no keyid, scheme=jwt', async () => {
    const base = { method: 'GET', url: 'https://resource.example/x', headers: [] as [string, string][] };
    const signed = await signAAuthRequest(base, { signer: await createSigner(AGENT_JWK), token: VECTOR_TOKEN, now: at(T0 + 5) });
    expect(signed.headers['signature-input']).toBe('sig=("@method" "@authority" "@path" "signature-key");created=1730217605');
    expect(signed.headers['signature-input']).not.toMatch(/alg=|keyid=/);
    expect(signed.headers['signature-key']).toMatch(/^sig=jwt;jwt="/);
  });

  it('[§8.12] reproduces the vectors.md AAuth-profile signature byte for byte', async () => {
    const { signed } = await agentRequest();
    expect(signed.headers['signature']).toBe('sig=:NPQRauazCeReXW5NS09/2URgsm6n4rziYWWpBXNEs8w9dMeY88atn4WVl9qqd5YT2R0TrQUso1tLMK31BCkxBA==:');
  });
});

describe('verifyAAuthRequest — the vectors.md request', () => {
  it('[§8.17] verifies at created time: agent token typ, dwk, signature, times, cnf = signer', async () => {
    const { request } = await agentRequest();
    const r = await verify(request);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.jkt).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
      expect(r.value.token.kind).toBe('aa-agent+jwt');
      expect(r.value.token.claims.sub).toBe('aauth:assistant@agent.example');
      expect(r.value.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    }
  });

  it('[§8.5] rejects 61 s later, and a created 61 s in the future, with invalid_signature', async () => {
    const { request } = await agentRequest();
    await expectCode(verify(request, { now: at(T0 + 61) }), 'invalid_signature');
    await expectCode(verify(request, { now: at(T0 - 61) }), 'invalid_signature');
    expect((await verify(request, { now: at(T0 + 60) })).ok).toBe(true);
  });

  it('answers expired_jwt once the agent token has expired', async () => {
    const { request } = await agentRequest({ created: 1730221300 });
    await expectCode(verify(request, { now: at(1730221300) }), 'expired_jwt');
  });

  it('[§8.17] a request signed by a key other than cnf.jwk fails invalid_signature', async () => {
    const other = await generateKeyPair('Ed25519', 'other');
    const { request } = await agentRequest({ signer: other });
    await expectCode(verify(request), 'invalid_signature');
  });

  it('a signature that fails is not rescued by the key resolver (a forged token fails invalid_jwt)', async () => {
    const [h, p] = VECTOR_TOKEN.split('.');
    const forged = `${h}.${p}.${'A'.repeat(86)}`;
    const { request } = await agentRequest({ token: forged });
    await expectCode(verify(request), 'invalid_jwt');
  });
});

describe('verifyAAuthRequest — order and codes of the digest §3', () => {
  it('[§8.3] a missing Signature, Signature-Input or Signature-Key header → invalid_request', async () => {
    const { request } = await agentRequest();
    for (const name of ['signature', 'signature-input', 'signature-key']) {
      await expectCode(verify(replaceHeader(request, name, undefined)), 'invalid_request');
    }
  });

  it('[§8.4] a missing profile component → invalid_input with required_input', async () => {
    const base = 'https://resource.example/api/documents';
    const params = `("@method" "@path" "signature-key");created=${T0}`;
    const sk = `sig=jwt;jwt="${VECTOR_TOKEN}"`;
    const sig = rawSign(`"@method": GET\n"@path": /api/documents\n"signature-key": ${sk}\n"@signature-params": ${params}`);
    const request = { method: 'GET', url: base, headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: sig } };
    const r = await expectCode(verify(request), 'invalid_input');
    if (!r.ok) {
      expect(r.error.requiredInput).toEqual(['@method', '@authority', '@path', 'signature-key']);
      const response = toErrorResponse(r.error);
      expect(response.status).toBe(401);
      expect(response.headers['Signature-Error'] ?? response.headers['signature-error']).toBe('error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key")');
    }
  });

  it('[§8.10] a signature that does not cover signature-key is rejected', async () => {
    const params = `("@method" "@authority" "@path");created=${T0}`;
    const sk = `sig=jwt;jwt="${VECTOR_TOKEN}"`;
    const sig = rawSign(`"@method": GET\n"@authority": resource.example\n"@path": /x\n"@signature-params": ${params}`);
    const request = { method: 'GET', url: 'https://resource.example/x', headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: sig } };
    await expectCode(verify(request), 'invalid_input');
  });

  it('[§8.5] expires in the past → invalid_signature even inside the created window', async () => {
    const params = `("@method" "@authority" "@path" "signature-key");created=${T0};expires=${T0 + 5}`;
    const sk = `sig=jwt;jwt="${VECTOR_TOKEN}"`;
    const sig = rawSign(`"@method": GET\n"@authority": resource.example\n"@path": /x\n"signature-key": ${sk}\n"@signature-params": ${params}`);
    const request = { method: 'GET', url: 'https://resource.example/x', headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: sig } };
    expect((await verify(request, { now: at(T0 + 5) })).ok).toBe(true);
    await expectCode(verify(request, { now: at(T0 + 6) }), 'invalid_signature');
  });

  it('[§8.9] the alg signature parameter is ignored and keyid loses to Signature-Key', async () => {
    const params = `("@method" "@authority" "@path" "signature-key");created=${T0};keyid="someone-else";alg="hmac-sha256"`;
    const sk = `sig=jwt;jwt="${VECTOR_TOKEN}"`;
    const sig = rawSign(`"@method": GET\n"@authority": resource.example\n"@path": /x\n"signature-key": ${sk}\n"@signature-params": ${params}`);
    const request = { method: 'GET', url: 'https://resource.example/x', headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: sig } };
    const r = await verify(request);
    expect(r.ok).toBe(true);
  });

  it('[§8.6] hwk or an unknown scheme → unsupported_scheme, answered with Accept-Signature-Scheme: jwt', async () => {
    const jwk = publicJwkOf(AGENT_JWK);
    for (const sk of [`sig=hwk;kty="OKP";crv="Ed25519";x="${jwk.x}";alg="Ed25519"`, 'sig=hwk;kty="OKP"', 'sig=future-scheme;p="1"']) {
      const params = `("@method" "@authority" "@path" "signature-key");created=${T0}`;
      const sig = rawSign(`"@method": GET\n"@authority": resource.example\n"@path": /x\n"signature-key": ${sk}\n"@signature-params": ${params}`);
      const request = { method: 'GET', url: 'https://resource.example/x', headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: sig } };
      const r = await expectCode(verify(request), 'unsupported_scheme');
      if (!r.ok) {
        const h = toErrorResponse(r.error).headers;
        expect(h['Accept-Signature-Scheme'] ?? h['accept-signature-scheme']).toBe('jwt');
      }
    }
  });

  it('step 3 precedes step 4: an old signature with an unsupported scheme is invalid_signature', async () => {
    const sk = 'sig=future-scheme;p="1"';
    const params = `("@method" "@authority" "@path" "signature-key");created=${T0 - 600}`;
    const request = { method: 'GET', url: 'https://resource.example/x', headers: { 'signature-key': sk, 'signature-input': `sig=${params}`, signature: 'sig=:AAAA:' } };
    await expectCode(verify(request), 'invalid_signature');
  });

  it('[§8.6] members not selected are ignored even when their scheme is unknown', async () => {
    const { request } = await agentRequest();
    const sk = (request.headers as [string, string][]).find(([n]) => n === 'signature-key')![1];
    const both = replaceHeader(request, 'signature-key', `${sk}, other=future-scheme;p="1"`);
    // The base covers signature-key, whose value changed: the signature no longer matches — but the failure is
    // the signature, not the unknown member.
    await expectCode(verify(both), 'invalid_signature');
  });

  it('[§8.7] unsupported_algorithm for a key outside the accepted set, answered with Accept-Signature-Alg', async () => {
    const { request } = await agentRequest();
    const r = await expectCode(verify(request, { acceptAlgorithms: ['ES256'] }), 'unsupported_algorithm');
    if (!r.ok) {
      const h = toErrorResponse(r.error).headers;
      expect(h['Accept-Signature-Alg'] ?? h['accept-signature-alg']).toBe('ES256');
    }
  });

  it('[§8.7] a cnf.jwk with EdDSA or no alg is refused before any signature is checked', async () => {
    const signer = await createSigner(AP_JWK);
    for (const cnf of [{ kty: 'OKP', crv: 'Ed25519', x: AGENT_JWK.x, alg: 'EdDSA' }, { kty: 'OKP', crv: 'Ed25519', x: AGENT_JWK.x }]) {
      // Minting refuses it too; build the token with the JWS layer to test the verifier.
      const { signJws } = await import('../src/tokens/jws.js');
      const token = await signJws({ typ: 'aa-agent+jwt', kid: 'ap-key-1' }, { iss: AP, dwk: 'aauth-agent.json', sub: 'aauth:a@agent.example', jti: 'j', cnf: { jwk: cnf }, iat: T0, exp: T0 + 600 }, signer);
      const { request } = await agentRequest({ token });
      const r = await verify(request);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(['invalid_jwt', 'invalid_key']).toContain(r.error.code);
    }
  });

  it('never throws on garbage: every malformed header yields a typed failure', async () => {
    const { request } = await agentRequest();
    const garbage = ['', '(', 'sig=', 'sig=:not base64:', 'sig=("@method";created=1', '\u0000', 'a'.repeat(20000)];
    for (const name of ['signature', 'signature-input', 'signature-key']) {
      for (const g of garbage) {
        const r = await verify(replaceHeader(request, name, g));
        expect(r.ok, `${name}: ${g.slice(0, 20)}`).toBe(false);
      }
    }
    const r = await verify({ method: 'GET', url: 'not a url', headers: [] });
    expect(r.ok).toBe(false);
  });
});

describe('verifyAAuthRequest — token kinds, bodies, sessions', () => {
  async function tokens() {
    const ps = await createSigner(AP_JWK);
    const cnf = { jwk: publicJwkOf(AGENT_JWK) };
    const person = await mintPersonToken(ps, { iss: PS, aud: RESOURCE, sub: 'pairwise-1', cnf }, { now: at(T0), ttl: 600 });
    const auth = await mintAuthToken(ps, { iss: PS, ps: PS, aud: RESOURCE, sub: 'pairwise-1', scope: 'notes.read', cnf }, { now: at(T0), ttl: 600 });
    return { person, auth };
  }

  it('[§8.22] a person token is rejected where only an auth token is accepted', async () => {
    const { person, auth } = await tokens();
    const withPerson = (await agentRequest({ token: person })).request;
    await expectCode(verify(withPerson, { accept: ['aa-auth+jwt'], audience: RESOURCE }), 'invalid_jwt');
    const withAuth = (await agentRequest({ token: auth })).request;
    const r = await verify(withAuth, { accept: ['aa-auth+jwt'], audience: RESOURCE });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.token.claims.scope).toBe('notes.read');
  });

  it('[§8.40] an auth token for another audience is refused', async () => {
    const { auth } = await tokens();
    const { request } = await agentRequest({ token: auth });
    await expectCode(verify(request, { accept: ['aa-auth+jwt'], audience: 'https://other.example' }), 'invalid_jwt');
  });

  it('[§8.22] a cached person token is never served where only auth tokens are accepted', async () => {
    const { person } = await tokens();
    const tokenCache = new VerifiedTokenCache({ now: at(T0) });
    const { request } = await agentRequest({ token: person });
    expect((await verify(request, { accept: ['aa-person+jwt'], audience: RESOURCE, tokenCache })).ok).toBe(true);
    await expectCode(verify(request, { accept: ['aa-auth+jwt'], audience: RESOURCE, tokenCache }), 'invalid_jwt');
  });

  it('a token-cache hit still checks the request signature', async () => {
    const tokenCache = new VerifiedTokenCache({ now: at(T0) });
    const { request } = await agentRequest();
    expect((await verify(request, { tokenCache })).ok).toBe(true);
    const other = await generateKeyPair('Ed25519', 'other');
    const forged = (await agentRequest({ signer: other })).request; // same token, wrong key
    await expectCode(verify(forged, { tokenCache }), 'invalid_signature');
  });

  it('[§8.1] PS/AS requests with a body must cover content-digest and content-type; a changed body fails', async () => {
    const body = new TextEncoder().encode('{"resource_token":"x"}');
    const { request } = await agentRequest({ method: 'POST', url: 'https://ps.example/token', headers: [['content-type', 'application/json']], body });
    expect((await verify(request, { requireContentDigest: true })).ok).toBe(true);
    const changed = { ...request, body: new TextEncoder().encode('{"resource_token":"y"}') };
    await expectCode(verify(changed, { requireContentDigest: true }), 'invalid_signature');
    const { request: bare } = await agentRequest({ method: 'POST', url: 'https://ps.example/token', headers: [['content-type', 'application/json']] });
    const withBody = { ...bare, body };
    await expectCode(verify(withBody, { requireContentDigest: true }), 'invalid_input');
  });

  it('[§8.51] Authorization: AAuth without authorization covered is rejected', async () => {
    const { request } = await agentRequest();
    const withSession = { ...request, headers: [...(request.headers as [string, string][]), ['authorization', 'AAuth session-token'] as [string, string]] };
    await expectCode(verify(withSession), 'invalid_input');
    const { request: covered } = await agentRequest({ headers: [['authorization', 'AAuth session-token']] });
    expect((await verify(covered)).ok).toBe(true);
  });

  it('additional_signature_components are enforced (e.g. @query)', async () => {
    const { request } = await agentRequest({ url: 'https://resource.example/search?q=1' });
    await expectCode(verify(request, { additionalComponents: ['@query'] }), 'invalid_input');
    const { request: withQuery } = await agentRequest({ url: 'https://resource.example/search?q=1', components: ['@query'] });
    expect((await verify(withQuery, { additionalComponents: ['@query'] })).ok).toBe(true);
  });

  it('a replay cache refuses the same (jkt, created, method, authority, path) twice', async () => {
    const replayCache = new MemoryReplayCache({ now: at(T0) });
    const { request } = await agentRequest();
    expect((await verify(request, { replayCache })).ok).toBe(true);
    await expectCode(verify(request, { replayCache }), 'invalid_signature');
  });

  it('selects the signature by label; two signatures without a label is invalid_request', async () => {
    const { request } = await agentRequest();
    const lines = request.headers as [string, string][];
    const sigInput = lines.find(([n]) => n === 'signature-input')![1];
    const sig = lines.find(([n]) => n === 'signature')![1];
    const twoInputs = replaceHeader(replaceHeader(request, 'signature-input', `${sigInput}, bad=${sigInput.slice(4)}`), 'signature', `${sig}, bad=:AAAA:`);
    await expectCode(verify(twoInputs), 'invalid_request');
    // The corrupt signature does not decide: the label names the one to check (and signature-key has no
    // `bad` member, so selecting it fails).
    expect((await verify(twoInputs, { label: 'sig' })).ok).toBe(true);
    await expectCode(verify(twoInputs, { label: 'bad' }), 'invalid_request');
  });

  it('with a Node key importer and key cache, gives the same answers and imports each key once', async () => {
    let imports = 0;
    const keyCache = new VerifyKeyCache({ importKey: (jwk) => (imports++, importNodeVerifyKey(jwk)) });
    const { request } = await agentRequest();
    for (let i = 0; i < 3; i++) expect((await verify(request, { keyCache })).ok).toBe(true);
    expect(imports).toBe(1);
    const other = await generateKeyPair('ES256', 'es');
    const es = (await agentRequest({ signer: other })).request;
    await expectCode(verify(es, { keyCache }), 'invalid_signature');
  });

  it('uses the real clock by default in signAAuthRequest', async () => {
    const base = { method: 'GET', url: 'https://resource.example/x', headers: [] as [string, string][] };
    const signed = await signAAuthRequest(base, { signer: await createSigner(AGENT_JWK), token: VECTOR_TOKEN });
    expect(Math.abs(signed.created - now())).toBeLessThanOrEqual(2);
  });
});
