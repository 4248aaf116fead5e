/**
 * Small HTTP pieces the Agent Provider endpoints share: reading a JSON body against a schema, and answering a
 * failed `hwk` / `jkt-jwt` request verification with the scheme this endpoint takes in `Accept-Signature-Scheme`.
 */
import { AAuthError, fromUtf8, toErrorResponse, type HttpRequestMessage, type SignatureKeyScheme } from '@tessera/protocol';
import type { Context } from 'hono';
import type { z } from 'zod';
import { requestMessage, MAX_BODY_BYTES } from '../http/signed-request.js';

/** A JSON body (`{}` when empty) checked against `schema`; anything else → `invalid_request` (400). */
export function readJsonBody<S extends z.ZodType>(body: Uint8Array | undefined, schema: S): z.output<S> {
  let json: unknown = {};
  if (body !== undefined && body.length > 0) {
    try {
      json = JSON.parse(fromUtf8(body)) as unknown;
    } catch (cause) {
      throw new AAuthError('invalid_request', { detail: 'the body is not JSON', cause });
    }
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
    throw new AAuthError('invalid_request', { detail: `${where}: ${issue?.message ?? 'invalid'}` });
  }
  return result.data;
}

/**
 * A failed signed-request verification on an endpoint that takes a scheme other than `jwt`: the 401 +
 * `Signature-Error` of `toErrorResponse`, with `Accept-Signature-Scheme` naming that scheme (SK-08 §Signature-Error).
 */
export function keyRequestErrorResponse(error: AAuthError, scheme: SignatureKeyScheme): Response {
  const { status, headers, body } = toErrorResponse(error, { acceptSchemes: [scheme], duringVerification: true });
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': 'no-store' } });
}

/** The request as the AP identifier names it, or the 413 for a body over `MAX_BODY_BYTES`. */
export async function apRequestMessage(c: Context, issuer: string): Promise<{ message: HttpRequestMessage; body: Uint8Array | undefined } | Response> {
  const read = await requestMessage(c, issuer);
  if ('tooLarge' in read) {
    return new Response(JSON.stringify({ error: 'invalid_request', detail: `body larger than ${MAX_BODY_BYTES} bytes` }), {
      status: 413,
      headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    });
  }
  return read;
}

/** A JSON 200 that must not be cached (it carries a token). */
export function tokenResponse(body: Readonly<Record<string, unknown>>): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
}
