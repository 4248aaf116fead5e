/**
 * The signature base (RFC 9421 §2.5): one `"identifier": value` line per covered component, then the
 * `"@signature-params"` line. Built by plain concatenation of validated pieces: this runs on every
 * signed request.
 */

import { AAuthError, type ErrorCode } from '../errors.js';
import type { HttpMessage, HttpRequestMessage } from '../http-message.js';
import { componentKey, serializeComponentIdentifier, validateComponentIdentifier, type ComponentIdentifier } from './component.js';
import { SignatureContext } from './component-value.js';

/**
 * Creates the signature base for `components` of a message.
 *
 * - `signatureParams` is the serialized `@signature-params` value (§2.3), e.g.
 *   `("@method" "@path");created=1618884473`, exactly as it appears in Signature-Input.
 * - `related` is the request a signed response answers, for components with `req` (§2.4).
 *
 * Fails with `AAuthError('invalid_signature')` when a component cannot be resolved (§2.5): an
 * unknown derived component or parameter, an illegal parameter combination, `req` on a request,
 * `@status` on a request, a covered field or dictionary member or query parameter that is absent,
 * `sf` on a field whose type is not known, a trailer (`tr`), or a component listed twice (§2).
 */
export function createSignatureBase(
  message: HttpMessage | SignatureContext,
  components: readonly ComponentIdentifier[],
  signatureParams: string,
  related?: HttpRequestMessage,
): string {
  const ctx = message instanceof SignatureContext ? message : new SignatureContext(message, { related });
  return buildSignatureBase(ctx, components, signatureParams, 'invalid_signature');
}

/** As {@link createSignatureBase}, over a prepared context, failing with `code`. */
export function buildSignatureBase(
  ctx: SignatureContext,
  components: readonly ComponentIdentifier[],
  signatureParams: string,
  code: ErrorCode,
): string {
  if (typeof signatureParams !== 'string' || signatureParams.includes('\n') || signatureParams.includes('\r')) {
    throw new AAuthError(code, { detail: 'invalid @signature-params value' });
  }
  let base = '';
  let seen: Set<string> | undefined;
  for (let i = 0; i < components.length; i++) {
    const id = components[i]!;
    validateComponentIdentifier(id, code);
    if (components.length > 1) {
      // §2: each component identifier MUST occur only once; parameter order does not make two distinct.
      seen ??= new Set();
      const key = componentKey(id);
      if (seen.has(key)) throw new AAuthError(code, { detail: `component ${serializeComponentIdentifier(id)} is covered twice` });
      seen.add(key);
    }
    base += serializeComponentIdentifier(id) + ': ' + ctx.componentValue(id, code) + '\n';
  }
  return base + '"@signature-params": ' + signatureParams;
}

const encoder = new TextEncoder();

/**
 * The bytes that are signed: the base as US-ASCII. Field values may carry obs-text (bytes 0x80–0xFF,
 * held by `Headers` as ISO-8859-1 code points), which are signed as those bytes.
 */
export function signatureBaseBytes(base: string): Uint8Array {
  const bytes = encoder.encode(base);
  if (bytes.length === base.length) return bytes; // all ASCII
  const out = new Uint8Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const c = base.charCodeAt(i);
    if (c > 0xff) throw new AAuthError('invalid_signature', { detail: 'signature base contains a character that is not a byte' });
    out[i] = c;
  }
  return out;
}
