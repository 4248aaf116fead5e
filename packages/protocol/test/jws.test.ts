import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { AAuthError } from '../src/errors.js';
import { b64urlEncode, utf8 } from '../src/base64url.js';
import { createSigner, generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { importVerifyKey } from '../src/crypto/verify-key.js';
import { MAX_JWS_LENGTH, decodeJws, signJws, verifyJwsSignature } from '../src/tokens/jws.js';

const enc = (v: unknown): string => b64urlEncode(utf8(typeof v === 'string' ? v : JSON.stringify(v)));
const SIG = b64urlEncode(new Uint8Array(64));
const HEADER = { alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'k1' };
const compact = (header: unknown, payload: unknown, sig = SIG): string => `${enc(header)}.${enc(payload)}.${sig}`;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
  throw new Error('expected a throw');
}

describe('decodeJws', () => {
  it('decodes a well-formed compact JWS', () => {
    const jws = compact(HEADER, { iss: 'https://a.example' });
    const d = decodeJws(jws);
    expect(d.header).toEqual(HEADER);
    expect(d.payload).toEqual({ iss: 'https://a.example' });
    expect(d.signature.length).toBe(64);
    expect(new TextDecoder().decode(d.signingInput)).toBe(jws.slice(0, jws.lastIndexOf('.')));
  });

  it('rejects anything but three non-empty parts', () => {
    const ok = compact(HEADER, {});
    const [h, p, s] = ok.split('.') as [string, string, string];
    for (const bad of ['', '.', '..', h, `${h}.${p}`, `${h}.${p}.`, `.${p}.${s}`, `${h}..${s}`, `${ok}.${s}`, `${h}.${p}.${s}.`]) {
      expect(codeOf(() => decodeJws(bad))).toBe('invalid_jwt');
    }
    expect(codeOf(() => decodeJws(42))).toBe('invalid_jwt');
  });

  it('rejects non-strict base64url, non-JSON and non-object parts', () => {
    expect(codeOf(() => decodeJws(`${enc(HEADER)}=.${enc({})}.${SIG}`))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(`${enc(HEADER)}.${enc({})}.${SIG}=`))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(`${enc(HEADER).replace(/.$/, '+')}.${enc({})}.${SIG}`))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact('not json', {})))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact(HEADER, [1, 2])))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact(HEADER, 'str')))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact(HEADER, null)))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(`${b64urlEncode(new Uint8Array([0xff, 0xfe]))}.${enc({})}.${SIG}`))).toBe('invalid_jwt');
  });

  it('[§8.7] rejects header alg none, EdDSA, HS256, missing or unsupported', () => {
    for (const alg of ['none', 'EdDSA', 'HS256', 'RS256', 'ES384', 'ML-DSA-44', undefined, 5]) {
      expect(codeOf(() => decodeJws(compact({ ...HEADER, alg }, {})))).toBe('invalid_jwt');
    }
  });

  it('requires typ; kid must be a string when present; crit is refused', () => {
    expect(codeOf(() => decodeJws(compact({ alg: 'Ed25519', kid: 'k' }, {})))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact({ ...HEADER, typ: 1 }, {})))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact({ ...HEADER, kid: 1 }, {})))).toBe('invalid_jwt');
    expect(codeOf(() => decodeJws(compact({ ...HEADER, crit: ['exp'] }, {})))).toBe('invalid_jwt');
    expect(decodeJws(compact({ alg: 'ES256', typ: 'jkt-s256+jwt' }, {})).header.kid).toBeUndefined();
  });

  it('caps the size', () => {
    const big = compact(HEADER, { pad: 'x'.repeat(MAX_JWS_LENGTH) });
    expect(codeOf(() => decodeJws(big))).toBe('invalid_jwt');
    expect(decodeJws(big, { maxLength: 64 * 1024 }).payload).toHaveProperty('pad');
  });

  it('arbitrary input only ever throws AAuthError (invalid_jwt)', () => {
    const part = fc.oneof(fc.string(), fc.base64String().map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.tuple(part, part, part).map((p) => p.join('.')), fc.anything()), (input) => {
        try {
          decodeJws(input);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
          expect((error as AAuthError).code).toBe('invalid_jwt');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary JSON header/payload only ever throws AAuthError', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (h, p) => {
        try {
          decodeJws(compact(h, p));
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('signJws / verifyJwsSignature', () => {
  it('signs with header order alg, typ, kid and verifies (Ed25519 and ES256)', async () => {
    for (const alg of ['Ed25519', 'ES256'] as const) {
      const priv = await generateKeyPair(alg, 'k1');
      const signer = await createSigner(priv);
      const jws = await signJws({ typ: 'aa-agent+jwt', kid: 'k1' }, { b: 1, a: 2 }, signer);
      const [h, p] = jws.split('.') as [string, string];
      expect(h).toBe(enc({ alg, typ: 'aa-agent+jwt', kid: 'k1' }));
      expect(p).toBe(enc({ b: 1, a: 2 }));
      const decoded = decodeJws(jws);
      expect(decoded.signature.length).toBe(64);
      const key = await importVerifyKey(publicJwkOf(priv));
      expect(await verifyJwsSignature(decoded, key)).toBe(true);
      // Tampered payload.
      const tampered = decodeJws(`${h}.${enc({ b: 1, a: 3 })}.${jws.split('.')[2]!}`);
      expect(await verifyJwsSignature(tampered, key)).toBe(false);
    }
  });

  it('the key determines the algorithm: a header alg that differs from the key is a failure', async () => {
    const ed = await generateKeyPair('Ed25519', 'k1');
    const jws = await signJws({ typ: 't', kid: 'k1' }, {}, await createSigner(ed));
    const [, p, s] = jws.split('.') as [string, string, string];
    const relabelled = decodeJws(`${enc({ alg: 'ES256', typ: 't', kid: 'k1' })}.${p}.${s}`);
    expect(await verifyJwsSignature(relabelled, await importVerifyKey(publicJwkOf(ed)))).toBe(false);
  });

  it('refuses a header alg that is not the signer’s', async () => {
    const signer = await createSigner(await generateKeyPair('Ed25519', 'k1'));
    await expect(signJws({ typ: 't', alg: 'ES256' }, {}, signer)).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
