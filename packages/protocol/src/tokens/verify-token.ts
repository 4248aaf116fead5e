/**
 * Verification of AAuth JWTs: agent, person, resource and auth tokens, and the `jkt-s256+jwt` key refresh
 * token (AAuth -11 §Common JWT Verification and each token's Verification section; SK-08 §jkt-jwt).
 *
 * The caller names the kinds it accepts; `typ` is checked first, before claims and signature
 * (AAuth §Common JWT Claims: "A recipient MUST check `typ` before acting on any AAuth JWT"), and the result
 * type only contains the accepted kinds, so a person token can never be mistaken for an auth token (§8.22).
 */
import { AAuthError, isAAuthError } from '../errors.js';
import type { ProblemErrorCode } from '../errors.js';
import type { PublicJwk, VerifyKey } from '../crypto/types.js';
import { importVerifyKey } from '../crypto/verify-key.js';
import type { VerifyKeyCache } from '../crypto/verify-key.js';
import type { AgentTokenClaims } from './agent-token.js';
import { checkAgentTokenClaims } from './agent-token.js';
import type { AuthTokenClaims } from './auth-token.js';
import { checkAuthTokenClaims } from './auth-token.js';
import type { Audience, TokenTyp } from './claims.js';
import { TOKEN_TYPS, audienceIncludes } from './claims.js';
import type { JktTokenClaims } from './jkt-token.js';
import { checkJktTokenClaims, jktIssuerJwk } from './jkt-token.js';
import type { DecodedJws, JwsHeader } from './jws.js';
import { decodeJws, verifyJwsSignature } from './jws.js';
import type { PersonTokenClaims } from './person-token.js';
import { checkPersonTokenClaims } from './person-token.js';
import type { ResourceTokenClaims } from './resource-token.js';
import { checkResourceTokenClaims } from './resource-token.js';

/**
 * Finds the key that signed a token: the issuer's JWKS (`{iss}/.well-known/{dwk}` → `jwks_uri`) entry `kid`.
 * `refresh: true` asks the resolver to bypass its cache once (digest §5 JWKS rule: refetch once on a
 * signature failure with a known kid, subject to the once-per-minute floor).
 */
export type KeyResolver = (request: { iss: string; dwk: string; kid: string; refresh?: boolean }) => Promise<VerifyKey>;

export interface VerifiedAgentToken {
  readonly kind: 'aa-agent+jwt';
  readonly header: JwsHeader;
  readonly claims: AgentTokenClaims;
  /** The imported `cnf.jwk`: the key that must have signed the request. */
  readonly cnfKey: VerifyKey;
}

export interface VerifiedPersonToken {
  readonly kind: 'aa-person+jwt';
  readonly header: JwsHeader;
  readonly claims: PersonTokenClaims;
  readonly cnfKey: VerifyKey;
}

export interface VerifiedResourceToken {
  readonly kind: 'aa-resource+jwt';
  readonly header: JwsHeader;
  readonly claims: ResourceTokenClaims;
}

export interface VerifiedAuthToken {
  readonly kind: 'aa-auth+jwt';
  readonly header: JwsHeader;
  readonly claims: AuthTokenClaims;
  readonly cnfKey: VerifyKey;
}

export interface VerifiedJktToken {
  readonly kind: 'jkt-s256+jwt';
  readonly header: JwsHeader;
  readonly claims: JktTokenClaims;
  /** The delegated key (`cnf.jwk`). */
  readonly cnfKey: VerifyKey;
  /** The self-issuing key from the header `jwk`; `claims.iss` is its thumbprint URN. */
  readonly issuerKey: VerifyKey;
}

export interface VerifiedTokenMap {
  'aa-agent+jwt': VerifiedAgentToken;
  'aa-person+jwt': VerifiedPersonToken;
  'aa-resource+jwt': VerifiedResourceToken;
  'aa-auth+jwt': VerifiedAuthToken;
  'jkt-s256+jwt': VerifiedJktToken;
}

/** A verified token of one of the kinds `K`, discriminated by `kind`. */
export type VerifiedToken<K extends TokenTyp = TokenTyp> = VerifiedTokenMap[K];

export interface VerifyTokenOptions<K extends TokenTyp> {
  /** The token kinds (`typ` values) the caller accepts; never empty. */
  readonly accept: readonly [K, ...K[]];
  /** Resolves the issuer's signing key; not called for `jkt-s256+jwt`, whose key is in its header. */
  readonly resolveKey: KeyResolver;
  /** Clock, epoch seconds. */
  readonly now: () => number;
  /** Tolerance for `iat` ahead of the clock, seconds; default 60 (AAuth §Common JWT Verification). */
  readonly skew?: number;
  /** When given, `aud` must be (or contain) it — for kinds that carry `aud`. */
  readonly audience?: string;
  /** When given, `iss` must equal it. */
  readonly issuer?: string;
  /** Where `cnf.jwk` (and jkt header) keys are imported; without one each verification imports afresh. */
  readonly keyCache?: VerifyKeyCache;
  /** Maximum JWT length; default 16 KiB. */
  readonly maxLength?: number;
}

export const DEFAULT_IAT_SKEW = 60;

function invalidJwt(detail: string): AAuthError {
  return new AAuthError('invalid_jwt', { detail });
}

/** A short, printable rendering of an untrusted `typ` for an error detail. */
function describeTyp(typ: string): string {
  return JSON.stringify(typ.length > 40 ? `${typ.slice(0, 40)}…` : typ);
}

function importKey(jwk: PublicJwk, cache: VerifyKeyCache | undefined): Promise<VerifyKey> {
  return cache === undefined ? importVerifyKey(jwk) : cache.get(jwk);
}

async function resolve(resolveKey: KeyResolver, request: { iss: string; dwk: string; kid: string; refresh?: boolean }): Promise<VerifyKey> {
  try {
    return await resolveKey(request);
  } catch (error) {
    if (isAAuthError(error)) throw error;
    throw new AAuthError('server_error', { detail: 'key resolution failed', cause: error });
  }
}

/**
 * Verifies the issuer signature with the key found by `kid`; on failure asks the resolver once more with
 * `refresh: true` (key rotation) and retries (AAuth §JWKS Discovery and Caching; digest §5, §7).
 */
async function verifyIssuerSignature(decoded: DecodedJws, resolveKey: KeyResolver, iss: string, dwk: string, kid: string): Promise<void> {
  const key = await resolve(resolveKey, { iss, dwk, kid });
  if (await verifyJwsSignature(decoded, key)) return;
  const fresh = await resolve(resolveKey, { iss, dwk, kid, refresh: true });
  if (await verifyJwsSignature(decoded, fresh)) return;
  throw invalidJwt('signature does not verify');
}

function checkTimes(iat: number, exp: number, now: number, skew: number): void {
  // AAuth §Common JWT Verification step 3: `exp` in the future by the verifier's own clock, no tolerance.
  if (exp <= now) throw new AAuthError('expired_jwt', { detail: 'token has expired' });
  if (iat > now + skew) throw invalidJwt('iat is in the future');
}

/**
 * Verifies a compact JWT of one of the `accept`ed kinds. Order: decode → `typ` ∈ `accept` → claims of that kind
 * (`dwk`, required and forbidden claims, lifetime) → `iss`/`aud` expectations → times → `cnf.jwk` policy →
 * issuer signature (with one refresh on failure). Unknown claims are ignored.
 *
 * Throws `AAuthError`: `invalid_jwt`, `expired_jwt`, `invalid_key`, `unsupported_algorithm` (for `cnf.jwk`),
 * and whatever the resolver throws (`unknown_key`, `issuer_mismatch`, ...).
 */
export async function verifyToken<const K extends TokenTyp>(jwt: string, options: VerifyTokenOptions<K>): Promise<VerifiedToken<K>> {
  const accept: readonly string[] = Array.isArray(options.accept) ? options.accept : [];
  if (accept.length === 0 || !accept.every((t) => (TOKEN_TYPS as readonly string[]).includes(t))) {
    throw new AAuthError('invalid_argument', { detail: 'accept must list at least one known token typ' });
  }
  const decoded = decodeJws(jwt, options.maxLength === undefined ? {} : { maxLength: options.maxLength });
  const { header, payload } = decoded;
  const typ = header.typ;
  if (!accept.includes(typ)) throw invalidJwt(`typ ${describeTyp(typ)} is not accepted here (expected ${accept.join(' or ')})`);

  const now = options.now();
  const skew = options.skew ?? DEFAULT_IAT_SKEW;
  const kind = typ as TokenTyp;

  if (kind === 'jkt-s256+jwt') {
    const claims = checkJktTokenClaims(payload);
    if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalidJwt('iss is not the expected issuer');
    checkTimes(claims.iat, claims.exp, now, skew);
    const issuerJwk = await jktIssuerJwk(header, claims);
    const [issuerKey, cnfKey] = await Promise.all([importKey(issuerJwk, options.keyCache), importKey(claims.cnf.jwk, options.keyCache)]);
    if (!(await verifyJwsSignature(decoded, issuerKey))) throw invalidJwt('signature does not verify');
    const result: VerifiedJktToken = { kind, header, claims, cnfKey, issuerKey };
    return result as VerifiedToken<K>;
  }

  const claims =
    kind === 'aa-agent+jwt'
      ? checkAgentTokenClaims(payload)
      : kind === 'aa-person+jwt'
        ? checkPersonTokenClaims(payload)
        : kind === 'aa-resource+jwt'
          ? checkResourceTokenClaims(payload)
          : checkAuthTokenClaims(payload);
  if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalidJwt('iss is not the expected issuer');
  const aud = claims['aud'] as Audience | undefined;
  if (options.audience !== undefined && aud !== undefined && !audienceIncludes(aud, options.audience)) {
    throw invalidJwt('aud does not name this recipient');
  }
  checkTimes(claims.iat, claims.exp, now, skew);
  const kid = header.kid;
  if (kid === undefined || kid.length === 0) throw invalidJwt('header kid is required');

  const signature = verifyIssuerSignature(decoded, options.resolveKey, claims.iss, claims.dwk, kid);
  if (kind === 'aa-resource+jwt') {
    await signature;
    const result: VerifiedResourceToken = { kind, header, claims: claims as ResourceTokenClaims };
    return result as VerifiedToken<K>;
  }
  const cnfJwk = (claims as AgentTokenClaims | PersonTokenClaims | AuthTokenClaims).cnf.jwk;
  const [, cnfKey] = await Promise.all([signature, importKey(cnfJwk, options.keyCache)]);
  const result = { kind, header, claims, cnfKey } as VerifiedAgentToken | VerifiedPersonToken | VerifiedAuthToken;
  return result as VerifiedToken<K>;
}

const PROBLEM_CODES: Readonly<Record<TokenTyp, readonly [invalid: ProblemErrorCode, expired: ProblemErrorCode]>> = {
  'aa-agent+jwt': ['invalid_agent_token', 'expired_agent_token'],
  // The -11 error tables define no `expired_person_token`.
  'aa-person+jwt': ['invalid_person_token', 'invalid_person_token'],
  'aa-resource+jwt': ['invalid_resource_token', 'expired_resource_token'],
  'aa-auth+jwt': ['invalid_auth_token', 'expired_auth_token'],
  'jkt-s256+jwt': ['invalid_request', 'invalid_request'],
};

/**
 * Maps a failure to verify a token carried as a request parameter (not in `Signature-Key`) to the endpoint's
 * problem+json `error` (AAuth §Token Endpoint Error Codes): `expired_jwt` → `expired_<kind>_token`, any other
 * verification failure → `invalid_<kind>_token`; unavailability → `temporarily_unavailable`; anything else
 * (a bug, a misuse) → `server_error`.
 */
export function tokenProblemCode(kind: TokenTyp, error: unknown): ProblemErrorCode {
  const codes = PROBLEM_CODES[kind];
  if (!(error instanceof AAuthError)) return 'server_error';
  switch (error.code) {
    case 'expired_jwt':
      return codes[1];
    case 'fetch_failed':
    case 'temporarily_unavailable':
      return 'temporarily_unavailable';
    case 'server_error':
    case 'invalid_argument':
      return 'server_error';
    default:
      return codes[0];
  }
}
