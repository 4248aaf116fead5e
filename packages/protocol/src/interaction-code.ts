/**
 * Interaction codes (AAuth -11 §Interaction Code Format): Crockford base32, at least 8 symbols
 * (40 bits) from a CSPRNG; hyphens only for display; compared case-insensitively after folding the
 * Crockford aliases. Single use, rate limiting and lifetime are the server's state and live there.
 */

import { AAuthError } from './errors.js';

/** The Crockford base32 symbol set: `0-9A-Z` without `I L O U`. */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** At least 8 symbols = 40 bits of entropy (§Interaction Code Format). */
export const MIN_INTERACTION_CODE_LENGTH = 8;
const MAX_INTERACTION_CODE_LENGTH = 64;
/** Longest input accepted by {@link normalizeInteractionCode} (hyphens and surrounding blanks included). */
const MAX_INPUT_LENGTH = 256;

/** Fills a byte array with cryptographically secure random bytes (the `crypto.getRandomValues` contract). */
export type RandomFill = (bytes: Uint8Array<ArrayBuffer>) => unknown;

const defaultRandom: RandomFill = (bytes) => globalThis.crypto.getRandomValues(bytes);

/** Crockford value (0–31) of each accepted input character, with the decode aliases folded; -1 otherwise. */
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < CROCKFORD_ALPHABET.length; i++) {
  DECODE[CROCKFORD_ALPHABET.charCodeAt(i)] = i;
  DECODE[CROCKFORD_ALPHABET.toLowerCase().charCodeAt(i)] = i;
}
for (const [alias, target] of [['I', '1'], ['L', '1'], ['O', '0']] as const) {
  DECODE[alias.charCodeAt(0)] = CROCKFORD_ALPHABET.indexOf(target);
  DECODE[alias.toLowerCase().charCodeAt(0)] = CROCKFORD_ALPHABET.indexOf(target);
}

/**
 * Generates an interaction code of `length` Crockford symbols (default 8, the minimum: 40 bits) from
 * `random` (default `crypto.getRandomValues`). Each symbol takes the low 5 bits of one random byte;
 * 256 is a multiple of 32, so there is no modulo bias. The code carries no hyphens; use
 * {@link formatInteractionCode} for display.
 */
export function generateInteractionCode(length: number = MIN_INTERACTION_CODE_LENGTH, random: RandomFill = defaultRandom): string {
  if (!Number.isInteger(length) || length < MIN_INTERACTION_CODE_LENGTH || length > MAX_INTERACTION_CODE_LENGTH) {
    throw new AAuthError('invalid_argument', {
      detail: `interaction code length must be an integer from ${MIN_INTERACTION_CODE_LENGTH} to ${MAX_INTERACTION_CODE_LENGTH}`,
    });
  }
  const bytes = new Uint8Array(length);
  random(bytes);
  let code = '';
  for (let i = 0; i < length; i++) code += CROCKFORD_ALPHABET[bytes[i]! & 31]!;
  return code;
}

/**
 * Normalizes a code as entered (§Interaction Code Format): trims surrounding blanks, strips every
 * hyphen, uppercases, folds `I`/`L` → `1` and `O` → `0`. Any other character (including `U`), an empty
 * result or an implausibly long input → `invalid_code`.
 */
export function normalizeInteractionCode(input: string): string {
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) {
    throw new AAuthError('invalid_code', { detail: 'interaction code is not a string of acceptable length' });
  }
  const trimmed = input.trim();
  let out = '';
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed.charCodeAt(i);
    if (c === 0x2d) continue;
    const v = c < 128 ? DECODE[c]! : -1;
    if (v < 0) throw new AAuthError('invalid_code', { detail: 'interaction code contains a character outside Crockford base32' });
    out += CROCKFORD_ALPHABET[v]!;
  }
  if (out.length === 0 || out.length > MAX_INTERACTION_CODE_LENGTH) {
    throw new AAuthError('invalid_code', { detail: 'interaction code has no symbols or too many' });
  }
  return out;
}

/**
 * Compares two codes as the spec requires (ignoring hyphens and case, folding aliases). The comparison
 * of the normalized forms takes time independent of where they differ. Input that does not normalize
 * never equals anything.
 */
export function interactionCodesEqual(a: string, b: string): boolean {
  let x: string;
  let y: string;
  try {
    x = normalizeInteractionCode(a);
    y = normalizeInteractionCode(b);
  } catch {
    return false;
  }
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x.charCodeAt(i) ^ y.charCodeAt(i);
  return diff === 0;
}

/** Formats a code for display: normalized, grouped with hyphens (default groups of 4: `A1B2-C3D4`). */
export function formatInteractionCode(code: string, groupSize = 4): string {
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new AAuthError('invalid_argument', { detail: 'group size must be a positive integer' });
  }
  const normalized = normalizeInteractionCode(code);
  const groups: string[] = [];
  for (let i = 0; i < normalized.length; i += groupSize) groups.push(normalized.slice(i, i + groupSize));
  return groups.join('-');
}

/**
 * True when `code` is what a server may emit (§Interaction Code Format): only Crockford symbols in
 * canonical uppercase and optional grouping hyphens, at least 8 symbols.
 */
export function isEmittableInteractionCode(code: string): boolean {
  if (typeof code !== 'string' || code.length > MAX_INPUT_LENGTH) return false;
  let symbols = 0;
  for (let i = 0; i < code.length; i++) {
    const c = code.charCodeAt(i);
    if (c === 0x2d) continue;
    if (!CROCKFORD_ALPHABET.includes(code[i]!)) return false;
    symbols++;
  }
  return symbols >= MIN_INTERACTION_CODE_LENGTH && symbols <= MAX_INTERACTION_CODE_LENGTH;
}
