/**
 * Creating a signature (RFC 9421 §3.1) and the Signature-Input / Signature members that carry it (§4).
 */

import { AAuthError, isAAuthError } from '../errors.js';
import type { HttpMessage, HttpRequestMessage } from '../http-message.js';
import { serializeSfDictionary, type BareItem, type InnerList } from '../structured-fields.js';
import { toComponentIdentifier, toItem, type ComponentIdentifier } from './component.js';
import { SignatureContext } from './component-value.js';
import { buildSignatureBase, signatureBaseBytes } from './signature-base.js';
import { serializeInnerList } from 'structured-headers';

export interface SignMessageOptions {
  /** Signature label, shared with Signature-Key (default `sig`). */
  readonly label?: string;
  /** Covered components in order: identifiers, bare names (`"@method"`) or serialized identifiers (`"\"example-dict\";key=\"a\""`). */
  readonly components: readonly (string | ComponentIdentifier)[];
  /** Creation time in epoch seconds; AAuth requires it and requires it to be now (checklist §8.2). */
  readonly created: number;
  readonly expires?: number;
  readonly nonce?: string;
  readonly tag?: string;
  /** RFC 9421 `keyid`. AAuth agents SHOULD NOT send it: Signature-Key identifies the key. */
  readonly keyid?: string;
  /** For a response: the request it answers (components with `req`). */
  readonly related?: HttpRequestMessage;
  /** Signs the signature base bytes (HTTP_SIGN, §3.3); a KMS-held key fits here. */
  readonly sign: (base: Uint8Array) => Promise<Uint8Array>;
}

export interface SignedMessage {
  /** The Signature-Input dictionary member, e.g. `sig=("@method" "@authority");created=1618884473`. */
  readonly signatureInput: string;
  /** The Signature dictionary member, e.g. `sig=:base64:`. */
  readonly signature: string;
  /** The signature base that was signed. */
  readonly base: string;
  /** The `@signature-params` value (the Signature-Input member without its label). */
  readonly signatureParams: string;
}

/**
 * Signs `message` over `components`. The `alg` signature parameter is never emitted: the key carries
 * a fully specified algorithm (SK-08 §Algorithm Determination; AAuth checklist §8.2).
 * Bad options or a component that cannot be resolved → `invalid_argument`.
 */
export async function signMessage(message: HttpMessage | SignatureContext, options: SignMessageOptions): Promise<SignedMessage> {
  const label = options.label ?? 'sig';
  const components = options.components.map(toComponentIdentifier);
  const params = new Map<string, BareItem>();
  params.set('created', integer('created', options.created));
  if (options.expires !== undefined) params.set('expires', integer('expires', options.expires));
  if (options.nonce !== undefined) params.set('nonce', string('nonce', options.nonce));
  if (options.keyid !== undefined) params.set('keyid', string('keyid', options.keyid));
  if (options.tag !== undefined) params.set('tag', string('tag', options.tag));
  if (typeof options.sign !== 'function') throw new AAuthError('invalid_argument', { detail: 'sign must be a function' });

  let ctx: SignatureContext;
  let base: string;
  let innerList: InnerList;
  let signatureParams: string;
  try {
    ctx = message instanceof SignatureContext ? message : new SignatureContext(message, { related: options.related });
    innerList = [components.map(toItem), params];
    signatureParams = serializeInnerList(innerList);
    base = buildSignatureBase(ctx, components, signatureParams, 'invalid_argument');
  } catch (cause) {
    if (isAAuthError(cause)) throw cause;
    throw new AAuthError('invalid_argument', { detail: 'covered components cannot be serialized', cause });
  }
  const signatureInput = serializeSfDictionary(new Map([[label, innerList]]));
  const bytes = await options.sign(signatureBaseBytes(base));
  if (!(bytes instanceof Uint8Array)) throw new AAuthError('invalid_argument', { detail: 'sign did not return bytes' });
  const signature = serializeSfDictionary(new Map([[label, [bytes as Uint8Array<ArrayBuffer>, new Map()]]]));
  return { signatureInput, signature, base, signatureParams };
}

function integer(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AAuthError('invalid_argument', { detail: `${name} must be a non-negative integer of seconds` });
  }
  return value;
}

function string(name: string, value: string): string {
  if (typeof value !== 'string') throw new AAuthError('invalid_argument', { detail: `${name} must be a string` });
  return value;
}
