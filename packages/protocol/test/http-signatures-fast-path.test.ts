/**
 * The canonical fast path of selectSignature must agree with the full RFC 8941 parse on every input it
 * accepts, and decline everything else (the full parser then decides).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { b64Encode } from '../src/base64url.js';
import { canonicalSignature, parseSignatures } from '../src/http-signatures/signature-input.js';

const lines = (input: string, sig: string) => new Map([['signature-input', [input]], ['signature', [sig]]]);

function fullParse(input: string, sig: string, label: string) {
  try {
    return parseSignatures(lines(input, sig)).get(label);
  } catch {
    return 'error';
  }
}

const component = fc.constantFrom('@method', '@authority', '@path', '@query', '@target-uri', 'signature-key', 'content-digest', 'content-type', 'authorization', 'x-custom.1');
const labelArb = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,8}$/);

describe('canonical Signature-Input / Signature fast path', () => {
  it('agrees with the full parser on canonical inputs', () => {
    fc.assert(
      fc.property(labelArb, fc.uniqueArray(component, { maxLength: 6 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.option(fc.integer({ min: 0, max: 2 ** 40 })), fc.uint8Array({ maxLength: 80 }), (label, comps, created, expires, bytes) => {
        const input = `${label}=(${comps.map((c) => `"${c}"`).join(' ')});created=${created}${expires === null ? '' : `;expires=${expires}`}`;
        const sig = `${label}=:${b64Encode(bytes)}:`;
        const fast = canonicalSignature(lines(input, sig), label);
        expect(fast).toBeDefined();
        expect(fast).toEqual(fullParse(input, sig, label));
      }),
    );
  });

  it('whenever it accepts an arbitrary input, the full parser returns the same', () => {
    const noisy = fc.string({ unit: fc.constantFrom('s', 'i', 'g', '=', '(', ')', '"', ' ', ';', 'c', 'r', 'e', 'a', 't', 'd', '1', '0', ':', 'A', '@', 'm', '-', '+', '/', '\\', ',', '*'), maxLength: 40 });
    fc.assert(
      fc.property(noisy, noisy, (input, sig) => {
        const fast = canonicalSignature(lines(input, sig));
        if (fast !== undefined) expect(fast).toEqual(fullParse(input, sig, fast.label));
      }),
      { numRuns: 5000 },
    );
  });

  it('declines non-canonical but valid forms, which the full parser still reads', () => {
    const sig = 'sig=:AAAA:';
    for (const input of [
      'sig=("@method"  "@path");created=1', // two spaces
      'sig=( "@method");created=1', // leading space
      'sig=("@method");created=1;keyid="k"', // another parameter
      'sig=("@method";req);created=1', // a component parameter
      'sig=("@method");expires=2;created=1', // parameter order
      'sig=("@method");created=01', // leading zero (the full parser reads 1, and re-serializes differently)
    ]) {
      expect(canonicalSignature(lines(input, sig)), input).toBeUndefined();
    }
    expect(canonicalSignature(lines('sig=("@method""@path");created=1', sig))).toBeUndefined(); // invalid SF
    expect(fullParse('sig=("@method""@path");created=1', sig, 'sig')).toBe('error');
  });

  it('declines several lines or members, and a label other than the one asked for', () => {
    const input = 'sig=("@method");created=1';
    expect(canonicalSignature(new Map([['signature-input', [input, input]], ['signature', ['sig=:AAAA:']]]))).toBeUndefined();
    expect(canonicalSignature(lines(`${input}, b=("@path");created=1`, 'sig=:AAAA:, b=:AAAA:'))).toBeUndefined();
    expect(canonicalSignature(lines(input, 'sig=:AAAA:'), 'other')).toBeUndefined();
    expect(canonicalSignature(lines(input, 'other=:AAAA:'))).toBeUndefined();
  });
});
