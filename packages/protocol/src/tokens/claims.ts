/**
 * Claims shared by the AAuth token kinds (AAuth -11 §Common JWT Claims, §Common JWT Verification; digest §4),
 * and the small readers the per-kind checks are built from.
 *
 * The same checks serve minting (code `invalid_argument`: the caller built a bad token) and verification
 * (code `invalid_jwt`: a peer sent one).
 */
import { pooledRandomHex } from '../random-pool.js';
import { AAuthError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { isJsonObject, validatePublicJwk } from '../crypto/jwk.js';
import type { PublicJwk } from '../crypto/types.js';

/** The `typ` of each token kind (AAuth §AAuth Tokens; SK-08 §jkt-jwt for `jkt-s256+jwt`). */
export type TokenTyp = 'aa-agent+jwt' | 'aa-person+jwt' | 'aa-resource+jwt' | 'aa-auth+jwt' | 'jkt-s256+jwt';

export const TOKEN_TYPS: readonly TokenTyp[] = ['aa-agent+jwt', 'aa-person+jwt', 'aa-resource+jwt', 'aa-auth+jwt', 'jkt-s256+jwt'];

/** Well-known metadata document names, the `dwk` claim of each issuer role. */
export const DWK = {
  agent: 'aauth-agent.json',
  person: 'aauth-person.json',
  resource: 'aauth-resource.json',
  access: 'aauth-access.json',
} as const;

/**
 * Lifetime caps in seconds (digest §4 table): agent SHOULD ≤ 24 h, person MUST ≤ 1 h, resource SHOULD ≤ 5 min,
 * auth MUST ≤ 1 h. Minting enforces all four; verification enforces the MUSTs (`exp - iat`, AAuth §Common JWT Verification).
 */
export const MAX_LIFETIME = {
  'aa-agent+jwt': 24 * 3600,
  'aa-person+jwt': 3600,
  'aa-resource+jwt': 300,
  'aa-auth+jwt': 3600,
} as const satisfies Partial<Record<TokenTyp, number>>;

/** An RFC 7519 `aud`: one identifier or a non-empty array of them. */
export type Audience = string | readonly [string, ...string[]];

/** RFC 7800 confirmation: the key the token is bound to; `alg` REQUIRED (AAuth §Common JWT Claims). */
export interface Confirmation {
  readonly jwk: PublicJwk;
}

/** Claims every AAuth-issued token carries (AAuth §Common JWT Claims). Unknown claims are kept and ignored. */
export interface CommonClaims {
  readonly iss: string;
  readonly dwk: string;
  readonly jti: string;
  readonly iat: number;
  readonly exp: number;
  readonly [claim: string]: unknown;
}

/** The identifiers `aud` names, as an array. */
export function audienceList(aud: Audience): readonly string[] {
  return typeof aud === 'string' ? [aud] : aud;
}

/** True when `aud` is `audience` or an array containing it (RFC 7519 §4.1.3). */
export function audienceIncludes(aud: Audience, audience: string): boolean {
  return typeof aud === 'string' ? aud === audience : aud.includes(audience);
}

/** Reads and checks claims of one payload, failing with one error code. */
export class ClaimReader {
  readonly claims: Record<string, unknown>;
  readonly #code: ErrorCode;
  readonly #what: string;

  constructor(claims: Record<string, unknown>, code: ErrorCode, what: string) {
    this.claims = claims;
    this.#code = code;
    this.#what = what;
  }

  fail(detail: string): never {
    throw new AAuthError(this.#code, { detail: `${this.#what}: ${detail}` });
  }

  string(name: string): string {
    const value = this.claims[name];
    if (typeof value !== 'string' || value.length === 0) this.fail(`${name} is required`);
    return value;
  }

  optionalString(name: string): void {
    const value = this.claims[name];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0)) this.fail(`${name} must be a non-empty string`);
  }

  /** A claim that must not appear at all in this kind. */
  absent(name: string, why: string): void {
    if (this.claims[name] !== undefined) this.fail(`${name} is not allowed (${why})`);
  }

  exact(name: string, ...allowed: readonly string[]): string {
    const value = this.claims[name];
    if (typeof value !== 'string' || !allowed.includes(value)) this.fail(`${name} must be ${allowed.join(' or ')}`);
    return value;
  }

  /** A NumericDate (RFC 7519 §2): a finite, non-negative number of seconds. */
  time(name: string): number {
    const value = this.claims[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) this.fail(`${name} must be a NumericDate`);
    return value;
  }

  audience(): Audience {
    const value = this.claims['aud'];
    if (typeof value === 'string' && value.length > 0) return value;
    if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v.length > 0)) {
      return value as unknown as readonly [string, ...string[]];
    }
    return this.fail('aud is required (a string or a non-empty array of strings)');
  }

  /**
   * `cnf.jwk`: present, structurally complete and acceptable under the key policy, checked before any key
   * decoding (AAuth §Auth Token Verification step 3). A missing `cnf` fails with this reader's code;
   * a key the policy refuses fails with the policy's code (`invalid_key` / `unsupported_algorithm`).
   */
  confirmation(): PublicJwk {
    const cnf = this.claims['cnf'];
    if (!isJsonObject(cnf) || !isJsonObject(cnf['jwk'])) this.fail('cnf.jwk is required');
    return validatePublicJwk(cnf['jwk']);
  }

  /** `iat` ≤ `exp`, and `exp - iat` within `max` seconds when given. */
  lifetime(max?: number): void {
    const iat = this.time('iat');
    const exp = this.time('exp');
    if (exp <= iat) this.fail('exp must be after iat');
    if (max !== undefined && exp - iat > max) this.fail(`lifetime exceeds ${max} s`);
  }
}

/** A token just minted, with the claims it carries: an issuer records `jti` and `exp` without decoding it again. */
export interface Minted<C> {
  readonly token: string;
  readonly claims: C;
}

/** Options common to every mint function. */
export interface MintOptions {
  /** Clock, epoch seconds. */
  readonly now: () => number;
  /** Requested lifetime in seconds; must not exceed the kind's cap. */
  readonly ttl?: number;
  /**
   * Latest permitted `exp` (the agent token's `exp`, a mission's `expires_at`, an upstream or presented token's `exp`).
   * `exp` is clamped to it (AAuth §Person Token Structure, §Auth Token Structure: no token outlives what it derives from).
   */
  readonly notAfter?: number;
}

/** `{iat, exp}` for a new token: `exp = min(now + ttl, notAfter)`, refusing a ttl over `cap` or a token born expired. */
export function issueTimes(options: MintOptions, defaultTtl: number, cap: number | undefined): { iat: number; exp: number } {
  const iat = Math.floor(options.now());
  const ttl = options.ttl ?? defaultTtl;
  if (!Number.isSafeInteger(iat) || iat < 0) throw new AAuthError('invalid_argument', { detail: 'now() must return epoch seconds' });
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new AAuthError('invalid_argument', { detail: 'ttl must be a positive integer' });
  if (cap !== undefined && ttl > cap) throw new AAuthError('invalid_argument', { detail: `ttl ${ttl} s exceeds the ${cap} s cap` });
  let exp = iat + ttl;
  if (options.notAfter !== undefined) {
    if (!Number.isFinite(options.notAfter)) throw new AAuthError('invalid_argument', { detail: 'notAfter must be epoch seconds' });
    exp = Math.min(exp, Math.floor(options.notAfter));
  }
  if (exp <= iat) throw new AAuthError('invalid_argument', { detail: 'token would be expired at issuance (notAfter has passed)' });
  return { iat, exp };
}

/** A random `jti`: 128 bits from the CSPRNG (pooled: a `jti` is public), hex. */
export function randomJti(): string {
  return pooledRandomHex(16);
}

/** `T` without its index signature, keeping the named members and their modifiers. */
export type KnownClaims<T> = { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/**
 * Claim input for a mint function: the kind's claims without `iat`/`exp` (set from the clock), with `dwk`
 * optional when the kind fixes it and `jti` optional (random when absent). Extra claims are allowed.
 */
export type MintClaims<C extends CommonClaims> = Omit<KnownClaims<C>, 'iat' | 'exp' | 'jti' | 'dwk'> & {
  readonly jti?: string;
  readonly dwk?: C['dwk'];
} & Readonly<Record<string, unknown>>;

/**
 * Assembles the payload in a stable order: `iss`, `dwk`, then the caller's claims in their order, `jti` when
 * generated, then `iat`, `exp`. Refuses `iat`/`exp` in the input (they come from the clock).
 */
export function assemblePayload(
  claims: Readonly<Record<string, unknown>>,
  dwk: string,
  times: { iat: number; exp: number },
): Record<string, unknown> {
  if (!isJsonObject(claims)) throw new AAuthError('invalid_argument', { detail: 'claims must be an object' });
  if (claims['iat'] !== undefined || claims['exp'] !== undefined) {
    throw new AAuthError('invalid_argument', { detail: 'iat and exp are set from the clock and ttl, not passed in' });
  }
  const payload: Record<string, unknown> = { iss: claims['iss'], dwk, ...claims };
  payload['dwk'] ??= dwk;
  if (payload['jti'] === undefined) payload['jti'] = randomJti();
  payload['iat'] = times.iat;
  payload['exp'] = times.exp;
  return payload;
}

/** The `kid` of the issuer's signing key, REQUIRED in every AAuth token header (AAuth §Common JWT Claims). */
export function requireKid(signer: { readonly publicJwk: { readonly kid?: string } }): string {
  const kid = signer.publicJwk.kid;
  if (typeof kid !== 'string' || kid.length === 0) throw new AAuthError('invalid_argument', { detail: 'the signer key has no kid' });
  return kid;
}
