/**
 * Hono middleware: every AAuth endpoint verifies the signed request per the protocol layer (AAuth -11
 * §HTTP Message Signatures Profile) and answers failures with 401 + `Signature-Error` (one mapping:
 * `toErrorResponse`). PS and AS endpoints require `content-digest` and `content-type` on bodies.
 */
import { nodeDigest } from '@tessera/protocol/node';
import {
  headerLinesFromRaw,
  targetUri,
  toErrorResponse,
  verifyAAuthRequest,
  type AAuthError,
  type HttpRequestMessage,
  type RequestTokenTyp,
  type VerifiedAAuthRequest,
} from '@tessera/protocol';
import type { Context, MiddlewareHandler } from 'hono';
import type { ServerContext } from '../context.js';
import { nodeIncoming } from './node-bindings.js';

/** Largest request body an AAuth endpoint reads (JSON documents with a few tokens). */
export const MAX_BODY_BYTES = 64 * 1024;

export interface SignedRequestOptions<K extends RequestTokenTyp> {
  readonly accept: readonly [K, ...K[]];
  /** This server's identifier: person and auth tokens must name it in `aud`. */
  readonly audience?: string;
  /** PS and AS endpoints: bodies must cover content-digest and content-type (§8.1). Default true. */
  readonly requireContentDigest?: boolean;
}

export type SignedRequestVariables<K extends RequestTokenTyp = RequestTokenTyp> = {
  aauth: VerifiedAAuthRequest<K>;
  /** The raw body bytes the signature was checked against. */
  body: Uint8Array | undefined;
};

/**
 * Sends an `AAuthError` as the response the spec gives it (problem+json with its status). With
 * `duringVerification`, every failure is a signature failure: 401 + `Signature-Error` (even `invalid_request`,
 * which is otherwise a 400 endpoint error — §8.3).
 */
export function errorResponse(c: Context, error: AAuthError, options: { duringVerification?: boolean } = {}): Response {
  const { status, headers, body } = toErrorResponse(error, options.duringVerification ? { duringVerification: true } : {});
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': 'no-store' } });
}

/**
 * Reads the request (the full URL as the server is reached under its identifier, the header lines, the body
 * up to `MAX_BODY_BYTES`) for verification. Under Node the header lines are read from `rawHeaders`, as received.
 */
export async function requestMessage(c: Context, issuer: string): Promise<{ message: HttpRequestMessage; body: Uint8Array | undefined } | { tooLarge: true }> {
  const incoming = nodeIncoming(c);
  // Sign and verify against the server's public identifier, not the socket address behind a proxy.
  let target: string;
  if (incoming?.url !== undefined && incoming.url.startsWith('/')) {
    target = targetUri(issuer, incoming.url);
  } else {
    const url = new URL(c.req.url);
    target = targetUri(issuer, url.pathname + url.search);
  }
  let body: Uint8Array | undefined;
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.req.method !== 'DELETE') {
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > MAX_BODY_BYTES) return { tooLarge: true };
    const buffer = new Uint8Array(await c.req.arrayBuffer());
    if (buffer.length > MAX_BODY_BYTES) return { tooLarge: true };
    body = buffer.length > 0 ? buffer : undefined;
  }
  let headers: [string, string][];
  if (incoming !== undefined) headers = headerLinesFromRaw(incoming.rawHeaders);
  else {
    headers = [];
    c.req.raw.headers.forEach((value, name) => headers.push([name, value]));
  }
  return { message: { method: c.req.method, url: target, headers, ...(body === undefined ? {} : { body }) }, body };
}

export function signedRequest<K extends RequestTokenTyp>(ctx: ServerContext, issuer: string, options: SignedRequestOptions<K>): MiddlewareHandler<{ Variables: SignedRequestVariables<K> }> {
  return async (c, next) => {
    const read = await requestMessage(c, issuer);
    if ('tooLarge' in read) {
      return c.json({ error: 'invalid_request', detail: `body larger than ${MAX_BODY_BYTES} bytes` }, 413, { 'content-type': 'application/problem+json' });
    }
    const result = await verifyAAuthRequest(read.message, {
      accept: options.accept,
      resolveKey: ctx.resolveKey,
      now: ctx.now,
      keyCache: ctx.keyCache,
      ...(ctx.tokenCache === undefined ? {} : { tokenCache: ctx.tokenCache }),
      requireContentDigest: options.requireContentDigest ?? true,
      digest: nodeDigest,
      ...(options.audience === undefined ? {} : { audience: options.audience }),
    });
    if (!result.ok) return errorResponse(c, result.error, { duringVerification: true });
    c.set('aauth', result.value);
    c.set('body', read.body);
    await next();
    return undefined;
  };
}
