/**
 * Missions at the Person Server (AAuth -11 §Mission, §Mission Management, §Mission Log; digest §8.53–§8.58): the
 * repository of approved missions and their log, and the one check every PS endpoint applies to a `mission_s256`.
 *
 * - A mission is identified by `s256` = b64url(SHA-256(exact blob bytes)); the blob is stored as the exact JSON text
 *   it was hashed from and is never re-serialized (§Mission Identifier: the PS MUST return and serve those bytes).
 * - State: `active` ─▶ `terminated` (with a reason), never back (§Mission Management). Past its `expires_at` a mission
 *   counts as terminated; the first request that notices records it as terminated with reason `expired`.
 * - Lookup by the owning agent only: "no such mission" and "another agent's mission" are one query with one answer,
 *   404 `mission_not_found` (§Mission Endpoint Errors: same status, error, body, headers and timing).
 */
import { AAuthError, isS256, missionS256, toErrorResponse } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Mission, MissionLogEntry } from '../store/schema.js';
import { auditId, type Executor } from '../store/store.js';

/** Termination reasons defined by AAuth -11 §Mission Management (the set is open). */
export type TerminationReason = 'completed' | 'revoked' | 'expired' | 'superseded' | 'administrative';

/** A mission's lifetime unless policy says otherwise: 30 days, as in the spec's example (§Mission Approval). */
export const MISSION_TTL_SECONDS = 30 * 24 * 3600;

/** 403 `mission_terminated` with `mission_status` and `termination_reason` (§Mission Status Errors). */
export class MissionTerminatedError extends AAuthError {
  readonly terminationReason: string | undefined;

  constructor(terminationReason: string | undefined) {
    super('mission_terminated', { detail: 'the mission is terminated' });
    this.terminationReason = terminationReason;
  }
}

/** The problem response of a `MissionTerminatedError`: `{error, mission_status: "terminated", termination_reason?}`. */
export function missionTerminatedResponse(error: MissionTerminatedError): Response {
  const { status, headers, body } = toErrorResponse(error);
  const payload = {
    ...body,
    mission_status: 'terminated',
    ...(error.terminationReason === undefined ? {} : { termination_reason: error.terminationReason }),
  };
  return new Response(JSON.stringify(payload), { status, headers: { ...headers, 'cache-control': 'no-store' } });
}

/** The one answer for an unknown mission and for another agent's (§Mission Endpoint Errors; §8.56). */
export function missionNotFound(): AAuthError {
  return new AAuthError('mission_not_found');
}

/** A `mission_s256` parameter: absent, or 43 base64url characters of a SHA-256 digest, else 400 (§8.55). */
export function readMissionS256(body: Record<string, unknown>, required = false): string | undefined {
  const value = body['mission_s256'];
  if (value === undefined || value === null) {
    if (required) throw new AAuthError('invalid_request', { detail: 'mission_s256 is required' });
    return undefined;
  }
  if (!isS256(value)) throw new AAuthError('invalid_request', { detail: 'mission_s256 is not a base64url SHA-256 digest' });
  return value;
}

/** Epoch seconds of an ISO 8601 timestamp. */
export function epochOf(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

/** ISO 8601 (UTC, milliseconds) of epoch seconds. */
export function isoOf(seconds: number): string {
  return new Date(Math.floor(seconds * 1000)).toISOString();
}

export interface NewMission {
  readonly s256: string;
  readonly agentId: string;
  readonly agentJkt?: string;
  readonly personId: string;
  /** The exact blob text whose UTF-8 bytes `s256` digests. */
  readonly blob: string;
  readonly expiresAt: number | null;
}

/** Inserts an approved mission; false when a mission with this `s256` exists already (the very same blob). */
export async function insertMission(db: Executor, mission: NewMission, now: number): Promise<boolean> {
  const r = await db
    .insertInto('missions')
    .values({
      s256: mission.s256,
      agent_id: mission.agentId,
      agent_jkt: mission.agentJkt ?? null,
      person_id: mission.personId,
      blob: mission.blob,
      status: 'active',
      termination_reason: null,
      expires_at: mission.expiresAt,
      created_at: Math.floor(now),
      updated_at: Math.floor(now),
    })
    .onConflict((oc) => oc.column('s256').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
}

/**
 * The mission `s256` of `agentId`, or undefined — one query whose condition names both, so an unknown mission and
 * another agent's take the same path and the same time (§Mission Endpoint Errors: checking ownership after a
 * successful lookup leaks the difference in timing).
 */
export function findOwnedMission(db: Executor, s256: string, agentId: string): Promise<Mission | undefined> {
  return db.selectFrom('missions').selectAll().where('s256', '=', s256).where('agent_id', '=', agentId).executeTakeFirst();
}

/** What a mission row means at `now`: past `expires_at` an active mission counts as terminated, reason `expired`. */
export function missionState(mission: Mission, now: number): { readonly active: true } | { readonly active: false; readonly reason: string | undefined } {
  if (mission.status === 'terminated') return { active: false, reason: mission.termination_reason ?? undefined };
  if (mission.expires_at !== null && now >= mission.expires_at) return { active: false, reason: 'expired' };
  return { active: true };
}

/**
 * Terminates an active mission (audited `mission.terminated`); false when it was already terminated. A terminated
 * mission never returns to `active` (§Mission Management): only `active` rows are updated.
 */
export async function terminateMission(ctx: ServerContext, db: Executor, mission: Mission, reason: TerminationReason, actor: string): Promise<boolean> {
  const now = Math.floor(ctx.now());
  const r = await db
    .updateTable('missions')
    .set({ status: 'terminated', termination_reason: reason, updated_at: now })
    .where('s256', '=', mission.s256)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return false;
  await ctx.store.audit({ type: 'mission.terminated', actor, agent: mission.agent_id, person: mission.person_id, detail: { mission: mission.s256, reason } }, db);
  return true;
}

/**
 * The mission `s256` of `agentId` if it is active at `db`'s view and not past `expires_at`; read-only (for checks
 * inside a decision's transaction). Throws 404 `mission_not_found` for an unknown mission or another agent's
 * (identically), `MissionTerminatedError` (403) for a terminated or expired one.
 */
export async function activeMission(ctx: ServerContext, db: Executor, s256: string, agentId: string): Promise<Mission> {
  const mission = await findOwnedMission(db, s256, agentId);
  if (mission === undefined) {
    // §Mission Endpoint Errors: SHOULD security-log repeated failures, without keeping the raw reference.
    ctx.log.warn({ event: 'mission.not_found', agent: agentId }, 'a request named no mission of this agent');
    throw missionNotFound();
  }
  const state = missionState(mission, ctx.now());
  if (!state.active) throw new MissionTerminatedError(state.reason);
  return mission;
}

/**
 * The check of every PS endpoint that takes a `mission_s256` (§Person Token Endpoint, §Mission Status Errors, §8.18,
 * §8.56, §8.57), as {@link activeMission}; a mission found past its `expires_at` is recorded as terminated with
 * reason `expired` (in its own transaction) before the 403.
 */
export async function requireActiveMission(ctx: ServerContext, s256: string, agentId: string): Promise<Mission> {
  try {
    return await activeMission(ctx, ctx.store.db, s256, agentId);
  } catch (error) {
    if (error instanceof MissionTerminatedError && error.terminationReason === 'expired') {
      await ctx.store.transaction(async (trx) => {
        const mission = await findOwnedMission(trx, s256, agentId);
        if (mission !== undefined) await terminateMission(ctx, trx, mission, 'expired', 'ps');
      });
    }
    throw error;
  }
}

/** The latest `exp` a token issued under `mission` may have: its `expires_at`, when it has one (§Person Token Structure). */
export function capAtMission(notAfter: number, mission: Pick<Mission, 'expires_at'> | undefined): number {
  if (mission === undefined || mission.expires_at === null) return notAfter;
  return Math.min(notAfter, mission.expires_at);
}

export interface MissionLogInput {
  readonly missionS256: string;
  readonly type: string;
  readonly actor: string;
  readonly entry: Readonly<Record<string, unknown>>;
  /** Return the digest of the entry's bytes (updates, §Mission Update). */
  readonly digest?: boolean;
}

/**
 * Appends an entry to the mission log (§Mission Log), serialized once; with `digest`, returns b64url(SHA-256) of the
 * exact bytes persisted (§Mission Update: "the digest of the update's bytes as the PS persists them").
 */
export async function appendMissionLog(ctx: ServerContext, db: Executor, input: MissionLogInput): Promise<{ readonly id: string; readonly s256?: string }> {
  const text = JSON.stringify(input.entry);
  const s256 = input.digest === true ? await missionS256(new TextEncoder().encode(text)) : undefined;
  const id = auditId(Math.floor(ctx.now() * 1000), 0);
  const last = await db.selectFrom('mission_log').select((eb) => eb.fn.max('seq').as('seq')).where('mission_s256', '=', input.missionS256).executeTakeFirst();
  const seq = Number(last?.seq ?? 0) + 1;
  await db
    .insertInto('mission_log')
    .values({ id, mission_s256: input.missionS256, seq, at: Math.floor(ctx.now()), type: input.type, actor: input.actor, entry: text, s256: s256 ?? null })
    .execute();
  return s256 === undefined ? { id } : { id, s256 };
}

/** The mission log of a mission, oldest first. */
export function missionLog(db: Executor, s256: string): Promise<MissionLogEntry[]> {
  return db.selectFrom('mission_log').selectAll().where('mission_s256', '=', s256).orderBy('seq', 'asc').orderBy('id', 'asc').execute();
}
