/**
 * A fetch wrapper that applies egress admission to every hop (AAuth -11 §Security Considerations;
 * HTTP Signature Keys -08 §Scheme-Specific Risks; checklist §8.14): URL admission, resolved-address checks
 * (when a resolver is given), same-host redirects only, a whole-exchange timeout and a response size cap.
 *
 * It runs on any runtime. It cannot pin the connection to the checked address (the injected fetch does its
 * own DNS lookup); use `createNodeEgressFetch` from `@tessera/protocol/node` for that.
 */
import { AAuthError, isAAuthError } from '../errors.js';
import type { EgressPolicy, ResolvedEgressPolicy } from './egress-policy.js';
import { admitUrl, isCategoryAdmitted, isHostAllowlisted, normalizeHost, resolveEgressPolicy } from './egress-policy.js';
import { classifyIp, parseIpAddress } from './ip-address.js';

/** The fetch shape the protocol layer calls: always with an absolute URL string. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/** Resolves a hostname to every address it has (A and AAAA). */
export type HostResolver = (hostname: string) => Promise<readonly string[]>;

export interface GuardedFetchOptions {
  readonly fetch: FetchLike;
  readonly policy?: EgressPolicy;
  /** When given, every resolved address of the host must be admitted before the request is made. */
  readonly resolve?: HostResolver;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function fetchFailed(detail: string, cause?: unknown): AAuthError {
  return new AAuthError('fetch_failed', cause === undefined ? { detail } : { detail, cause });
}

/**
 * Checks every address `host` resolves to; one refused address refuses the host (an attacker controls
 * which record a later lookup returns). Throws `egress_denied` or `fetch_failed`.
 */
export async function admitResolvedHost(host: string, policy: ResolvedEgressPolicy, resolve: HostResolver): Promise<readonly string[]> {
  const name = normalizeHost(host);
  if (parseIpAddress(name) !== undefined) return [name];
  let addresses: readonly string[];
  try {
    addresses = await resolve(name);
  } catch (cause) {
    throw fetchFailed('name resolution failed', cause);
  }
  if (addresses.length === 0) throw fetchFailed('name resolved to no address');
  if (isHostAllowlisted(name, policy)) return addresses;
  for (const address of addresses) {
    const category = classifyIp(address);
    if (!isCategoryAdmitted(category, policy)) {
      throw new AAuthError('egress_denied', { detail: `host resolves to a ${category} address` });
    }
  }
  return addresses;
}

/** Rejects when `signal` aborts; never settles otherwise. */
function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise<never>((_, reject) => {
    const onAbort = (): void => {
      const reason: unknown = signal.reason;
      reject(isAAuthError(reason) ? reason : fetchFailed('timed out or aborted', reason));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Reads a body into memory, refusing more than `maxBytes` (checked against `Content-Length` first, then
 * while streaming, so an oversized body is never buffered whole). Aborts with `signal`.
 */
export async function readBodyCapped(response: Response, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
  const declared = response.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared.trim()) && Number(declared.trim()) > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw fetchFailed(`response larger than ${maxBytes} bytes`);
  }
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const aborted = signal === undefined ? undefined : abortPromise(signal);
  aborted?.catch(() => undefined);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const step = aborted === undefined ? reader.read() : Promise.race([reader.read(), aborted]);
      const { done, value } = await step;
      if (done) break;
      if (!(value instanceof Uint8Array)) throw fetchFailed('response body is not bytes');
      total += value.byteLength;
      if (total > maxBytes) throw fetchFailed(`response larger than ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => undefined);
    throw isAAuthError(error) ? error : fetchFailed('reading the response failed', error);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** A fresh `Response` holding `bytes` (status and headers of `from`). */
export function bufferedResponse(from: Response, bytes: Uint8Array): Response {
  const nullBody = from.status === 204 || from.status === 205 || from.status === 304;
  return new Response(nullBody ? null : (bytes as Uint8Array<ArrayBuffer>), {
    status: from.status,
    statusText: from.statusText,
    headers: new Headers(from.headers),
  });
}

/** Links the caller's signal (if any) and the policy timeout into one controller. */
function deadline(timeoutMs: number, outer: AbortSignal | null | undefined): { signal: AbortSignal; done: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(fetchFailed(`timed out after ${timeoutMs} ms`)), timeoutMs);
  const onOuterAbort = (): void => controller.abort(fetchFailed('aborted by caller'));
  if (outer) {
    if (outer.aborted) onOuterAbort();
    else outer.addEventListener('abort', onOuterAbort, { once: true });
  }
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    },
  };
}

/**
 * Wraps `fetch` with egress admission. The returned function never throws anything but `AAuthError`:
 * `egress_denied` for a policy refusal, `fetch_failed` for network errors, timeouts, oversized bodies,
 * too many or malformed redirects, and non-2xx final statuses. The `Response` it resolves to has its body
 * fully read (so the timeout and the cap cover the body).
 */
export function createGuardedFetch(options: GuardedFetchOptions): FetchLike {
  const policy = resolveEgressPolicy(options.policy);
  const inner = options.fetch;
  const resolve = options.resolve;

  return async (url: string, init: RequestInit = {}): Promise<Response> => {
    const { signal, done } = deadline(policy.timeoutMs, init.signal);
    const aborted = abortPromise(signal);
    aborted.catch(() => undefined);
    try {
      let admitted = admitUrl(url, policy);
      if (!admitted.ok) throw admitted.error;
      const origin = admitted.value;
      let current = origin;
      let method = (init.method ?? 'GET').toUpperCase();
      let body = init.body;
      for (let hop = 0; ; hop++) {
        if (resolve !== undefined) await Promise.race([admitResolvedHost(current.hostname, policy, resolve), aborted]);
        let response: Response;
        try {
          response = await Promise.race([
            inner(current.href, { ...init, method, body: body ?? null, redirect: 'manual', signal }),
            aborted,
          ]);
        } catch (cause) {
          if (isAAuthError(cause)) throw cause;
          throw fetchFailed(signal.aborted ? 'timed out or aborted' : 'network error', cause);
        }
        if (REDIRECT_STATUSES.has(response.status)) {
          await response.body?.cancel().catch(() => undefined);
          if (hop >= policy.maxRedirects) throw fetchFailed(`more than ${policy.maxRedirects} redirects`);
          const location = response.headers.get('location');
          if (location === null) throw fetchFailed('redirect without Location');
          let next: URL;
          try {
            next = new URL(location, current);
          } catch {
            throw fetchFailed('redirect Location is not a URL');
          }
          // SK-08: "do not follow redirects to a different host".
          if (next.host !== origin.host) throw new AAuthError('egress_denied', { detail: 'redirect to a different host' });
          admitted = admitUrl(next, policy);
          if (!admitted.ok) throw admitted.error;
          current = admitted.value;
          if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
            method = 'GET';
            body = undefined;
          }
          continue;
        }
        if (response.status < 200 || response.status > 299) {
          await response.body?.cancel().catch(() => undefined);
          throw fetchFailed(`unexpected status ${response.status}`);
        }
        const bytes = await readBodyCapped(response, policy.maxResponseBytes, signal);
        return bufferedResponse(response, bytes);
      }
    } catch (error) {
      if (isAAuthError(error)) throw error;
      throw fetchFailed('fetch failed', error);
    } finally {
      done();
    }
  };
}
