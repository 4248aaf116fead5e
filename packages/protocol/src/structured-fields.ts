/**
 * Thin, safe wrappers over `structured-headers` (RFC 9651 / RFC 8941 Structured Field Values).
 *
 * Every AAuth and HTTP Signature Keys header is a Structured Field, so every header in this package
 * is parsed and serialized here and nowhere else. The wrappers add what the library leaves to callers:
 * a size cap on input (parsing is linear, but a peer should not make us scan megabytes), and typed
 * failures — any parse failure becomes an `AAuthError` with a code the caller chooses, any
 * serialization failure becomes `invalid_argument`. No `TypeError` or `ParseError` escapes.
 */

import {
  Token,
  isInnerList,
  isValidKeyStr,
  isValidTokenStr,
  parseDictionary,
  parseItem,
  parseList,
  serializeDictionary,
  serializeItem,
  serializeList,
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  type List,
  type Parameters,
} from 'structured-headers';
import { AAuthError, type ErrorCode } from './errors.js';

export { Token, isInnerList };
export type { BareItem, Dictionary, InnerList, Item, List, Parameters };

/**
 * Default cap on a header value handed to the parser: 16 KiB. A `Signature-Key` holding a JWT with a
 * post-quantum key and signature is the largest value AAuth puts in a header and stays below it.
 */
export const DEFAULT_MAX_HEADER_LENGTH = 16 * 1024;

export interface SfParseOptions {
  /** Error code for a value that is not a valid field of the expected type (default `invalid_header`). */
  readonly code?: ErrorCode;
  /** Maximum accepted length in UTF-16 code units (default {@link DEFAULT_MAX_HEADER_LENGTH}). */
  readonly maxLength?: number;
  /** The header's name, for error details. */
  readonly field?: string;
}

function guard<T>(input: unknown, kind: string, options: SfParseOptions, parse: (s: string) => T): T {
  const code = options.code ?? 'invalid_header';
  const field = options.field ?? 'structured field';
  if (typeof input !== 'string') {
    throw new AAuthError(code, { detail: `${field}: not a string` });
  }
  const max = options.maxLength ?? DEFAULT_MAX_HEADER_LENGTH;
  if (input.length > max) {
    throw new AAuthError(code, { detail: `${field}: longer than ${max} characters` });
  }
  try {
    return parse(input);
  } catch (cause) {
    throw new AAuthError(code, { detail: `${field}: not a valid Structured Field ${kind}`, cause });
  }
}

/** Parses an SF Dictionary (RFC 9651 §3.2); any failure → `AAuthError(options.code ?? 'invalid_header')`. */
export function parseSfDictionary(input: string, options: SfParseOptions = {}): Dictionary {
  return guard(input, 'Dictionary', options, parseDictionary);
}

/** Parses an SF List (RFC 9651 §3.1); any failure → `AAuthError(options.code ?? 'invalid_header')`. */
export function parseSfList(input: string, options: SfParseOptions = {}): List {
  return guard(input, 'List', options, parseList);
}

/** Parses an SF Item (RFC 9651 §3.3); any failure → `AAuthError(options.code ?? 'invalid_header')`. */
export function parseSfItem(input: string, options: SfParseOptions = {}): Item {
  return guard(input, 'Item', options, parseItem);
}

function serializeGuard<T>(what: string, value: T, serialize: (v: T) => string): string {
  try {
    return serialize(value);
  } catch (cause) {
    throw new AAuthError('invalid_argument', { detail: `cannot serialize ${what} as a Structured Field`, cause });
  }
}

/** Serializes an SF Dictionary; a value the grammar cannot carry → `invalid_argument`. */
export function serializeSfDictionary(value: Dictionary): string {
  return serializeGuard('Dictionary', value, serializeDictionary);
}

/** Serializes an SF List; a value the grammar cannot carry → `invalid_argument`. */
export function serializeSfList(value: List): string {
  return serializeGuard('List', value, serializeList);
}

/** Serializes an SF Item; a value the grammar cannot carry → `invalid_argument`. */
export function serializeSfItem(value: Item): string {
  return serializeGuard('Item', value, (v) => serializeItem(v));
}

/** Makes an SF Token; a string outside the Token grammar (RFC 9651 §3.3.4) → `invalid_argument`. */
export function sfToken(value: string): Token {
  try {
    return new Token(value);
  } catch (cause) {
    throw new AAuthError('invalid_argument', { detail: 'not a valid Structured Field Token', cause });
  }
}

/** True when a bare item is a Token. */
export const isToken = (value: unknown): value is Token => value instanceof Token;

/** The string of a Token bare item, or `undefined` when the item is of another type. */
export function tokenValue(value: BareItem | undefined): string | undefined {
  return value instanceof Token ? value.toString() : undefined;
}

/** A String bare item, or `undefined` when the item is of another type. */
export function stringValue(value: BareItem | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A Byte Sequence bare item as bytes, or `undefined` when the item is of another type. */
export function bytesValue(value: BareItem | undefined): Uint8Array | undefined {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/** True when a string is a valid SF Dictionary key / parameter key (RFC 9651 §3.1.2). */
export const isSfKey = (value: string): boolean => isValidKeyStr(value);

/** True when a string is a valid SF Token (RFC 9651 §3.3.4); case is preserved and significant. */
export const isSfToken = (value: string): boolean => isValidTokenStr(value);
