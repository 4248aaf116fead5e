import { AAuthError } from './errors.js';

const ENC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DEC_URL = new Int16Array(128).fill(-1);
const DEC_STD = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) {
  DEC_URL[ENC.charCodeAt(i)] = i;
  DEC_STD[STD.charCodeAt(i)] = i;
}

function encodeWith(alphabet: string, bytes: Uint8Array, pad: boolean): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + alphabet[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += alphabet[n >> 18]! + alphabet[(n >> 12) & 63]! + alphabet[(n >> 6) & 63]! + (pad ? '=' : '');
  }
  return out;
}

function decodeWith(table: Int16Array, input: string, what: string): Uint8Array {
  const len = input.length;
  const rest = len % 4;
  if (rest === 1) throw new AAuthError('invalid_argument', { detail: `${what}: invalid length` });
  const out = new Uint8Array(((len - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  const at = (i: number): number => {
    const c = input.charCodeAt(i);
    return c < 128 ? table[c]! : -1;
  };
  let o = 0;
  let i = 0;
  // Whole quads: four sextets → three octets; any invalid character makes the OR negative.
  for (const full = len - rest; i < full; i += 4) {
    const a = at(i);
    const b = at(i + 1);
    const c = at(i + 2);
    const d = at(i + 3);
    if ((a | b | c | d) < 0) throw new AAuthError('invalid_argument', { detail: `${what}: invalid character` });
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  if (rest > 0) {
    const a = at(i);
    const b = at(i + 1);
    const c = rest === 3 ? at(i + 2) : 0;
    if ((a | b | c) < 0) throw new AAuthError('invalid_argument', { detail: `${what}: invalid character` });
    // Canonical form only: the unused low bits of the last character must be zero.
    if ((rest === 2 && (b & 0x0f) !== 0) || (rest === 3 && (c & 0x03) !== 0)) {
      throw new AAuthError('invalid_argument', { detail: `${what}: non-canonical encoding` });
    }
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >> 16;
    if (rest === 3) out[o++] = (n >> 8) & 0xff;
  }
  return out;
}

/** base64url without padding (RFC 7515 §2). */
export function b64urlEncode(bytes: Uint8Array): string {
  return encodeWith(ENC, bytes, false);
}

/** Strict base64url decode: no padding, no whitespace, canonical trailing bits; throws `invalid_argument`. */
export function b64urlDecode(input: string): Uint8Array {
  return decodeWith(DEC_URL, input, 'base64url');
}

/** Standard base64 with padding (used by RFC 8941 byte sequences). */
export function b64Encode(bytes: Uint8Array): string {
  return encodeWith(STD, bytes, true);
}

/** Strict standard base64 decode; padding optional but must be correct when present. */
export function b64Decode(input: string): Uint8Array {
  let s = input;
  if (s.length % 4 === 0 && s.endsWith('==')) s = s.slice(0, -2);
  else if (s.length % 4 === 0 && s.endsWith('=')) s = s.slice(0, -1);
  return decodeWith(DEC_STD, s, 'base64');
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/** Strict UTF-8 decode; throws `invalid_argument` on malformed input. */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch (cause) {
    throw new AAuthError('invalid_argument', { detail: 'invalid UTF-8', cause });
  }
}
