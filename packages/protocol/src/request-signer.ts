import { fromUtf8 } from './base64url.js';
import { createContentDigest } from './content-digest.js';
import type { Signer } from './crypto/types.js';
import { headerLines, headerValue, type HttpRequestMessage } from './http-message.js';
import { signMessage } from './http-signatures/sign.js';
import { serializeSignatureKey, type SignatureKeyMember } from './signature-key.js';
import { AAuthError } from './errors.js';

import { AAUTH_BASE_COMPONENTS } from './request-verification.js';

export interface SignAAuthRequestOptions {
  /** Signs with the key that the token's `cnf.jwk` names. */
  readonly signer: Signer;
  /** The agent, person or auth token carried as `Signature-Key: sig=jwt;jwt="…"` (the only scheme AAuth agents use). */
  readonly token: string;
  /** Signature label; `sig` by default. */
  readonly label?: string;
  /** `created`, epoch seconds; defaults to `now()`. */
  readonly created?: number;
  readonly now?: () => number;
  /** Components to cover beyond the profile's (e.g. a resource's `additional_signature_components`, `@query`). */
  readonly components?: readonly string[];
  /**
   * Content-Digest on a body (RFC 9530), covered together with `content-type`. On by default: PS and AS
   * requests with a body MUST cover both, and covering them elsewhere costs one hash.
   */
  readonly contentDigest?: boolean;
}

export interface SignedAAuthRequest {
  /** Header fields to add to the request (lowercase names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The covered components, in order. */
  readonly components: readonly string[];
  /** The RFC 9421 signature base that was signed (for diagnostics). */
  readonly signatureBase: string;
  readonly created: number;
}

/**
 * Signs a request as an AAuth agent: `sig=jwt`, covering `@method @authority @path signature-key`, plus
 * `content-digest content-type` on a body and `authorization` when a session token is sent (§8.1); `created`
 * is now; neither `alg` nor `keyid` is sent (§8.2). Header values are serialized as structured fields.
 */
export function signAAuthRequest(request: HttpRequestMessage, options: SignAAuthRequestOptions): Promise<SignedAAuthRequest> {
  return signWithKeyMember(request, { scheme: 'jwt', jwt: options.token }, options);
}

/** Options common to every request signer: everything of `SignAAuthRequestOptions` but the token. */
export type SignRequestOptions = Omit<SignAAuthRequestOptions, 'token'>;

/**
 * Signs a request whose key travels as the given Signature-Key member, with the AAuth profile's components
 * (shared by the `jwt`, `hwk` and `jwks_uri` signers).
 */
export async function signWithKeyMember(request: HttpRequestMessage, member: SignatureKeyMember, options: SignRequestOptions): Promise<SignedAAuthRequest> {
  const label = options.label ?? 'sig';
  const created = options.created ?? Math.floor((options.now ?? defaultNow)());
  if (!Number.isSafeInteger(created) || created < 0) {
    throw new AAuthError('invalid_argument', { detail: 'created must be a non-negative integer (epoch seconds)' });
  }
  const lines = headerLines(request.headers);
  const added: Record<string, string> = {};
  const components: string[] = [...AAUTH_BASE_COMPONENTS];

  const body = request.body;
  if (body !== undefined && body.length > 0 && options.contentDigest !== false) {
    added['content-digest'] = await createContentDigest(body);
    components.push('content-digest');
    if (headerValue(lines, 'content-type') !== undefined) components.push('content-type');
  }
  const authorization = headerValue(lines, 'authorization');
  if (authorization !== undefined && /^AAuth\s/i.test(authorization)) components.push('authorization');
  for (const c of options.components ?? []) if (!components.includes(c)) components.push(c);

  added['signature-key'] = serializeSignatureKey(label, member);

  const message: HttpRequestMessage = {
    method: request.method,
    url: request.url,
    headers: [...flatten(lines), ...Object.entries(added)],
    ...(body === undefined ? {} : { body }),
  };
  const signed = await signMessage(message, {
    label,
    components,
    created,
    sign: (data) => options.signer.sign(data),
  });
  added['signature-input'] = signed.signatureInput;
  added['signature'] = signed.signature;
  return { headers: added, components, signatureBase: signed.base, created };
}

function* flatten(lines: Map<string, string[]>): Iterable<readonly [string, string]> {
  for (const [name, values] of lines) for (const v of values) yield [name, v];
}

const defaultNow = (): number => Date.now() / 1000;

/** Decodes a body given as text or bytes; used by callers that accept either. */
export function bodyBytes(body: string | Uint8Array | undefined | null): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  return typeof body === 'string' ? new TextEncoder().encode(body) : body;
}

export const bodyText = (body: Uint8Array): string => fromUtf8(body);
