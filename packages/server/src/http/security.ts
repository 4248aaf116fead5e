/**
 * Request hygiene shared by every host: a body limit (64 KiB: AAuth request bodies are small JSON documents with
 * a few tokens; larger bodies are refused before they are read, 413 problem+json) and request ids (`x-request-id`:
 * a well-formed incoming id is kept so a proxy's id flows through; otherwise a random one; echoed on the response
 * and available to handlers as `c.var.requestId` for audit events).
 */
import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { nodeOutgoing } from './node-bindings.js';
import { MAX_BODY_BYTES } from './signed-request.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** The 413 answer for an oversized body. */
export function payloadTooLarge(maxBytes: number): Response {
  return new Response(JSON.stringify({ error: 'invalid_request', detail: `request body larger than ${maxBytes} bytes` }), {
    status: 413,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
  });
}

/**
 * Refuses request bodies over `maxBytes` (declared or streamed) with 413 problem+json.
 *
 * A GET or HEAD without a body, or a request with a declared `Content-Length` — Node's parser delivers exactly that
 * many bytes — is judged by its headers alone, without touching `c.req.raw.body`: reading that property makes
 * @hono/node-server build a fetch `Request` with a web stream over the socket, where otherwise the body is read
 * straight from the socket (bench:ps: about a tenth of the Person Server's event-loop time went there). Any other
 * body goes through Hono's limiter, which counts it as it is read.
 */
export function apiBodyLimit(maxBytes: number = MAX_BODY_BYTES): MiddlewareHandler {
  const streamed = bodyLimit({ maxSize: maxBytes, onError: () => payloadTooLarge(maxBytes) });
  return async (c, next) => {
    if (c.req.header('transfer-encoding') === undefined) {
      const declared = c.req.header('content-length');
      if (declared !== undefined && /^\d{1,15}$/.test(declared)) return Number(declared) > maxBytes ? payloadTooLarge(maxBytes) : next();
      if (declared === undefined && (c.req.method === 'GET' || c.req.method === 'HEAD')) return next();
    }
    // A streamed body, or one whose length is not declared (an in-process request): counted as it is read.
    return streamed(c, next);
  };
}

/** A request id kept from a proxy: up to 128 characters of `[A-Za-z0-9_=-]`. */
const WELL_FORMED_ID = /^[\w=-]{1,128}$/;

/**
 * Sets `c.var.requestId` and the `x-request-id` response header (ids up to 128 characters of `[A-Za-z0-9_=-]`),
 * also on responses a handler built itself (e.g. forwarded from another app). Served by Node, the header goes on
 * Node's response before the app runs, and Node merges it into whatever headers the response is written with: the
 * fetch `Response` is never read back (reading its headers built a `Headers` object per request, about 4 µs).
 */
export function requestIds(): MiddlewareHandler<{ Variables: { requestId: string } }> {
  return async (c, next) => {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming !== undefined && WELL_FORMED_ID.test(incoming) ? incoming : randomUUID();
    c.set('requestId', id);
    const outgoing = nodeOutgoing(c);
    if (outgoing !== undefined) {
      outgoing.setHeader(REQUEST_ID_HEADER, id);
      await next();
      return;
    }
    await next();
    if (c.res.headers.get(REQUEST_ID_HEADER) === id) return;
    try {
      c.res.headers.set(REQUEST_ID_HEADER, id);
    } catch {
      // Immutable headers (a Response from fetch): copy the response.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set(REQUEST_ID_HEADER, id);
    }
  };
}
