/**
 * Resource token verification at the PS (AAuth -11 §Resource Token Verification; digest §4, §8.20, §8.30–§8.32):
 *
 * 1. the common JWT checks with `typ` `aa-resource+jwt` first; a bad `typ`, signature or claim set →
 *    `invalid_resource_token`, an expired one → `expired_resource_token` (§8.30);
 * 2. `aud` is this PS (three-party); otherwise it names the resource's Access Server (four-party, `accessServer`):
 *    the same checks apply, and the PS then federates (`federation.ts`; digest §6-E, §8.36);
 * 3. `agent_jkt` is the thumbprint of the request's signing key, or of the sub-agent's key when a parent mediates
 *    (§8.31, §8.34);
 * 4. `presented_jti` names a person token this PS issued and still retains (none → `unknown_person_token`, §8.20),
 *    whose `ps`, `sub`, `mission_s256` and `tenant` equal the resource token's exactly — a mismatch is evidence of
 *    tampering (mission stripping): rejected with `invalid_resource_token` and audited `alert.mission_stripping`
 *    (§8.32) — and which was issued to the same key.
 */
import {
  AAuthError,
  audienceIncludes,
  isServerIdentifier,
  tokenProblemCode,
  verifyToken,
  type ResourceTokenClaims,
} from '@tessera/protocol';
import type { Selectable } from 'kysely';
import type { ServerContext } from '../context.js';
import type { PersonTokenRecordsTable } from '../store/schema.js';
import { prepared } from '../store/prepared.js';
import { revokedOfTwo } from './agent-admission.js';

export type PersonTokenRecord = Selectable<PersonTokenRecordsTable>;

export interface CheckedResourceToken {
  readonly claims: ResourceTokenClaims;
  /** The record of the person token the resource token names in `presented_jti`. */
  readonly record: PersonTokenRecord;
  /** The requested scopes, in order, without duplicates. */
  readonly scopes: readonly string[];
  /** Four-party: the Access Server the resource token is for (its `aud`), when that is not this PS. */
  readonly accessServer?: string;
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_resource_token', { detail });

/** The record of a presented person token still retained (compiled once: see store/prepared.ts). */
const selectPersonTokenRecord = prepared(2, (db, jti: string, now: number) => db.selectFrom('person_token_records').selectAll().where('jti', '=', jti).where('retain_until', '>', now));

/** Splits a space-separated scope string (RFC 6749 §3.3) into distinct values. */
export function scopeList(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s.length > 0))];
}

export async function checkResourceToken(ctx: ServerContext, jwt: unknown, expectedAgentJkt: string): Promise<CheckedResourceToken> {
  if (jwt === undefined || jwt === null) throw new AAuthError('invalid_request', { detail: 'resource_token is required' });
  if (typeof jwt !== 'string' || jwt.length === 0) throw new AAuthError('invalid_request', { detail: 'resource_token must be a string' });

  let claims: ResourceTokenClaims;
  try {
    const verified = await verifyToken(jwt, { accept: ['aa-resource+jwt'], resolveKey: ctx.resolveKey, now: ctx.now });
    claims = verified.claims;
  } catch (error) {
    const detail = error instanceof AAuthError && error.detail !== undefined ? `resource_token: ${error.detail}` : 'resource_token does not verify';
    throw new AAuthError(tokenProblemCode('aa-resource+jwt', error), { detail, cause: error });
  }

  // Step 1 of §Resource Token Verification: `aud` is the recipient. Another `aud` names the resource's AS
  // (§PS-AS Federation: the PS discovers `{aud}/.well-known/aauth-access.json`), which must be one server identifier.
  let accessServer: string | undefined;
  if (!audienceIncludes(claims.aud, ctx.ps.issuer)) {
    const audiences: readonly string[] = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
    const aud = audiences.length === 1 ? audiences[0] : undefined;
    if (typeof aud !== 'string' || !isServerIdentifier(aud, ctx.allowLoopbackHttp ? { allowLoopbackHttp: true } : {})) {
      throw invalid('the resource token is neither for this Person Server nor for one Access Server');
    }
    accessServer = aud;
  }
  // Step 2: bound to the key that signed this request (the sub-agent's key when a parent mediates).
  if (claims.agent_jkt !== expectedAgentJkt) throw invalid('agent_jkt does not match the key that signed this request');
  if (claims.r3_uri !== undefined) throw invalid('R3 resource tokens are not supported by this Person Server');
  if (claims.interaction !== undefined) throw invalid('resource-initiated interaction is not supported by this Person Server yet');
  // AAuth §Revocation Cascade: the recipient MUST NOT issue an auth token against a withdrawn resource token — nor
  // against a revoked person token. Both looked up at once: the person token is `(ps, presented_jti)`, which the record
  // below must match.
  const revoked = await revokedOfTwo(ctx.store.db, [claims.iss, claims.jti], [claims.ps, claims.presented_jti]);
  if (revoked.has(`${claims.iss}\n${claims.jti}`)) throw invalid('the resource token has been revoked by its resource');

  // Step 3: the presented person token, from this PS's records.
  const now = Math.floor(ctx.now());
  const record = (await selectPersonTokenRecord(ctx.store.db, claims.presented_jti, now))[0];
  if (!record) throw new AAuthError('unknown_person_token', { detail: 'presented_jti names no person token this Person Server issued' });

  const mismatched: string[] = [];
  if (claims.ps !== record.ps || claims.ps !== ctx.ps.issuer) mismatched.push('ps');
  if (claims.sub !== record.sub) mismatched.push('sub');
  if ((claims.mission_s256 ?? null) !== record.mission_s256) mismatched.push('mission_s256');
  if ((claims.tenant ?? null) !== record.tenant) mismatched.push('tenant');
  if (mismatched.length > 0) {
    await ctx.store.audit({
      type: 'alert.mission_stripping',
      actor: 'ps',
      agent: record.agent_id,
      person: record.person_id,
      resource: claims.iss,
      detail: { mismatched, presented_jti: claims.presented_jti, resource_token_jti: claims.jti },
    });
    ctx.log.warn({ event: 'alert.mission_stripping', mismatched, resource: claims.iss, agent: record.agent_id }, 'resource token does not match the person token it names');
    throw invalid(`the resource token does not match the person token it names (${mismatched.join(', ')})`);
  }
  if (record.resource !== claims.iss) throw invalid('the person token it names was issued for another resource');
  if (record.agent_jkt !== expectedAgentJkt) throw invalid('the person token it names was issued to another key');
  // `record.ps` = `claims.ps` (checked above) and `record.jti` = `presented_jti` (looked up by it).
  if (revoked.has(`${record.ps}\n${record.jti}`)) throw invalid('the person token it names has been revoked: obtain a fresh person token');
  if (record.exp <= now) throw invalid('the person token it names has expired: obtain a fresh person token, then a fresh resource token');

  const scopes = scopeList(claims.scope);
  return { claims, record, scopes, ...(accessServer === undefined ? {} : { accessServer }) };
}
