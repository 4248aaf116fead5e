/**
 * Agent key refresh, `POST /refresh` (AAuth Bootstrap §Two-Key Refresh; digest §3 "jkt-jwt: used only for AP key
 * refresh"). `Signature-Key: sig=jkt-jwt;jwt="<jkt-s256+jwt>"`: the `jkt-s256+jwt` is signed by the enrolled (old) key,
 * named in its header `jwk` with `iss` = `urn:jkt:sha-256:<old thumbprint>`, and its `cnf.jwk` is the new key, which
 * signs the HTTP request (HTTP Signature Keys -08 §jkt-jwt).
 *
 * The old key must be actively enrolled. The agent keeps its identifier: the old enrolment ends (revoked), the new key
 * is enrolled in its place, every live agent token bound to the old key is revoked ("Rotating the agent key
 * invalidates every token bound to it", digest §7) and the Person Server told, and a fresh agent token is issued.
 */
import {
  AAuthError,
  checkSignatureSteps,
  finishSignatureSteps,
  headerValue,
  selectSignatureKey,
  verifyToken,
  type HttpRequestMessage,
  type KeyResolver,
  type VerifyKey,
} from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { errorResponse } from '../http/signed-request.js';
import { apRequestMessage, keyRequestErrorResponse, tokenResponse } from './ap-http.js';
import { issueAgentToken } from './agent-tokens.js';
import { revokeAgentTokens, type PersonServerNotifier } from './revocation.js';

export interface KeyRefreshOptions {
  /** Agent-token lifetime, seconds. */
  readonly ttl: number;
}

/** A jkt-s256+jwt carries its own key; nothing is resolved. */
const noIssuerKeys: KeyResolver = () => Promise.reject(new AAuthError('invalid_jwt', { detail: 'no issuer key resolution for this token' }));

interface VerifiedRefresh {
  /** The enrolled key that delegated (the jkt-jwt's header `jwk`). */
  readonly oldKey: VerifyKey;
  /** The delegated key that signed the request (`cnf.jwk`). */
  readonly newKey: VerifyKey;
}

/**
 * Verifies the refresh request in the AAuth profile order — headers, components (with content-digest and
 * content-type on a body), `created`; scheme `jkt-jwt`; the jkt-s256+jwt (typ first, iss = thumbprint of its header
 * key, times, its signature); then the request signature with the new key. Every failure is a 401 + Signature-Error.
 */
async function verifyRefreshRequest(ctx: ServerContext, message: HttpRequestMessage): Promise<VerifiedRefresh> {
  const options = { now: ctx.now, requireContentDigest: true };
  const stage = { name: 'signature headers' };
  const checked = checkSignatureSteps(message, options, stage);
  const member = selectSignatureKey(headerValue(checked.lines, 'signature-key'), checked.parsed.label, { accept: ['jkt-jwt'] });
  if (member.scheme !== 'jkt-jwt') throw new AAuthError('unsupported_scheme', { detail: 'this endpoint takes jkt-jwt' });
  const token = await verifyToken(member.jwt, { accept: ['jkt-s256+jwt'], resolveKey: noIssuerKeys, now: ctx.now, keyCache: ctx.keyCache });
  await finishSignatureSteps(message, checked, token.cnfKey, options, stage);
  return { oldKey: token.issuerKey, newKey: token.cnfKey };
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });

export function keyRefreshEndpoint(ctx: ServerContext, notify: PersonServerNotifier, options: KeyRefreshOptions): Hono {
  const app = new Hono();
  app.post('/', async (c) => {
    const read = await apRequestMessage(c, ctx.ap.issuer);
    if (read instanceof Response) return read;
    let keys: VerifiedRefresh;
    try {
      keys = await verifyRefreshRequest(ctx, read.message);
    } catch (error) {
      if (error instanceof AAuthError) return keyRequestErrorResponse(error, 'jkt-jwt');
      return keyRequestErrorResponse(new AAuthError('invalid_request', { detail: 'malformed request', cause: error }), 'jkt-jwt');
    }
    const oldJkt = keys.oldKey.thumbprint;
    const newJkt = keys.newKey.thumbprint;
    try {
      const { issued, revoked } = await ctx.store.transaction(async (trx) => {
        if (oldJkt === newJkt) throw invalid('the new key must differ from the enrolled key');
        const old = await trx.selectFrom('ap_agents').selectAll().where('jkt', '=', oldJkt).where('status', '=', 'active').executeTakeFirst();
        if (!old) throw invalid('the delegating key is not an actively enrolled key');
        const reused = await trx.selectFrom('ap_agents').select('agent_id').where('jkt', '=', newJkt).executeTakeFirst();
        if (reused) throw invalid('the new key is already known to this agent provider');
        const ids = old.parent_agent === null ? [old.agent_id] : [old.agent_id, old.parent_agent];
        if (old.parent_agent !== null) {
          const parent = await trx.selectFrom('ap_agents').select('jkt').where('agent_id', '=', old.parent_agent).where('status', '=', 'active').executeTakeFirst();
          if (!parent) throw invalid('the parent agent is no longer enrolled');
        }
        const disabled = await trx.selectFrom('agents').select('id').where('id', 'in', ids).where('status', '=', 'disabled').executeTakeFirst();
        if (disabled) throw invalid('the agent is disabled');

        const now = Math.floor(ctx.now());
        const actor = `agent:${old.agent_id}`;
        await trx.updateTable('ap_agents').set({ status: 'revoked', updated_at: now }).where('agent_id', '=', old.agent_id).where('jkt', '=', oldJkt).execute();
        await trx
          .insertInto('ap_agents')
          .values({
            agent_id: old.agent_id,
            jkt: newJkt,
            public_jwk: JSON.stringify(keys.newKey.jwk),
            person_id: old.person_id,
            ps: old.ps,
            parent_agent: old.parent_agent,
            status: 'active',
            created_at: now,
            updated_at: now,
          })
          .execute();
        const revokedTokens = await revokeAgentTokens(ctx, trx, { kind: 'agent_tokens', agentId: old.agent_id }, actor);
        const result = await issueAgentToken(ctx, trx, {
          agentId: old.agent_id,
          jwk: keys.newKey.jwk,
          personId: old.person_id,
          ps: old.ps,
          parentAgent: old.parent_agent,
          ttl: options.ttl,
        });
        await ctx.store.audit(
          {
            type: 'agent.key_refreshed',
            actor,
            agent: old.agent_id,
            person: old.person_id,
            detail: { old_jkt: oldJkt, new_jkt: newJkt, jti: result.jti, revoked: revokedTokens.length },
          },
          trx,
        );
        return { issued: result, revoked: revokedTokens };
      });
      await notify(revoked);
      return tokenResponse({ agent_id: issued.agent_id, agent_token: issued.agent_token, expires_in: issued.expires_in });
    } catch (error) {
      if (!(error instanceof AAuthError)) throw error;
      await ctx.store.audit({ type: 'agent.key_refresh_denied', actor: 'ap', detail: { old_jkt: oldJkt, new_jkt: newJkt, reason: error.detail ?? error.code } });
      return errorResponse(c, error);
    }
  });
  return app;
}
