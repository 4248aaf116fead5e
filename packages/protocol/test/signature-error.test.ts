import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  parseAcceptSignatureAlg,
  parseAcceptSignatureScheme,
  parseSignatureError,
  serializeAcceptSignatureAlg,
  serializeAcceptSignatureScheme,
  serializeSignatureError,
} from '../src/headers/signature-error.js';
import { codeOf } from './support.js';

/** Vectors transcribed from aauth-dev/aauth-go testdata/vectors/signature-error.json (see the file's `source`). */
const vectors = JSON.parse(readFileSync(new URL('./vectors/aauth-go/signature-error.json', import.meta.url), 'utf8')) as {
  source: string;
  cases: { header: string; code: string; required_input?: string[]; canonical: boolean }[];
};

describe('Signature-Error', () => {
  it('[§8.4] builds invalid_input with required_input as an Inner List of Strings', () => {
    const header = serializeSignatureError({ error: 'invalid_input', requiredInput: ['@method', '@authority', '@path', 'signature-key'] });
    expect(header).toBe('error=invalid_input, required_input=("@method" "@authority" "@path" "signature-key")');
    expect(parseSignatureError(header)).toEqual({ error: 'invalid_input', requiredInput: ['@method', '@authority', '@path', 'signature-key'] });
  });

  it('emits required_input only with invalid_input', () => {
    expect(serializeSignatureError({ error: 'invalid_signature', requiredInput: ['@method'] })).toBe('error=invalid_signature');
  });

  it('ignores unknown members and keeps unregistered error codes', () => {
    expect(parseSignatureError('error=cache_miss, hint="x"')).toEqual({ error: 'cache_miss' });
  });

  it('ignores a malformed required_input (advisory)', () => {
    expect(parseSignatureError('error=invalid_input, required_input=("@method" 1)')).toEqual({ error: 'invalid_input' });
    expect(parseSignatureError('error=invalid_input, required_input="@method"')).toEqual({ error: 'invalid_input' });
  });

  it('rejects a value without an error Token', () => {
    for (const header of ['', 'error="invalid_signature"', 'code=invalid_signature', 'error=(a b)', 'error', 'error=a,,']) {
      expect(codeOf(() => parseSignatureError(header)), header).toBe('invalid_header');
    }
  });

  it('refuses to build a non-Token error', () => {
    expect(codeOf(() => serializeSignatureError({ error: 'bad code' }))).toBe('invalid_argument');
    expect(codeOf(() => serializeSignatureError({ error: 'invalid_input', requiredInput: ['é'] }))).toBe('invalid_argument');
  });

  describe(`aauth-go vectors (${vectors.source})`, () => {
    for (const c of vectors.cases) {
      it(`parses ${c.header}`, () => {
        const parsed = parseSignatureError(c.header);
        expect(parsed.error).toBe(c.code);
        expect(parsed.requiredInput).toEqual(c.required_input);
        if (c.canonical && !c.header.includes('future_member')) expect(serializeSignatureError(parsed)).toBe(c.header);
      });
    }
  });

  it('round-trips serialize → parse', () => {
    const code = fc.stringMatching(/^[a-z][a-z_]{0,20}$/);
    const components = fc.array(fc.stringMatching(/^[@a-z][a-z;=" -]{0,15}$/), { maxLength: 6 });
    fc.assert(
      fc.property(code, components, (error, requiredInput) => {
        const value = error === 'invalid_input' ? { error, requiredInput } : { error };
        expect(parseSignatureError(serializeSignatureError(value))).toEqual(value);
      }),
    );
    fc.assert(
      fc.property(components, (requiredInput) => {
        const value = { error: 'invalid_input', requiredInput };
        expect(parseSignatureError(serializeSignatureError(value))).toEqual(value);
      }),
    );
  });
});

describe('Accept-Signature-Scheme and Accept-Signature-Alg', () => {
  it('[§8.6] builds Accept-Signature-Scheme: jwt', () => {
    expect(serializeAcceptSignatureScheme(['jwt'])).toBe('jwt');
    expect(parseAcceptSignatureScheme('hwk, jwks_uri, jwt')).toEqual(['hwk', 'jwks_uri', 'jwt']);
  });

  it('keeps JOSE algorithm names case-exact as Tokens', () => {
    expect(serializeAcceptSignatureAlg(['Ed25519', 'ES256', 'ML-DSA-44'])).toBe('Ed25519, ES256, ML-DSA-44');
    expect(parseAcceptSignatureAlg('Ed25519, ES256')).toEqual(['Ed25519', 'ES256']);
    expect(parseAcceptSignatureAlg('es256')).toEqual(['es256']);
  });

  it('never advertises none, HS* or EdDSA (SK-08 §Algorithm Determination)', () => {
    for (const alg of ['none', 'HS256', 'HS512', 'EdDSA']) expect(codeOf(() => serializeAcceptSignatureAlg(['Ed25519', alg]))).toBe('invalid_argument');
  });

  it('drops non-Token members and duplicates when parsing; refuses an empty or non-Token list when building', () => {
    expect(parseAcceptSignatureAlg('Ed25519;q=1, "ES256", (PS256), Ed25519')).toEqual(['Ed25519']);
    expect(codeOf(() => serializeAcceptSignatureScheme([]))).toBe('invalid_argument');
    expect(codeOf(() => serializeAcceptSignatureAlg(['1ES256']))).toBe('invalid_argument');
    expect(codeOf(() => parseAcceptSignatureScheme('jwt,'))).toBe('invalid_header');
  });

  it('round-trips serialize → parse', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,10}$/), { minLength: 1, maxLength: 5 }), (values) => {
        fc.pre(!values.some((v) => v === 'none' || v === 'EdDSA' || /^HS\d+$/.test(v)));
        expect(parseAcceptSignatureAlg(serializeAcceptSignatureAlg(values))).toEqual(values);
        expect(parseAcceptSignatureScheme(serializeAcceptSignatureScheme(values))).toEqual(values);
      }),
    );
  });

  it('given any string, the parsers return or throw only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^error=[a-z_]{1,10}(, ?[a-z_]{1,14}=(\([^)]*\)|"[^"]*"|[a-z]+))*$/)), (s) => {
        for (const fn of [() => parseSignatureError(s), () => parseAcceptSignatureAlg(s), () => parseAcceptSignatureScheme(s)]) {
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
