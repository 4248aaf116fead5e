/**
 * Fetching metadata documents from `{issuer}/.well-known/{dwk}` (AAuth -11 §Metadata Documents;
 * HTTP Signature Keys -08 `jwt` / `jwks_uri` discovery).
 *
 * The injected `fetch` is expected to be an egress-guarded fetch (`createGuardedFetch`,
 * `createNodeEgressFetch`); this module adds the document rules on top: a plain `dwk` file name, a JSON
 * media type, a size cap, and the byte-exact issuer check (checklist §8.13).
 */
import { AAuthError, isAAuthError } from '../errors.js';
import type { FetchLike } from '../egress/guarded-fetch.js';
import { readBodyCapped } from '../egress/guarded-fetch.js';
import type { CommonMetadata, MetadataKind } from '../metadata/common.js';
import { checkIssuer, isJsonObject, metadataKindOf, parseCommonMetadata } from '../metadata/common.js';
import { isServerIdentifier } from '../identifiers.js';
import type { MetadataByKind } from '../metadata/index.js';
import { parseMetadata } from '../metadata/index.js';

/** Metadata documents are small; 64 KiB is far above any real one. */
export const DEFAULT_METADATA_MAX_BYTES = 64 * 1024;

export interface FetchMetadataOptions {
  /** The server identifier (`iss` of a token, `id` of a `jwks_uri` Signature-Key). */
  readonly issuer: string;
  /** The well-known document name, a plain file name such as `aauth-person.json`. */
  readonly dwk: string;
  readonly fetch: FetchLike;
  /** Development only: accept `http://localhost:PORT`-style issuers and URLs. */
  readonly allowLoopbackHttp?: boolean;
  readonly maxBytes?: number;
}

/** A validated document, tagged with the role its `dwk` names (`other` for a name AAuth does not define). */
export type DiscoveredMetadata =
  | { readonly [K in MetadataKind]: { readonly kind: K; readonly document: MetadataByKind[K] } }[MetadataKind]
  | { readonly kind: 'other'; readonly document: CommonMetadata };

const DOCUMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** A `dwk` must be a plain file name: no `/`, no `..`, no query, fragment or percent-encoding. */
export function isPlainDocumentName(dwk: unknown): dwk is string {
  return typeof dwk === 'string' && DOCUMENT_NAME.test(dwk) && !dwk.includes('..');
}

/** `{issuer}/.well-known/{dwk}` after checking both parts. Throws `invalid_identifier` / `invalid_argument`. */
export function wellKnownUrl(issuer: string, dwk: string, options: { allowLoopbackHttp?: boolean } = {}): string {
  if (!isServerIdentifier(issuer, options)) throw new AAuthError('invalid_identifier', { detail: 'issuer is not a server identifier' });
  if (!isPlainDocumentName(dwk)) throw new AAuthError('invalid_argument', { detail: 'dwk is not a plain document name' });
  return `${issuer}/.well-known/${dwk}`;
}

function isJsonMediaType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return essence === 'application/json' || (essence.startsWith('application/') && essence.endsWith('+json'));
}

/** Decodes a JSON body strictly (UTF-8, fatal). Throws `code` on failure. */
export function parseJsonBody(bytes: Uint8Array, code: 'invalid_metadata' | 'invalid_key'): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    throw new AAuthError(code, { detail: 'response is not valid UTF-8 JSON' });
  }
}

/**
 * GETs `{issuer}/.well-known/{dwk}` and returns the JSON object after the issuer check, without any
 * role-specific validation. Errors: `invalid_identifier` / `invalid_argument` (bad inputs),
 * `egress_denied` / `fetch_failed` (from the fetch, or a non-200 status), `invalid_metadata` (not JSON),
 * `issuer_missing` / `issuer_mismatch`.
 */
export async function fetchMetadataJson(options: FetchMetadataOptions): Promise<Record<string, unknown>> {
  const loopback = options.allowLoopbackHttp === true ? { allowLoopbackHttp: true } : {};
  const url = wellKnownUrl(options.issuer, options.dwk, loopback);
  let response: Response;
  try {
    response = await options.fetch(url, { method: 'GET', headers: { accept: 'application/json' } });
  } catch (error) {
    throw isAAuthError(error) ? error : new AAuthError('fetch_failed', { detail: 'metadata fetch failed', cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new AAuthError('fetch_failed', { detail: `metadata fetch returned status ${response.status}` });
  }
  if (!isJsonMediaType(response.headers.get('content-type'))) {
    await response.body?.cancel().catch(() => undefined);
    throw new AAuthError('invalid_metadata', { detail: 'metadata is not served as JSON' });
  }
  const bytes = await readBodyCapped(response, options.maxBytes ?? DEFAULT_METADATA_MAX_BYTES);
  const json = parseJsonBody(bytes, 'invalid_metadata');
  if (!isJsonObject(json)) throw new AAuthError('invalid_metadata', { detail: 'metadata is not a JSON object' });
  // The issuer check compares against the URL the document came from, minus `/.well-known/{dwk}`.
  checkIssuer(json, options.issuer);
  return json;
}

/** Validates an issuer-checked document by the role its `dwk` names. */
export function interpretMetadata(json: unknown, issuer: string, dwk: string, allowLoopbackHttp: boolean): DiscoveredMetadata {
  const options = allowLoopbackHttp ? { expectedIssuer: issuer, allowLoopbackHttp } : { expectedIssuer: issuer };
  const kind = metadataKindOf(dwk);
  switch (kind) {
    case 'agent':
      return { kind, document: parseMetadata(kind, json, options) };
    case 'person':
      return { kind, document: parseMetadata(kind, json, options) };
    case 'resource':
      return { kind, document: parseMetadata(kind, json, options) };
    case 'access':
      return { kind, document: parseMetadata(kind, json, options) };
    case undefined:
      return { kind: 'other', document: parseCommonMetadata(json, options) };
  }
}

/**
 * Fetches and fully validates the metadata document `{issuer}/.well-known/{dwk}` (role-specific rules for
 * the four AAuth documents, common members otherwise).
 */
export async function fetchMetadata(options: FetchMetadataOptions): Promise<DiscoveredMetadata> {
  const json = await fetchMetadataJson(options);
  return interpretMetadata(json, options.issuer, options.dwk, options.allowLoopbackHttp === true);
}

export interface MetadataCacheOptions {
  readonly fetch: FetchLike;
  /** Clock in epoch seconds. */
  readonly now: () => number;
  /** How long a fetched document is used. Default 3600 s, never more than 86400 s. */
  readonly maxAgeSeconds?: number;
  /** How long a failed fetch is remembered (and not retried). Default 60 s. */
  readonly failureTtlSeconds?: number;
  /** Bound on cached documents (SK-08 §Caching and Performance: caches MUST be bounded). Default 1000. */
  readonly maxEntries?: number;
  readonly allowLoopbackHttp?: boolean;
  readonly maxBytes?: number;
}

type MetadataEntry =
  | { readonly state: 'pending'; readonly promise: Promise<Record<string, unknown>> }
  | { readonly state: 'ok'; readonly at: number; readonly json: Record<string, unknown> }
  | { readonly state: 'failed'; readonly at: number; readonly error: AAuthError };

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new AAuthError('invalid_argument', { detail: `${name} must be a positive integer` });
  return value;
}

/**
 * A bounded, TTL'd cache of issuer-checked metadata documents keyed by `(issuer, dwk)`. Concurrent
 * misses share one fetch; failures are remembered for `failureTtlSeconds` so that a broken or hostile
 * issuer cannot make every request trigger a fetch.
 */
export class MetadataCache {
  readonly #fetch: FetchLike;
  readonly #now: () => number;
  readonly #maxAge: number;
  readonly #failureTtl: number;
  readonly #maxEntries: number;
  readonly #allowLoopbackHttp: boolean;
  readonly #maxBytes: number | undefined;
  readonly #entries = new Map<string, MetadataEntry>();

  constructor(options: MetadataCacheOptions) {
    this.#fetch = options.fetch;
    this.#now = options.now;
    this.#maxAge = Math.min(positiveInteger(options.maxAgeSeconds, 3600, 'maxAgeSeconds'), 86400);
    this.#failureTtl = positiveInteger(options.failureTtlSeconds, 60, 'failureTtlSeconds');
    this.#maxEntries = positiveInteger(options.maxEntries, 1000, 'maxEntries');
    this.#allowLoopbackHttp = options.allowLoopbackHttp === true;
    this.#maxBytes = options.maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The issuer-checked JSON object of `{issuer}/.well-known/{dwk}`, from cache or fetched. */
  getDocument(issuer: string, dwk: string): Promise<Record<string, unknown>> {
    const key = `${issuer}\n${dwk}`;
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      if (entry.state === 'pending') return entry.promise;
      if (entry.state === 'ok' && now - entry.at < this.#maxAge) return Promise.resolve(entry.json);
      if (entry.state === 'failed' && now - entry.at < this.#failureTtl) return Promise.reject(entry.error);
      this.#entries.delete(key);
    }
    const promise = fetchMetadataJson({
      issuer,
      dwk,
      fetch: this.#fetch,
      ...(this.#allowLoopbackHttp ? { allowLoopbackHttp: true } : {}),
      ...(this.#maxBytes === undefined ? {} : { maxBytes: this.#maxBytes }),
    }).then(
      (json) => {
        if (this.#entries.get(key)?.state === 'pending') this.#entries.set(key, { state: 'ok', at: this.#now(), json });
        return json;
      },
      (error: unknown) => {
        const failure = isAAuthError(error) ? error : new AAuthError('fetch_failed', { detail: 'metadata fetch failed', cause: error });
        if (this.#entries.get(key)?.state === 'pending') this.#entries.set(key, { state: 'failed', at: this.#now(), error: failure });
        throw failure;
      },
    );
    this.#insert(key, { state: 'pending', promise });
    return promise;
  }

  /** The fully validated document (role rules per `dwk`). */
  async getMetadata(issuer: string, dwk: string): Promise<DiscoveredMetadata> {
    const json = await this.getDocument(issuer, dwk);
    return interpretMetadata(json, issuer, dwk, this.#allowLoopbackHttp);
  }

  #insert(key: string, entry: MetadataEntry): void {
    this.#entries.set(key, entry);
    if (this.#entries.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [k, e] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) return;
      const expired = (e.state === 'ok' && now - e.at >= this.#maxAge) || (e.state === 'failed' && now - e.at >= this.#failureTtl);
      if (expired) this.#entries.delete(k);
    }
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}
