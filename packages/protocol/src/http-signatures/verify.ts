/**
 * Verifying a signature (RFC 9421 §3.2) under the AAuth profile: the verification order of AAuth -11
 * §HTTP Message Signatures Profile — missing headers → `invalid_request`, missing components →
 * `invalid_input`, `created` outside the window → `invalid_signature`, key resolution (the
 * caller's), bad signature → `invalid_signature`.
 */

import { AAuthError, isAAuthError } from '../errors.js';
import type { HttpMessage, HttpRequestMessage } from '../http-message.js';
import { sameComponent, toComponentIdentifier } from './component.js';
import { SignatureContext } from './component-value.js';
import { buildSignatureBase, signatureBaseBytes } from './signature-base.js';
import { selectSignature, type ParsedSignature, type SignatureParameters } from './signature-input.js';

/** A clock in epoch seconds, or a fixed time. */
export type Now = number | (() => number);

/** Checks a signature's bytes over a signature base (HTTP_VERIFY, §3.3). */
export type SignatureVerifier = (base: Uint8Array, signature: Uint8Array) => Promise<boolean>;

export interface SignatureTimeOptions {
  readonly now: Now;
  /** Accepted age of `created`, in seconds (AAuth default 60; a resource may advertise `signature_window`). */
  readonly window?: number;
  /** Accepted clock skew for a `created` in the future; defaults to `window`. */
  readonly maxSkew?: number;
}

export const DEFAULT_SIGNATURE_WINDOW = 60;

const readNow = (now: Now): number => (typeof now === 'function' ? now() : now);

/**
 * AAuth profile time checks (checklist §8.5): `created` is REQUIRED and must lie within `window`
 * seconds of now (`maxSkew` ahead); `expires`, when present, must not be past. Every failure,
 * including a missing `created`, → `invalid_signature` (SK-08 §invalid_signature: "an expired
 * `created` timestamp"; `invalid_input` lists covered components, which `created` is not).
 */
export function checkSignatureTime(params: SignatureParameters, options: SignatureTimeOptions): void {
  const window = options.window ?? DEFAULT_SIGNATURE_WINDOW;
  const skew = options.maxSkew ?? window;
  if (!isSeconds(window) || !isSeconds(skew)) throw new AAuthError('invalid_argument', { detail: 'window and maxSkew must be non-negative numbers' });
  const now = readNow(options.now);
  if (!Number.isFinite(now)) throw new AAuthError('invalid_argument', { detail: 'now must be a number of seconds' });
  const created = params.created;
  if (created === undefined) throw new AAuthError('invalid_signature', { detail: 'the created signature parameter is required' });
  if (created < now - window) throw new AAuthError('invalid_signature', { detail: 'signature created outside the accepted window (too old)' });
  if (created > now + skew) throw new AAuthError('invalid_signature', { detail: 'signature created in the future' });
  if (params.expires !== undefined && params.expires < now) throw new AAuthError('invalid_signature', { detail: 'signature expired' });
}

const isSeconds = (n: number): boolean => typeof n === 'number' && Number.isFinite(n) && n >= 0;

/**
 * Requires `required` components (names or serialized identifiers) to be covered (AAuth checklist
 * §8.4; §8.10 with `signature-key`). Missing ones → `invalid_input` whose `requiredInput` is the whole
 * required set, as SK-08 §invalid_input defines `required_input`; `detail` names the missing ones.
 */
export function requireComponents(parsed: ParsedSignature, required: readonly string[]): void {
  const missing: string[] = [];
  for (const r of required) {
    const id = toComponentIdentifier(r);
    if (!parsed.components.some((c) => sameComponent(c, id))) missing.push(r);
  }
  if (missing.length > 0) {
    throw new AAuthError('invalid_input', { detail: `signature does not cover ${missing.join(', ')}`, requiredInput: [...required] });
  }
}

/**
 * Re-creates the signature base of `parsed` over `message` and checks it with `verify`. The algorithm
 * is the verifier's (from the key), never the `alg` parameter (checklist §8.9). A base that cannot be
 * built, a false result, or a verifier that throws → `invalid_signature`.
 */
export async function verifySignatureWith(
  message: HttpMessage | SignatureContext,
  parsed: ParsedSignature,
  verify: SignatureVerifier,
  related?: HttpRequestMessage,
): Promise<void> {
  const ctx = message instanceof SignatureContext ? message : new SignatureContext(message, { related });
  const base = buildSignatureBase(ctx, parsed.components, parsed.signatureParams, 'invalid_signature');
  let ok: boolean;
  try {
    ok = await verify(signatureBaseBytes(base), parsed.signature);
  } catch (cause) {
    if (isAAuthError(cause)) throw cause;
    throw new AAuthError('invalid_signature', { detail: 'signature verification failed', cause });
  }
  if (ok !== true) throw new AAuthError('invalid_signature', { detail: 'signature does not verify' });
}

export interface VerifyMessageSignatureOptions {
  /** The label to verify; without one, exactly one signature must be present. */
  readonly label?: string;
  readonly now: Now;
  readonly window?: number;
  readonly maxSkew?: number;
  /** Components the signature must cover, e.g. `["@method", "@authority", "@path", "signature-key"]`. */
  readonly required?: readonly string[];
  /** For a signed response: the request it answers. */
  readonly related?: HttpRequestMessage;
  /** Resolves the key for the selected signature (Signature-Key; steps 4–6 of the profile order). */
  readonly resolveVerifier: (parsed: ParsedSignature) => Promise<SignatureVerifier>;
}

/**
 * The whole verification in the AAuth profile order. Returns the verified signature.
 * `message` may be a prepared {@link SignatureContext} so header lines are read only once.
 */
export async function verifyMessageSignature(
  message: HttpMessage | SignatureContext,
  options: VerifyMessageSignatureOptions,
): Promise<ParsedSignature> {
  const ctx = message instanceof SignatureContext ? message : new SignatureContext(message, { related: options.related });
  const parsed = selectSignature(ctx.lines, options.label); // (1) invalid_request
  if (options.required !== undefined) requireComponents(parsed, options.required); // (2) invalid_input
  checkSignatureTime(parsed.params, options); // (3) invalid_signature
  const verify = await options.resolveVerifier(parsed); // (4)–(6) the caller's codes
  await verifySignatureWith(ctx, parsed, verify); // (7) invalid_signature
  return parsed;
}
