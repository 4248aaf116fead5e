/**
 * Forwarding a verified request to its upstream over undici, and the response back, unbuffered.
 *
 * Request headers forwarded: those the client sent (from `rawHeaders`, in order), minus
 * - hop-by-hop fields (RFC 9110 §7.6.1): `Connection` and every field it names, `Keep-Alive`, `Proxy-*`, `TE`,
 *   `Trailer`, `Transfer-Encoding`, `Upgrade` (and `Host`, `Expect`, `Content-Length`, which the gateway sets);
 * - the AAuth credentials: `Signature`, `Signature-Input`, `Signature-Key`, and `Authorization` when its scheme is
 *   `AAuth` — the upstream gets the verified identity, never a credential it could replay elsewhere;
 * - every `x-aauth-*` field (the identity family: only the gateway sets them, so a client cannot spoof them);
 * - `X-Forwarded-For`, `-Proto`, `-Host`, which the gateway replaces with what it saw.
 *
 * The response is streamed as it arrives (SSE, chunked, MCP streamable HTTP), hop-by-hop fields removed.
 * Upstream failures are problem+json: connection failure → 502 `bad_gateway`; no response headers within the
 * timeout (or no connection within it) → 504 `gateway_timeout`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { isIdentityHeader } from './identity-headers.js';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect', 'content-length']);
const CREDENTIALS = new Set(['signature', 'signature-input', 'signature-key']);
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Field names listed in `Connection` (lower case). */
function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'connection') {
      tokens ??= new Set();
      for (const t of (raw[i + 1] as string).split(',')) {
        const name = t.trim().toLowerCase();
        if (name !== '') tokens.add(name);
      }
    }
  }
  return tokens;
}

function isAAuthAuthorization(value: string): boolean {
  return /^\s*aauth(\s|$)/i.test(value);
}

export interface ForwardContext {
  /** Client address for `X-Forwarded-For`. */
  readonly clientAddress: string;
  /** `http` or `https`, as the client reached the gateway. */
  readonly proto: string;
  /** `Host` as received. */
  readonly host: string;
}

/**
 * The request header lines to forward, as undici's flat `[name, value, ...]` list: the client's minus what the
 * module comment lists, plus `extra` (the identity headers) and `X-Forwarded-*`.
 */
export function forwardRequestHeaders(raw: readonly string[], extra: readonly (readonly [string, string])[], forwarded: ForwardContext): string[] {
  const listed = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || CREDENTIALS.has(lower) || FORWARDED.has(lower) || lower.startsWith('proxy-') || isIdentityHeader(lower)) continue;
    if (listed?.has(lower) === true) continue;
    const value = raw[i + 1] as string;
    if (lower === 'authorization' && isAAuthAuthorization(value)) continue;
    out.push(name, value);
  }
  for (const [name, value] of extra) out.push(name, value);
  out.push('x-forwarded-for', forwarded.clientAddress, 'x-forwarded-proto', forwarded.proto, 'x-forwarded-host', forwarded.host);
  return out;
}

/** Response headers from undici's object form, hop-by-hop fields (and those `Connection` names) removed. */
export function forwardResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers['connection'];
  const listed = connection === undefined ? undefined : new Set((Array.isArray(connection) ? connection.join(',') : connection).split(',').map((t) => t.trim().toLowerCase()));
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || RESPONSE_HOP_BY_HOP.has(name) || name.startsWith('proxy-') || listed?.has(name) === true) continue;
    out[name] = value;
  }
  return out;
}

/** A problem+json answer of the gateway itself (`{error, detail?}`, RFC 9457 with the AAuth `error` member). */
export function sendProblem(res: ServerResponse, status: number, error: string, detail?: string, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(detail === undefined ? { error } : { error, detail });
  res.writeHead(status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...extraHeaders });
  res.end(body);
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** Upstream error → `[status, error code]`. */
export function upstreamFailure(error: unknown): [number, string] {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) return [504, 'gateway_timeout'];
  return [502, 'bad_gateway'];
}

export interface UpstreamOptions {
  /** Time allowed for a connection and the response headers, ms. */
  readonly timeoutMs: number;
  /** Longest silence allowed in a response body, ms (0 = none: long-lived event streams). */
  readonly idleTimeoutMs: number;
}

/** One undici `Pool` per upstream origin. */
export class Upstreams {
  readonly #pools = new Map<string, Pool>();
  readonly #options: UpstreamOptions;

  constructor(options: UpstreamOptions) {
    this.#options = options;
  }

  pool(origin: string): Pool {
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: 256,
        pipelining: 1,
        headersTimeout: this.#options.timeoutMs,
        bodyTimeout: this.#options.idleTimeoutMs,
        connectTimeout: Math.min(this.#options.timeoutMs, 10_000),
        keepAliveTimeout: 4_000,
      });
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.destroy()));
    this.#pools.clear();
  }
}

export interface ForwardRequest {
  readonly upstream: URL;
  readonly method: string;
  /** Path and query as received (`req.url`); appended to the upstream's base path. */
  readonly pathAndQuery: string;
  readonly headers: string[];
  readonly body: Uint8Array | undefined;
}

/**
 * Sends the request upstream and writes the answer to `res` as it arrives. Never throws: upstream failures become
 * 502/504 problem+json (or a destroyed response once the status line was sent).
 *
 * It uses undici's `dispatch` handler API rather than `request()` + `pipe`: each chunk goes from undici's parser
 * straight to `res.write`, with no response `Readable`, no `pipe` and no per-request `AsyncResource` between them, which
 * in bench:gateway was a third of the proxying's event-loop time. Backpressure is kept: when `res` buffers, the
 * upstream socket is paused until `res` drains. A client gone before the answer ends aborts the upstream request.
 */
export function forward(upstreams: Upstreams, request: ForwardRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const base = request.upstream.pathname === '/' ? '' : request.upstream.pathname;
  const headers = request.headers;
  if (request.body !== undefined) headers.push('content-length', String(request.body.byteLength));
  const head = req.method === 'HEAD';
  return new Promise<void>((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      if (!res.writableFinished) controller?.abort(new Error('the client went away'));
      finish();
    };
    res.once('close', onClose);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (done) c.abort(new Error('the client went away'));
      },
      onResponseStart(c, statusCode, responseHeaders) {
        if (statusCode < 200) return; // 1xx informational: the final answer follows
        res.writeHead(statusCode, forwardResponseHeaders(responseHeaders));
        res.on('drain', () => c.resume());
      },
      onResponseData(c, chunk) {
        if (head || done) return;
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        res.end();
        finish();
      },
      onResponseError(_c, error) {
        if (!done) {
          if (res.headersSent) res.destroy();
          else {
            const [status, code] = upstreamFailure(error);
            sendProblem(res, status, code, status === 504 ? 'the upstream did not answer in time' : 'the upstream could not be reached');
          }
        }
        finish();
      },
    };
    upstreams.pool(request.upstream.origin).dispatch(
      { path: base + request.pathAndQuery, method: request.method, headers, body: request.body === undefined ? null : request.body },
      handler,
    );
  });
}
