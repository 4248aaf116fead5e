import { describe, it, expect } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { b64urlDecode, b64urlEncode, utf8 } from '../src/base64url.js';
import { jwksKeys, selectJwk, validatePublicJwk } from '../src/crypto/jwk.js';
import { jwksDocument } from '../src/crypto/jwks.js';
import { ED25519_SMALL_ORDER_ENCODINGS, isSmallOrderEd25519 } from '../src/crypto/ed25519-small-order.js';
import { VerifyKeyCache, importVerifyKey } from '../src/crypto/verify-key.js';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import type { PrivateJwk, PublicJwk } from '../src/crypto/types.js';

/** RFC 8037 Appendix A.1 Ed25519 key. */
const ED_X = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
const ED_D = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
const ED25519: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: ED_X, alg: 'Ed25519', kid: 'ed' };
/** RFC 7517 Appendix A.1 / RFC 7638 §3.1 RSA public key (2048 bits). */
const RSA_N =
  '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
  throw new Error('expected a throw');
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
  throw new Error('expected a rejection');
}

let ecPublic: PublicJwk;
let ecPrivate: PrivateJwk;

describe('validatePublicJwk', () => {
  it('accepts Ed25519, ES256 and PS256 keys and normalizes to the members AAuth uses', async () => {
    ecPrivate = await generateKeyPair('ES256', 'ec');
    ecPublic = publicJwkOf(ecPrivate);
    expect(validatePublicJwk({ ...ED25519, ext: true, key_ops: ['verify'] })).toEqual(ED25519);
    expect(validatePublicJwk(ecPublic)).toEqual(ecPublic);
    expect(validatePublicJwk({ kty: 'RSA', n: RSA_N, e: 'AQAB', alg: 'PS256' })).toEqual({ kty: 'RSA', n: RSA_N, e: 'AQAB', alg: 'PS256' });
  });

  it('[§8.7] refuses a JWK with no alg', () => {
    const { alg: _alg, ...noAlg } = ED25519;
    expect(codeOf(() => validatePublicJwk(noAlg))).toBe('invalid_key');
  });

  it('[§8.7] refuses EdDSA, none and HS256, and oct keys', () => {
    expect(codeOf(() => validatePublicJwk({ ...ED25519, alg: 'EdDSA' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, alg: 'none' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, alg: 'HS256' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'oct', k: 'c2VjcmV0', alg: 'Ed25519' }))).toBe('invalid_key');
  });

  it('[§8.8] refuses kty/crv inconsistent with alg (invalid_key)', () => {
    expect(codeOf(() => validatePublicJwk({ ...ED25519, alg: 'ES256' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ecPublic, alg: 'Ed25519' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ecPublic, crv: 'P-384' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, crv: 'X25519' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, kty: 'EC' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ecPublic, kty: 'OKP' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, kty: 'RSA', n: RSA_N, e: 'AQAB' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'RSA', n: RSA_N, e: 'AQAB', alg: 'ES256' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'EC', crv: 'P-256', x: ecPublic.x, y: ecPublic.y, alg: 'PS256' }))).toBe('invalid_key');
  });

  it('unknown kty or an unsupported algorithm → unsupported_algorithm with acceptAlgorithms', () => {
    for (const jwk of [
      { kty: 'AKP', alg: 'ML-DSA-44', pub: 'AAAA' },
      { kty: 'OKP', crv: 'Ed448', x: 'AAAA', alg: 'Ed448' },
      { kty: 'EC', crv: 'P-384', x: 'AAAA', y: 'AAAA', alg: 'ES384' },
      { kty: 'RSA', n: RSA_N, e: 'AQAB', alg: 'RS256' },
      { kty: 'something', alg: 'Ed25519' },
    ]) {
      try {
        validatePublicJwk(jwk);
        throw new Error('expected a throw');
      } catch (error) {
        expect(error).toBeInstanceOf(AAuthError);
        expect((error as AAuthError).code).toBe('unsupported_algorithm');
        expect((error as AAuthError).acceptAlgorithms).toEqual(['Ed25519', 'ES256', 'PS256']);
      }
    }
  });

  it('checks structure before any import: members present, decoded lengths exact', () => {
    const { x: _x, ...noX } = ED25519;
    expect(codeOf(() => validatePublicJwk(noX))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, x: b64urlEncode(new Uint8Array(31)) }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, x: b64urlEncode(new Uint8Array(33)) }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, x: `${ED_X}=` }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, x: 42 }))).toBe('invalid_key');
    const { y: _y, ...noY } = ecPublic;
    expect(codeOf(() => validatePublicJwk(noY))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ecPublic, y: b64urlEncode(new Uint8Array(48)) }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'RSA', n: RSA_N, alg: 'PS256' }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ kty: 'RSA', e: 'AQAB', alg: 'PS256' }))).toBe('invalid_key');
  });

  it('refuses RSA keys below 2048 bits', () => {
    const n1024 = b64urlEncode(b64urlDecode(RSA_N).subarray(0, 128));
    expect(codeOf(() => validatePublicJwk({ kty: 'RSA', n: n1024, e: 'AQAB', alg: 'PS256' }))).toBe('invalid_key');
  });

  it('refuses private members in a public key', () => {
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      expect(codeOf(() => validatePublicJwk({ ...ED25519, [member]: ED_D }))).toBe('invalid_key');
    }
  });

  it('refuses non-objects, a non-string kid and use other than sig', () => {
    for (const v of [null, undefined, 'x', 1, [], [ED25519]]) expect(codeOf(() => validatePublicJwk(v))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, kid: 7 }))).toBe('invalid_key');
    expect(codeOf(() => validatePublicJwk({ ...ED25519, use: 'enc' }))).toBe('invalid_key');
  });
});

describe('selectJwk', () => {
  it('[§8.15] selects by kid, surviving foreign and unknown kty entries elsewhere in the set', () => {
    const jwks = {
      keys: [
        { kty: 'AKP', alg: 'ML-DSA-44', kid: 'pq', pub: 'AAAA' },
        { kty: 'weird' },
        'not a key',
        null,
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' },
        { kty: 'OKP', crv: 'Ed25519', x: ED_X, kid: 'no-alg' },
        ED25519,
      ],
    };
    expect(selectJwk(jwks, 'ed')).toEqual(ED25519);
  });

  it('no kid match → unknown_key; the selected entry failing policy → its policy error', () => {
    const jwks = { keys: [ED25519, { kty: 'OKP', crv: 'Ed25519', x: ED_X, kid: 'no-alg' }, { kty: 'AKP', alg: 'ML-DSA-44', kid: 'pq' }] };
    expect(codeOf(() => selectJwk(jwks, 'missing'))).toBe('unknown_key');
    expect(codeOf(() => selectJwk(jwks, 'no-alg'))).toBe('invalid_key');
    expect(codeOf(() => selectJwk(jwks, 'pq'))).toBe('unsupported_algorithm');
  });

  it('when entries share a kid, the first acceptable one wins', () => {
    const jwks = { keys: [{ kty: 'AKP', alg: 'ML-DSA-44', kid: 'ed' }, ED25519] };
    expect(selectJwk(jwks, 'ed')).toEqual(ED25519);
  });

  it('malformed JWK Sets → invalid_key', () => {
    for (const v of [null, {}, { keys: {} }, [ED25519], 'keys']) expect(codeOf(() => jwksKeys(v))).toBe('invalid_key');
    expect(codeOf(() => selectJwk({ keys: 'x' }, 'ed'))).toBe('invalid_key');
  });
});

describe('jwksDocument', () => {
  it('publishes policy-valid keys with unique kids', () => {
    expect(jwksDocument([ED25519, ecPublic])).toEqual({ keys: [ED25519, ecPublic] });
    expect(codeOf(() => jwksDocument([ED25519, ED25519]))).toBe('invalid_key');
    const { kid: _kid, ...noKid } = ED25519;
    expect(codeOf(() => jwksDocument([noKid]))).toBe('invalid_key');
    expect(codeOf(() => jwksDocument([{ ...ED25519, d: ED_D }]))).toBe('invalid_key');
  });
});

describe('signers and verify keys', () => {
  const data = utf8('signed bytes');

  it('Ed25519: sign with a private JWK, verify with the imported public key', async () => {
    const signer = await createSigner({ ...ED25519, d: ED_D });
    expect(signer.alg).toBe('Ed25519');
    expect(signer.publicJwk).toEqual(ED25519);
    const sig = await signer.sign(data);
    expect(sig.length).toBe(64);
    const key = await importVerifyKey(ED25519);
    expect(key.thumbprint).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    expect(await key.verify(data, sig)).toBe(true);
    expect(await key.verify(utf8('other bytes'), sig)).toBe(false);
  });

  it('ES256 signatures are raw r||s (64 bytes); DER or wrong-length signatures are invalid, never thrown', async () => {
    const signer = await createSigner(ecPrivate);
    const sig = await signer.sign(data);
    expect(sig.length).toBe(64);
    const key = await importVerifyKey(ecPublic);
    expect(await key.verify(data, sig)).toBe(true);
    expect(await key.verify(data, sig.subarray(0, 63))).toBe(false);
    const padded = new Uint8Array(65);
    padded.set(sig);
    expect(await key.verify(data, padded)).toBe(false);
    // A DER encoding of the same (r, s): SEQUENCE { INTEGER r, INTEGER s } — never accepted.
    const int = (b: Uint8Array): number[] => (b[0]! & 0x80 ? [0x02, 33, 0, ...b] : [0x02, 32, ...b]);
    const body = [...int(sig.subarray(0, 32)), ...int(sig.subarray(32))];
    expect(await key.verify(data, new Uint8Array([0x30, body.length, ...body]))).toBe(false);
    expect(await key.verify(data, new Uint8Array(0))).toBe(false);
  });

  it('generateKeyPair returns a private JWK with alg and kid (thumbprint by default)', async () => {
    const ed = await generateKeyPair('Ed25519');
    expect(ed).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
    expect(typeof ed.d).toBe('string');
    const key = await importVerifyKey(publicJwkOf(ed));
    expect(ed.kid).toBe(key.thumbprint);
    expect(publicJwkOf(ed)).not.toHaveProperty('d');
    const named = await generateKeyPair('ES256', 'k1');
    expect(named.kid).toBe('k1');
    await expect(generateKeyPair('PS256' as 'ES256')).rejects.toMatchObject({ code: 'unsupported_algorithm' });
  });

  it('createSigner refuses a key with no d, a bad d, or a policy failure', async () => {
    expect(await asyncCodeOf(createSigner({ ...ED25519 } as PrivateJwk))).toBe('invalid_key');
    expect(await asyncCodeOf(createSigner({ ...ED25519, d: 'AAAA' }))).toBe('invalid_key');
    expect(await asyncCodeOf(createSigner({ ...ED25519, d: ED_D, alg: 'EdDSA' } as unknown as PrivateJwk))).toBe('invalid_key');
  });

  it('importVerifyKey validates first and maps import failures to invalid_key', async () => {
    expect(await asyncCodeOf(importVerifyKey({ ...ED25519, alg: 'EdDSA' } as unknown as PublicJwk))).toBe('invalid_key');
    // 32 bytes of x and y, but not a point on P-256.
    const bad = { kty: 'EC', crv: 'P-256', x: b64urlEncode(new Uint8Array(32).fill(1)), y: b64urlEncode(new Uint8Array(32).fill(2)), alg: 'ES256' } as const;
    expect(await asyncCodeOf(importVerifyKey(bad))).toBe('invalid_key');
  });

  it('PS256 keys import and reject wrong-length signatures', async () => {
    const key = await importVerifyKey({ kty: 'RSA', n: RSA_N, e: 'AQAB', alg: 'PS256' });
    expect(key.alg).toBe('PS256');
    expect(await key.verify(data, new Uint8Array(255))).toBe(false);
    expect(await key.verify(data, new Uint8Array(256))).toBe(false);
  });
});

describe('VerifyKeyCache', () => {
  it('imports each distinct key once and evicts the least recently used', async () => {
    const cache = new VerifyKeyCache({ maxEntries: 2 });
    const a = await cache.get(ED25519);
    expect(await cache.get({ ...ED25519, kid: 'other-kid' })).toBe(a);
    const b = await cache.get(ecPublic);
    expect(cache.size).toBe(2);
    await cache.get(ED25519); // touch a
    await cache.get(publicJwkOf(await generateKeyPair('Ed25519'))); // evicts b
    expect(cache.size).toBe(2);
    expect(await cache.get(ED25519)).toBe(a);
    expect(await cache.get(ecPublic)).not.toBe(b);
  });

  it('does not keep failed imports and rejects with AAuthError', async () => {
    const cache = new VerifyKeyCache();
    expect(await asyncCodeOf(cache.get({ kty: 'OKP' } as PublicJwk))).toBe('invalid_key');
    expect(await asyncCodeOf(cache.get({ ...ED25519, x: 'AAAA' }))).toBe('invalid_key');
    expect(cache.size).toBe(0);
    expect(() => new VerifyKeyCache({ maxEntries: 0 })).toThrow(AAuthError);
  });
});

describe('Ed25519 keys of small order', () => {
  it('are refused with invalid_key, with the sign bit set or not', async () => {
    for (const encoding of ED25519_SMALL_ORDER_ENCODINGS) {
      for (const signBit of [0, 0x80]) {
        const x = Uint8Array.from(encoding);
        x[31] = x[31]! | signBit;
        const jwk = { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', x: b64urlEncode(x) };
        expect(codeOf(() => validatePublicJwk(jwk))).toBe('invalid_key');
        expect(await asyncCodeOf(importVerifyKey(jwk as PublicJwk))).toBe('invalid_key');
      }
    }
  });

  it('are the only ones refused: real keys and near misses pass', async () => {
    expect(validatePublicJwk(ED25519).x).toBe(ED_X);
    const publicJwk = publicJwkOf(await generateKeyPair('Ed25519', 'k'));
    expect(validatePublicJwk(publicJwk).x).toBe(publicJwk.x);
    for (const encoding of ED25519_SMALL_ORDER_ENCODINGS) {
      const x = Uint8Array.from(encoding);
      x[5] = x[5]! ^ 1;
      expect(isSmallOrderEd25519(x)).toBe(false);
    }
  });
});
