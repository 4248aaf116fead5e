/**
 * The resource registry: resources this Person Server issues tokens for, keyed by server identifier (AAuth -11
 * §Server Identifiers). Administrators give a resource a name, a logo and descriptions of its scopes, which the
 * consent page shows; they disable or remove resources. Every write runs in one transaction with its audit event.
 */
import type { ServerContext } from '../context.js';
import type { Resource, ResourcesTable } from '../store/schema.js';
import { fromJson, toJson, type Executor } from '../store/store.js';
import { isUniqueViolation } from './agents.js';
import type { AccessMode, RegistryResult, ResourceCreateInput, ResourceUpdateInput } from './validation.js';

type RegistryContext = Pick<ServerContext, 'store' | 'now'>;

export interface ScopeDescription {
  readonly scope: string;
  readonly description: string;
}

/** A resource as the admin API shows it (JSON decoded). */
export interface ResourceView {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly logo_uri: string | null;
  readonly metadata_uri: string | null;
  readonly jwks_uri: string | null;
  readonly scopes: readonly ScopeDescription[];
  readonly default_requirement: string;
  readonly status: 'active' | 'disabled';
  readonly created_at: number;
  readonly updated_at: number;
}

export function resourceView(row: Resource): ResourceView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    logo_uri: row.logo_uri,
    metadata_uri: row.metadata_uri,
    jwks_uri: row.jwks_uri,
    scopes: fromJson<ScopeDescription[]>(row.scopes, []),
    default_requirement: row.default_requirement,
    status: row.status,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export function listResources(db: Executor, filter: { readonly status?: 'active' | 'disabled' } = {}): Promise<Resource[]> {
  let q = db.selectFrom('resources').selectAll();
  if (filter.status !== undefined) q = q.where('status', '=', filter.status);
  return q.orderBy('id').execute();
}

export function getResource(db: Executor, id: string): Promise<Resource | undefined> {
  return db.selectFrom('resources').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The description of each scope the registry knows for `resource` (unknown scopes are left out). */
export async function describeScopes(db: Executor, resource: string, scopes: readonly string[]): Promise<ScopeDescription[]> {
  const row = await getResource(db, resource);
  const known = new Map((row === undefined ? [] : resourceView(row).scopes).map((s) => [s.scope, s.description]));
  return scopes.map((scope) => ({ scope, description: known.get(scope) ?? '' }));
}

function auditFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || key === 'identifier' || key === 'description') continue;
    out[key] = key === 'scopes' ? (value as ScopeDescription[]).map((s) => s.scope) : value;
  }
  return out;
}

/** Registers a resource (`admin.resource.created`); `conflict` when the identifier is taken. */
export async function createResource(ctx: RegistryContext, input: ResourceCreateInput, actor: string): Promise<RegistryResult<Resource>> {
  const now = Math.floor(ctx.now());
  const row: Resource = {
    id: input.identifier,
    name: input.name ?? input.identifier,
    description: input.description ?? '',
    logo_uri: input.logo_uri ?? null,
    metadata_uri: input.metadata_uri ?? null,
    jwks_uri: input.jwks_uri ?? null,
    scopes: toJson(input.scopes ?? []),
    default_requirement: input.default_requirement ?? ('auth-token' satisfies AccessMode),
    status: 'active',
    created_at: now,
    updated_at: now,
  };
  try {
    return await ctx.store.transaction(async (trx): Promise<RegistryResult<Resource>> => {
      if ((await getResource(trx, row.id)) !== undefined) return { ok: false, reason: 'conflict', detail: `resource ${row.id} already exists` };
      await trx.insertInto('resources').values(row).execute();
      await ctx.store.audit({ type: 'admin.resource.created', actor, resource: row.id, detail: auditFields(input) }, trx);
      return { ok: true, value: row };
    });
  } catch (error) {
    if (isUniqueViolation(error)) return { ok: false, reason: 'conflict', detail: `resource ${row.id} already exists` };
    throw error;
  }
}

/** Changes a resource's settings (`admin.resource.updated`); `metadata_uri` and `jwks_uri` exclude each other. */
export async function updateResource(ctx: RegistryContext, id: string, patch: ResourceUpdateInput, actor: string): Promise<RegistryResult<Resource>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<Resource>> => {
    const current = await getResource(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no resource ${id}` };
    const set: Partial<ResourcesTable> = { updated_at: Math.floor(ctx.now()) };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.logo_uri !== undefined) set.logo_uri = patch.logo_uri;
    if (patch.metadata_uri !== undefined) set.metadata_uri = patch.metadata_uri;
    if (patch.jwks_uri !== undefined) set.jwks_uri = patch.jwks_uri;
    if (patch.scopes !== undefined) set.scopes = toJson(patch.scopes);
    if (patch.default_requirement !== undefined) set.default_requirement = patch.default_requirement;
    const metadataUri = set.metadata_uri !== undefined ? set.metadata_uri : current.metadata_uri;
    const jwksUri = set.jwks_uri !== undefined ? set.jwks_uri : current.jwks_uri;
    if (metadataUri !== null && jwksUri !== null) return { ok: false, reason: 'invalid', detail: 'jwks_uri: give metadata_uri or jwks_uri, not both (set the other to null)' };
    await trx.updateTable('resources').set(set).where('id', '=', id).execute();
    await ctx.store.audit({ type: 'admin.resource.updated', actor, resource: id, detail: auditFields(patch) }, trx);
    return { ok: true, value: { ...current, ...set } };
  });
}

/** Disables or re-enables a resource (`admin.resource.disabled` / `admin.resource.enabled`). */
export async function setResourceStatus(ctx: RegistryContext, id: string, status: Resource['status'], actor: string): Promise<RegistryResult<Resource>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<Resource>> => {
    const current = await getResource(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no resource ${id}` };
    const updated_at = Math.floor(ctx.now());
    await trx.updateTable('resources').set({ status, updated_at }).where('id', '=', id).execute();
    await ctx.store.audit({ type: status === 'disabled' ? 'admin.resource.disabled' : 'admin.resource.enabled', actor, resource: id, detail: { before: current.status } }, trx);
    return { ok: true, value: { ...current, status, updated_at } };
  });
}

/** Removes a resource (`admin.resource.deleted`). Standing grants for it stay, for the person to see and revoke. */
export async function deleteResource(ctx: RegistryContext, id: string, actor: string): Promise<RegistryResult<Resource>> {
  return ctx.store.transaction(async (trx): Promise<RegistryResult<Resource>> => {
    const current = await getResource(trx, id);
    if (current === undefined) return { ok: false, reason: 'not_found', detail: `no resource ${id}` };
    await trx.deleteFrom('resources').where('id', '=', id).execute();
    await ctx.store.audit({ type: 'admin.resource.deleted', actor, resource: id, detail: { name: current.name } }, trx);
    return { ok: true, value: current };
  });
}
