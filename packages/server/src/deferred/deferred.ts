/**
 * The Deferred service (AAuth -11 §Deferred Responses, §Interaction Required, §Clarification Chat): pending
 * requests in the store, their interaction codes, the pending-URL routes (`GET|POST|DELETE /pending/:id`),
 * long-polls (`Prefer: wait=N`) and the person's decisions.
 *
 * State of a pending request (`pending_requests.status`):
 *
 *   pending ─▶ interacting ─▶ approved | denied | abandoned | expired | failed
 *      └───────────┴──────────▶ cancelled (agent DELETE, from any state)
 *
 * `expired` is also computed lazily: a pending or interacting request past `expires_at` answers 408. A decision
 * extends `expires_at` to at least {@link TERMINAL_RETENTION_SECONDS} from then, so the agent has time to
 * collect the terminal answer; polls repeat it (idempotent) until then, after which an approved request's URL
 * is gone (410). After DELETE the URL answers 410 (§8.48).
 */
import { createHash } from 'node:crypto';
import {
  AAuthError,
  buildAAuthRequirement,
  capPreferWait,
  formatInteractionCode,
  generateInteractionCode,
  isAAuthError,
  normalizeInteractionCode,
  parsePreferWait,
  serializeAAuthRequirement,
  toErrorResponse,
  type ErrorCode,
} from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import type { Transaction } from 'kysely';
import type { ServerContext } from '../context.js';
import { MAX_BODY_BYTES } from '../http/signed-request.js';
import type { Database, PendingRequest } from '../store/schema.js';
import { fromJson, toJson } from '../store/store.js';
import { isPendingId } from './pending-id.js';
import { newPendingRow } from './pending-row.js';
import { authenticateAgentPoll, type PollIdentity } from './poll-auth.js';
import type { ApprovalDecision, CreatedPending, CreatePendingInput, DeferredService, PendingHandler, PendingKind, RefusalCode } from './types.js';
import { PendingWaiters, type PendingWaitersOptions } from './waiters.js';

/** Lifetime of a pending request unless the caller asks otherwise (§Deferred Responses leaves it to the server). */
export const DEFAULT_PENDING_TTL_SECONDS = 600;
const MAX_PENDING_TTL_SECONDS = 24 * 3600;
/** `Retry-After` on every 202: the spec's default polling interval (§Polling with GET). */
export const POLL_INTERVAL_SECONDS = 5;
/** Longest `Prefer: wait` honoured, on the token endpoints (`accepted`) and on polls. */
export const MAX_PREFER_WAIT_SECONDS = 60;
/** Polls of a pending request closer together than this answer 429 `slow_down` (§Polling Error Codes, §8.43). */
export const MIN_POLL_INTERVAL_SECONDS = 1;
/** `Retry-After` on a 429: the polling interval plus the 5 s the agent MUST add (§Polling with GET). */
export const SLOW_DOWN_RETRY_AFTER_SECONDS = POLL_INTERVAL_SECONDS + 5;
/** Failed code lookups per caller before every lookup answers `invalid_code` (§Interaction Code Format: rate-limit). */
export const MAX_CODE_FAILURES = 5;
/** How long failed code lookups are remembered against a caller. */
export const CODE_FAILURE_WINDOW_SECONDS = DEFAULT_PENDING_TTL_SECONDS;
/** Clarification rounds per pending request (§Clarification Limits: five is RECOMMENDED). */
export const MAX_CLARIFICATION_ROUNDS = 5;
/** A decided request keeps answering its terminal response at least this long. */
export const TERMINAL_RETENTION_SECONDS = 300;
/** Symbols in an interaction code: 8 Crockford symbols = 40 bits, the minimum (§Interaction Code Format). */
export const INTERACTION_CODE_SYMBOLS = 8;
const MAX_CLARIFICATION_CHARS = 4000;
const MAX_CLARIFICATION_RESPONSE_CHARS = 10_000;

/** Options of {@link Deferred.findByCode} beyond the contract. */
export interface FindByCodeOptions {
  /**
   * Who is trying codes (a web session id, or the client IP for anonymous pages): failures count against this
   * key. Without one the service does not rate-limit (one shared bucket would let anyone lock everyone out), and
   * the caller MUST limit attempts itself, as the consent page does per session.
   */
  readonly limiterKey?: string;
}

/** A question the person asks the agent during consent (§Clarification Required). */
export interface ClarificationQuestion {
  /** Markdown; untrusted on the way back (the agent's answer is agent-asserted content). */
  readonly clarification: string;
  /** Discrete choices, when the question has them. */
  readonly options?: readonly string[];
}

/** One round of clarification chat, as stored in `pending_requests.clarification`. */
export interface ClarificationRound {
  readonly clarification: string;
  readonly options?: readonly string[];
  readonly asked_at: number;
  /** The agent's `clarification_response` (Markdown, agent-asserted: sanitize before rendering). */
  readonly response?: string;
  /** Set when the agent answered with an `updated_request`. */
  readonly updated_request?: boolean;
  readonly justification?: string;
  readonly answered_at?: number;
}

/** What an `updated_request` POST hands to the kind's handler. */
export interface UpdatedRequestInput {
  /** The POST body: `{action: "updated_request", resource_token, justification?, ...}`. */
  readonly body: Readonly<Record<string, unknown>>;
  /** Thumbprint of the key that signed the POST (= `pending.agent_jkt`). */
  readonly jkt: string;
}

/**
 * A handler that accepts `updated_request` (§Updated Request): it verifies the new resource token (same `iss`
 * and `agent_jkt` as the original, §8.49) and returns the replacement `request` document; an `AAuthError` it
 * throws is the POST's answer. Kinds without `updateRequest` answer `updated_request` with 400.
 */
export interface RequestUpdatingHandler extends PendingHandler {
  updateRequest(pending: PendingRequest, input: UpdatedRequestInput, c: Context): Promise<Record<string, unknown>>;
}

/** The Deferred service as built here: the contract plus clarification chat and the code limiter key. */
export interface ExtendedDeferredService extends DeferredService {
  /**
   * Looks up a live pending request by its interaction code: normalized (hyphens, case, `I`/`L`→`1`, `O`→`0`),
   * hashed, looked up. Returns `undefined` for a code that matches nothing (counted as a failure against
   * `limiterKey`, when given) or whose request was already decided (a code works once, §8.45). Throws `AAuthError`
   * `invalid_code` once the caller has failed {@link MAX_CODE_FAILURES} times (every later attempt, right
   * or wrong, until the window passes), and `expired` for the code of an expired request.
   */
  findByCode(code: string, options?: FindByCodeOptions): Promise<PendingRequest | undefined>;
  /**
   * The person asks the agent a question (§Clarification Chat). Polls then answer 202 with
   * `AAuth-Requirement: requirement=clarification` and `{status, clarification, timeout, options?}`.
   * At most {@link MAX_CLARIFICATION_ROUNDS} questions per request, one open at a time (`invalid_request`).
   */
  clarify(id: string, question: ClarificationQuestion, personId: string): Promise<PendingRequest>;
  /** Wakes every long-poll and refuses new waits (shutdown). */
  close(): void;
}

export interface DeferredOptions {
  /** Bounds of the in-process long-poll waiters. */
  readonly waiters?: PendingWaitersOptions;
  /** A long-poll re-reads the store this often, to see decisions taken by other instances; default 2000 ms. */
  readonly recheckMs?: number;
  /** Monotonic milliseconds for long-poll deadlines; default `performance.now`. */
  readonly monotonicMs?: () => number;
  /** Most callers tracked by the code limiter and pending requests tracked by the poll-rate check; default 10 000. */
  readonly maxTracked?: number;
}

/** Reads the clarification rounds of a pending request (oldest first). */
export function clarificationRounds(pending: PendingRequest): ClarificationRound[] {
  return fromJson<{ rounds?: ClarificationRound[] }>(pending.clarification, {}).rounds ?? [];
}

/** The open clarification question of a pending request, if any. */
export function openClarification(pending: PendingRequest): ClarificationRound | undefined {
  const last = clarificationRounds(pending).at(-1);
  return last !== undefined && last.answered_at === undefined ? last : undefined;
}

/** SHA-256 (hex) of a normalized interaction code: only this is stored. */
export function interactionCodeHash(normalizedCode: string): string {
  return createHash('sha256').update(normalizedCode, 'utf8').digest('hex');
}

const LIVE: readonly PendingRequest['status'][] = ['pending', 'interacting'];

/** What a poll answers, computed from the row and the clock. */
type PollState =
  | { readonly kind: 'pending'; readonly status: 'pending' | 'interacting'; readonly clarification: ClarificationRound | undefined }
  | { readonly kind: 'approved'; readonly result: string }
  | { readonly kind: 'error'; readonly error: AAuthError }
  | { readonly kind: 'gone'; readonly detail: string };

function pollState(row: PendingRequest, now: number): PollState {
  switch (row.status) {
    case 'pending':
    case 'interacting':
      // §Interaction Code Format, Lifetime: past its lifetime the request answers `expired` (408).
      if (now >= row.expires_at) return { kind: 'error', error: new AAuthError('expired', { detail: 'the pending request expired' }) };
      return { kind: 'pending', status: row.status, clarification: openClarification(row) };
    case 'approved':
      if (now >= row.expires_at) return { kind: 'gone', detail: 'the result of this pending request is no longer available' };
      return { kind: 'approved', result: row.result ?? '{}' };
    case 'denied':
      return { kind: 'error', error: new AAuthError('denied', { detail: 'the person declined the request' }) };
    case 'abandoned':
      return { kind: 'error', error: new AAuthError('abandoned', { detail: 'the person did not complete the interaction' }) };
    case 'expired':
      return { kind: 'error', error: new AAuthError('expired', { detail: 'the pending request expired' }) };
    case 'failed':
      return { kind: 'error', error: new AAuthError((row.error ?? 'server_error') as ErrorCode) };
    case 'cancelled':
      return { kind: 'gone', detail: 'the pending request was cancelled' };
  }
}

/** Changes a long-poll wakes up for: status, clarification chat, and the lazy expiry. */
function fingerprint(row: PendingRequest, now: number): string {
  return `${pollState(row, now).kind}|${row.status}|${row.clarification ?? ''}`;
}

const NO_STORE = { 'cache-control': 'no-store' } as const;

function problem(error: AAuthError, extra: Readonly<Record<string, string>> = {}, status?: number): Response {
  const r = toErrorResponse(error);
  return new Response(JSON.stringify(r.body), { status: status ?? r.status, headers: { ...r.headers, ...NO_STORE, ...extra } });
}

/** The same answer for an unknown pending URL and for one polled with another key: no oracle (§7). */
const notFound = (): Response => problem(new AAuthError('invalid_request', { detail: 'no such pending request' }), {}, 404);

/** Thrown inside the approval transaction to roll it back and record the handler's refusal. */
class HandlerRefusal extends Error {
  constructor(readonly error: AAuthError) {
    super(error.message);
  }
}

/** Failed code lookups per caller, in a fixed window; bounded (oldest caller dropped first). */
class CodeFailureLimiter {
  readonly #entries = new Map<string, { count: number; since: number }>();
  constructor(
    readonly max: number,
    readonly windowSeconds: number,
    readonly maxKeys: number,
  ) {}

  blocked(key: string, now: number): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (now - entry.since >= this.windowSeconds) {
      this.#entries.delete(key);
      return false;
    }
    return entry.count >= this.max;
  }

  fail(key: string, now: number): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined && now - entry.since < this.windowSeconds) {
      entry.count++;
      return;
    }
    this.#entries.delete(key);
    this.#entries.set(key, { count: 1, since: now });
    while (this.#entries.size > this.maxKeys) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}

/** Last admitted poll per pending request, for `slow_down`; bounded (oldest dropped first). */
class PollRate {
  readonly #last = new Map<string, number>();
  constructor(
    readonly minInterval: number,
    readonly maxKeys: number,
  ) {}

  /** False when the previous admitted poll was less than `minInterval` ago. */
  admit(id: string, now: number): boolean {
    const last = this.#last.get(id);
    if (last !== undefined && now - last < this.minInterval && now >= last) return false;
    this.#last.delete(id);
    this.#last.set(id, now);
    while (this.#last.size > this.maxKeys) this.#last.delete(this.#last.keys().next().value as string);
    return true;
  }

  forget(id: string): void {
    this.#last.delete(id);
  }
}

/** Builds the Deferred service for a server context. */
export function createDeferred(ctx: ServerContext, options: DeferredOptions = {}): ExtendedDeferredService {
  const handlers = new Map<string, PendingHandler>();
  const waiters = new PendingWaiters(options.waiters);
  const recheckMs = options.recheckMs ?? 2000;
  const monotonic = options.monotonicMs ?? (() => performance.now());
  const maxTracked = options.maxTracked ?? 10_000;
  const codeLimiter = new CodeFailureLimiter(MAX_CODE_FAILURES, CODE_FAILURE_WINDOW_SECONDS, maxTracked);
  const pollRate = new PollRate(MIN_POLL_INTERVAL_SECONDS, maxTracked);
  const store = ctx.store;
  const seconds = (): number => Math.floor(ctx.now());

  const issuerOf = (row: PendingRequest): string => (handlers.get(row.kind)?.issuer === 'ap' ? ctx.ap.issuer : ctx.ps.issuer);
  const pendingUrl = (row: PendingRequest): string => `${issuerOf(row)}/pending/${row.id}`;
  const interactionUrl = (): string => `${ctx.ps.issuer}/interaction`;

  const get = async (id: string): Promise<PendingRequest | undefined> =>
    isPendingId(id) ? await store.db.selectFrom('pending_requests').selectAll().where('id', '=', id).executeTakeFirst() : undefined;

  /** Reads the row for a state change; on PostgreSQL it stays locked until the transaction ends. */
  const lock = (trx: Transaction<Database>, id: string): Promise<PendingRequest | undefined> =>
    trx
      .selectFrom('pending_requests')
      .selectAll()
      .where('id', '=', id)
      .$if(store.kind === 'postgres', (q) => q.forUpdate())
      .executeTakeFirst();

  const reread = (trx: Transaction<Database>, id: string): Promise<PendingRequest> =>
    trx.selectFrom('pending_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  /**
   * A decision needs a live request (pending or interacting, not expired) and, when the request is bound to a
   * person, that person (AAuth §Security: each agent bound to exactly one person). `personId` null: the system.
   */
  function assertLive(row: PendingRequest | undefined, personId: string | null, allowExpired = false): asserts row is PendingRequest {
    if (row === undefined) throw new AAuthError('invalid_request', { detail: 'no such pending request' });
    if (!LIVE.includes(row.status)) throw new AAuthError('invalid_code', { detail: `the pending request is already ${row.status}` });
    if (!allowExpired && ctx.now() >= row.expires_at) throw new AAuthError('expired', { detail: 'the pending request expired' });
    if (personId !== null && row.person_id !== null && row.person_id !== personId) {
      throw new AAuthError('denied', { detail: 'the pending request belongs to another person' });
    }
  }

  const changed = (id: string): void => {
    waiters.notify(id);
  };

  const finished = (id: string): void => {
    pollRate.forget(id);
    waiters.notify(id);
  };

  /**
   * Long-poll: waits until the request changes (status, clarification, expiry) or `waitSeconds` pass, never past
   * `expires_at`. The waiter is registered before each read, so a wake-up between read and wait is not lost; the
   * store is re-read every `recheckMs` for decisions taken on other instances.
   */
  async function waitForChange(snapshot: PendingRequest, waitSeconds: number, clientSignal?: AbortSignal): Promise<PendingRequest> {
    const start = fingerprint(snapshot, ctx.now());
    const lifeMs = (snapshot.expires_at - ctx.now()) * 1000;
    const deadline = monotonic() + Math.max(0, Math.min(waitSeconds * 1000, lifeMs));
    let current = snapshot;
    for (;;) {
      const remaining = deadline - monotonic();
      const slice = new AbortController();
      const signal = clientSignal === undefined ? slice.signal : AbortSignal.any([slice.signal, clientSignal]);
      const waiting = waiters.wait(snapshot.id, Math.min(Math.max(remaining, 0), recheckMs), signal);
      current = (await get(snapshot.id)) ?? current;
      if (fingerprint(current, ctx.now()) !== start || remaining <= 0) {
        slice.abort();
        await waiting;
        return current;
      }
      const outcome = await waiting;
      if (outcome === 'busy' || outcome === 'aborted') return (await get(snapshot.id)) ?? current;
    }
  }

  /** The 202 of a live request (§Pending Response, §8.42), or with an open question the clarification 202. */
  function pendingResponse(row: PendingRequest, state: Extract<PollState, { kind: 'pending' }>, interaction?: { url: string; code: string }): Response {
    const headers: Record<string, string> = {
      location: pendingUrl(row),
      'retry-after': String(POLL_INTERVAL_SECONDS),
      ...NO_STORE,
      'content-type': 'application/json',
    };
    const body: Record<string, unknown> = { status: state.status };
    if (state.clarification !== undefined) {
      // §Clarification Required: requirement=clarification, body {status, clarification, timeout?, options?}.
      headers['aauth-requirement'] = serializeAAuthRequirement({ requirement: 'clarification' });
      body['clarification'] = state.clarification.clarification;
      body['timeout'] = Math.max(0, Math.floor(row.expires_at - ctx.now()));
      if (state.clarification.options !== undefined) body['options'] = state.clarification.options;
    } else if (interaction !== undefined) {
      // §Interaction Required: url (https, no query or fragment) and code (§8.46).
      headers['aauth-requirement'] = buildAAuthRequirement('interaction', interaction, { allowLoopbackHttp: ctx.allowLoopbackHttp });
    }
    return new Response(JSON.stringify(body), { status: 202, headers });
  }

  /** What the pending URL answers now (§Deferred Response State Machine). */
  function respond(row: PendingRequest, interaction?: { url: string; code: string }): Response {
    const state = pollState(row, ctx.now());
    switch (state.kind) {
      case 'pending':
        return pendingResponse(row, state, interaction);
      case 'approved':
        return new Response(state.result, { status: 200, headers: { 'content-type': 'application/json', ...NO_STORE } });
      case 'error':
        return problem(state.error);
      case 'gone':
        // §Cancel Request: after DELETE the pending URL answers 410; `invalid_code` is the polling table's 410.
        return problem(new AAuthError('invalid_code', { detail: state.detail }));
    }
  }

  async function create(input: CreatePendingInput): Promise<CreatedPending> {
    const ttl = input.ttlSeconds ?? DEFAULT_PENDING_TTL_SECONDS;
    if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_PENDING_TTL_SECONDS) {
      throw new AAuthError('invalid_argument', { detail: `ttlSeconds must be an integer from 1 to ${MAX_PENDING_TTL_SECONDS}` });
    }
    const now = seconds();
    // §Interaction Code Format: ≥ 8 Crockford symbols from a CSPRNG; only a hash is kept. A code equal to a
    // live one (1 in 2^40 per live request) is drawn again, so a code names one request.
    let code = generateInteractionCode(INTERACTION_CODE_SYMBOLS);
    for (let attempt = 0; attempt < 4; attempt++) {
      const clash = await store.db
        .selectFrom('pending_requests')
        .select('id')
        .where('code_hash', '=', interactionCodeHash(code))
        .where('status', 'in', LIVE)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (clash === undefined) break;
      code = generateInteractionCode(INTERACTION_CODE_SYMBOLS);
    }
    const row = newPendingRow(input, { now, ttlSeconds: ttl, codeHash: interactionCodeHash(code) });
    await store.transaction(async (trx) => {
      await trx.insertInto('pending_requests').values(row).execute();
      await store.audit(
        { type: 'pending.created', actor: input.agentId, agent: input.agentId, person: row.person_id, requestId: row.id, detail: { kind: input.kind, expires_at: row.expires_at } },
        trx,
      );
    });
    return { pending: row, code: formatInteractionCode(code), interactionUrl: interactionUrl() };
  }

  async function accepted(created: CreatedPending, preferWait?: number): Promise<Response> {
    let row = created.pending;
    const wait = capPreferWait(preferWait, MAX_PREFER_WAIT_SECONDS, 0);
    if (wait > 0) row = await waitForChange(row, wait);
    return respond(row, { url: created.interactionUrl, code: created.code });
  }

  async function findByCode(code: string, options: FindByCodeOptions = {}): Promise<PendingRequest | undefined> {
    const key = options.limiterKey;
    const now = ctx.now();
    const fail = (): void => {
      if (key !== undefined) codeLimiter.fail(key, now);
    };
    // §Interaction Code Format, Rate-limiting: after a few failures, attempts answer `invalid_code`.
    if (key !== undefined && codeLimiter.blocked(key, now)) throw new AAuthError('invalid_code', { detail: 'too many wrong interaction codes; try again later' });
    let normalized: string;
    try {
      normalized = normalizeInteractionCode(code);
    } catch {
      fail();
      return undefined;
    }
    const rows = await store.db.selectFrom('pending_requests').selectAll().where('code_hash', '=', interactionCodeHash(normalized)).orderBy('created_at', 'desc').execute();
    const row = rows.find((r) => LIVE.includes(r.status)) ?? rows[0];
    if (row === undefined) {
      fail();
      return undefined;
    }
    // §Interaction Code Format, Single use: a decided request's code no longer finds it (§8.45: reuse → invalid_code).
    if (!LIVE.includes(row.status)) return undefined;
    // Lifetime: the code never outlives its pending request.
    if (now >= row.expires_at) throw new AAuthError('expired', { detail: 'the pending request expired' });
    return row;
  }

  async function interacting(id: string, personId: string): Promise<void> {
    const row = await store.transaction(async (trx) => {
      const current = await lock(trx, id);
      assertLive(current, personId);
      if (current.status === 'interacting' && current.person_id === personId) return undefined;
      await trx.updateTable('pending_requests').set({ status: 'interacting', person_id: personId, updated_at: seconds() }).where('id', '=', id).execute();
      await store.audit({ type: 'pending.interacting', actor: personId, agent: current.agent_id, person: personId, requestId: id, detail: { kind: current.kind } }, trx);
      return current;
    });
    if (row !== undefined) changed(id);
  }

  /**
   * The person approves. In one transaction: re-read (and on PostgreSQL lock) the row, which must be live and not
   * bound to another person; run the kind's `approve`; store its result; audit `approval.given`. When the handler
   * throws an `AAuthError`, its writes are rolled back, the request becomes `failed` with that code (polls answer
   * its problem response, audit `approval.failed`) and the error is rethrown to the caller. Throws `invalid_code`
   * for a decided request, `expired` past its lifetime, `denied` for another person.
   */
  async function approve(id: string, decision: ApprovalDecision): Promise<PendingRequest> {
    let refusal: AAuthError;
    try {
      const prepared = await prepareApproval(id, decision);
      const row = await store.transaction(async (trx) => {
        const current = await lock(trx, id);
        assertLive(current, decision.personId);
        const handler = handlers.get(current.kind);
        if (handler === undefined) throw new AAuthError('server_error', { detail: `no handler for pending kind ${current.kind}` });
        let result: Record<string, unknown>;
        try {
          result = await handler.approve(current, decision, trx, prepared);
        } catch (error) {
          if (isAAuthError(error)) throw new HandlerRefusal(error);
          throw error;
        }
        const now = seconds();
        await trx
          .updateTable('pending_requests')
          .set({ status: 'approved', result: toJson(result), error: null, person_id: decision.personId, updated_at: now, expires_at: Math.max(current.expires_at, now + TERMINAL_RETENTION_SECONDS) })
          .where('id', '=', id)
          .execute();
        await store.audit(
          { type: 'approval.given', actor: decision.personId, agent: current.agent_id, person: decision.personId, requestId: id, detail: { kind: current.kind, always: decision.always } },
          trx,
        );
        return reread(trx, id);
      });
      finished(id);
      return row;
    } catch (error) {
      if (!(error instanceof HandlerRefusal)) throw error;
      refusal = error.error;
    }
    // The handler refused: its writes were rolled back; the request fails with its error (polls answer it), and
    // the caller (consent page, approver API) gets the same error thrown.
    await store.transaction(async (trx) => {
      const current = await lock(trx, id);
      assertLive(current, decision.personId);
      const now = seconds();
      await trx
        .updateTable('pending_requests')
        .set({ status: 'failed', error: refusal.code, person_id: decision.personId, updated_at: now, expires_at: Math.max(current.expires_at, now + TERMINAL_RETENTION_SECONDS) })
        .where('id', '=', id)
        .execute();
      await store.audit(
        { type: 'approval.failed', actor: decision.personId, agent: current.agent_id, person: decision.personId, requestId: id, detail: { kind: current.kind, error: refusal.code } },
        trx,
      );
    });
    finished(id);
    throw refusal;
  }

  /** The kind's `prepare`, outside any transaction (it may call another server that calls back); an AAuthError refuses. */
  async function prepareApproval(id: string, decision: ApprovalDecision): Promise<unknown> {
    const row = await store.db.selectFrom('pending_requests').selectAll().where('id', '=', id).executeTakeFirst();
    const handler = row === undefined ? undefined : handlers.get(row.kind);
    if (row === undefined || handler?.prepare === undefined) return undefined;
    assertLive(row, decision.personId);
    try {
      return await handler.prepare(row, decision);
    } catch (error) {
      if (isAAuthError(error)) throw new HandlerRefusal(error);
      throw error;
    }
  }

  async function refuse(id: string, code: RefusalCode, personId: string | null): Promise<PendingRequest> {
    const row = await store.transaction(async (trx) => {
      const current = await lock(trx, id);
      assertLive(current, personId, code === 'expired');
      const now = seconds();
      const person = personId ?? current.person_id;
      await trx
        .updateTable('pending_requests')
        .set({ status: code, person_id: person, updated_at: now, expires_at: Math.max(current.expires_at, now + TERMINAL_RETENTION_SECONDS) })
        .where('id', '=', id)
        .execute();
      await store.audit({ type: 'approval.refused', actor: personId ?? 'system', agent: current.agent_id, person, requestId: id, detail: { kind: current.kind, error: code } }, trx);
      return reread(trx, id);
    });
    finished(id);
    return row;
  }

  async function clarify(id: string, question: ClarificationQuestion, personId: string): Promise<PendingRequest> {
    const text = question.clarification;
    if (typeof text !== 'string' || text.trim().length === 0 || text.length > MAX_CLARIFICATION_CHARS) {
      throw new AAuthError('invalid_request', { detail: `a clarification is 1 to ${MAX_CLARIFICATION_CHARS} characters` });
    }
    const options: readonly string[] | undefined = question.options;
    if (options !== undefined && (!Array.isArray(options) || options.length > 10 || options.some((o) => typeof o !== 'string' || o.length === 0 || o.length > 200))) {
      throw new AAuthError('invalid_request', { detail: 'options are up to 10 strings of up to 200 characters' });
    }
    const row = await store.transaction(async (trx) => {
      const current = await lock(trx, id);
      assertLive(current, personId);
      if (openClarification(current) !== undefined) throw new AAuthError('invalid_request', { detail: 'a clarification is already open' });
      // §Clarification Limits: PSes MUST cap clarification rounds.
      if (current.clarification_rounds >= MAX_CLARIFICATION_ROUNDS) {
        throw new AAuthError('invalid_request', { detail: `the limit of ${MAX_CLARIFICATION_ROUNDS} clarification rounds is reached` });
      }
      const now = seconds();
      const round: ClarificationRound = { clarification: text, ...(options === undefined ? {} : { options: options.slice() }), asked_at: now };
      await trx
        .updateTable('pending_requests')
        .set({
          clarification: toJson({ rounds: [...clarificationRounds(current), round] }),
          clarification_rounds: current.clarification_rounds + 1,
          person_id: personId,
          updated_at: now,
        })
        .where('id', '=', id)
        .execute();
      await store.audit({ type: 'clarification.asked', actor: personId, agent: current.agent_id, person: personId, requestId: id, detail: { round: current.clarification_rounds + 1 } }, trx);
      return reread(trx, id);
    });
    changed(id);
    return row;
  }

  async function listForPerson(personId: string): Promise<PendingRequest[]> {
    return store.db
      .selectFrom('pending_requests')
      .selectAll()
      .where('status', 'in', LIVE)
      .where('expires_at', '>', seconds())
      .where((eb) => eb.or([eb('person_id', '=', personId), eb('person_id', 'is', null)]))
      .orderBy('created_at', 'asc')
      .execute();
  }

  // ---- The pending URL (§Polling with GET, §Agent Response to Clarification, §Cancel Request) ----

  /**
   * Authenticates a request to a pending URL: the kind's `authenticatePoll`, else an agent-token signature
   * (poll-auth.ts). An unknown id, another server's request, and a request signed by a key other than
   * `agent_jkt` all answer the same 404, so a pending URL is no oracle for other keys. Unknown ids are
   * authenticated too: an unsigned request gets the same 401 whether or not the id exists.
   */
  async function authorize(owner: 'ps' | 'ap', c: Context): Promise<{ row: PendingRequest; identity: PollIdentity } | Response> {
    const row = await get(c.req.param('id') ?? '');
    const handler = row === undefined ? undefined : handlers.get(row.kind);
    const known = row !== undefined && (handler?.issuer ?? 'ps') === owner;
    const issuer = owner === 'ap' ? ctx.ap.issuer : ctx.ps.issuer;
    const identity = known && handler?.authenticatePoll !== undefined ? await handler.authenticatePoll(c) : await authenticateAgentPoll(ctx, issuer, c);
    if (identity instanceof Response) return identity;
    if (!known || identity.jkt !== row.agent_jkt) return notFound();
    return { row, identity };
  }

  async function poll(owner: 'ps' | 'ap', c: Context): Promise<Response> {
    const auth = await authorize(owner, c);
    if (auth instanceof Response) return auth;
    let row = auth.row;
    if (pollState(row, ctx.now()).kind === 'pending') {
      // §Polling Error Codes: `slow_down` (429) when polls come faster than once a second (§8.43).
      if (!pollRate.admit(row.id, ctx.now())) {
        return problem(new AAuthError('slow_down', { detail: `poll at most once a second; wait ${SLOW_DOWN_RETRY_AFTER_SECONDS} s` }), {
          'retry-after': String(SLOW_DOWN_RETRY_AFTER_SECONDS),
        });
      }
      const wait = capPreferWait(parsePreferWait(c.req.header('prefer')), MAX_PREFER_WAIT_SECONDS, 0);
      // An open question is answered at once: the agent must see it now, not when something else changes.
      if (wait > 0 && openClarification(row) === undefined) row = await waitForChange(row, wait, c.req.raw.signal);
    }
    return respond(row);
  }

  async function readJsonObject(c: Context): Promise<Record<string, unknown> | AAuthError> {
    const declared = Number(c.req.header('content-length') ?? '0');
    if (declared > MAX_BODY_BYTES) return new AAuthError('invalid_request', { detail: 'body too large' });
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length > MAX_BODY_BYTES) return new AAuthError('invalid_request', { detail: 'body too large' });
    try {
      const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // answered below
    }
    return new AAuthError('invalid_request', { detail: 'the body must be a JSON object' });
  }

  async function post(owner: 'ps' | 'ap', c: Context): Promise<Response> {
    const auth = await authorize(owner, c);
    if (auth instanceof Response) return auth;
    const { row, identity } = auth;
    if (pollState(row, ctx.now()).kind !== 'pending') return respond(row);
    const body = await readJsonObject(c);
    if (body instanceof AAuthError) return problem(body);
    const action = body['action'];
    // §Agent Response to Clarification: a POST with a missing or unrecognized `action` → 400 (§8.48).
    if (action !== 'clarification_response' && action !== 'updated_request') {
      return problem(new AAuthError('invalid_request', { detail: 'action must be "clarification_response" or "updated_request"' }));
    }
    const open = openClarification(row);
    if (open === undefined) return problem(new AAuthError('invalid_request', { detail: 'no clarification is open' }));
    let answer: Partial<ClarificationRound>;
    let replacement: Record<string, unknown> | undefined;
    if (action === 'clarification_response') {
      const response = body['clarification_response'];
      if (typeof response !== 'string' || response.trim().length === 0 || response.length > MAX_CLARIFICATION_RESPONSE_CHARS) {
        return problem(new AAuthError('invalid_request', { detail: `clarification_response must be a string of 1 to ${MAX_CLARIFICATION_RESPONSE_CHARS} characters` }));
      }
      answer = { response };
    } else {
      const handler = handlers.get(row.kind) as Partial<RequestUpdatingHandler> | undefined;
      if (typeof body['resource_token'] !== 'string' || body['resource_token'].length === 0) {
        return problem(new AAuthError('invalid_request', { detail: 'updated_request needs a resource_token' }));
      }
      const justification = body['justification'];
      if (justification !== undefined && (typeof justification !== 'string' || justification.length > MAX_CLARIFICATION_RESPONSE_CHARS)) {
        return problem(new AAuthError('invalid_request', { detail: 'justification must be a string' }));
      }
      if (handler?.updateRequest === undefined) return problem(new AAuthError('invalid_request', { detail: 'this request cannot be updated' }));
      try {
        // The handler verifies the new resource token (same iss and agent_jkt, §8.49) outside any transaction.
        replacement = await handler.updateRequest(row, { body, jkt: identity.jkt }, c);
      } catch (error) {
        if (isAAuthError(error)) return problem(error);
        throw error;
      }
      answer = { updated_request: true, ...(justification === undefined ? {} : { justification }) };
    }
    let updated: PendingRequest;
    try {
      updated = await store.transaction(async (trx) => {
        const current = await lock(trx, row.id);
        assertLive(current, null);
        const rounds = clarificationRounds(current);
        const last = rounds.at(-1);
        if (last === undefined || last.answered_at !== undefined || last.asked_at !== open.asked_at) {
          throw new AAuthError('invalid_request', { detail: 'no clarification is open' });
        }
        const now = seconds();
        rounds[rounds.length - 1] = { ...last, ...answer, answered_at: now };
        await trx
          .updateTable('pending_requests')
          .set({ clarification: toJson({ rounds }), updated_at: now, ...(replacement === undefined ? {} : { request: toJson(replacement) }) })
          .where('id', '=', row.id)
          .execute();
        await store.audit(
          {
            type: replacement === undefined ? 'clarification.answered' : 'pending.updated',
            actor: current.agent_id,
            agent: current.agent_id,
            person: current.person_id,
            requestId: row.id,
            detail: { round: rounds.length },
          },
          trx,
        );
        return reread(trx, row.id);
      });
    } catch (error) {
      if (isAAuthError(error)) return respondOrProblem(row.id, error);
      throw error;
    }
    changed(row.id);
    // The agent resumes polling with GET; the POST answers the current state.
    return respond(updated);
  }

  /** After a refused state change: the terminal answer if the request ended meanwhile, else the error. */
  async function respondOrProblem(id: string, error: AAuthError): Promise<Response> {
    const row = await get(id);
    if (row !== undefined && pollState(row, ctx.now()).kind !== 'pending') return respond(row);
    return problem(error);
  }

  async function cancel(owner: 'ps' | 'ap', c: Context): Promise<Response> {
    const auth = await authorize(owner, c);
    if (auth instanceof Response) return auth;
    const { row } = auth;
    if (row.status === 'cancelled') return respond(row);
    // §Cancel Request: the agent withdraws; from any state the URL then answers 410 (§8.48). A stored result is dropped.
    await store.transaction(async (trx) => {
      const current = await lock(trx, row.id);
      if (current === undefined || current.status === 'cancelled') return;
      await trx.updateTable('pending_requests').set({ status: 'cancelled', result: null, updated_at: seconds() }).where('id', '=', row.id).execute();
      await store.audit(
        { type: 'pending.cancelled', actor: current.agent_id, agent: current.agent_id, person: current.person_id, requestId: row.id, detail: { kind: current.kind, was: current.status } },
        trx,
      );
    });
    finished(row.id);
    return new Response(null, { status: 204, headers: { ...NO_STORE } });
  }

  return {
    register(kind: PendingKind, handler: PendingHandler): void {
      if (handlers.has(kind)) throw new AAuthError('invalid_argument', { detail: `a handler for ${kind} is already registered` });
      handlers.set(kind, handler);
    },
    handler: (kind: string) => handlers.get(kind),
    create,
    accepted,
    findByCode,
    get,
    interacting,
    approve,
    refuse,
    clarify,
    listForPerson,
    routes(owner: 'ps' | 'ap'): Hono {
      const app = new Hono();
      app.get('/:id', (c) => poll(owner, c));
      app.post('/:id', (c) => post(owner, c));
      app.delete('/:id', (c) => cancel(owner, c));
      return app;
    },
    close(): void {
      waiters.close();
    },
  };
}
