/**
 * The agent registry: agents this Person Server knows, keyed by agent identifier (`aauth:local@domain`, AAuth -11
 * §Agent Identifiers). An agent seen for the first time is registered automatically (name = its identifier,
 * `agent_provider` = the agent token's `iss`, no person); administrators describe, restrict, disable and remove
 * agents. Each agent is bound to exactly one person by its first approval (AAuth -11 §Security Considerations:
 * the PS binds each agent to exactly one person). Admission of a calling agent (trust policy, registration on first
 * sight, binding) is `ps/agent-admission.ts`.
 *
 * Every write runs in one transaction with its audit event.
 */
import type { JwkSet } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Agent, AgentsTable } from '../store/schema.js';
import { fromJson, toJson, type Executor } from '../store/store.js';
import type { AgentCreateInput, AgentUpdateInput, RegistryResult } from './validation.js';

type RegistryContext = Pick<ServerContext, 'store' | 'now'>;

/** An agent as the admin and approver APIs show it (JSON decoded, flags as booleans). */
export interface AgentView {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly agent_provider: string;
  readonly jwks_uri: string | null;
  readonly jwks: JwkSet | null;
  readonly allowed_scopes: readonly string[];
  readonly requires_authorization: boolean;
  readonly delegation_allowed: boolean;
  readonly status: 'active' | 'disabled';
  readonly person_id: string | null;
  readonly created_at: number;
  readonly updated_at: number;
}

export function agentView(row: Agent): AgentView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    agent_provider: row.agent_provider,
    jwks_uri: row.jwks_uri,
    jwks: fromJson<JwkSet | null>(row.jwks, null),
    allowed_scopes: fromJson<string[]>(row.allowed_scopes, []),
    requires_authorization: Number(row.requires_authorization) === 1,
    delegation_allowed: Number(row.delegation_allowed) === 1,
    status: row.status,
    person_id: row.person_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export interface AgentFilter {
  readonly status?: 'active' | 'disabled';
  readonly personId?: string;
  readonly agentProvider?: string;
}

export function listAgents(db: Executor, filter: AgentFilter = {}): Promise<Agent[]> {
  let q = db.selectFrom('agents').selectAll();
  if (filter.status !== undefined) q = q.where('status', '=', filter.status);
  if (filter.personId !== undefined) q = q.where('person_id', '=', filter.personId);
  if (filter.agentProvider !== undefined) q = q.where('agent_provider', '=', filter.agentProvider);
  return q.orderBy('id').execute();
}

export function getAgent(db: Executor, id: string): Promise<Agent | undefined> {
  return db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
}

/** What an audit event says about an agent's settings: keys by `kid` only, never the whole JWK Set. */
function auditFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || key === 'identifier') continue;
    out[key] = key === 'jwks' && value !== null ? { kids: (value as JwkSet).keys.map((k) => k.kid) } : value;
  }
  return out;
}

const flag = (value: boolean): 0 | 1 => (value ? 1 : 0);

/** Registers an agent (`admin.agent.created`); `conflict` when the identifier is taken. */
export async function createAgent(ctx: RegistryContext, input: AgentCreateInput, actor: string): Promise<RegistryResult<Agent>> {
  const now = Math.floor(ctx.now());
  const row: Agent = {
    id: input.identifier,
    name: input.name ?? input.identifier,
    description: input.description ?? '',
    agent_provider: input.agent_provider,
    jwks_uri: input.jwks_uri ?? null,
    jwks: input.jwks == null ? null : toJson(input.jwks),
    allowed_scopes: toJson(input.allowed_scopes ?? []),
    requires_authorization: flag(input.requires_authorization ?? false),
    delegation_allowed: flag(input.delegation_allowed ?? false),
    status: 'active',
    person_id: null,
    created_at: now,
    updated_at: now,
  };
  try {
    return await ctx.store.transaction(async (trx): Promise<RegistryResult<Agent>> => {
      if ((await getAgent(trx, row.id)) !== undefined) return { ok: false, reason: 'conflict', detail: `agent ${row.id} already exists` };
      await trx.insertInto('agents').values(row).execute();
      await ctx.store.audit({ type: 'admin.agent.created', actor, agent: row.id, detail: auditFields(input) }, trx);
      return { ok: true, value: row };
    });
  } catch (error) {
    if (isUniqueViolation(error)) return { ok: false, reason: 'conflict', detail: `agent ${row.id} already exists` };
    throw error;
  }
}

/** Changes an agent's settings (`admin.agent.updated`); a JWK Set and a `jwks_uri` exclude each other. */
export async function updateAgent(ctx: RegistryContext, id: string, patch: AgentUpdateInput, actor: string): Promise<RegistryResult<Agent>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<Agent>> => {
    const current = await getAgent(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no agent ${id}` };
    const set: Partial<AgentsTable> = { updated_at: Math.floor(ctx.now()) };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.agent_provider !== undefined) set.agent_provider = patch.agent_provider;
    if (patch.jwks !== undefined) set.jwks = patch.jwks === null ? null : toJson(patch.jwks);
    if (patch.jwks_uri !== undefined) set.jwks_uri = patch.jwks_uri;
    if (patch.allowed_scopes !== undefined) set.allowed_scopes = toJson(patch.allowed_scopes);
    if (patch.requires_authorization !== undefined) set.requires_authorization = flag(patch.requires_authorization);
    if (patch.delegation_allowed !== undefined) set.delegation_allowed = flag(patch.delegation_allowed);
    const jwks = set.jwks !== undefined ? set.jwks : current.jwks;
    const jwksUri = set.jwks_uri !== undefined ? set.jwks_uri : current.jwks_uri;
    if (jwks !== null && jwksUri !== null) return { ok: false, reason: 'invalid', detail: 'jwks_uri: give jwks or jwks_uri, not both (set the other to null)' };
    await trx.updateTable('agents').set(set).where('id', '=', id).execute();
    await ctx.store.audit({ type: 'admin.agent.updated', actor, agent: id, detail: auditFields(patch) }, trx);
    return { ok: true, value: { ...current, ...set } };
  });
}

/** Disables or re-enables an agent (`admin.agent.disabled` / `admin.agent.enabled`). A disabled agent is refused like an untrusted one. */
export async function setAgentStatus(ctx: RegistryContext, id: string, status: Agent['status'], actor: string): Promise<RegistryResult<Agent>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<Agent>> => {
    const current = await getAgent(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no agent ${id}` };
    const updated_at = Math.floor(ctx.now());
    await trx.updateTable('agents').set({ status, updated_at }).where('id', '=', id).execute();
    await ctx.store.audit({ type: status === 'disabled' ? 'admin.agent.disabled' : 'admin.agent.enabled', actor, agent: id, detail: { before: current.status } }, trx);
    return { ok: true, value: { ...current, status, updated_at } };
  });
}

/**
 * Removes an agent (`admin.agent.deleted`) and revokes its live standing grants in the same transaction: an agent
 * that shows up again is registered afresh, unbound, and needs the person's approval again.
 */
export async function deleteAgent(ctx: RegistryContext, id: string, actor: string): Promise<RegistryResult<{ readonly revokedGrants: number }>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<{ readonly revokedGrants: number }>> => {
    const current = await getAgent(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no agent ${id}` };
    const now = Math.floor(ctx.now());
    const revoked = await trx.updateTable('grants').set({ revoked_at: now }).where('agent_id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    await trx.deleteFrom('agents').where('id', '=', id).execute();
    const revokedGrants = Number(revoked.numUpdatedRows);
    await ctx.store.audit({ type: 'admin.agent.deleted', actor, agent: id, person: current.person_id, detail: { name: current.name, agent_provider: current.agent_provider, revoked_grants: revokedGrants } }, trx);
    return { ok: true, value: { revokedGrants } };
  });
}

/** A primary-key or unique violation on SQLite (`SQLITE_CONSTRAINT_*`) or PostgreSQL (`23505`). */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
