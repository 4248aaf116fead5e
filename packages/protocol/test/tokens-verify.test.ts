import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { AAuthError } from '../src/errors.js';
import { b64urlDecode, b64urlEncode, utf8 } from '../src/base64url.js';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { importVerifyKey } from '../src/crypto/verify-key.js';
import { VerifyKeyCache } from '../src/crypto/verify-key.js';
import type { PrivateJwk, PublicJwk, Signer, VerifyKey } from '../src/crypto/types.js';
import { decodeJws, signJws } from '../src/tokens/jws.js';
import { mintAgentToken } from '../src/tokens/agent-token.js';
import { mintAuthToken } from '../src/tokens/auth-token.js';
import { mintPersonToken } from '../src/tokens/person-token.js';
import { mintResourceToken } from '../src/tokens/resource-token.js';
import { mintJktToken } from '../src/tokens/jkt-token.js';
import { tokenProblemCode, verifyToken } from '../src/tokens/verify-token.js';
import type { KeyResolver, VerifiedAuthToken, VerifiedPersonToken } from '../src/tokens/verify-token.js';
import jwtVectors from './vectors/aauth-go/jwt.json' with { type: 'json' };

async function rejectCode(p: Promise<unknown>): Promise<AAuthError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return error as AAuthError;
  }
  throw new Error('expected a rejection');
}

/** Ed25519 private JWK from a 32-byte seed: the public `x` is derived by WebCrypto (PKCS#8 import, JWK export). */
async function ed25519FromSeed(d: string, kid: string): Promise<PrivateJwk> {
  const prefix = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  const pkcs8 = new Uint8Array([...prefix, ...b64urlDecode(d)]);
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', key);
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string, d, alg: 'Ed25519', kid };
}

/** A resolver over a fixed map `iss → key`, recording each request. */
function resolverFor(keys: Record<string, VerifyKey>): KeyResolver & { calls: { iss: string; dwk: string; kid: string; refresh?: boolean }[] } {
  const calls: { iss: string; dwk: string; kid: string; refresh?: boolean }[] = [];
  const fn = (request: { iss: string; dwk: string; kid: string; refresh?: boolean }): Promise<VerifyKey> => {
    calls.push(request);
    const key = keys[request.iss];
    if (key === undefined || key.jwk.kid !== request.kid) return Promise.reject(new AAuthError('unknown_key', { detail: 'no such key' }));
    return Promise.resolve(key);
  };
  return Object.assign(fn, { calls });
}

const refusingResolver: KeyResolver = () => Promise.reject(new Error('resolver must not be called'));

// --- vectors.md §2 -------------------------------------------------------------------------------
const AP_SEED = 'wDM88T93YS50ZtT04y1ZoJcjdZYaVNE-OOWjhHX51t8';
const AP_X = 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U';
const AGENT_JWK: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs', alg: 'Ed25519' };
const VECTOR_TOKEN =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJkd2siOiJhYXV0aC1hZ2VudC5qc29uIiwic3ViIjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJqdGkiOiJhZ3QtMDAwMSIsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiJKclFMajVQXzg5aVhFUzktdkZnckl5MjljbEY5Q0Nfb1BQc3czYzVEMGJzIiwiYWxnIjoiRWQyNTUxOSJ9fSwiaWF0IjoxNzMwMjE3NjAwLCJleHAiOjE3MzAyMjEyMDB9.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c1Bb2zDimYYlD2Cr_6IKu7oEzYT-A0sEcmVK3mQjgxBw';
const VECTOR_IAT = 1730217600;
const VECTOR_EXP = 1730221200;

const apPrivate = await ed25519FromSeed(AP_SEED, 'ap-key-1');
const ap = await createSigner(apPrivate);
const apKey = await importVerifyKey(publicJwkOf(apPrivate));

describe('vectors.md §2 agent token', () => {
  it('[§8.12] the AP key derived from the seed has the published x', () => {
    expect(apPrivate.x).toBe(AP_X);
    expect(ap.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: AP_X, alg: 'Ed25519', kid: 'ap-key-1' });
  });

  it('[§8.12] mints byte-exact', async () => {
    const jwt = await mintAgentToken(
      ap,
      { iss: 'https://agent.example', dwk: 'aauth-agent.json', sub: 'aauth:assistant@agent.example', jti: 'agt-0001', cnf: { jwk: AGENT_JWK } },
      { now: () => VECTOR_IAT, ttl: 3600 },
    );
    expect(jwt).toBe(VECTOR_TOKEN);
  });

  it('[§8.17] verifies: typ, dwk, signature, times; cnfKey is the agent key', async () => {
    const resolveKey = resolverFor({ 'https://agent.example': apKey });
    const result = await verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT });
    expect(result.kind).toBe('aa-agent+jwt');
    expect(result.claims.sub).toBe('aauth:assistant@agent.example');
    expect(result.cnfKey.thumbprint).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
    expect(resolveKey.calls).toEqual([{ iss: 'https://agent.example', dwk: 'aauth-agent.json', kid: 'ap-key-1' }]);
    await expect(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_EXP - 1 })).resolves.toBeDefined();
  });

  it('[§8.17] expired_jwt at and after exp', async () => {
    const resolveKey = resolverFor({ 'https://agent.example': apKey });
    for (const t of [VECTOR_EXP, VECTOR_EXP + 1, VECTOR_EXP + 86400]) {
      expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => t }))).code).toBe('expired_jwt');
    }
  });

  it('iat ahead of the clock beyond the skew → invalid_jwt; within it → accepted', async () => {
    const resolveKey = resolverFor({ 'https://agent.example': apKey });
    await expect(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT - 60 })).resolves.toBeDefined();
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT - 61 }))).code).toBe('invalid_jwt');
    await expect(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT - 100, skew: 120 })).resolves.toBeDefined();
  });

  it('[§8.17] a different key under the same kid → invalid_jwt (after one refresh)', async () => {
    const other = await importVerifyKey({ ...publicJwkOf(await generateKeyPair('Ed25519')), kid: 'ap-key-1' });
    const resolveKey = resolverFor({ 'https://agent.example': other });
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT }))).code).toBe('invalid_jwt');
    expect(resolveKey.calls.map((c) => c.refresh === true)).toEqual([false, true]);
  });
});

// --- aauth-go testdata/vectors/jwt.json ----------------------------------------------------------
describe(`aauth-go jwt vectors (${jwtVectors.source})`, () => {
  const key = jwtVectors.cases[0]!.signing_key;
  const fullySpecified = { kty: key.kty, crv: key.crv, x: key.x, alg: 'Ed25519', kid: key.kid } as PublicJwk;

  for (const c of jwtVectors.cases) {
    it(`${c.name}: the Ed25519 signature verifies and our signer reproduces it byte for byte`, async () => {
      const dot = c.token.lastIndexOf('.');
      const signingInput = utf8(c.token.slice(0, dot));
      const signature = b64urlDecode(c.token.slice(dot + 1));
      expect(await (await importVerifyKey(fullySpecified)).verify(signingInput, signature)).toBe(true);
      const signer = await createSigner({ ...fullySpecified, d: key.d });
      expect(b64urlEncode(await signer.sign(signingInput))).toBe(c.token.slice(dot + 1));
    });

    it(`[§8.7] ${c.name}: refused as-is, since its header alg is the polymorphic EdDSA`, async () => {
      expect(decodeJws.bind(null, c.token)).toThrow(expect.objectContaining({ code: 'invalid_jwt' }) as Error);
      const error = await rejectCode(
        verifyToken(c.token, { accept: [c.typ as 'aa-agent+jwt'], resolveKey: refusingResolver, now: () => c.claims.iat }),
      );
      expect(error.code).toBe('invalid_jwt');
    });
  }

  it('[§8.7] re-signed with a fully specified alg, the EdDSA cnf.jwk is still refused (invalid_key)', async () => {
    const signer = await createSigner({ ...fullySpecified, d: key.d });
    const c = jwtVectors.cases[0]!;
    const jwt = await signJws({ typ: c.typ, kid: c.kid }, c.claims, signer);
    const resolveKey = resolverFor({ [c.claims.iss]: await importVerifyKey(fullySpecified) });
    expect((await rejectCode(verifyToken(jwt, { accept: ['aa-agent+jwt'], resolveKey, now: () => c.claims.iat }))).code).toBe('invalid_key');
    // With the cnf key fully specified, the (pre -10) agent token verifies; unknown claims are ignored.
    const fixed = { ...c.claims, cnf: { jwk: { ...c.claims.cnf!.jwk, alg: 'Ed25519' } } };
    const ok = await verifyToken(await signJws({ typ: c.typ, kid: c.kid }, fixed, signer), { accept: ['aa-agent+jwt'], resolveKey, now: () => c.claims.iat });
    expect(ok.claims.ps).toBe('https://ps.example');
  });

  it('the pre -11 resource and auth tokens lack ps/sub/presented_jti → invalid_jwt', async () => {
    const signer = await createSigner({ ...fullySpecified, d: key.d });
    for (const c of jwtVectors.cases.slice(2)) {
      const claims = c.claims.cnf ? { ...c.claims, cnf: { jwk: { ...c.claims.cnf.jwk, alg: 'Ed25519' } } } : c.claims;
      const jwt = await signJws({ typ: c.typ, kid: c.kid }, claims, signer);
      const error = await rejectCode(verifyToken(jwt, { accept: ['aa-resource+jwt', 'aa-auth+jwt'], resolveKey: refusingResolver, now: () => c.claims.iat }));
      expect(error.code).toBe('invalid_jwt');
    }
  });
});

// --- kinds --------------------------------------------------------------------------------------
const NOW = 1_800_000_000;
const now = (): number => NOW;
const psPrivate = await generateKeyPair('Ed25519', 'ps-key-1');
const ps = await createSigner(psPrivate);
const psKey = await importVerifyKey(publicJwkOf(psPrivate));
const rsPrivate = await generateKeyPair('ES256', 'rs-key-1');
const rs = await createSigner(rsPrivate);
const rsKey = await importVerifyKey(publicJwkOf(rsPrivate));
const keys = { 'https://ps.example': psKey, 'https://resource.example': rsKey, 'https://agent.example': apKey };

const personToken = await mintPersonToken(ps, { iss: 'https://ps.example', aud: 'https://resource.example', sub: 'pairwise-1', cnf: { jwk: AGENT_JWK } }, { now });
const authToken = await mintAuthToken(
  ps,
  { iss: 'https://ps.example', aud: 'https://resource.example', ps: 'https://ps.example', sub: 'pairwise-1', scope: 'data.read', cnf: { jwk: AGENT_JWK } },
  { now },
);
const resourceToken = await mintResourceToken(
  rs,
  {
    iss: 'https://resource.example',
    aud: 'https://ps.example',
    ps: 'https://ps.example',
    sub: 'pairwise-1',
    presented_jti: 'pt-1',
    agent_jkt: 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U',
    scope: 'data.read',
  },
  { now },
);

/** Signs arbitrary claims as `typ` with `signer` (for malformed-token cases mint refuses to build). */
const forge = (signer: Signer, typ: string, claims: Record<string, unknown>): Promise<string> =>
  signJws({ typ, kid: signer.publicJwk.kid as string }, claims, signer);

describe('verifyToken: typ first', () => {
  it('[§8.22] a person token where an auth token is required is rejected, naming the typ, before any key lookup', async () => {
    const resolveKey = resolverFor(keys);
    const error = await rejectCode(verifyToken(personToken, { accept: ['aa-auth+jwt'], resolveKey, now, audience: 'https://resource.example' }));
    expect(error.code).toBe('invalid_jwt');
    expect(error.detail).toContain('aa-person+jwt');
    expect(resolveKey.calls).toHaveLength(0);
  });

  it('[§8.22] the result type only holds accepted kinds', async () => {
    const result = await verifyToken(authToken, { accept: ['aa-auth+jwt'], resolveKey: resolverFor(keys), now });
    const narrowed: VerifiedAuthToken = result;
    expect(narrowed.claims.scope).toBe('data.read');
    // @ts-expect-error a person-token result is not among the accepted kinds
    const confused: VerifiedPersonToken = result;
    expect(confused.kind).toBe('aa-auth+jwt');
    // @ts-expect-error 'aa-person+jwt' is not a possible kind here
    expect(result.kind === 'aa-person+jwt').toBe(false);
    const either = await verifyToken(personToken, { accept: ['aa-person+jwt', 'aa-auth+jwt'], resolveKey: resolverFor(keys), now });
    if (either.kind === 'aa-person+jwt') expect(either.claims.sub).toBe('pairwise-1');
    else throw new Error('expected a person token');
  });

  it('typ is checked before the claims are looked at', async () => {
    const garbage = await forge(ps, 'aa-person+jwt', { nothing: true });
    const error = await rejectCode(verifyToken(garbage, { accept: ['aa-agent+jwt'], resolveKey: refusingResolver, now }));
    expect(error.detail).toContain('typ');
    const unknownTyp = await forge(ps, 'JWT', {});
    expect((await rejectCode(verifyToken(unknownTyp, { accept: ['aa-agent+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
  });

  it('accept must be a non-empty list of known kinds', async () => {
    expect((await rejectCode(verifyToken(personToken, { accept: [] as unknown as ['aa-auth+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_argument');
    expect((await rejectCode(verifyToken(personToken, { accept: ['JWT' as 'aa-auth+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_argument');
  });
});

describe('verifyToken: per kind', () => {
  it('[§8.21] person token: dwk, aud, sub, cnf; identity (iss, sub)', async () => {
    const r = await verifyToken(personToken, { accept: ['aa-person+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://resource.example' });
    expect([r.claims.iss, r.claims.sub]).toEqual(['https://ps.example', 'pairwise-1']);
    expect(r.cnfKey.thumbprint).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
    expect((await rejectCode(verifyToken(personToken, { accept: ['aa-person+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://other.example' }))).code).toBe('invalid_jwt');
  });

  it('[§8.19] person token carrying scope or account, or living over 1 h → invalid_jwt', async () => {
    const base = { iss: 'https://ps.example', dwk: 'aauth-person.json', aud: 'https://resource.example', sub: 's', jti: 'j', cnf: { jwk: AGENT_JWK }, iat: NOW, exp: NOW + 3600 };
    for (const claims of [{ ...base, scope: 'data.read' }, { ...base, account: 'a' }, { ...base, exp: NOW + 3601 }, { ...base, dwk: 'aauth-access.json' }]) {
      const jwt = await forge(ps, 'aa-person+jwt', claims);
      expect((await rejectCode(verifyToken(jwt, { accept: ['aa-person+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
    }
    await expect(verifyToken(await forge(ps, 'aa-person+jwt', base), { accept: ['aa-person+jwt'], resolveKey: resolverFor(keys), now })).resolves.toBeDefined();
  });

  it('[§8.30] resource token: typ, signature, aud, expiry (expired_jwt)', async () => {
    const r = await verifyToken(resourceToken, { accept: ['aa-resource+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://ps.example' });
    expect(r.claims.agent_jkt).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
    expect(r).not.toHaveProperty('cnfKey');
    expect((await rejectCode(verifyToken(resourceToken, { accept: ['aa-resource+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://as.example' }))).code).toBe('invalid_jwt');
    expect((await rejectCode(verifyToken(resourceToken, { accept: ['aa-resource+jwt'], resolveKey: resolverFor(keys), now: () => NOW + 300 }))).code).toBe('expired_jwt');
    const [h, p] = resourceToken.split('.') as [string, string];
    const badSig = `${h}.${p}.${b64urlEncode(new Uint8Array(64))}`;
    expect((await rejectCode(verifyToken(badSig, { accept: ['aa-resource+jwt'], resolveKey: resolverFor(keys), now }))).code).toBe('invalid_jwt');
  });

  it('[§8.24] resource token missing ps, sub, presented_jti, agent_jkt or scope → invalid_jwt', async () => {
    const base = decodeJws(resourceToken).payload;
    for (const claim of ['aud', 'ps', 'sub', 'presented_jti', 'agent_jkt', 'scope', 'jti', 'iat', 'exp']) {
      const { [claim]: _omit, ...rest } = base;
      const jwt = await forge(rs, 'aa-resource+jwt', rest);
      expect((await rejectCode(verifyToken(jwt, { accept: ['aa-resource+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
    }
  });

  it('[§8.40] auth token: dwk access|person, aud = self, sub present, cnf complete before decoding', async () => {
    const r = await verifyToken(authToken, { accept: ['aa-auth+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://resource.example' });
    expect(r.claims.sub).toBe('pairwise-1');
    const base = decodeJws(authToken).payload;
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, dwk: 'aauth-resource.json' }, 'invalid_jwt'],
      [{ ...base, sub: undefined }, 'invalid_jwt'],
      [{ ...base, ps: 'https://other.example' }, 'invalid_jwt'], // PS-issued: ps must equal iss
      [{ ...base, cnf: undefined }, 'invalid_jwt'],
      [{ ...base, cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' } } }, 'invalid_key'],
      [{ ...base, cnf: { jwk: { kty: 'EC', crv: 'P-256', x: 'AAAA', alg: 'ES256' } } }, 'invalid_key'],
      [{ ...base, cnf: { jwk: { kty: 'RSA', e: 'AQAB', alg: 'PS256' } } }, 'invalid_key'],
      [{ ...base, cnf: { jwk: { kty: 'AKP', alg: 'ML-DSA-44', pub: 'AAAA' } } }, 'unsupported_algorithm'],
      [{ ...base, exp: (base['iat'] as number) + 3601 }, 'invalid_jwt'],
    ];
    for (const [claims, code] of cases) {
      const jwt = await forge(ps, 'aa-auth+jwt', claims);
      expect((await rejectCode(verifyToken(jwt, { accept: ['aa-auth+jwt'], resolveKey: refusingResolver, now }))).code).toBe(code);
    }
    expect((await rejectCode(verifyToken(authToken, { accept: ['aa-auth+jwt'], resolveKey: resolverFor(keys), now, audience: 'https://else.example' }))).code).toBe('invalid_jwt');
  });

  it('[§8.38] AS-issued auth tokens (dwk aauth-access.json) resolve keys under that dwk; aud may be an array', async () => {
    const asPrivate = await generateKeyPair('Ed25519', 'as-key-1');
    const as = await createSigner(asPrivate);
    const jwt = await mintAuthToken(
      as,
      { iss: 'https://as.example', dwk: 'aauth-access.json', aud: ['https://resource.example', 'https://other.example'], ps: 'https://ps.example', sub: 's', cnf: { jwk: AGENT_JWK } },
      { now },
    );
    const resolveKey = resolverFor({ 'https://as.example': await importVerifyKey(publicJwkOf(asPrivate)) });
    const r = await verifyToken(jwt, { accept: ['aa-auth+jwt'], resolveKey, now, audience: 'https://resource.example', issuer: 'https://as.example' });
    expect(r.claims.dwk).toBe('aauth-access.json');
    expect(resolveKey.calls[0]).toEqual({ iss: 'https://as.example', dwk: 'aauth-access.json', kid: 'as-key-1' });
    expect((await rejectCode(verifyToken(jwt, { accept: ['aa-auth+jwt'], resolveKey, now, issuer: 'https://ps.example' }))).code).toBe('invalid_jwt');
  });

  it('agent token: wrong dwk, missing sub or cnf, missing kid → invalid_jwt', async () => {
    const base = decodeJws(VECTOR_TOKEN).payload;
    for (const claims of [{ ...base, dwk: 'aauth-person.json' }, { ...base, sub: undefined }, { ...base, cnf: {} }, { ...base, iat: 'x' }]) {
      const jwt = await forge(ap, 'aa-agent+jwt', claims);
      expect((await rejectCode(verifyToken(jwt, { accept: ['aa-agent+jwt'], resolveKey: refusingResolver, now: () => VECTOR_IAT }))).code).toBe('invalid_jwt');
    }
    const noKid = await signJws({ typ: 'aa-agent+jwt' }, base, ap);
    expect((await rejectCode(verifyToken(noKid, { accept: ['aa-agent+jwt'], resolveKey: refusingResolver, now: () => VECTOR_IAT }))).code).toBe('invalid_jwt');
  });

  it('resolver errors pass through (unknown_key, issuer_mismatch); non-AAuth errors become server_error', async () => {
    const mismatch: KeyResolver = () => Promise.reject(new AAuthError('issuer_mismatch'));
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: mismatch, now: () => VECTOR_IAT }))).code).toBe('issuer_mismatch');
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: resolverFor({}), now: () => VECTOR_IAT }))).code).toBe('unknown_key');
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: refusingResolver, now: () => VECTOR_IAT }))).code).toBe('server_error');
  });

  it('imports cnf keys through a VerifyKeyCache when given one', async () => {
    const keyCache = new VerifyKeyCache();
    const a = await verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: resolverFor(keys), now: () => VECTOR_IAT, keyCache });
    const b = await verifyToken(personToken, { accept: ['aa-person+jwt'], resolveKey: resolverFor(keys), now, keyCache });
    expect(b.cnfKey).toBe(a.cnfKey);
    expect(keyCache.size).toBe(1);
  });
});

describe('verifyToken: key rotation', () => {
  it('[§8.15] on a signature failure with a key found by kid, refreshes once and retries', async () => {
    const stale = await importVerifyKey({ ...publicJwkOf(await generateKeyPair('Ed25519')), kid: 'ap-key-1' });
    const calls: (boolean | undefined)[] = [];
    const resolveKey: KeyResolver = (request) => {
      calls.push(request.refresh);
      return Promise.resolve(request.refresh === true ? apKey : stale);
    };
    const r = await verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT });
    expect(r.kind).toBe('aa-agent+jwt');
    expect(calls).toEqual([undefined, true]);
  });

  it('a valid signature needs no refresh; a key gone after refresh is unknown_key', async () => {
    const calls: (boolean | undefined)[] = [];
    const stale = await importVerifyKey({ ...publicJwkOf(await generateKeyPair('Ed25519')), kid: 'ap-key-1' });
    const resolveKey: KeyResolver = (request) => {
      calls.push(request.refresh);
      return request.refresh === true ? Promise.reject(new AAuthError('unknown_key')) : Promise.resolve(stale);
    };
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey, now: () => VECTOR_IAT }))).code).toBe('unknown_key');
    expect(calls).toEqual([undefined, true]);
    const good = resolverFor(keys);
    await verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: good, now: () => VECTOR_IAT });
    expect(good.calls).toHaveLength(1);
  });

  it('a resolved key whose alg differs from the header alg fails (the key determines the algorithm)', async () => {
    const es = await importVerifyKey({ ...publicJwkOf(await generateKeyPair('ES256')), kid: 'ap-key-1' });
    expect((await rejectCode(verifyToken(VECTOR_TOKEN, { accept: ['aa-agent+jwt'], resolveKey: () => Promise.resolve(es), now: () => VECTOR_IAT }))).code).toBe('invalid_jwt');
  });
});

describe('jkt-s256+jwt (SK-08 §jkt-jwt)', () => {
  it('mints and verifies: iss is the thumbprint URN of the header key, cnf the delegated key, no resolver', async () => {
    const enclave = await createSigner(await generateKeyPair('ES256', 'enclave'));
    const jwt = await mintJktToken(enclave, { cnf: { jwk: AGENT_JWK } }, { now });
    const { header } = decodeJws(jwt);
    expect(header['typ']).toBe('jkt-s256+jwt');
    expect(header.kid).toBeUndefined();
    const r = await verifyToken(jwt, { accept: ['jkt-s256+jwt'], resolveKey: refusingResolver, now });
    expect(r.claims.iss).toBe(`urn:jkt:sha-256:${r.issuerKey.thumbprint}`);
    expect(r.cnfKey.thumbprint).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
  });

  it('rejects an iss that is not the header key thumbprint, a missing header jwk, or a foreign signature', async () => {
    const enclave = await createSigner(await generateKeyPair('Ed25519', 'enclave'));
    const other = await createSigner(await generateKeyPair('Ed25519', 'other'));
    const claims = { iss: 'urn:jkt:sha-256:poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U', iat: NOW, exp: NOW + 60, cnf: { jwk: AGENT_JWK } };
    const { kid: _k, ...enclaveJwk } = enclave.publicJwk;
    const wrongIss = await signJws({ typ: 'jkt-s256+jwt', jwk: enclaveJwk }, claims, enclave);
    expect((await rejectCode(verifyToken(wrongIss, { accept: ['jkt-s256+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
    const noJwk = await signJws({ typ: 'jkt-s256+jwt' }, claims, enclave);
    expect((await rejectCode(verifyToken(noJwk, { accept: ['jkt-s256+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
    const genuine = await mintJktToken(enclave, { cnf: { jwk: AGENT_JWK } }, { now });
    const [h, p] = genuine.split('.') as [string, string];
    const foreign = `${h}.${p}.${b64urlEncode(await other.sign(utf8(`${h}.${p}`)))}`;
    expect((await rejectCode(verifyToken(foreign, { accept: ['jkt-s256+jwt'], resolveKey: refusingResolver, now }))).code).toBe('invalid_jwt');
    expect((await rejectCode(verifyToken(genuine, { accept: ['jkt-s256+jwt'], resolveKey: refusingResolver, now: () => NOW + 3600 }))).code).toBe('expired_jwt');
  });
});

describe('tokenProblemCode', () => {
  it('maps Signature-Key codes to the endpoint codes of each kind', () => {
    const invalid = new AAuthError('invalid_jwt');
    const expired = new AAuthError('expired_jwt');
    expect(tokenProblemCode('aa-agent+jwt', invalid)).toBe('invalid_agent_token');
    expect(tokenProblemCode('aa-agent+jwt', expired)).toBe('expired_agent_token');
    expect(tokenProblemCode('aa-resource+jwt', invalid)).toBe('invalid_resource_token');
    expect(tokenProblemCode('aa-resource+jwt', expired)).toBe('expired_resource_token');
    expect(tokenProblemCode('aa-person+jwt', invalid)).toBe('invalid_person_token');
    expect(tokenProblemCode('aa-person+jwt', expired)).toBe('invalid_person_token');
    expect(tokenProblemCode('aa-auth+jwt', invalid)).toBe('invalid_auth_token');
    expect(tokenProblemCode('aa-auth+jwt', expired)).toBe('expired_auth_token');
    expect(tokenProblemCode('aa-agent+jwt', new AAuthError('unknown_key'))).toBe('invalid_agent_token');
    expect(tokenProblemCode('aa-resource+jwt', new AAuthError('issuer_mismatch'))).toBe('invalid_resource_token');
    expect(tokenProblemCode('aa-auth+jwt', new AAuthError('fetch_failed'))).toBe('temporarily_unavailable');
    expect(tokenProblemCode('aa-auth+jwt', new TypeError('bug'))).toBe('server_error');
  });
});

describe('verifyToken on arbitrary input', () => {
  it('throws only AAuthError', async () => {
    const resolveKey = resolverFor(keys);
    const part = fc.base64String().map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'));
    const header = fc.record({ alg: fc.constantFrom('Ed25519', 'ES256', 'PS256', 'EdDSA'), typ: fc.constantFrom('aa-agent+jwt', 'aa-auth+jwt', 'jkt-s256+jwt', 'x'), kid: fc.constantFrom('ap-key-1', 'ps-key-1') });
    const payload = fc.dictionary(fc.constantFrom('iss', 'dwk', 'sub', 'jti', 'cnf', 'iat', 'exp', 'aud', 'ps'), fc.jsonValue());
    const jsonToken = fc.tuple(header, payload, part).map(([h, p, s]) => `${b64urlEncode(utf8(JSON.stringify(h)))}.${b64urlEncode(utf8(JSON.stringify(p)))}.${s}`);
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.tuple(part, part, part).map((p) => p.join('.')), jsonToken), async (input) => {
        try {
          await verifyToken(input, { accept: ['aa-agent+jwt', 'aa-person+jwt', 'aa-resource+jwt', 'aa-auth+jwt', 'jkt-s256+jwt'], resolveKey, now });
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
