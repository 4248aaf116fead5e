import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  assertSignatureKeyScheme,
  parseSignatureKey,
  selectSignatureKey,
  serializeSignatureKey,
  serializeSignatureKeys,
  type SignatureKeyMember,
} from '../src/signature-key.js';
import { codeOf } from './support.js';

/** Vectors transcribed from aauth-dev/aauth-go testdata/vectors/signature-key.json (see the file's `source`). */
interface SignatureKeyCase {
  header: string;
  scheme?: string;
  params?: Record<string, string>;
  error?: string;
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/signature-key.json', import.meta.url), 'utf8')) as {
  source: string;
  cases: SignatureKeyCase[];
};

const JWT = 'eyJhbGciOiJFZDI1NTE5In0.e30.c2ln';

describe('Signature-Key (SK-08)', () => {
  it('parses the jwt scheme', () => {
    expect(selectSignatureKey(`sig=jwt;jwt="${JWT}"`, 'sig')).toEqual({ scheme: 'jwt', jwt: JWT });
  });

  it('parses every registered scheme into its discriminated member', () => {
    const members = parseSignatureKey(
      [
        `a=jwt;jwt="${JWT}";cache`,
        `b=jkt-jwt;jwt="${JWT}"`,
        `c=self-jwt;jwt="${JWT}"`,
        'd=jwks_uri;id="https://ps.example";dwk="aauth-person.json";kid="key-1"',
        'e=jwks;url="https://client.example/keys.jwks";kid="key-1"',
        'f=hwk;kty="OKP";crv="Ed25519";x="JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";alg="Ed25519"',
        'g=x509;x5u="https://client.example/.well-known/cert.pem";x5t=:bWcoon4QTVn8Q6xiY0ekMD6L8bNLMkuDV2KtvsFc1nM=:',
        'h=cached;cid="2f9c8a1e-a7b3"',
        'i=x-new;foo="bar"',
      ].join(', '),
    );
    expect(members.get('a')).toEqual({ scheme: 'jwt', jwt: JWT, cache: true });
    expect(members.get('b')).toEqual({ scheme: 'jkt-jwt', jwt: JWT });
    expect(members.get('c')).toEqual({ scheme: 'self-jwt', jwt: JWT });
    expect(members.get('d')).toEqual({ scheme: 'jwks_uri', id: 'https://ps.example', dwk: 'aauth-person.json', kid: 'key-1' });
    expect(members.get('e')).toEqual({ scheme: 'jwks', url: 'https://client.example/keys.jwks', kid: 'key-1' });
    expect(members.get('f')).toEqual({
      scheme: 'hwk',
      kty: 'OKP',
      crv: 'Ed25519',
      x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs',
      alg: 'Ed25519',
    });
    const x509 = members.get('g');
    expect(x509?.scheme).toBe('x509');
    if (x509?.scheme === 'x509') {
      expect(x509.x5u).toBe('https://client.example/.well-known/cert.pem');
      expect(x509.x5t).toHaveLength(32);
    }
    expect(members.get('h')).toEqual({ scheme: 'cached', cid: '2f9c8a1e-a7b3' });
    const unknown = members.get('i');
    expect(unknown?.scheme).toBe('unknown');
    if (unknown?.scheme === 'unknown') {
      expect(unknown.token).toBe('x-new');
      expect(unknown.parameters.get('foo')).toBe('bar');
    }
  });

  it('[§8.3] a missing header or a missing label member is invalid_request', () => {
    expect(codeOf(() => selectSignatureKey(undefined, 'sig'))).toBe('invalid_request');
    expect(codeOf(() => selectSignatureKey(`other=jwt;jwt="${JWT}"`, 'sig'))).toBe('invalid_request');
  });

  it('a malformed header or member is invalid_request', () => {
    for (const header of ['sig=jwt;jwt=', 'sig="jwt";jwt="x"', 'sig=(jwt)', 'sig', 'sig=jwt;jwt=abc', 'sig=jwt', 'sig=jwt;jwt=:AAAA:', 'sig=jwt, sig=']) {
      expect(codeOf(() => selectSignatureKey(header, 'sig')), header).toBe('invalid_request');
    }
    expect(codeOf(() => selectSignatureKey('sig=jwks_uri;id="https://ps.example";kid="k"', 'sig'))).toBe('invalid_request');
    expect(codeOf(() => selectSignatureKey('sig=x509;x5u="https://a.example/c.pem";x5t="notbytes"', 'sig'))).toBe('invalid_request');
  });

  it('refuses a header larger than 16 KiB', () => {
    const big = `sig=jwt;jwt="${'a'.repeat(16 * 1024)}"`;
    expect(codeOf(() => selectSignatureKey(big, 'sig'))).toBe('invalid_request');
    const fits = `sig=jwt;jwt="${'a'.repeat(15 * 1024)}"`;
    expect(selectSignatureKey(fits, 'sig').scheme).toBe('jwt');
  });

  it('ignores members that were not selected, even unknown or malformed ones (SK-08 §Unknown schemes)', () => {
    const header = `other=x-future;p=1, bad=hwk;kty="OKP", worse=("a"), sig=jwt;jwt="${JWT}"`;
    expect(selectSignatureKey(header, 'sig')).toEqual({ scheme: 'jwt', jwt: JWT });
  });

  it('[§8.6] an unknown scheme on the selected member is surfaced for unsupported_scheme', () => {
    const member = selectSignatureKey('sig=x-unregistered', 'sig');
    expect(member).toMatchObject({ scheme: 'unknown', token: 'x-unregistered' });
    expect(codeOf(() => assertSignatureKeyScheme(member, ['jwt']))).toBe('unsupported_scheme');
  });

  it('[§8.6] with accept: ["jwt"], hwk and unknown schemes fail unsupported_scheme before their parameters are examined', () => {
    // This hwk member is also malformed (no alg, a kid): the scheme check comes first (AAuth -11 §Verification step 4).
    expect(codeOf(() => selectSignatureKey('sig=hwk;kty="OKP";kid="k"', 'sig', { accept: ['jwt'] }))).toBe('unsupported_scheme');
    expect(codeOf(() => selectSignatureKey('sig=x-unregistered', 'sig', { accept: ['jwt'] }))).toBe('unsupported_scheme');
    expect(codeOf(() => selectSignatureKey('sig=jwks_uri;id="https://ps.example";dwk="d";kid="k"', 'sig', { accept: ['jwt'] }))).toBe(
      'unsupported_scheme',
    );
    expect(selectSignatureKey(`sig=jwt;jwt="${JWT}"`, 'sig', { accept: ['jwt'] })).toEqual({ scheme: 'jwt', jwt: JWT });
  });

  it('refuses x509 clearly with unsupported_scheme', () => {
    const member = selectSignatureKey('sig=x509;x5u="https://a.example/c.pem";x5t=:AAAA:', 'sig');
    expect(() => assertSignatureKeyScheme(member, ['jwt', 'jwks_uri'])).toThrowError(/x509 is not supported/);
  });

  it('assertSignatureKeyScheme narrows an accepted member', () => {
    const member: SignatureKeyMember = selectSignatureKey(`sig=jwt;jwt="${JWT}"`, 'sig');
    assertSignatureKeyScheme(member, ['jwt']);
    expect(member.jwt).toBe(JWT);
  });

  it('hwk: alg is REQUIRED (unsupported_algorithm), kid is forbidden and key-type members are required (invalid_key)', () => {
    expect(codeOf(() => selectSignatureKey('sig=hwk;kty="OKP";crv="Ed25519";x="abc"', 'sig'))).toBe('unsupported_algorithm');
    expect(codeOf(() => selectSignatureKey('sig=hwk;kty="OKP";crv="Ed25519";x="abc";alg="Ed25519";kid="k1"', 'sig'))).toBe('invalid_key');
    expect(codeOf(() => selectSignatureKey('sig=hwk;kty="EC";crv="P-256";x="abc";alg="ES256"', 'sig'))).toBe('invalid_key');
    expect(codeOf(() => selectSignatureKey('sig=hwk;kty="RSA";n="abc";alg="PS256"', 'sig'))).toBe('invalid_key');
    expect(selectSignatureKey('sig=hwk;kty="RSA";n="abc";e="AQAB";alg="PS256"', 'sig')).toEqual({
      scheme: 'hwk',
      kty: 'RSA',
      n: 'abc',
      e: 'AQAB',
      alg: 'PS256',
    });
    // An unknown kty is left for the key layer (which answers unsupported_algorithm).
    expect(selectSignatureKey('sig=hwk;kty="AKP";alg="ML-DSA-44"', 'sig')).toEqual({ scheme: 'hwk', kty: 'AKP', alg: 'ML-DSA-44' });
  });

  it('serializes through structured-headers and escapes quotes', () => {
    expect(serializeSignatureKey('sig', { scheme: 'jwt', jwt: JWT })).toBe(`sig=jwt;jwt="${JWT}"`);
    expect(serializeSignatureKey('sig', { scheme: 'jwt', jwt: JWT, cache: true })).toBe(`sig=jwt;jwt="${JWT}";cache`);
    expect(serializeSignatureKey('sig', { scheme: 'jwks_uri', id: 'https://ps.example', dwk: 'aauth-person.json', kid: 'key-1' })).toBe(
      'sig=jwks_uri;id="https://ps.example";dwk="aauth-person.json";kid="key-1"',
    );
    expect(serializeSignatureKey('sig', { scheme: 'cached', cid: 'a"b\\c' })).toBe('sig=cached;cid="a\\"b\\\\c"');
    expect(
      serializeSignatureKeys([
        ['sig1', { scheme: 'jwt', jwt: JWT }],
        ['sig2', { scheme: 'jwks', url: 'https://c.example/k', kid: 'k' }],
      ]),
    ).toBe(`sig1=jwt;jwt="${JWT}", sig2=jwks;url="https://c.example/k";kid="k"`);
  });

  it('refuses to serialize an invalid label, a non-ASCII value or a non-Token scheme with invalid_argument', () => {
    expect(codeOf(() => serializeSignatureKey('Sig', { scheme: 'jwt', jwt: JWT }))).toBe('invalid_argument');
    expect(codeOf(() => serializeSignatureKey('sig', { scheme: 'jwt', jwt: 'é' }))).toBe('invalid_argument');
    expect(codeOf(() => serializeSignatureKey('sig', { scheme: 'unknown', token: '1bad', parameters: new Map() }))).toBe('invalid_argument');
    expect(
      codeOf(() =>
        serializeSignatureKeys([
          ['sig', { scheme: 'jwt', jwt: JWT }],
          ['sig', { scheme: 'jwt', jwt: JWT }],
        ]),
      ),
    ).toBe('invalid_argument');
  });

  describe(`aauth-go vectors (${vectors.source})`, () => {
    for (const c of vectors.cases) {
      it(`parses ${c.header}`, () => {
        if (c.scheme !== undefined && Object.keys(c.params ?? {}).length > 0) {
          const member = selectSignatureKey(c.header, 'sig');
          expect(member.scheme).toBe(c.scheme);
          for (const [name, value] of Object.entries(c.params ?? {})) expect((member as unknown as Record<string, unknown>)[name]).toBe(value);
        }
        // An AAuth verifier accepts only jwt from agents.
        const code = codeOf(() => selectSignatureKey(c.header, 'sig', { accept: ['jwt'] }));
        if (c.error === 'unsupported_scheme') expect(code).toBe('unsupported_scheme');
        // aauth-go follows the newer editor's copy and answers invalid_signature for a missing or malformed member;
        // this project follows the pinned -11 text (digest §8.3): invalid_request.
        else if (c.error === 'invalid_signature') expect(code).toBe('invalid_request');
        else expect(code).toBeUndefined();
      });
    }
  });

  it('round-trips serialize → parse for every scheme', () => {
    const sfString = fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s));
    const member: fc.Arbitrary<SignatureKeyMember> = fc.oneof(
      fc.record({ scheme: fc.constant('jwt' as const), jwt: sfString }),
      fc.record({ scheme: fc.constant('jwt' as const), jwt: sfString, cache: fc.constant(true as const) }),
      fc.record({ scheme: fc.constant('jkt-jwt' as const), jwt: sfString }),
      fc.record({ scheme: fc.constant('self-jwt' as const), jwt: sfString }),
      fc.record({ scheme: fc.constant('jwks_uri' as const), id: sfString, dwk: sfString, kid: sfString }),
      fc.record({ scheme: fc.constant('jwks' as const), url: sfString, kid: sfString }),
      fc.record({ scheme: fc.constant('hwk' as const), kty: fc.constant('OKP'), crv: sfString, x: sfString, alg: sfString }),
      fc.record({ scheme: fc.constant('hwk' as const), kty: fc.constant('EC'), crv: sfString, x: sfString, y: sfString, alg: sfString }),
      fc.record({ scheme: fc.constant('hwk' as const), kty: fc.constant('RSA'), n: sfString, e: sfString, alg: sfString }),
      fc.record({ scheme: fc.constant('x509' as const), x5u: sfString, x5t: fc.uint8Array({ maxLength: 32 }) }),
      fc.record({ scheme: fc.constant('cached' as const), cid: sfString }),
    );
    const label = fc.stringMatching(/^[a-z*][a-z0-9_.*-]{0,10}$/);
    fc.assert(
      fc.property(label, member, (l, m) => {
        const header = serializeSignatureKey(l, m);
        const parsed = selectSignatureKey(header, l);
        expect(parsed).toEqual(m);
        expect(parseSignatureKey(header).get(l)).toEqual(m);
      }),
    );
  });

  it('the canonical jwt hot path agrees with the full Structured Field parser', () => {
    const jwtish = fc.string({ unit: fc.constantFrom(...'AZaz09-_.~+/= "\\;,'.split('')), maxLength: 40 });
    const label = fc.constantFrom('sig', 'sig1', 'Sig', 'a*b', '');
    const header = fc.tuple(label, jwtish, fc.constantFrom('', ' ', ';cache', ', x=jwt')).map(([l, j, tail]) => `${l}=jwt;jwt="${j}"${tail}`);
    fc.assert(
      fc.property(header, label, (h, l) => {
        // A leading SP is skipped by the SF parser (RFC 9651 §4.2) but never matches the hot path.
        const outcome = (header: string): unknown => {
          try {
            return selectSignatureKey(header, l);
          } catch (error) {
            return (error as AAuthError).code;
          }
        };
        expect(outcome(h)).toEqual(outcome(` ${h}`));
      }),
      { numRuns: 1000 },
    );
    expect(codeOf(() => selectSignatureKey(`sig=jwt;jwt="${JWT}"`, 'sig', { accept: ['jwks_uri'] }))).toBe('unsupported_scheme');
  });

  it('given any string, parse and select return or throw only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z]{1,3}=[a-z_-]{1,8}(;[a-z]{1,3}=("[^"]*"|:[A-Za-z0-9+/=]*:|\?[01]|[0-9]+))*$/)), (s) => {
        for (const fn of [() => parseSignatureKey(s), () => selectSignatureKey(s, 'sig'), () => selectSignatureKey(s, 'sig', { accept: ['jwt'] })]) {
          try {
            fn();
          } catch (error) {
            expect(error).toBeInstanceOf(AAuthError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
