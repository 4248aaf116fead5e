import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import {
  CROCKFORD_ALPHABET,
  formatInteractionCode,
  generateInteractionCode,
  interactionCodesEqual,
  isEmittableInteractionCode,
  normalizeInteractionCode,
} from '../src/interaction-code.js';

describe('interaction codes', () => {
  it('uses the Crockford alphabet: 0-9A-Z without I L O U', () => {
    expect(CROCKFORD_ALPHABET).toHaveLength(32);
    for (const c of 'ILOU') expect(CROCKFORD_ALPHABET).not.toContain(c);
  });

  it('[§8.45] generates at least 8 Crockford symbols from the random source', () => {
    const code = generateInteractionCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{8}$/);
    expect(generateInteractionCode(12)).toHaveLength(12);
    expect(() => generateInteractionCode(7)).toThrowError(expect.objectContaining({ code: 'invalid_argument' }) as Error);
    expect(() => generateInteractionCode(8.5)).toThrow(AAuthError);
  });

  it('maps each random byte to a symbol by its low 5 bits (no modulo bias)', () => {
    const fill = (bytes: Uint8Array): void => {
      for (let i = 0; i < bytes.length; i++) bytes[i] = i * 33; // low 5 bits: 0, 1, 2, ...
    };
    expect(generateInteractionCode(8, fill)).toBe('01234567');
    const ones = (bytes: Uint8Array): void => {
      bytes.fill(0xff);
    };
    expect(generateInteractionCode(8, ones)).toBe('ZZZZZZZZ');
  });

  it('draws from crypto.getRandomValues by default (codes differ)', () => {
    const codes = new Set(Array.from({ length: 50 }, () => generateInteractionCode()));
    expect(codes.size).toBe(50);
  });

  it('[§8.45] comparison ignores hyphens and case and folds I/L→1, O→0', () => {
    expect(normalizeInteractionCode('a1b2-c3d4')).toBe('A1B2C3D4');
    expect(normalizeInteractionCode('  x7k2-m9p4 ')).toBe('X7K2M9P4');
    expect(normalizeInteractionCode('IlOo-0000')).toBe('11000000');
    expect(interactionCodesEqual('A1B2-C3D4', 'a1b2c3d4')).toBe(true);
    expect(interactionCodesEqual('10O0-ABCD', 'lOo0abcd')).toBe(true);
    expect(interactionCodesEqual('A1B2C3D4', 'A1B2C3D5')).toBe(false);
    expect(interactionCodesEqual('A1B2C3D4', 'A1B2C3D')).toBe(false);
  });

  it('rejects other characters with invalid_code', () => {
    for (const input of ['ABCD-EFGU', 'ABCD EFGH', 'ABCD_EFGH', '', '----', 'É1234567', 'x'.repeat(300)]) {
      expect(() => normalizeInteractionCode(input), input).toThrowError(expect.objectContaining({ code: 'invalid_code' }) as Error);
    }
    expect(interactionCodesEqual('ABCDEFGU', 'ABCDEFGU')).toBe(false);
  });

  it('formats codes for display', () => {
    expect(formatInteractionCode('a1b2c3d4')).toBe('A1B2-C3D4');
    expect(formatInteractionCode('A1B2C3D4E5', 5)).toBe('A1B2C-3D4E5');
    expect(formatInteractionCode('ABCDEFGHJK')).toBe('ABCD-EFGH-JK');
  });

  it('knows what a server may emit', () => {
    expect(isEmittableInteractionCode('A1B2-C3D4')).toBe(true);
    expect(isEmittableInteractionCode('a1b2-c3d4')).toBe(false);
    expect(isEmittableInteractionCode('A1B2-C3D')).toBe(false);
    expect(isEmittableInteractionCode('A1B2-C3DI')).toBe(false);
  });

  it('round-trips generate → format → normalize, and equality holds across forms', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (n, seed) => {
        const code = generateInteractionCode(n, (bytes) => bytes.set(seed.subarray(0, bytes.length)));
        expect(isEmittableInteractionCode(code)).toBe(true);
        const display = formatInteractionCode(code);
        expect(normalizeInteractionCode(display)).toBe(code);
        expect(interactionCodesEqual(display.toLowerCase(), code)).toBe(true);
      }),
    );
  });

  it('given any string, normalize returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (s) => {
        try {
          expect(normalizeInteractionCode(s)).toMatch(/^[0-9A-HJKMNP-TV-Z]+$/);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
        expect(typeof interactionCodesEqual(s, s)).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });
});
