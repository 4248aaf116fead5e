/**
 * Revoking agent tokens at the Agent Provider (AAuth -11 §Token Revocation; digest §5 `revocation_endpoint`: "The AP
 * revokes agent tokens at the PS"; §8.61). State is keyed by `(iss, jti)`: the token's `issued_tokens` row is marked
 * and a `revocations` row added, so this AP refuses it from then on; then the agent's Person Server is told, with
 * `POST {ps}/revoke {iss, jti}` signed as this server (`Signature-Key: sig=jwks_uri;id=…;dwk="aauth-agent.json";kid=…`).
 *
 * `POST /revoke` takes `{jti}` or `{agent_id}` signed with an agent token of this AP: an agent may revoke its own
 * tokens and enrolment, and those of its sub-agents. Administrators revoke through `revokeAgentTokens` (admin API).
 */
import { AAuthError, DWK, signServerRequest, type FetchLike } from '@tessera/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { errorResponse, type SignedRequestVariables } from '../http/signed-request.js';
import type { Executor } from '../store/store.js';
import { readJsonBody } from './ap-http.js';
import { checkAgentStanding, signedAgentRequest } from './agent-tokens.js';

export type RevocationTarget =
  /** One agent token. */
  | { readonly kind: 'token'; readonly jti: string }
  /** An agent: its enrolments and those of its sub-agents end, and all their tokens are revoked. */
  | { readonly kind: 'agent'; readonly agentId: string }
  /** Every live token of one agent, its enrolment kept (key refresh: they are all bound to the replaced key). */
  | { readonly kind: 'agent_tokens'; readonly agentId: string };

export interface RevokedAgentToken {
  readonly jti: string;
  readonly agentId: string;
  readonly exp: number;
  /** The agent's Person Server, to be told. */
  readonly ps: string | null;
}

/**
 * Revokes in `trx` and audits (`token.revoked`, `agent.revoked`). Returns the tokens newly revoked, for
 * `notifyPersonServers` once the transaction has committed.
 */
export async function revokeAgentTokens(ctx: ServerContext, trx: Executor, target: RevocationTarget, actor: string): Promise<RevokedAgentToken[]> {
  const now = Math.floor(ctx.now());
  const iss = ctx.ap.issuer;
  let query = trx
    .selectFrom('issued_tokens')
    .select(['jti', 'agent_id', 'exp'])
    .where('iss', '=', iss)
    .where('kind', '=', 'aa-agent+jwt')
    .where('revoked_at', 'is', null);
  let agentIds: string[] = [];
  if (target.kind === 'token') {
    query = query.where('jti', '=', target.jti);
  } else {
    agentIds = [target.agentId];
    if (target.kind === 'agent') {
      const children = await trx.selectFrom('ap_agents').select('agent_id').distinct().where('parent_agent', '=', target.agentId).execute();
      agentIds.push(...children.map((r) => r.agent_id));
      await trx.updateTable('ap_agents').set({ status: 'revoked', updated_at: now }).where('agent_id', 'in', agentIds).where('status', '!=', 'revoked').execute();
      await ctx.store.audit({ type: 'agent.revoked', actor, agent: target.agentId, detail: { agents: agentIds } }, trx);
    }
    query = query.where('agent_id', 'in', agentIds).where('exp', '>', now);
  }
  const tokens = await query.execute();
  if (tokens.length === 0) return [];

  await trx
    .updateTable('issued_tokens')
    .set({ revoked_at: now })
    .where('iss', '=', iss)
    .where(
      'jti',
      'in',
      tokens.map((t) => t.jti),
    )
    .execute();
  await trx
    .insertInto('revocations')
    .values(tokens.map((t) => ({ iss, jti: t.jti, revoked_at: now, exp: t.exp })))
    .onConflict((oc) => oc.columns(['iss', 'jti']).doNothing())
    .execute();

  const owners = [...new Set(tokens.map((t) => t.agent_id).filter((a): a is string => a !== null))];
  const psRows = owners.length === 0 ? [] : await trx.selectFrom('ap_agents').select(['agent_id', 'ps']).where('agent_id', 'in', owners).execute();
  const psOf = new Map(psRows.filter((r) => r.ps !== null).map((r) => [r.agent_id, r.ps]));
  const revoked = tokens.map((t) => ({ jti: t.jti, agentId: t.agent_id ?? '', exp: t.exp, ps: (t.agent_id !== null ? psOf.get(t.agent_id) : undefined) ?? null }));
  for (const t of revoked) {
    await ctx.store.audit({ type: 'token.revoked', actor, agent: t.agentId, detail: { iss, jti: t.jti, reason: target.kind } }, trx);
  }
  return revoked;
}

/** Tells each revoked token's Person Server; never throws (each outcome is audited). */
export type PersonServerNotifier = (revoked: readonly RevokedAgentToken[]) => Promise<void>;

/**
 * The notifier: `POST {ps}/revoke` with `{iss, jti}` (AAuth -11 §Token Revocation), signed by this AP's current key
 * under `sig=jwks_uri` (SK-08 §JWKS URI: `id` = AP identifier, `dwk` = `aauth-agent.json`, `kid`), covering
 * `content-digest` and `content-type` (PS requests with a body, §8.1), through `fetch` (the egress-guarded one).
 * A PS on this same deployment is still reached over HTTP. A 200, or a 404 for a token the PS never saw, is delivered.
 */
export function createRevocationNotifier(ctx: ServerContext, fetch: FetchLike): PersonServerNotifier {
  const notifyOne = async (token: RevokedAgentToken & { ps: string }): Promise<void> => {
    const url = `${token.ps}/revoke`;
    const detail = { ps: token.ps, jti: token.jti };
    try {
      const signer = await ctx.keys.signer('ap');
      const body = new TextEncoder().encode(JSON.stringify({ iss: ctx.ap.issuer, jti: token.jti }));
      const request = { method: 'POST', url, headers: [['content-type', 'application/json']] as [string, string][], body };
      const signed = await signServerRequest(request, { signer, id: ctx.ap.issuer, dwk: DWK.agent, now: ctx.now });
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body });
      const delivered = response.status === 200 || response.status === 404;
      await ctx.store.audit({ type: delivered ? 'revocation.notified' : 'revocation.notify_failed', actor: 'ap', agent: token.agentId, detail: { ...detail, status: response.status } });
      if (!delivered) ctx.log.warn({ ...detail, status: response.status }, 'the Person Server did not accept the revocation');
    } catch (error) {
      const reason = error instanceof AAuthError ? error.code : 'error';
      ctx.log.warn({ ...detail, reason }, 'could not notify the Person Server of a revocation');
      await ctx.store.audit({ type: 'revocation.notify_failed', actor: 'ap', agent: token.agentId, detail: { ...detail, reason } }).catch(() => undefined);
    }
  };
  return async (revoked) => {
    await Promise.all(revoked.filter((t): t is RevokedAgentToken & { ps: string } => t.ps !== null).map(notifyOne));
  };
}

const RevocationBody = z
  .object({
    jti: z.string().min(1).max(256).optional(),
    agent_id: z.string().min(1).max(2048).optional(),
  })
  .refine((b) => (b.jti === undefined) !== (b.agent_id === undefined), { message: 'give exactly one of jti and agent_id' });

const notFound = (): Response =>
  new Response(JSON.stringify({ error: 'invalid_request', detail: 'no such token or agent' }), {
    status: 404,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
  });

/**
 * `POST /revoke` (mounted by the AP app). Only the agent itself (or its parent, for a sub-agent) may revoke; anything
 * else answers the same 404 as an unknown token, so the endpoint reveals nothing about other agents.
 */
export function revocationEndpoint(ctx: ServerContext, notify: PersonServerNotifier): Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }> {
  const app = new Hono<{ Variables: SignedRequestVariables<'aa-agent+jwt'> }>();
  app.post('/', signedAgentRequest(ctx), async (c) => {
    const { token, jkt } = c.var.aauth;
    try {
      const caller = await checkAgentStanding(ctx, ctx.store.db, token.claims, jkt);
      const body = readJsonBody(c.var.body, RevocationBody);
      const mayRevoke = async (agentId: string | null): Promise<boolean> => {
        if (agentId === null) return false;
        if (agentId === caller.agent_id) return true;
        if (caller.parent_agent !== null) return false;
        const child = await ctx.store.db.selectFrom('ap_agents').select('agent_id').where('agent_id', '=', agentId).where('parent_agent', '=', caller.agent_id).executeTakeFirst();
        return child !== undefined;
      };
      let target: RevocationTarget;
      if (body.jti !== undefined) {
        const issued = await ctx.store.db.selectFrom('issued_tokens').select(['agent_id']).where('iss', '=', ctx.ap.issuer).where('jti', '=', body.jti).where('kind', '=', 'aa-agent+jwt').executeTakeFirst();
        if (!issued || !(await mayRevoke(issued.agent_id))) return notFound();
        target = { kind: 'token', jti: body.jti };
      } else {
        const agentId = body.agent_id!;
        const known = await ctx.store.db.selectFrom('ap_agents').select('agent_id').where('agent_id', '=', agentId).executeTakeFirst();
        if (!known || !(await mayRevoke(agentId))) return notFound();
        target = { kind: 'agent', agentId };
      }
      const actor = `agent:${caller.agent_id}`;
      const revoked = await ctx.store.transaction((trx) => revokeAgentTokens(ctx, trx, target, actor));
      await notify(revoked);
      return c.json({ revoked: revoked.length }, 200, { 'cache-control': 'no-store' });
    } catch (error) {
      if (error instanceof AAuthError) return errorResponse(c, error);
      throw error;
    }
  });
  return app;
}
