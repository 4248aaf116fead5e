/// <reference types="node" />
/**
 * Node-only egress: a fetch that resolves the host itself, refuses the request if ANY resolved address is
 * disallowed, and connects to the address it checked (HTTP Signature Keys -08 §Scheme-Specific Risks:
 * "Defend against DNS rebinding by pinning the resolved IP address for the duration of the connection";
 * checklist §8.14). SNI, certificate verification and `Host` keep using the hostname.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { AAuthError, isAAuthError } from '../errors.js';
import type { EgressPolicy } from '../egress/egress-policy.js';
import { admitUrl, normalizeHost, resolveEgressPolicy } from '../egress/egress-policy.js';
import type { FetchLike, HostResolver } from '../egress/guarded-fetch.js';
import { admitResolvedHost, createGuardedFetch } from '../egress/guarded-fetch.js';

export interface PinnedFetchOptions {
  /** Replaces `dns.lookup` (all addresses); for tests and custom resolvers. */
  readonly resolve?: HostResolver;
}

/** `dns.lookup` with every A and AAAA record, in resolver order. */
async function systemResolve(hostname: string): Promise<readonly string[]> {
  const records: LookupAddress[] = await dnsLookup(hostname, { all: true, verbatim: true });
  return records.map((record) => record.address);
}

function fetchFailed(detail: string, cause?: unknown): AAuthError {
  return new AAuthError('fetch_failed', cause === undefined ? { detail } : { detail, cause });
}

function requestBody(body: RequestInit['body']): Uint8Array | string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new AAuthError('invalid_argument', { detail: 'pinned fetch supports string and byte bodies only' });
}

function responseHeaders(message: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = message.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    try {
      headers.append(raw[i]!, raw[i + 1]!);
    } catch {
      // A header value `Headers` refuses is dropped rather than failing the exchange.
    }
  }
  return headers;
}

/**
 * A fetch-compatible function (single hop: redirects are returned, not followed) that pins the connection
 * to a checked address, with the policy's timeout and size cap. Errors are `AAuthError`: `egress_denied`
 * or `fetch_failed`. Compose with `createGuardedFetch` (or use `createNodeEgressFetch`) for redirects.
 */
export function createPinnedFetch(policy: EgressPolicy = {}, options: PinnedFetchOptions = {}): FetchLike {
  const resolved = resolveEgressPolicy(policy);
  const resolve = options.resolve ?? systemResolve;

  const pinnedFetch = async (url: string, init: RequestInit): Promise<Response> => {
    const admitted = admitUrl(url, resolved);
    if (!admitted.ok) throw admitted.error;
    const target = admitted.value;
    const hostname = normalizeHost(target.hostname);
    // Every address is checked; the connection then goes to the first one, and only to it.
    const addresses = await admitResolvedHost(hostname, resolved, resolve);
    const pinned = addresses[0]!;
    const family = isIP(pinned);
    if (family === 0) throw fetchFailed('resolver returned a non-address');
    const body = requestBody(init.body);
    const headers = new Headers(init.headers);
    const outgoing: Record<string, string> = {};
    headers.forEach((value, name) => (outgoing[name] = value));
    if (body !== undefined) outgoing['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);

    const secure = target.protocol === 'https:';
    const requestOptions: RequestOptions & { servername?: string } = {
      protocol: target.protocol,
      hostname: isIP(hostname) === 0 ? hostname : pinned,
      port: target.port === '' ? (secure ? 443 : 80) : Number(target.port),
      path: `${target.pathname}${target.search}`,
      method: (init.method ?? 'GET').toUpperCase(),
      headers: { host: target.host, ...outgoing },
      // Pin: whatever the socket layer asks, the answer is the address that was checked.
      lookup: (_host, lookupOptions, callback) => {
        if ((lookupOptions as { all?: boolean }).all === true) {
          (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, [{ address: pinned, family }]);
        } else {
          callback(null, pinned, family);
        }
      },
      agent: false,
    };
    if (secure && isIP(hostname) === 0) requestOptions.servername = hostname;

    return await new Promise<Response>((resolvePromise, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const finish = (error: AAuthError | undefined, response?: Response): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        init.signal?.removeEventListener('abort', onAbort);
        if (error !== undefined) {
          req?.destroy();
          reject(error);
        } else resolvePromise(response!);
      };
      const timer = setTimeout(() => finish(fetchFailed(`timed out after ${resolved.timeoutMs} ms`)), resolved.timeoutMs);
      const onAbort = (): void => {
        const reason: unknown = init.signal?.reason;
        finish(isAAuthError(reason) ? reason : fetchFailed('aborted by caller', reason));
      };
      try {
        req = (secure ? httpsRequest : httpRequest)(requestOptions, (message) => {
          const declared = message.headers['content-length'];
          if (declared !== undefined && Number(declared) > resolved.maxResponseBytes) {
            finish(fetchFailed(`response larger than ${resolved.maxResponseBytes} bytes`));
            return;
          }
          const chunks: Buffer[] = [];
          let total = 0;
          message.on('data', (chunk: Buffer) => {
            total += chunk.byteLength;
            if (total > resolved.maxResponseBytes) finish(fetchFailed(`response larger than ${resolved.maxResponseBytes} bytes`));
            else chunks.push(chunk);
          });
          message.on('error', (cause) => finish(fetchFailed('reading the response failed', cause)));
          message.on('end', () => {
            if (settled) return;
            const status = message.statusCode ?? 0;
            if (status < 200 || status > 599) {
              finish(fetchFailed(`invalid status ${status}`));
              return;
            }
            const nullBody = status === 204 || status === 205 || status === 304;
            const bytes = Buffer.concat(chunks);
            try {
              const response = new Response(nullBody ? null : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
                status,
                statusText: message.statusMessage ?? '',
                headers: responseHeaders(message),
              });
              finish(undefined, response);
            } catch (cause) {
              finish(fetchFailed('malformed response', cause));
            }
          });
        });
      } catch (cause) {
        finish(fetchFailed('request could not be made', cause));
        return;
      }
      req.on('error', (cause) => finish(fetchFailed('network error', cause)));
      if (init.signal?.aborted === true) {
        onAbort();
        return;
      }
      init.signal?.addEventListener('abort', onAbort, { once: true });
      req.end(body);
    });
  };

  return async (url: string, init: RequestInit = {}): Promise<Response> => {
    try {
      return await pinnedFetch(url, init);
    } catch (error) {
      throw isAAuthError(error) ? error : fetchFailed('fetch failed', error);
    }
  };
}

/**
 * The complete Node egress fetch: `createGuardedFetch` (URL admission, same-host redirects re-admitted at
 * every hop, timeout, size cap, 2xx only) over `createPinnedFetch` (every resolved address checked, the
 * connection pinned to a checked address).
 */
export function createNodeEgressFetch(policy: EgressPolicy = {}, options: PinnedFetchOptions = {}): FetchLike {
  return createGuardedFetch({ fetch: createPinnedFetch(policy, options), policy });
}
