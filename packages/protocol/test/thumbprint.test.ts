import { describe, it, expect } from 'vitest';
import { calculateJwkThumbprint } from 'jose';
import { AAuthError } from '../src/errors.js';
import { jktUrn, jwkThumbprint, thumbprintInput } from '../src/crypto/thumbprint.js';
import { generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import vectors from './vectors/aauth-go/jwk-thumbprint.json' with { type: 'json' };

/** RFC 7638 §3.1 example key (also RFC 7517 Appendix A.1). */
const RFC7638_KEY = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};

describe('jwkThumbprint (RFC 7638)', () => {
  it('RFC 7638 §3.1 RSA example', async () => {
    expect(thumbprintInput(RFC7638_KEY)).toBe(`{"e":"AQAB","kty":"RSA","n":"${RFC7638_KEY.n}"}`);
    expect(await jwkThumbprint(RFC7638_KEY)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });

  it('RFC 8037 Appendix A.3 Ed25519 example', async () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' };
    expect(thumbprintInput(jwk)).toBe('{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}');
    expect(await jwkThumbprint(jwk)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });

  it('[§8.12] vectors.md §1: test-key-ed25519 thumbprint (agent_jkt)', async () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', kid: 'test-key-ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' };
    expect(await jwkThumbprint(jwk)).toBe('poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
    expect(await jktUrn(jwk)).toBe('urn:jkt:sha-256:poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U');
  });

  describe(`aauth-go vectors (${vectors.source})`, () => {
    for (const c of vectors.cases) {
      it(c.name, async () => {
        expect(await jwkThumbprint(c.jwk)).toBe(c.thumbprint);
      });
    }
  });

  it('EC keys use crv, kty, x, y in that order', async () => {
    const jwk = publicJwkOf(await generateKeyPair('ES256', 'k'));
    expect(thumbprintInput(jwk)).toBe(`{"crv":"P-256","kty":"EC","x":"${jwk.x as string}","y":"${jwk.y as string}"}`);
  });

  it('agrees with jose calculateJwkThumbprint on generated Ed25519 and ES256 keys', async () => {
    for (const alg of ['Ed25519', 'ES256', 'Ed25519', 'ES256'] as const) {
      const jwk = publicJwkOf(await generateKeyPair(alg));
      expect(await jwkThumbprint(jwk)).toBe(await calculateJwkThumbprint(jwk as Parameters<typeof calculateJwkThumbprint>[0], 'sha256'));
    }
    expect(await jwkThumbprint(RFC7638_KEY)).toBe(await calculateJwkThumbprint(RFC7638_KEY, 'sha256'));
  });

  it('unknown kty or a missing required member → invalid_key', () => {
    expect(() => thumbprintInput({ kty: 'oct', k: 'AAAA' })).toThrow(AAuthError);
    expect(() => thumbprintInput({ kty: 'OKP', crv: 'Ed25519' })).toThrow(expect.objectContaining({ code: 'invalid_key' }) as Error);
    expect(() => thumbprintInput({ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 5 })).toThrow(AAuthError);
    expect(() => thumbprintInput({ kty: 'toString' })).toThrow(AAuthError);
  });
});
