/**
 * Session tokens (AAuth -11 §AAuth-Access; resource-managed / two-party mode): after its own flow the resource
 * answers with `AAuth-Access: <token68>`; the agent then sends `Authorization: AAuth <token68>` on every call and
 * the signature MUST cover `authorization` (§8.51, enforced by `verifyAAuthRequest`).
 *
 * A session token here is opaque: 256 random bits, base64url (a `token68`). The store maps its SHA-256 (never the
 * token itself, so a dump of the store is no credential) to the person and scopes the resource's flow established,
 * bound to the agent key (`agent_jkt`) that obtained it: another key presenting it is refused.
 */
import { AAuthError, b64urlEncode, parseAAuthAuthorization, serializeAAuthAccess } from '@tessera/protocol';

export interface SessionRecord {
  /** Thumbprint of the agent key the session is bound to. */
  readonly agentJkt: string;
  /** The person the resource's own flow established, keyed on `(iss, sub)` in the resource's namespace. */
  readonly person?: { readonly iss: string; readonly sub: string };
  readonly scopes: readonly string[];
  /** Expiry, epoch seconds. */
  readonly exp: number;
  /** Anything the application keeps with the session. */
  readonly data?: unknown;
}

/** Where sessions live; `MemorySessionStore` in process, a shared store when scaled out. Keys are token digests. */
export interface SessionStore {
  get(key: string): Promise<SessionRecord | undefined>;
  set(key: string, record: SessionRecord): Promise<void>;
  delete(key: string): Promise<boolean>;
}

export interface MemorySessionStoreOptions {
  /** Epoch seconds. */
  readonly now: () => number;
  /** Bound on sessions; expired ones are swept first, then the oldest evicted. Default 10 000. */
  readonly maxEntries?: number;
}

/** A bounded in-memory `SessionStore`. */
export class MemorySessionStore implements SessionStore {
  readonly #now: () => number;
  readonly #max: number;
  readonly #entries = new Map<string, SessionRecord>();

  constructor(options: MemorySessionStoreOptions) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isSafeInteger(max) || max < 1) throw new AAuthError('invalid_argument', { detail: 'maxEntries must be a positive integer' });
    this.#now = options.now;
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): Promise<SessionRecord | undefined> {
    const record = this.#entries.get(key);
    if (record !== undefined && record.exp <= this.#now()) {
      this.#entries.delete(key);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(record);
  }

  set(key: string, record: SessionRecord): Promise<void> {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      const now = this.#now();
      for (const [k, r] of this.#entries) if (r.exp <= now) this.#entries.delete(k);
      while (this.#entries.size >= this.#max) {
        const oldest = this.#entries.keys().next();
        if (oldest.done === true) break;
        this.#entries.delete(oldest.value);
      }
    }
    this.#entries.set(key, record);
    return Promise.resolve();
  }

  delete(key: string): Promise<boolean> {
    return Promise.resolve(this.#entries.delete(key));
  }
}

/** The store key of a session token: b64url(SHA-256(token)). */
export async function sessionKey(token: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return b64urlEncode(new Uint8Array(digest));
}

export interface IssueSessionTokenInput {
  readonly agentJkt: string;
  readonly person?: { readonly iss: string; readonly sub: string };
  readonly scopes?: readonly string[];
  /** Lifetime in seconds (default 3600). */
  readonly ttl?: number;
  readonly data?: unknown;
}

export interface IssuedSessionToken {
  readonly token: string;
  readonly record: SessionRecord;
  /** `{ 'AAuth-Access': token }`: add it to the response that concludes the flow (§8.51: one token68). */
  readonly headers: Readonly<Record<string, string>>;
}

/** Issues a session token and records it. A new value replaces the old at the agent (§8.52). */
export async function issueSessionToken(store: SessionStore, input: IssueSessionTokenInput, now: () => number): Promise<IssuedSessionToken> {
  const ttl = input.ttl ?? 3600;
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new AAuthError('invalid_argument', { detail: 'session ttl must be a positive integer' });
  if (typeof input.agentJkt !== 'string' || input.agentJkt.length === 0) throw new AAuthError('invalid_argument', { detail: 'a session is bound to an agent_jkt' });
  const token = b64urlEncode(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  const record: SessionRecord = {
    agentJkt: input.agentJkt,
    scopes: [...(input.scopes ?? [])],
    exp: Math.floor(now()) + ttl,
    ...(input.person === undefined ? {} : { person: { iss: input.person.iss, sub: input.person.sub } }),
    ...(input.data === undefined ? {} : { data: input.data }),
  };
  await store.set(await sessionKey(token), record);
  return { token, record, headers: { 'AAuth-Access': serializeAAuthAccess(token) } };
}

/** Why a session token was not accepted. */
export type SessionFailure = 'missing' | 'malformed' | 'unknown' | 'expired' | 'wrong_agent';

export type SessionLookup = { readonly ok: true; readonly token: string; readonly record: SessionRecord } | { readonly ok: false; readonly reason: SessionFailure };

/**
 * Reads `Authorization: AAuth <token68>` (exactly one credential, §8.51) and finds its session, which must be
 * unexpired and bound to `agentJkt`. Another auth-scheme counts as `missing`.
 */
export async function lookupSessionToken(store: SessionStore, authorization: string | undefined, agentJkt: string, now: () => number): Promise<SessionLookup> {
  if (authorization === undefined) return { ok: false, reason: 'missing' };
  let token: string;
  try {
    const credentials = parseAAuthAuthorization(authorization);
    if (credentials.scheme !== 'AAuth') return { ok: false, reason: 'missing' };
    token = credentials.token;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const record = await store.get(await sessionKey(token));
  if (record === undefined) return { ok: false, reason: 'unknown' };
  if (record.exp <= now()) return { ok: false, reason: 'expired' };
  if (record.agentJkt !== agentJkt) return { ok: false, reason: 'wrong_agent' };
  return { ok: true, token, record };
}

/** Ends a session (logout, revocation). */
export async function revokeSessionToken(store: SessionStore, token: string): Promise<boolean> {
  return store.delete(await sessionKey(token));
}
