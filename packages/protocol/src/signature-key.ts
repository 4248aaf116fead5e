/**
 * The `Signature-Key` request header (HTTP Signature Keys -08 §Signature-Key HTTP Request Header):
 * an SF Dictionary keyed by signature label whose member is a Token naming the scheme, with the
 * scheme's data as parameters — `sig=jwt;jwt="eyJ…"`.
 *
 * Every registered scheme is parsed into a discriminated union; any other scheme becomes
 * `{scheme: 'unknown'}` so a verifier takes the defined `unsupported_scheme` path instead of failing in
 * a scheme-specific way (SK-08 §Unknown schemes). Only the member a verifier selects is interpreted:
 * members it did not select are ignored even when their scheme is unknown or malformed.
 */

import { AAuthError, type ErrorCode } from './errors.js';
import {
  bytesValue,
  isInnerList,
  isSfKey,
  parseSfDictionary,
  serializeSfDictionary,
  sfToken,
  stringValue,
  tokenValue,
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  type Parameters,
} from './structured-fields.js';

/** Cap on the header value: room for a JWT carrying a post-quantum key and signature. */
export const MAX_SIGNATURE_KEY_LENGTH = 16 * 1024;

/** Schemes of the HTTP Signature-Key Scheme registry (SK-08 §Initial Registry Contents). */
export type SignatureKeyScheme = 'hwk' | 'jkt-jwt' | 'jwks_uri' | 'jwks' | 'jwt' | 'self-jwt' | 'x509' | 'cached';

export const SIGNATURE_KEY_SCHEMES: readonly SignatureKeyScheme[] = ['hwk', 'jkt-jwt', 'jwks_uri', 'jwks', 'jwt', 'self-jwt', 'x509', 'cached'];

/** `jwt` (SK-08 §JWT Confirmation Key): the only scheme AAuth agents use (AAuth -11 §Keying Material). */
export interface JwtMember {
  readonly scheme: 'jwt';
  readonly jwt: string;
  /** The `cache` signal (a bare `;cache` parameter): asks the verifier for a cache identifier. */
  readonly cache?: true;
}

/** `jkt-jwt` (SK-08 §JKT JWT): self-issued delegation; AAuth uses it only for AP key refresh. */
export interface JktJwtMember {
  readonly scheme: 'jkt-jwt';
  readonly jwt: string;
  readonly cache?: true;
}

/** `self-jwt` (SK-08 §Self-Issued JWT): the JWT's key signs the request (AAuth Events). */
export interface SelfJwtMember {
  readonly scheme: 'self-jwt';
  readonly jwt: string;
}

/** `jwks_uri` (SK-08 §JWKS URI Discovery): how AAuth servers sign their own requests. */
export interface JwksUriMember {
  readonly scheme: 'jwks_uri';
  /** Signer identifier; the metadata `issuer` must equal it byte for byte. */
  readonly id: string;
  /** Well-known document name under `/.well-known/`. */
  readonly dwk: string;
  readonly kid: string;
}

/** `jwks` (SK-08 §Direct JWKS): `url` is both the signer identity and the JWKS location. */
export interface JwksMember {
  readonly scheme: 'jwks';
  readonly url: string;
  readonly kid: string;
}

/** `hwk` (SK-08 §Header Web Key): an inline public key. `alg` is REQUIRED, `kid` forbidden. */
export interface HwkMember {
  readonly scheme: 'hwk';
  readonly kty: string;
  readonly alg: string;
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
}

/** `x509` (SK-08 §X.509 Certificates): parsed so it can be refused with `unsupported_scheme`; never verified here. */
export interface X509Member {
  readonly scheme: 'x509';
  readonly x5u: string;
  /** SHA-256 of the DER end-entity certificate. */
  readonly x5t: Uint8Array;
}

/** `cached` (SK-08 §Cached Assertion): a verifier-issued cache identifier. */
export interface CachedMember {
  readonly scheme: 'cached';
  readonly cid: string;
}

/** A scheme outside the registry (or a future one): kept so the caller can answer `unsupported_scheme`. */
export interface UnknownSchemeMember {
  readonly scheme: 'unknown';
  /** The scheme Token as received. */
  readonly token: string;
  readonly parameters: Parameters;
}

export type SignatureKeyMember =
  | JwtMember
  | JktJwtMember
  | SelfJwtMember
  | JwksUriMember
  | JwksMember
  | HwkMember
  | X509Member
  | CachedMember
  | UnknownSchemeMember;

const isRegistered = (scheme: string): scheme is SignatureKeyScheme => (SIGNATURE_KEY_SCHEMES as readonly string[]).includes(scheme);

/** Malformed header, member or parameters: `invalid_request` (AAuth -11 digest §3 step 1; SK-08 gives no closer code). */
const malformed = (detail: string, code: ErrorCode = 'invalid_request'): AAuthError => new AAuthError(code, { detail });

function requireString(params: Parameters, name: string, scheme: string): string {
  const value = stringValue(params.get(name));
  if (value === undefined) throw malformed(`Signature-Key ${scheme} member needs String parameter ${name}`);
  return value;
}

function optionalString(params: Parameters, name: string, scheme: string): string | undefined {
  const raw = params.get(name);
  if (raw === undefined) return undefined;
  const value = stringValue(raw);
  if (value === undefined) throw malformed(`Signature-Key ${scheme} parameter ${name} must be a String`);
  return value;
}

/** Interprets one dictionary member; throws for a registered scheme whose required parameters are missing. */
function interpretMember(label: string, entry: Item | InnerList): SignatureKeyMember {
  if (isInnerList(entry)) throw malformed(`Signature-Key member ${label} is an Inner List, not a scheme Token`);
  const [value, params] = entry;
  const scheme = tokenValue(value);
  if (scheme === undefined) throw malformed(`Signature-Key member ${label} is not a scheme Token`);
  switch (scheme) {
    case 'jwt':
    case 'jkt-jwt': {
      const jwt = requireString(params, 'jwt', scheme);
      return params.get('cache') === true ? { scheme, jwt, cache: true } : { scheme, jwt };
    }
    case 'self-jwt':
      return { scheme, jwt: requireString(params, 'jwt', scheme) };
    case 'jwks_uri':
      return {
        scheme,
        id: requireString(params, 'id', scheme),
        dwk: requireString(params, 'dwk', scheme),
        kid: requireString(params, 'kid', scheme),
      };
    case 'jwks':
      return { scheme, url: requireString(params, 'url', scheme), kid: requireString(params, 'kid', scheme) };
    case 'hwk':
      return interpretHwk(params);
    case 'x509': {
      const x5t = bytesValue(params.get('x5t'));
      if (x5t === undefined) throw malformed('Signature-Key x509 member needs Byte Sequence parameter x5t');
      return { scheme, x5u: requireString(params, 'x5u', scheme), x5t };
    }
    case 'cached':
      return { scheme, cid: requireString(params, 'cid', scheme) };
    default:
      return { scheme: 'unknown', token: scheme, parameters: params };
  }
}

/**
 * `hwk` (SK-08 §Header Web Key): `kty` and `alg` are REQUIRED for every key type. A missing `alg` is
 * `unsupported_algorithm` (AAuth -11 §Verification step 6); a `kid` is forbidden and the key-type
 * members missing for a known `kty` make the key unparseable → `invalid_key`. An unknown `kty` is left
 * for the key layer, which answers `unsupported_algorithm`.
 */
function interpretHwk(params: Parameters): HwkMember {
  const kty = requireString(params, 'kty', 'hwk');
  const alg = optionalString(params, 'alg', 'hwk');
  if (alg === undefined) throw malformed('Signature-Key hwk member has no alg (SK-08 requires a fully specified alg)', 'unsupported_algorithm');
  if (params.has('kid')) throw malformed('Signature-Key hwk member must not carry kid', 'invalid_key');
  const member: { -readonly [K in keyof HwkMember]: HwkMember[K] } = { scheme: 'hwk', kty, alg };
  for (const name of ['crv', 'x', 'y', 'n', 'e'] as const) {
    const value = optionalString(params, name, 'hwk');
    if (value !== undefined) member[name] = value;
  }
  const needed = kty === 'OKP' ? (['crv', 'x'] as const) : kty === 'EC' ? (['crv', 'x', 'y'] as const) : kty === 'RSA' ? (['n', 'e'] as const) : [];
  for (const name of needed) {
    if (member[name] === undefined) throw malformed(`Signature-Key hwk ${kty} key needs ${name}`, 'invalid_key');
  }
  return member;
}

function parseDictionaryOf(value: string): Dictionary {
  return parseSfDictionary(value, { code: 'invalid_request', maxLength: MAX_SIGNATURE_KEY_LENGTH, field: 'Signature-Key' });
}

/**
 * Parses a whole `Signature-Key` header and interprets every member (SK-08 §Signature-Key). For
 * verification use {@link selectSignatureKey}, which interprets only the selected member.
 * Throws `invalid_request` for a value that is not an SF Dictionary or a member that is malformed.
 */
export function parseSignatureKey(value: string): Map<string, SignatureKeyMember> {
  const dictionary = parseDictionaryOf(value);
  const members = new Map<string, SignatureKeyMember>();
  for (const [label, entry] of dictionary) members.set(label, interpretMember(label, entry));
  return members;
}

export interface SelectSignatureKeyOptions {
  /**
   * The schemes the verifier implements. When given, a selected member naming any other scheme
   * (registered or not) fails with `unsupported_scheme` *before* its parameters are examined
   * (AAuth -11 §Verification step 4 precedes step 5). AAuth resources pass `['jwt']`.
   */
  readonly accept?: readonly SignatureKeyScheme[];
}

/** base64url characters and `.`: the characters of a compact JWS (a table, because this scans every token). */
const JWT_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.') JWT_CHARS[c.charCodeAt(0)] = 1;
const isJwtChar = (c: number): boolean => c < 128 && JWT_CHARS[c] === 1;

/**
 * Hot path for the one form AAuth agents send: exactly `<label>=jwt;jwt="<compact JWS>"`, the String
 * holding only base64url characters and dots. In that exact shape the header is a one-member SF
 * Dictionary whose value the full parser would return identically (no escapes, no whitespace, no other
 * member or parameter), so it is read without building the generic SF structures. Any other shape —
 * including every one that is merely equivalent — returns `undefined` and takes the full parser.
 */
function canonicalJwtMember(value: string, label: string): JwtMember | undefined {
  const start = label.length + 10; // `=jwt;jwt="`
  const end = value.length - 1;
  if (end < start || value.length > MAX_SIGNATURE_KEY_LENGTH || value.charCodeAt(end) !== 0x22) return undefined;
  if (!value.startsWith(label) || !value.startsWith('=jwt;jwt="', label.length) || !isSfKey(label)) return undefined;
  for (let i = start; i < end; i++) if (!isJwtChar(value.charCodeAt(i))) return undefined;
  return { scheme: 'jwt', jwt: value.slice(start, end) };
}

/**
 * Selects the `Signature-Key` member for `label` (SK-08 §Label Correlation): parses the header as an SF
 * Dictionary and interprets that member alone. Members for other labels are ignored, whatever their
 * scheme (SK-08 §Unknown schemes). Throws `invalid_request` when the header is missing, not a
 * Dictionary, has no member for `label`, or the member is malformed; `unsupported_scheme` when
 * `options.accept` is given and does not list the member's scheme.
 */
export function selectSignatureKey(value: string | undefined, label: string, options: SelectSignatureKeyOptions = {}): SignatureKeyMember {
  if (value === undefined) throw malformed('Signature-Key header is missing');
  const fast = canonicalJwtMember(value, label);
  if (fast !== undefined) {
    if (options.accept !== undefined && !options.accept.includes('jwt')) {
      throw new AAuthError('unsupported_scheme', { detail: 'Signature-Key scheme jwt is not accepted here' });
    }
    return fast;
  }
  const entry = parseDictionaryOf(value).get(label);
  if (entry === undefined) throw malformed(`Signature-Key has no member for label ${label}`);
  if (options.accept !== undefined && !isInnerList(entry)) {
    const scheme = tokenValue(entry[0]);
    if (scheme !== undefined && !(options.accept as readonly string[]).includes(scheme)) {
      throw new AAuthError('unsupported_scheme', {
        detail: isRegistered(scheme) ? `Signature-Key scheme ${scheme} is not accepted here` : 'Signature-Key scheme is not registered',
      });
    }
  }
  return interpretMember(label, entry);
}

/**
 * Refuses a member whose scheme the caller does not implement with `unsupported_scheme`
 * (SK-08 §Unknown schemes; AAuth -11 §Signature-Key Scheme Rejection). Narrows the member's type.
 */
export function assertSignatureKeyScheme<S extends SignatureKeyScheme>(
  member: SignatureKeyMember,
  accept: readonly S[],
): asserts member is Extract<SignatureKeyMember, { scheme: S }> {
  if (!(accept as readonly string[]).includes(member.scheme)) {
    throw new AAuthError('unsupported_scheme', {
      detail:
        member.scheme === 'unknown'
          ? 'Signature-Key scheme is not registered'
          : member.scheme === 'x509'
            ? 'Signature-Key scheme x509 is not supported'
            : `Signature-Key scheme ${member.scheme} is not accepted here`,
    });
  }
}

function memberItem(member: SignatureKeyMember): Item {
  const params: Parameters = new Map<string, BareItem>();
  const put = (name: string, value: string | undefined): void => {
    if (value !== undefined) params.set(name, value);
  };
  switch (member.scheme) {
    case 'jwt':
    case 'jkt-jwt':
      put('jwt', member.jwt);
      if (member.cache === true) params.set('cache', true);
      break;
    case 'self-jwt':
      put('jwt', member.jwt);
      break;
    case 'jwks_uri':
      put('id', member.id);
      put('dwk', member.dwk);
      put('kid', member.kid);
      break;
    case 'jwks':
      put('url', member.url);
      put('kid', member.kid);
      break;
    case 'hwk':
      put('kty', member.kty);
      put('crv', member.crv);
      put('x', member.x);
      put('y', member.y);
      put('n', member.n);
      put('e', member.e);
      put('alg', member.alg);
      break;
    case 'x509':
      put('x5u', member.x5u);
      params.set('x5t', member.x5t as Uint8Array<ArrayBuffer>);
      break;
    case 'cached':
      put('cid', member.cid);
      break;
    case 'unknown':
      for (const [name, value] of member.parameters) params.set(name, value);
      return [sfToken(member.token), params];
  }
  return [sfToken(member.scheme), params];
}

/**
 * Serializes a `Signature-Key` header with one member (SK-08 §Signature-Key): `label=scheme;param="…"`.
 * Throws `invalid_argument` for a label that is not an SF key or a value the grammar cannot carry.
 */
export function serializeSignatureKey(label: string, member: SignatureKeyMember): string {
  return serializeSignatureKeys([[label, member]]);
}

/** Serializes a `Signature-Key` header with several members, in order (SK-08 §Multiple Signatures). */
export function serializeSignatureKeys(members: Iterable<readonly [label: string, member: SignatureKeyMember]>): string {
  const dictionary: Dictionary = new Map();
  for (const [label, member] of members) {
    if (!isSfKey(label)) throw new AAuthError('invalid_argument', { detail: 'signature label is not a Structured Field key' });
    if (dictionary.has(label)) throw new AAuthError('invalid_argument', { detail: `duplicate signature label ${label}` });
    dictionary.set(label, memberItem(member));
  }
  return serializeSfDictionary(dictionary);
}
