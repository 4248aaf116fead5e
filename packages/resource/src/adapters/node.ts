/**
 * `node:http` adapter. Converts an `IncomingMessage` to a fetch `Request` — headers rebuilt from `req.rawHeaders`,
 * never `req.headers`, because Node drops or merges duplicate field lines there (a second `Content-Type` line
 * vanishes) and the signature covers the field as received, every line combined with ", " (RFC 9421 §2.1) — and
 * calls the core, `verifyRequest`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { headerLinesFromRaw, targetUri } from '@tessera/protocol';
import type { TLSSocket } from 'node:tls';
import { problemResponse } from '../challenge.js';
import type { RoutePolicy } from '../policy.js';
import type { Resource } from '../resource.js';
import { DEFAULT_MAX_BODY_BYTES, type VerifiedIdentity } from '../verify-request.js';

export interface NodeAdapterOptions {
  /**
   * The origin agents sign against (`https://resource.example`), e.g. behind a TLS-terminating proxy. Default:
   * the scheme of the socket and the `Host` header.
   */
  readonly origin?: string;
  /** Largest body read; default 1 MiB. */
  readonly maxBodyBytes?: number;
}

/** What the adapters attach to a granted request (`req.aauth`, `c.get('aauth')`). */
export type AAuthIdentity = VerifiedIdentity;

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

class BodyTooLarge extends Error {}

/** Reads the body of an `IncomingMessage` once, bounded; a body a parser already kept as a Buffer is reused. */
export async function readNodeBody(req: IncomingMessage & { body?: unknown; rawBody?: unknown }, maxBytes = DEFAULT_MAX_BODY_BYTES): Promise<Uint8Array | undefined> {
  if (BODYLESS.has((req.method ?? 'GET').toUpperCase())) return undefined;
  const kept = Buffer.isBuffer(req.rawBody) ? req.rawBody : Buffer.isBuffer(req.body) ? req.body : undefined;
  if (kept !== undefined) {
    if (kept.length > maxBytes) throw new BodyTooLarge();
    return kept.length === 0 ? undefined : new Uint8Array(kept);
  }
  if (req.readableEnded) {
    // Consumed by another body parser without keeping the bytes: Content-Digest could not be checked.
    if (Number(req.headers['content-length'] ?? '0') > 0 || req.headers['transfer-encoding'] !== undefined) {
      throw new Error('the request body was consumed before AAuth verification; mount the AAuth middleware before body parsers');
    }
    return undefined;
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    length += buffer.length;
    if (length > maxBytes) throw new BodyTooLarge();
    chunks.push(buffer);
  }
  return length === 0 ? undefined : new Uint8Array(Buffer.concat(chunks, length));
}

/** Header lines exactly as received (`rawHeaders` is `[name, value, name, value, …]`), appended in order. */
export function headersFromRaw(rawHeaders: readonly string[]): Headers {
  return new Headers(headerLinesFromRaw(rawHeaders));
}

/**
 * The absolute URL of a request: the configured origin, else the socket's scheme and the `Host` header, followed by
 * the request target (`targetUri`: a target starting with `//` stays a path, never another authority). Express
 * rewrites `req.url` below a mount path; its `originalUrl` is the target as received.
 */
export function requestUrl(req: IncomingMessage & { originalUrl?: unknown }, origin?: string): string {
  const path = typeof req.originalUrl === 'string' ? req.originalUrl : (req.url ?? '/');
  if (origin !== undefined) return targetUri(origin, path);
  const tls = (req.socket as Partial<TLSSocket>).encrypted === true;
  const host = req.headers.host ?? 'localhost';
  return targetUri(`${tls ? 'https' : 'http'}://${host}`, path);
}

/** The answer to a request whose target or `Host` makes no URL under this origin (see `requestUrl`). */
export const unusableTargetResponse = (): Response => problemResponse(400, 'invalid_request', 'the request target or Host header is not usable');

/** Thrown by `toFetchRequest` for a request target that is not origin-form, or a `Host` header that is no authority. */
export class UnusableTarget extends Error {}

/** A fetch `Request` for an `IncomingMessage` whose body was read (`readNodeBody`). Throws `UnusableTarget`. */
export function toFetchRequest(req: IncomingMessage, body: Uint8Array | undefined, options: NodeAdapterOptions = {}): Request {
  const method = (req.method ?? 'GET').toUpperCase();
  let url: string;
  try {
    url = requestUrl(req, options.origin);
  } catch (cause) {
    throw new UnusableTarget('the request target or Host header is not usable', { cause });
  }
  return new Request(url, {
    method,
    headers: headersFromRaw(req.rawHeaders),
    ...(body === undefined || BODYLESS.has(method) ? {} : { body: body as Uint8Array<ArrayBuffer> }),
  });
}

/** Writes a fetch `Response` to a `ServerResponse`. */
export async function sendFetchResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const body = response.body === null ? undefined : Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, headers);
  res.end(body);
}

/** Reads and converts; a too-large body becomes a 413 response. */
export async function nodeToFetch(req: IncomingMessage, options: NodeAdapterOptions = {}): Promise<Request | Response> {
  try {
    return toFetchRequest(req, await readNodeBody(req, options.maxBodyBytes), options);
  } catch (error) {
    if (error instanceof BodyTooLarge) return problemResponse(413, 'invalid_request', 'request body too large');
    if (error instanceof UnusableTarget) return unusableTargetResponse();
    throw error;
  }
}

export type NodeMiddleware = (req: IncomingMessage & { aauth?: AAuthIdentity }, res: ServerResponse, next?: (error?: unknown) => void) => Promise<AAuthIdentity | undefined>;

function identityOf(result: { ok: true } & VerifiedIdentity): AAuthIdentity {
  const { ok: _ok, ...identity } = result;
  return identity;
}

/**
 * Middleware for `node:http` (and connect-style stacks): verifies the request against `policy`; on success sets
 * `req.aauth`, calls `next()` when given and returns the identity; otherwise sends the challenge or error and
 * returns `undefined`.
 */
export function aauthNode(resource: Resource, policy: RoutePolicy, options: NodeAdapterOptions = {}): NodeMiddleware {
  return async (req, res, next) => {
    const request = await nodeToFetch(req, options);
    if (request instanceof Response) {
      await sendFetchResponse(res, request);
      return undefined;
    }
    const result = await resource.verifyRequest(request, policy);
    if (!result.ok) {
      await sendFetchResponse(res, result.response);
      return undefined;
    }
    const identity = identityOf(result);
    req.aauth = identity;
    next?.();
    return identity;
  };
}

/**
 * Serves a fetch-style handler on `node:http` (`http.createServer(nodeHandler(h))`): e.g. `resource.handle` for
 * metadata, JWKS and the authorization endpoint. `undefined` from the handler → 404.
 */
export function nodeHandler(handler: (request: Request) => Response | undefined | Promise<Response | undefined>, options: NodeAdapterOptions = {}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      const request = await nodeToFetch(req, options);
      const response = request instanceof Response ? request : await handler(request);
      await sendFetchResponse(res, response ?? problemResponse(404, 'invalid_request', 'not found'));
    } catch {
      if (!res.headersSent) await sendFetchResponse(res, problemResponse(500, 'server_error'));
      else res.destroy();
    }
  };
}
