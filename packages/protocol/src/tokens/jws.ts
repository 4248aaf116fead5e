/**
 * Compact JWS (RFC 7515 §3.1, §7.1) as AAuth uses it: three base64url parts, JSON object header and payload,
 * a fully specified `alg` from the accepted set (AAuth §Common JWT Claims: never `none`, `EdDSA` or symmetric).
 * Every malformed input is `invalid_jwt`.
 */
import { AAuthError } from '../errors.js';
import { b64urlDecode, b64urlDecodeText, b64urlEncode, b64urlEncodeText, utf8 } from '../base64url.js';
import { isSupportedAlgorithm } from '../crypto/algorithms.js';
import { isJsonObject } from '../crypto/jwk.js';
import type { JwsAlgorithm, Signer, VerifyKey } from '../crypto/types.js';
import { SUPPORTED_ALGORITHMS } from '../crypto/types.js';

/** Upper bound on a compact JWS we will parse; AAuth tokens are well under 2 KiB. */
export const MAX_JWS_LENGTH = 16 * 1024;

export interface JwsHeader {
  readonly alg: JwsAlgorithm;
  readonly typ: string;
  readonly kid?: string;
  readonly [parameter: string]: unknown;
}

export interface DecodedJws {
  readonly header: JwsHeader;
  /** The parsed payload (a JSON object); unvalidated beyond its shape. */
  readonly payload: Record<string, unknown>;
  /** ASCII bytes of `BASE64URL(header) '.' BASE64URL(payload)` — what the signature covers. */
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
}

export interface DecodeJwsOptions {
  /** Maximum accepted length in characters; default `MAX_JWS_LENGTH`. */
  readonly maxLength?: number;
}

function invalidJwt(detail: string, cause?: unknown): AAuthError {
  return new AAuthError('invalid_jwt', cause === undefined ? { detail } : { detail, cause });
}

function decodeJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(b64urlDecodeText(part));
  } catch (cause) {
    throw invalidJwt(`${what} is not base64url JSON`, cause);
  }
  if (!isJsonObject(value)) throw invalidJwt(`${what} is not a JSON object`);
  return value;
}

/**
 * Decodes a compact JWS without verifying it. Checks: three non-empty parts, strict base64url, JSON objects,
 * header `alg` fully specified and supported, `typ` a string, `kid` a string when present, no `crit`
 * (we understand no extension, RFC 7515 §4.1.11).
 */
export function decodeJws(jws: unknown, options: DecodeJwsOptions = {}): DecodedJws {
  if (typeof jws !== 'string') throw invalidJwt('JWT is not a string');
  const max = options.maxLength ?? MAX_JWS_LENGTH;
  if (jws.length > max) throw invalidJwt(`JWT longer than ${max} characters`);
  const first = jws.indexOf('.');
  const second = first < 0 ? -1 : jws.indexOf('.', first + 1);
  if (first <= 0 || second <= first + 1 || second === jws.length - 1 || jws.indexOf('.', second + 1) !== -1) {
    throw invalidJwt('JWT is not three non-empty base64url parts');
  }
  const header = decodeJsonObject(jws.slice(0, first), 'header');
  const alg = header['alg'];
  if (!isSupportedAlgorithm(alg)) {
    throw invalidJwt(`header alg ${typeof alg === 'string' ? alg : '(missing)'} is not one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
  }
  if (typeof header['typ'] !== 'string') throw invalidJwt('header typ missing');
  if (header['kid'] !== undefined && typeof header['kid'] !== 'string') throw invalidJwt('header kid is not a string');
  if (header['crit'] !== undefined) throw invalidJwt('header crit is not supported');
  const payload = decodeJsonObject(jws.slice(first + 1, second), 'payload');
  let signature: Uint8Array;
  try {
    signature = b64urlDecode(jws.slice(second + 1));
  } catch (cause) {
    throw invalidJwt('signature is not base64url', cause);
  }
  return { header: header as JwsHeader, payload, signingInput: utf8(jws.slice(0, second)), signature };
}

/**
 * Verifies the signature of a decoded JWS with `key`. The key determines the algorithm
 * (SK-08 §Algorithm Determination): a header `alg` that differs from the key's is a failure. Never throws.
 */
export async function verifyJwsSignature(decoded: DecodedJws, key: VerifyKey): Promise<boolean> {
  if (decoded.header.alg !== key.alg) return false;
  return key.verify(decoded.signingInput, decoded.signature);
}

/** Header parameters a caller supplies; `alg` comes from the signer. */
export type JwsHeaderInput = { readonly typ: string; readonly kid?: string; readonly alg?: JwsAlgorithm } & Readonly<Record<string, unknown>>;

/**
 * Signs `claims` as a compact JWS. The header is serialized as `{alg, ...header}` (so `alg, typ, kid`
 * in that order) and the claims in their insertion order, which makes Ed25519 output reproducible.
 */
export async function signJws(header: JwsHeaderInput, claims: Readonly<Record<string, unknown>>, signer: Signer): Promise<string> {
  if (header.alg !== undefined && header.alg !== signer.alg) {
    throw new AAuthError('invalid_argument', { detail: `header alg ${header.alg} differs from the signer's ${signer.alg}` });
  }
  const encodedHeader = b64urlEncodeText(JSON.stringify({ alg: signer.alg, ...header }));
  const encodedPayload = b64urlEncodeText(JSON.stringify(claims));
  const signingInput = `${encodedHeader}.${encodedPayload}`;
  const signature = await signer.sign(utf8(signingInput));
  return `${signingInput}.${b64urlEncode(signature)}`;
}
