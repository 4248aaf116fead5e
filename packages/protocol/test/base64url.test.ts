import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { b64Decode, b64Encode, b64urlDecode, b64urlDecodeText, b64urlEncode, b64urlEncodeText, fromUtf8, utf8 } from '../src/base64url.js';
import { AAuthError } from '../src/errors.js';

describe('base64url (RFC 4648 §5, unpadded as JOSE uses it)', () => {
  it('round-trips any bytes and agrees with Node Buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const enc = b64urlEncode(bytes);
        expect(enc).toBe(Buffer.from(bytes).toString('base64url'));
        expect(b64urlDecode(enc)).toEqual(bytes);
        expect(b64Encode(bytes)).toBe(Buffer.from(bytes).toString('base64'));
        expect(b64Decode(b64Encode(bytes))).toEqual(bytes);
      }),
    );
  });

  it('rejects padding, whitespace, the standard alphabet and impossible lengths', () => {
    for (const bad of ['AA==', 'A A', 'ab+/', 'abcde', 'ab\n', 'é', 'AAA\u00e9', 'AAA\u0141', 'AA!A', '\u0101AAAAA', 'AAAAAA\u00c1']) {
      expect(() => b64urlDecode(bad), bad).toThrow(AAuthError);
    }
  });

  it('rejects non-canonical encodings (unused low bits set)', () => {
    expect(b64urlDecode('AA')).toEqual(new Uint8Array([0]));
    expect(() => b64urlDecode('AB')).toThrow(/non-canonical/);
    expect(b64urlDecode('AAA')).toEqual(new Uint8Array([0, 0]));
    expect(() => b64urlDecode('AAB')).toThrow(/non-canonical/);
  });

  it('given arbitrary strings, returns or throws only AAuthError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (s) => {
        try {
          b64urlDecode(s);
          b64Decode(s);
        } catch (e) {
          expect(e).toBeInstanceOf(AAuthError);
        }
      }),
    );
  });

  it('decodes UTF-8 strictly', () => {
    expect(fromUtf8(utf8('héllo'))).toBe('héllo');
    expect(() => fromUtf8(new Uint8Array([0xff, 0xfe]))).toThrow(AAuthError);
  });

  describe('b64urlDecodeText (JWS header and payload text)', () => {
    it('equals the byte path + strict UTF-8 for any text, ASCII or not', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (text) => {
          const enc = b64urlEncode(utf8(text));
          expect(b64urlDecodeText(enc)).toBe(fromUtf8(b64urlDecode(enc)));
        }),
      );
      expect(b64urlDecodeText(b64urlEncode(utf8('{"name":"Zoë ✓"}')))).toBe('{"name":"Zoë ✓"}');
    });

    it('is as strict as b64urlDecode: padding, whitespace, standard alphabet, lengths, trailing bits', () => {
      // atob alone would accept every one of these (forgiving-base64).
      for (const bad of ['AA==', 'A A', 'ab+/', 'abcde', 'ab\n', 'é', 'AAA\u00e9', 'AA!A', ' QUJD', 'QUJD\t', 'AB', 'AAB']) {
        expect(() => b64urlDecodeText(bad), JSON.stringify(bad)).toThrow(AAuthError);
      }
    });

    it('refuses bytes that are not UTF-8 (0xff 0xfe) instead of reading them as Latin-1', () => {
      expect(() => b64urlDecodeText(b64urlEncode(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])))).toThrow(AAuthError);
    });

    it('given arbitrary strings, agrees with the byte path or throws only AAuthError', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 64 }), (s) => {
          let expected: string | undefined;
          try {
            expected = fromUtf8(b64urlDecode(s));
          } catch {
            expected = undefined;
          }
          if (expected === undefined) expect(() => b64urlDecodeText(s)).toThrow(AAuthError);
          else expect(b64urlDecodeText(s)).toBe(expected);
        }),
      );
    });
  });
  describe('b64urlEncodeText (JWS header and payload text)', () => {
    it('equals base64url of the UTF-8 bytes for any text, ASCII or not, of every length modulo 3', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (text) => {
          expect(b64urlEncodeText(text)).toBe(Buffer.from(text, 'utf8').toString('base64url'));
        }),
      );
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 120 }), (text) => {
          expect(b64urlEncodeText(text)).toBe(Buffer.from(text, 'utf8').toString('base64url'));
        }),
      );
      // The standard alphabet's '+' and '/' and the padding must not survive the ASCII path.
      expect(b64urlEncodeText('>>>???')).toBe('Pj4-Pz8_');
      expect(b64urlEncodeText('a')).toBe('YQ');
      expect(b64urlEncodeText('ab')).toBe('YWI');
      expect(b64urlEncodeText('')).toBe('');
      // Latin-1 is not UTF-8: 'é' is two bytes (btoa alone would write one).
      expect(b64urlEncodeText('{"name":"Zoë ✓"}')).toBe(b64urlEncode(utf8('{"name":"Zoë ✓"}')));
      expect(b64urlDecodeText(b64urlEncodeText('{"name":"Zoë ✓"}'))).toBe('{"name":"Zoë ✓"}');
    });
  });
});
