/** Standing grants ("approve always"): created on approval, listed and revoked by the person. */
import { randomBytes } from 'node:crypto';
import type { Grant } from './schema.js';
import { fromJson, toJson, type Executor } from './store.js';
import { prepared } from './prepared.js';

export type GrantKind = Grant['kind'];

export interface NewGrant {
  readonly personId: string;
  readonly agentId: string;
  readonly resource: string;
  readonly kind: GrantKind;
  readonly scopes: readonly string[];
}

export async function createGrant(db: Executor, grant: NewGrant, now: number): Promise<Grant> {
  const row: Grant = {
    id: `grt_${randomBytes(12).toString('base64url')}`,
    person_id: grant.personId,
    agent_id: grant.agentId,
    resource: grant.resource,
    kind: grant.kind,
    scopes: toJson([...new Set(grant.scopes)].sort()),
    created_at: Math.floor(now),
    revoked_at: null,
  };
  await db.insertInto('grants').values(row).execute();
  return row;
}

// Standing-grant look-ups, compiled once (see prepared.ts): every token request makes one.
const selectLiveGrants = prepared(
  3,
  (db, agentId: string, resource: string, kind: GrantKind) =>
    db.selectFrom('grants').selectAll().where('agent_id', '=', agentId).where('resource', '=', resource).where('kind', '=', kind).where('revoked_at', 'is', null),
  { cached: true },
);
const selectLiveGrantsOfPerson = prepared(4, (db, agentId: string, personId: string, resource: string, kind: GrantKind) =>
  db
    .selectFrom('grants')
    .selectAll()
    .where('agent_id', '=', agentId)
    .where('person_id', '=', personId)
    .where('resource', '=', resource)
    .where('kind', '=', kind)
    .where('revoked_at', 'is', null),
  { cached: true },
);

/**
 * A live standing grant of `kind` for this agent and resource that covers every scope in `scopes` (person-token
 * grants carry no scopes), given by `personId` when named — an intermediary in a call chain holds grants of several
 * people.
 */
export async function findStandingGrant(db: Executor, q: { agentId: string; personId?: string; resource: string; kind: GrantKind; scopes?: readonly string[] }): Promise<Grant | undefined> {
  const rows =
    q.personId === undefined
      ? await selectLiveGrants(db, q.agentId, q.resource, q.kind)
      : await selectLiveGrantsOfPerson(db, q.agentId, q.personId, q.resource, q.kind);
  const wanted = q.scopes ?? [];
  return rows.find((g) => {
    const have = new Set(fromJson<string[]>(g.scopes, []));
    return wanted.every((s) => have.has(s));
  });
}

export function listGrants(db: Executor, personId: string, includeRevoked = false): Promise<Grant[]> {
  let q = db.selectFrom('grants').selectAll().where('person_id', '=', personId);
  if (!includeRevoked) q = q.where('revoked_at', 'is', null);
  return q.orderBy('created_at', 'desc').execute();
}

/** Revokes a grant of `personId`; false when there is no such live grant of theirs. */
export async function revokeGrant(db: Executor, personId: string, grantId: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('grants')
    .set({ revoked_at: Math.floor(now) })
    .where('id', '=', grantId)
    .where('person_id', '=', personId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
