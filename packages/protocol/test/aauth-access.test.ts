import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  buildAAuthAuthorization,
  isToken68,
  parseAAuthAccess,
  parseAAuthAuthorization,
  serializeAAuthAccess,
} from '../src/headers/aauth-access.js';
import { codeOf } from './support.js';

const token68 = fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,64}={0,2}$/);

describe('AAuth-Access and Authorization: AAuth', () => {
  it('accepts a single token68', () => {
    expect(parseAAuthAccess('wrapped-session-token-value')).toBe('wrapped-session-token-value');
    expect(parseAAuthAccess('abc+/=')).toBe('abc+/=');
    expect(parseAAuthAccess(['abc.def~ghi'])).toBe('abc.def~ghi');
    expect(parseAAuthAccess('  abc  ')).toBe('abc');
  });

  it('[§8.51] rejects empty, whitespace-containing and multiple values', () => {
    for (const value of ['', '   ', 'abc def', 'abc\tdef', 'abc\ndef', 'a,b', 'abc, def', '=abc', 'ab=c', 'abc\u0000', 'tok"en', 'é']) {
      expect(codeOf(() => parseAAuthAccess(value)), JSON.stringify(value)).toBe('invalid_header');
    }
    expect(codeOf(() => parseAAuthAccess(['abc', 'def']))).toBe('invalid_header');
    expect(codeOf(() => parseAAuthAccess([]))).toBe('invalid_header');
    expect(codeOf(() => parseAAuthAccess('a'.repeat(16 * 1024 + 1)))).toBe('invalid_header');
  });

  it('builds and parses Authorization: AAuth <token68>', () => {
    expect(buildAAuthAuthorization('abc')).toBe('AAuth abc');
    expect(parseAAuthAuthorization('AAuth abc')).toEqual({ scheme: 'AAuth', token: 'abc' });
    expect(parseAAuthAuthorization('aauth   abc==')).toEqual({ scheme: 'AAuth', token: 'abc==' });
    expect(parseAAuthAuthorization('Bearer xyz')).toEqual({ scheme: 'other', authScheme: 'Bearer' });
  });

  it('[§8.51] an AAuth credential must be exactly one token68', () => {
    for (const value of ['AAuth', 'AAuth ', 'AAuth a b', 'AAuth a, Bearer b', 'AAuth,abc', 'AAuth\tabc', 'AAuth a=b', '', ' ']) {
      expect(codeOf(() => parseAAuthAuthorization(value)), JSON.stringify(value)).toBe('invalid_request');
    }
    expect(codeOf(() => parseAAuthAuthorization(['AAuth a', 'AAuth b']))).toBe('invalid_request');
  });

  it('refuses to build a value that is not a token68', () => {
    expect(codeOf(() => serializeAAuthAccess('a b'))).toBe('invalid_argument');
    expect(codeOf(() => buildAAuthAuthorization(''))).toBe('invalid_argument');
  });

  it('round-trips token68 values', () => {
    fc.assert(
      fc.property(token68, (t) => {
        expect(isToken68(t)).toBe(true);
        expect(parseAAuthAccess(serializeAAuthAccess(t))).toBe(t);
        expect(parseAAuthAuthorization(buildAAuthAuthorization(t))).toEqual({ scheme: 'AAuth', token: t });
      }),
    );
  });

  it('given any string, the parsers return or throw only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `AAuth ${s}`)), (s) => {
        for (const fn of [() => parseAAuthAccess(s), () => parseAAuthAuthorization(s)]) {
          try {
            const v = fn();
            if (typeof v === 'string') expect(isToken68(v)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(AAuthError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
