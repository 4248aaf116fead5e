/**
 * Signature failure feedback (HTTP Signature Keys -08 §Signature-Error, §Accept-Signature-Scheme and
 * Accept-Signature-Alg):
 *
 * - `Signature-Error`: an SF Dictionary with a REQUIRED `error` Token; for `invalid_input` the RECOMMENDED
 *   `required_input` member is an Inner List of Strings. Recipients MUST ignore unknown members. The
 *   header, not the body, is authoritative.
 * - `Accept-Signature-Scheme` / `Accept-Signature-Alg`: SF Lists of Tokens naming exactly what the
 *   server accepts. Algorithm Tokens are JOSE identifiers verbatim, case included (`Ed25519`, `ES256`).
 *   Clients MUST ignore Tokens they do not recognize.
 */

import { AAuthError, type SignatureErrorCode } from '../errors.js';
import {
  isInnerList,
  isSfToken,
  parseSfDictionary,
  parseSfList,
  serializeSfDictionary,
  serializeSfList,
  sfToken,
  stringValue,
  tokenValue,
  type BareItem,
  type Dictionary,
  type Item,
  type List,
} from '../structured-fields.js';

export const SIGNATURE_ERROR = 'Signature-Error';
export const ACCEPT_SIGNATURE_SCHEME = 'Accept-Signature-Scheme';
export const ACCEPT_SIGNATURE_ALG = 'Accept-Signature-Alg';

/** A parsed `Signature-Error`. `error` may be a code registered after this code was written. */
export interface SignatureError {
  readonly error: SignatureErrorCode | (string & {});
  /** For `invalid_input`: the covered components the server requires. */
  readonly requiredInput?: readonly string[];
}

/**
 * Parses `Signature-Error`. Unknown members are ignored; a `required_input` that is not an Inner List of
 * Strings is ignored too (it is advisory). A value that is not an SF Dictionary, or has no `error`
 * Token → `invalid_header`.
 */
export function parseSignatureError(value: string): SignatureError {
  const dictionary = parseSfDictionary(value, { field: SIGNATURE_ERROR });
  const entry = dictionary.get('error');
  const error = entry === undefined || isInnerList(entry) ? undefined : tokenValue(entry[0]);
  if (error === undefined) throw new AAuthError('invalid_header', { detail: 'Signature-Error: no error Token' });
  const required = dictionary.get('required_input');
  if (required !== undefined && isInnerList(required)) {
    const components: string[] = [];
    for (const [item] of required[0]) {
      const component = stringValue(item);
      if (component === undefined) return { error };
      components.push(component);
    }
    return { error, requiredInput: components };
  }
  return { error };
}

/**
 * Serializes `Signature-Error`. `requiredInput` is emitted (as `required_input`) only with
 * `invalid_input`. Throws `invalid_argument` for an error that is not a Token or a component that is
 * not an ASCII String.
 */
export function serializeSignatureError(value: SignatureError): string {
  if (typeof value.error !== 'string' || !isSfToken(value.error)) {
    throw new AAuthError('invalid_argument', { detail: 'Signature-Error error must be a Token' });
  }
  const dictionary: Dictionary = new Map();
  dictionary.set('error', [sfToken(value.error), new Map()]);
  if (value.error === 'invalid_input' && value.requiredInput !== undefined) {
    const items: Item[] = value.requiredInput.map((component) => {
      if (typeof component !== 'string') throw new AAuthError('invalid_argument', { detail: 'required_input entries must be strings' });
      const item: Item = [component, new Map<string, BareItem>()];
      return item;
    });
    dictionary.set('required_input', [items, new Map()]);
  }
  return serializeSfDictionary(dictionary);
}

function parseTokenList(value: string, field: string): string[] {
  const out: string[] = [];
  for (const member of parseSfList(value, { field })) {
    if (isInnerList(member)) continue;
    const token = tokenValue(member[0]);
    if (token !== undefined && !out.includes(token)) out.push(token);
  }
  return out;
}

function serializeTokenList(values: Iterable<string>, field: string, refuse?: (v: string) => string | undefined): string {
  const list: List = [];
  const seen = new Set<string>();
  for (const v of values) {
    if (typeof v !== 'string' || !isSfToken(v)) throw new AAuthError('invalid_argument', { detail: `${field} entries must be Tokens` });
    const reason = refuse?.(v);
    if (reason !== undefined) throw new AAuthError('invalid_argument', { detail: `${field}: ${reason}` });
    if (seen.has(v)) continue;
    seen.add(v);
    list.push([sfToken(v), new Map()]);
  }
  if (list.length === 0) throw new AAuthError('invalid_argument', { detail: `${field} must list at least one value` });
  return serializeSfList(list);
}

/** Parses `Accept-Signature-Scheme` into scheme Tokens in the server's order of preference (duplicates and non-Tokens dropped). */
export function parseAcceptSignatureScheme(value: string): string[] {
  return parseTokenList(value, ACCEPT_SIGNATURE_SCHEME);
}

/** Serializes `Accept-Signature-Scheme` (AAuth resources send `jwt`, AAuth -11 §Signature-Key Scheme Rejection). */
export function serializeAcceptSignatureScheme(schemes: Iterable<string>): string {
  return serializeTokenList(schemes, ACCEPT_SIGNATURE_SCHEME);
}

/** Parses `Accept-Signature-Alg` into JOSE algorithm identifiers, case preserved (`ES256` ≠ `es256`). */
export function parseAcceptSignatureAlg(value: string): string[] {
  return parseTokenList(value, ACCEPT_SIGNATURE_ALG);
}

/**
 * Serializes `Accept-Signature-Alg`. A server MUST NOT list `none`, a symmetric algorithm or a
 * polymorphic identifier (SK-08 §Algorithm Determination): `none`, `HS256/384/512` and `EdDSA` are refused
 * with `invalid_argument`.
 */
export function serializeAcceptSignatureAlg(algorithms: Iterable<string>): string {
  return serializeTokenList(algorithms, ACCEPT_SIGNATURE_ALG, (alg) =>
    alg === 'none' || alg === 'EdDSA' || /^HS\d+$/.test(alg) ? `${alg} must never be advertised` : undefined,
  );
}
