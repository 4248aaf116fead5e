/**
 * The trust policy: which Agent Providers and resources this Person Server deals with. Stored in settings key
 * `trust_policy` as `{"mode":"open"|"allowlist","agent_providers":[...],"resources":[...]}`.
 *
 * - `open` (the default): unknown agents and resources are accepted, and the person's consent decides.
 * - `allowlist`: only the listed Agent Provider issuers and resource identifiers; others are refused with
 *   `invalid_agent_token` / `invalid_resource_token` (AAuth -11 §Token Endpoint Error Codes).
 *
 * Identifiers compare by exact string equality (AAuth -11 §Server Identifiers).
 */
import type { ServerContext } from '../context.js';
import { fromJson, toJson, type Executor } from '../store/store.js';
import { prepared } from '../store/prepared.js';

export const TRUST_POLICY_SETTING = 'trust_policy';

export interface TrustPolicy {
  readonly mode: 'open' | 'allowlist';
  readonly agent_providers: readonly string[];
  readonly resources: readonly string[];
}

export const DEFAULT_TRUST_POLICY: TrustPolicy = Object.freeze({ mode: 'open', agent_providers: Object.freeze([]), resources: Object.freeze([]) });

/** A policy that lets nothing through: what a stored value that does not parse means (fail closed). */
const CLOSED: TrustPolicy = Object.freeze({ mode: 'allowlist', agent_providers: Object.freeze([]), resources: Object.freeze([]) });

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** A settings row by key (compiled once: see store/prepared.ts). */
const selectSetting = prepared(1, (db, key: string) => db.selectFrom('settings').select('value').where('key', '=', key), { cached: true });

/** Reads the trust policy; `open` when none is set, nothing trusted when the stored value is malformed. */
export async function readTrustPolicy(db: Executor): Promise<TrustPolicy> {
  const row = (await selectSetting(db, TRUST_POLICY_SETTING))[0];
  if (row === undefined) return DEFAULT_TRUST_POLICY;
  const value = fromJson<unknown>(row.value, undefined);
  if (typeof value !== 'object' || value === null) return CLOSED;
  const { mode, agent_providers, resources } = value as Record<string, unknown>;
  if ((mode !== 'open' && mode !== 'allowlist') || !isStringArray(agent_providers) || !isStringArray(resources)) return CLOSED;
  return { mode, agent_providers, resources };
}

/** Replaces the trust policy and audits the change (`admin.trust_policy.updated`) in the same transaction. */
export async function writeTrustPolicy(ctx: Pick<ServerContext, 'store' | 'now'>, policy: TrustPolicy, actor: string): Promise<TrustPolicy> {
  const stored: TrustPolicy = {
    mode: policy.mode,
    agent_providers: [...new Set(policy.agent_providers)].sort(),
    resources: [...new Set(policy.resources)].sort(),
  };
  const now = Math.floor(ctx.now());
  await ctx.store.transaction(async (trx) => {
    const before = await readTrustPolicy(trx);
    await trx
      .insertInto('settings')
      .values({ key: TRUST_POLICY_SETTING, value: toJson(stored), updated_at: now })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: toJson(stored), updated_at: now }))
      .execute();
    await ctx.store.audit({ type: 'admin.trust_policy.updated', actor, detail: { before, after: stored } }, trx);
  });
  return stored;
}

/** Whether agent tokens from this Agent Provider (`iss`) are accepted. */
export function isAgentProviderTrusted(policy: TrustPolicy, agentProvider: string): boolean {
  return policy.mode === 'open' || policy.agent_providers.includes(agentProvider);
}

/** Whether this resource (its server identifier) is dealt with. */
export function isResourceTrusted(policy: TrustPolicy, resource: string): boolean {
  return policy.mode === 'open' || policy.resources.includes(resource);
}
