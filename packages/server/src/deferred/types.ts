/**
 * The deferred-request contract (AAuth -11 §Deferred Responses): a token endpoint that needs the person answers
 * 202 with a pending URL; the person decides on the interaction page or through the approver API; the agent
 * polls the pending URL with signed GETs until a terminal answer. Endpoints register a `PendingHandler` per
 * kind; the `Deferred` service owns the pending URL, polling, long-polls, codes and decisions.
 */
import type { Context, Hono } from 'hono';
import type { Transaction } from 'kysely';
import type { Database, PendingRequest } from '../store/schema.js';

/** Kinds of deferred request: person-token and auth-token consent, missions, permissions and interaction relays (PS), agent enrolment (AP). */
export type PendingKind = 'person_token' | 'auth_token' | 'enrolment' | 'mission' | 'permission' | 'interaction';

/** Terminal refusals and their polling errors (§Error Responses, polling table). */
export type RefusalCode = 'denied' | 'abandoned' | 'expired';

/** What the consent page and the approver API show a person about a request. */
export interface ConsentView {
  /** One sentence, e.g. "Travel Assistant wants to read your calendar at Example Calendar". */
  readonly summary: string;
  readonly agent: { readonly id: string; readonly name: string; readonly provider: string; readonly description?: string };
  readonly resource?: { readonly id: string; readonly name: string; readonly logoUri?: string; /** Markdown from the resource: sanitize before rendering. */ readonly description?: string };
  readonly scopes: readonly { readonly scope: string; readonly description: string }[];
  readonly justification?: string;
  readonly mission?: { readonly s256: string; readonly description: string };
  /** Whether "approve always" (a standing grant) may be offered. */
  readonly allowAlways: boolean;
}

export interface ApprovalDecision {
  readonly personId: string;
  /** Approve always: create a standing grant. */
  readonly always: boolean;
}

export interface PendingHandler {
  /** What the person sees for this request. */
  describe(pending: PendingRequest): Promise<ConsentView>;
  /**
   * Runs inside the decision's transaction when the person approves: issues what was asked for (and the
   * standing grant when `always`), audits it, and returns the terminal 200 body (e.g. `{auth_token, expires_in}`).
   * Throwing an `AAuthError` makes the request fail with that error instead.
   */
  approve(pending: PendingRequest, decision: ApprovalDecision, trx: Transaction<Database>, prepared?: unknown): Promise<Record<string, unknown>>;
  /** Optional: runs when the person approves, before and outside the transaction (e.g. a call to another server, which may call back); its result is `approve`'s `prepared`. */
  prepare?(pending: PendingRequest, decision: ApprovalDecision): Promise<unknown>;
  /**
   * Authenticates a poll (GET/POST/DELETE on the pending URL) and returns the signer's key thumbprint, which must
   * equal `pending.agent_jkt`; or a Response to send (e.g. 401 + Signature-Error). Default: a request signed with
   * an agent token (`sig=jwt`). The Agent Provider's enrolment uses `hwk`.
   */
  authenticatePoll?(c: Context): Promise<{ readonly jkt: string } | Response>;
  /** Which server identifier owns this kind's pending URLs; default the PS. */
  readonly issuer?: 'ps' | 'ap';
}

export interface CreatePendingInput {
  readonly kind: PendingKind;
  readonly agentId: string;
  /** Polls must be signed by this key. */
  readonly agentJkt: string;
  /** Known when the agent is already bound to a person. */
  readonly personId?: string | null;
  /** The original request, kept for `describe` and `approve`. */
  readonly request: Readonly<Record<string, unknown>>;
  /** Lifetime; default 600 s. */
  readonly ttlSeconds?: number;
  /** Optional callback URL for after the person decides (`{url}?code=X&callback=cb`). */
  readonly callback?: string;
}

export interface CreatedPending {
  readonly pending: PendingRequest;
  /** The interaction code (shown once; only its hash is stored). */
  readonly code: string;
  /** `{ps}/interaction` — the page where the person enters or follows the code. */
  readonly interactionUrl: string;
}

/** The Deferred service, implemented in `deferred/deferred.ts`. */
export interface Deferred {
  register(kind: PendingKind, handler: PendingHandler): void;
  handler(kind: string): PendingHandler | undefined;
  /** Creates a pending request with an interaction code. */
  create(input: CreatePendingInput): Promise<CreatedPending>;
  /**
   * The 202 for a new pending request: `Location` (same origin, unguessable), `Retry-After`, `Cache-Control:
   * no-store`, `AAuth-Requirement: requirement=interaction; url="…"; code="…"`, body `{"status":"pending"}`.
   * Waits up to `preferWait` seconds first (`Prefer: wait=N`) and answers with the terminal response if the person
   * decides meanwhile.
   */
  accepted(created: CreatedPending, preferWait?: number): Promise<Response>;
  /** Looks up a pending request by its interaction code (normalized, rate-limited; a wrong code counts a failure). */
  findByCode(code: string): Promise<PendingRequest | undefined>;
  get(id: string): Promise<PendingRequest | undefined>;
  /** Marks `interacting` (the person opened the page). */
  interacting(id: string, personId: string): Promise<void>;
  /** The person approves: runs the kind's handler in a transaction, stores the result, wakes pollers. */
  approve(id: string, decision: ApprovalDecision): Promise<PendingRequest>;
  /** The person (or the system) refuses: terminal error, wakes pollers. */
  refuse(id: string, code: RefusalCode, personId: string | null): Promise<PendingRequest>;
  /** Pending requests a person can decide (for the approver API): bound to them, or unbound. */
  listForPerson(personId: string): Promise<PendingRequest[]>;
}

/** The Deferred service with its HTTP routes; built by `createDeferred(ctx)` in `deferred/deferred.ts`. */
export interface DeferredService extends Deferred {
  /**
   * The pending-URL routes (`GET|POST|DELETE /pending/:id`) for one server identifier; the PS and the AP each mount
   * theirs at `/pending`. A request for a pending request of the other identifier answers 404.
   */
  routes(owner: 'ps' | 'ap'): Hono;
}
