/**
 * Signed requests whose key is not bound to a token: `hwk` (SK-08 §Header Web Key: the key inline; Tessera's Agent
 * Provider uses it for enrolment, where the key is new) and `jwks_uri` (SK-08 §JWKS URI: an identified server —
 * the AP notifying a PS of a revocation, a PS calling an AS). Same profile and order as `verifyAAuthRequest`;
 * only step 4–5 (scheme and key resolution) differ.
 */
import { validatePublicJwk } from './crypto/jwk.js';
import type { PublicJwk, VerifyKey } from './crypto/types.js';
import { importVerifyKey, type VerifyKeyCache } from './crypto/verify-key.js';
import { AAuthError, type Result } from './errors.js';
import { headerValue, type HttpRequestMessage } from './http-message.js';
import { signWithKeyMember, type SignedAAuthRequest, type SignRequestOptions } from './request-signer.js';
import { checkSignatureSteps, finishSignatureSteps, verificationFailure, type CheckedSignature, type SignatureCheckOptions } from './request-verification.js';
import { selectSignatureKey, type HwkMember, type JwksUriMember } from './signature-key.js';
import type { KeyResolver } from './tokens/verify-token.js';

/** What a verified `hwk` or `jwks_uri` request establishes. */
export interface VerifiedKeyRequest {
  readonly label: string;
  /** RFC 7638 thumbprint of the signing key. */
  readonly jkt: string;
  readonly key: VerifyKey;
  readonly created: number;
  readonly components: readonly string[];
  readonly signatureBase: string;
}

export interface VerifiedHwkRequest extends VerifiedKeyRequest {
  readonly scheme: 'hwk';
  readonly jwk: PublicJwk;
}

export interface VerifiedServerRequest extends VerifiedKeyRequest {
  readonly scheme: 'jwks_uri';
  /** The signer's identifier; its metadata `issuer` equalled it byte for byte. */
  readonly id: string;
  readonly dwk: string;
  readonly kid: string;
}

export interface VerifyHwkRequestOptions extends SignatureCheckOptions {
  readonly keyCache?: VerifyKeyCache;
}

export interface VerifyServerRequestOptions extends SignatureCheckOptions {
  /** Resolves `{id}/.well-known/{dwk}` → `jwks_uri` → `kid` (see `createKeyResolver`). */
  readonly resolveKey: KeyResolver;
  /** When given, the signer's `id` must be one of these. */
  readonly acceptIds?: readonly string[];
}

function done<S extends 'hwk' | 'jwks_uri'>(checked: CheckedSignature, key: VerifyKey, signatureBase: string, scheme: S) {
  const { parsed } = checked;
  return {
    scheme,
    label: parsed.label,
    jkt: key.thumbprint,
    key,
    created: parsed.params.created ?? 0,
    components: parsed.components.map((c) => c.name),
    signatureBase,
  };
}

/** The JWK an `hwk` member carries (alg REQUIRED, no kid: SK-08), policy-checked. */
export function hwkJwk(member: HwkMember): PublicJwk {
  const jwk: Record<string, unknown> = { kty: member.kty, alg: member.alg };
  for (const m of ['crv', 'x', 'y', 'n', 'e'] as const) if (member[m] !== undefined) jwk[m] = member[m];
  return validatePublicJwk(jwk);
}

/** Verifies a request signed with `Signature-Key: sig=hwk;…` (the key is in the header; nothing vouches for it). */
export async function verifyHwkRequest(request: HttpRequestMessage, options: VerifyHwkRequestOptions): Promise<Result<VerifiedHwkRequest>> {
  const stage = { name: 'signature headers' };
  try {
    const checked = checkSignatureSteps(request, options, stage);
    stage.name = 'signature-key scheme';
    const member = selectSignatureKey(headerValue(checked.lines, 'signature-key'), checked.parsed.label, { accept: ['hwk'] });
    if (member.scheme !== 'hwk') throw new AAuthError('unsupported_scheme', { detail: 'this endpoint takes hwk' });
    stage.name = 'key';
    const jwk = hwkJwk(member);
    const key = await (options.keyCache?.get(jwk) ?? importVerifyKey(jwk));
    options.trace?.({ step: stage.name, ok: true, detail: `hwk ${key.thumbprint}` });
    const base = await finishSignatureSteps(request, checked, key, options, stage);
    return { ok: true, value: { ...done(checked, key, base, 'hwk'), jwk } };
  } catch (error) {
    return verificationFailure(error, stage, options.trace);
  }
}

/** Verifies a server-to-server request signed with `Signature-Key: sig=jwks_uri;id=…;dwk=…;kid=…`. */
export async function verifyServerRequest(request: HttpRequestMessage, options: VerifyServerRequestOptions): Promise<Result<VerifiedServerRequest>> {
  const stage = { name: 'signature headers' };
  try {
    const checked = checkSignatureSteps(request, options, stage);
    stage.name = 'signature-key scheme';
    const member = selectSignatureKey(headerValue(checked.lines, 'signature-key'), checked.parsed.label, { accept: ['jwks_uri'] }) as JwksUriMember;
    if (options.acceptIds !== undefined && !options.acceptIds.includes(member.id)) {
      throw new AAuthError('invalid_key', { detail: 'the signer is not one this endpoint accepts' });
    }
    stage.name = 'key';
    const key = await options.resolveKey({ iss: member.id, dwk: member.dwk, kid: member.kid });
    options.trace?.({ step: stage.name, ok: true, detail: `${member.id} ${member.kid}` });
    const base = await finishSignatureSteps(request, checked, key, options, stage);
    return { ok: true, value: { ...done(checked, key, base, 'jwks_uri'), id: member.id, dwk: member.dwk, kid: member.kid } };
  } catch (error) {
    return verificationFailure(error, stage, options.trace);
  }
}

/** Signs with `sig=hwk`: the signer's public key (with `alg`, without `kid`) travels in the header. */
export function signHwkRequest(request: HttpRequestMessage, options: SignRequestOptions): Promise<SignedAAuthRequest> {
  const jwk = options.signer.publicJwk;
  const member: HwkMember = {
    scheme: 'hwk',
    kty: jwk.kty,
    alg: jwk.alg,
    ...(jwk.crv === undefined ? {} : { crv: jwk.crv }),
    ...(jwk.x === undefined ? {} : { x: jwk.x }),
    ...(jwk.y === undefined ? {} : { y: jwk.y }),
    ...(jwk.n === undefined ? {} : { n: jwk.n }),
    ...(jwk.e === undefined ? {} : { e: jwk.e }),
  };
  return signWithKeyMember(request, member, options);
}

export interface SignServerRequestOptions extends SignRequestOptions {
  /** The signing server's identifier (its metadata `issuer`). */
  readonly id: string;
  /** Its metadata document name, e.g. `aauth-agent.json`, `aauth-person.json`. */
  readonly dwk: string;
  /** The key's `kid` in that server's JWKS; defaults to the signer's. */
  readonly kid?: string;
}

/** Signs a server-to-server request with `sig=jwks_uri;id=…;dwk=…;kid=…`. */
export function signServerRequest(request: HttpRequestMessage, options: SignServerRequestOptions): Promise<SignedAAuthRequest> {
  const kid = options.kid ?? options.signer.publicJwk.kid;
  if (kid === undefined) throw new AAuthError('invalid_argument', { detail: 'the signer key has no kid' });
  return signWithKeyMember(request, { scheme: 'jwks_uri', id: options.id, dwk: options.dwk, kid }, options);
}
