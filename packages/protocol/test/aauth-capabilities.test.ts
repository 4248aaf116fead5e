import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { AAUTH_CAPABILITY_VALUES, parseAAuthCapabilities, serializeAAuthCapabilities } from '../src/headers/aauth-capabilities.js';

describe('AAuth-Capabilities', () => {
  it('parses the example of AAuth -11 §AAuth-Capabilities', () => {
    const caps = parseAAuthCapabilities('interaction, clarification, payment');
    expect([...caps.known]).toEqual(['interaction', 'clarification', 'payment']);
    expect(caps.has('interaction')).toBe(true);
    expect(caps.has('budget')).toBe(false);
  });

  it('assumes no capability when the header is absent', () => {
    const caps = parseAAuthCapabilities(undefined);
    expect(caps.known.size).toBe(0);
    for (const c of AAUTH_CAPABILITY_VALUES) expect(caps.has(c)).toBe(false);
  });

  it('ignores unrecognized values, parameters and non-Token members', () => {
    const caps = parseAAuthCapabilities('future-thing;x=1, payment;limit=5, "interaction", (clarification), budget, payment');
    expect([...caps.known]).toEqual(['payment', 'budget']);
    expect(caps.unrecognized).toEqual(['future-thing']);
  });

  it('rejects a value that is not an SF List with invalid_header', () => {
    expect(() => parseAAuthCapabilities('interaction,')).toThrowError(expect.objectContaining({ code: 'invalid_header' }) as Error);
    expect(() => parseAAuthCapabilities('inter action')).toThrow(AAuthError);
  });

  it('serializes a List of Tokens without duplicates', () => {
    expect(serializeAAuthCapabilities(['interaction', 'payment', 'interaction'])).toBe('interaction, payment');
    expect(serializeAAuthCapabilities(['x-ext'])).toBe('x-ext');
    expect(() => serializeAAuthCapabilities(['not a token'])).toThrowError(expect.objectContaining({ code: 'invalid_argument' }) as Error);
  });

  it('round-trips serialize → parse', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...AAUTH_CAPABILITY_VALUES)), (caps) => {
        expect([...parseAAuthCapabilities(serializeAAuthCapabilities(caps)).known]).toEqual(caps);
      }),
    );
  });

  it('given any string, the parser returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (s) => {
        try {
          parseAAuthCapabilities(s);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
