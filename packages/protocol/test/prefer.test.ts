import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { capPreferWait, parsePrefer, parsePreferWait, serializePreferWait } from '../src/headers/prefer.js';

describe('Prefer: wait (RFC 7240)', () => {
  it('reads wait', () => {
    expect(parsePreferWait('wait=45')).toBe(45);
    expect(parsePreferWait('respond-async, wait=10')).toBe(10);
    expect(parsePreferWait('WAIT = 7')).toBe(7);
    expect(parsePreferWait(['return=minimal', 'wait=3'])).toBe(3);
    expect(parsePreferWait('wait=0')).toBe(0);
  });

  it('takes the first instance of a repeated preference (RFC 7240 §2)', () => {
    expect(parsePreferWait('wait=5, wait=100')).toBe(5);
  });

  it('ignores an absent, malformed or non-delta-seconds wait', () => {
    for (const value of [undefined, '', 'respond-async', 'wait', 'wait=-1', 'wait=1.5', 'wait=abc', 'wait="10"x', 'wait=10 x', ',,,']) {
      expect(parsePreferWait(value), String(value)).toBeUndefined();
    }
  });

  it('caps delta-seconds at 2^31 (RFC 9111 §1.2.2)', () => {
    expect(parsePreferWait('wait=99999999999999999999999')).toBe(2 ** 31);
  });

  it('parses the general grammar with parameters and quoted strings', () => {
    const prefs = parsePrefer('foo; bar="a, b;c", wait=30;x=1, handling=lenient');
    expect(prefs.get('foo')).toEqual({ value: undefined, params: new Map([['bar', 'a, b;c']]) });
    expect(prefs.get('wait')).toEqual({ value: '30', params: new Map([['x', '1']]) });
    expect(prefs.get('handling')?.value).toBe('lenient');
    expect(() => parsePrefer('foo="unterminated')).toThrowError(expect.objectContaining({ code: 'invalid_header' }) as Error);
    expect(() => parsePrefer('foo bar')).toThrow(AAuthError);
  });

  it('caps the wait a server grants', () => {
    expect(capPreferWait(45, 30)).toBe(30);
    expect(capPreferWait(10, 30)).toBe(10);
    expect(capPreferWait(undefined, 30)).toBe(0);
    expect(capPreferWait(undefined, 30, 5)).toBe(5);
    expect(() => capPreferWait(1, -1)).toThrow(AAuthError);
  });

  it('builds wait=N', () => {
    expect(serializePreferWait(45)).toBe('wait=45');
    expect(() => serializePreferWait(-1)).toThrowError(expect.objectContaining({ code: 'invalid_argument' }) as Error);
    expect(() => serializePreferWait(1.5)).toThrow(AAuthError);
  });

  it('round-trips serialize → parse', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (n) => {
        expect(parsePreferWait(serializePreferWait(n))).toBe(n);
      }),
    );
  });

  it('given any string, the parsers return or throw only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.stringMatching(/^[a-z]{1,5}( ?= ?("[^"]*"|[0-9a-z]+))?(;[a-z]+(=[a-z0-9]+)?)*(, ?[a-z]+=[0-9]+)*$/)), (s) => {
        const wait = parsePreferWait(s);
        if (wait !== undefined) expect(Number.isInteger(wait) && wait >= 0).toBe(true);
        try {
          parsePrefer(s);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
