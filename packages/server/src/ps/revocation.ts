/**
 * The PS revocation endpoint, `POST /revoke` `{iss, jti}` (AAuth -11 §Token Revocation; digest §5, §8.61). State is
 * keyed by `(iss, jti)` in `revocations`; tokens this PS issued are also marked in `issued_tokens`. A revoked agent
 * token is refused by every PS endpoint from then on (`agent-admission.ts`), a revoked resource token by the auth
 * token endpoint, and a revoked person or auth token by introspection.
 *
 * The caller is authenticated by its signature (covering `content-digest` and `content-type`):
 * - a server, `Signature-Key: sig=jwks_uri;id=…;dwk=…;kid=…` (SK-08 §JWKS URI): it revokes its own tokens only —
 *   `iss` (default: its `id`) must be its `id`. This is how an Agent Provider revokes agent tokens at the PS, and a
 *   resource its resource tokens. The revocation is recorded whether or not this PS has seen the token, until the
 *   `exp` the caller gives (default: the longest agent-token lifetime, 24 h).
 * - an agent, `sig=jwt` with its agent token: it may revoke a person or auth token this PS issued to it, or the
 *   agent token it signs with (then every token this PS issued to that agent is revoked too, §Revocation Cascade).
 *
 * Answers: 200 with an empty body once recorded (idempotent); 404 when the caller may not revoke that token or this
 * PS knows no such token of the caller's (no disclosure of other parties' tokens). Downstream revocations (telling
 * resources of revoked person and auth tokens) are not made yet.
 */
import {
  AAuthError,
  toErrorResponse,
  verifyAAuthRequest,
  verifyServerRequest,
  type AgentTokenClaims,
  type ErrorResponseOptions,
} from '@tessera/protocol';
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { errorResponse, requestMessage } from '../http/signed-request.js';
import type { Executor } from '../store/store.js';
import { PS_ACCEPT_SIGNATURE_ALGS, PS_PATHS } from './metadata.js';
import { refuseRevokedAgentToken } from './agent-admission.js';
import { RELAYED_AUTH_TOKEN } from './federation.js';
import { parseJsonBody, optionalString } from './token-request.js';

/** How long a revocation of a token this PS never saw is kept without an `exp` from the caller: the agent-token cap. */
export const DEFAULT_REVOCATION_RETENTION = 24 * 3600;

/** Who signed a revocation or introspection request. */
export type Caller =
  | { readonly kind: 'server'; readonly id: string; readonly body: Uint8Array | undefined }
  | { readonly kind: 'agent'; readonly claims: AgentTokenClaims; readonly jkt: string; readonly body: Uint8Array | undefined };

// Every failure while verifying the signature is a 401 + Signature-Error (AAuth §Verification), `invalid_request` included.
const SCHEMES: ErrorResponseOptions = { acceptSchemes: ['jwks_uri', 'jwt'], acceptAlgorithms: PS_ACCEPT_SIGNATURE_ALGS, duringVerification: true };

function signatureFailure(error: AAuthError): Response {
  const { status, headers, body } = toErrorResponse(error, SCHEMES);
  return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': 'no-store' } });
}

/**
 * Verifies the request as a server's (`jwks_uri`), or — when `agents` — as an agent's (`jwt` with an agent token).
 * Returns the caller, or the 401 (+ `Signature-Error`) to send.
 */
export async function authenticateCaller(ctx: ServerContext, c: Context, options: { agents: boolean }): Promise<Caller | Response> {
  const read = await requestMessage(c, ctx.ps.issuer);
  if ('tooLarge' in read) return errorResponse(c, new AAuthError('invalid_request', { detail: 'body too large' }));
  const common = { now: ctx.now, requireContentDigest: true } as const;
  const server = await verifyServerRequest(read.message, { ...common, resolveKey: ctx.resolveKey });
  if (server.ok) return { kind: 'server', id: server.value.id, body: read.body };
  if (server.error.code !== 'unsupported_scheme' || !options.agents) return signatureFailure(server.error);
  const agent = await verifyAAuthRequest(read.message, { ...common, accept: ['aa-agent+jwt'], resolveKey: ctx.resolveKey, keyCache: ctx.keyCache });
  if (!agent.ok) return signatureFailure(agent.error);
  return { kind: 'agent', claims: agent.value.token.claims, jkt: agent.value.jkt, body: read.body };
}

export interface RevocationRecord {
  readonly iss: string;
  readonly jti: string;
  readonly exp: number;
  readonly actor: string;
  readonly reason: string;
}

/**
 * Records a revocation (idempotent) and marks the token in `issued_tokens` when this PS issued it; audited
 * `token.revoked`. Runs inside `db`'s transaction.
 */
export async function recordRevocation(ctx: ServerContext, db: Executor, r: RevocationRecord): Promise<void> {
  const now = Math.floor(ctx.now());
  const inserted = await db
    .insertInto('revocations')
    .values({ iss: r.iss, jti: r.jti, revoked_at: now, exp: r.exp })
    .onConflict((oc) => oc.columns(['iss', 'jti']).doNothing())
    .executeTakeFirst();
  await db.updateTable('issued_tokens').set({ revoked_at: now }).where('iss', '=', r.iss).where('jti', '=', r.jti).where('revoked_at', 'is', null).execute();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0) {
    await ctx.store.audit({ type: 'token.revoked', actor: r.actor, detail: { iss: r.iss, jti: r.jti, reason: r.reason } }, db);
  }
}

/**
 * Revokes every live person and auth token this PS issued to `agentId` (AAuth §Revocation Cascade: by agent identity),
 * and marks revoked the Access Server tokens it relayed to it, so that none of them stands under a chained request.
 */
export async function revokeTokensOfAgent(ctx: ServerContext, db: Executor, agentId: string, actor: string): Promise<number> {
  const now = Math.floor(ctx.now());
  const live = await db
    .selectFrom('issued_tokens')
    .select(['iss', 'jti', 'exp'])
    .where((eb) => eb.or([eb('iss', '=', ctx.ps.issuer), eb('kind', '=', RELAYED_AUTH_TOKEN)]))
    .where('agent_id', '=', agentId)
    .where('revoked_at', 'is', null)
    .where('exp', '>', now)
    .execute();
  for (const t of live) await recordRevocation(ctx, db, { iss: t.iss, jti: t.jti, exp: t.exp, actor, reason: 'agent_token_revoked' });
  return live.length;
}

function readExp(body: Record<string, unknown>, now: number): number {
  const exp = body['exp'];
  if (exp === undefined || exp === null) return now + DEFAULT_REVOCATION_RETENTION;
  if (typeof exp !== 'number' || !Number.isSafeInteger(exp) || exp < 0) throw new AAuthError('invalid_request', { detail: 'exp must be a NumericDate' });
  // The entry is kept no longer than the longest lifetime of a token it could name.
  return Math.min(exp, now + DEFAULT_REVOCATION_RETENTION);
}

export function revocationRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post(PS_PATHS.revocation, async (c) => {
    const caller = await authenticateCaller(ctx, c, { agents: true });
    if (caller instanceof Response) return caller;
    const body = parseJsonBody(caller.body, c.req.header('content-type'));
    const jti = optionalString(body, 'jti', 1024);
    if (jti === undefined) throw new AAuthError('invalid_request', { detail: 'jti is required' });
    const now = Math.floor(ctx.now());
    const nothing = (): Response => new Response(null, { status: 200, headers: { 'cache-control': 'no-store' } });
    const missing = (): Response =>
      new Response(JSON.stringify({ error: 'not_found', detail: 'this Person Server knows no such token of yours' }), {
        status: 404,
        headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
      });

    if (caller.kind === 'server') {
      const iss = optionalString(body, 'iss', 2048) ?? caller.id;
      // A caller revokes only its own tokens: the issuer is the identity its signature proved.
      if (iss !== caller.id) return missing();
      const own = await ctx.store.db.selectFrom('issued_tokens').select('exp').where('iss', '=', iss).where('jti', '=', jti).executeTakeFirst();
      const exp = own?.exp ?? readExp(body, now);
      await ctx.store.transaction((trx) => recordRevocation(ctx, trx, { iss, jti, exp, actor: caller.id, reason: 'issuer' }));
      return nothing();
    }

    // An agent: its own agent token, or a token this PS issued to it.
    await refuseRevokedAgentToken(ctx.store.db, caller.claims);
    const iss = optionalString(body, 'iss', 2048);
    if (iss === undefined) throw new AAuthError('invalid_request', { detail: 'iss is required' });
    const actor = `agent:${caller.claims.sub}`;
    if (iss === caller.claims.iss && jti === caller.claims.jti) {
      await ctx.store.transaction(async (trx) => {
        await recordRevocation(ctx, trx, { iss, jti, exp: caller.claims.exp, actor, reason: 'self' });
        await revokeTokensOfAgent(ctx, trx, caller.claims.sub, actor);
      });
      return nothing();
    }
    if (iss !== ctx.ps.issuer) return missing();
    const issued = await ctx.store.db.selectFrom('issued_tokens').select(['agent_id', 'exp']).where('iss', '=', iss).where('jti', '=', jti).executeTakeFirst();
    if (!issued || issued.agent_id !== caller.claims.sub) return missing();
    await ctx.store.transaction((trx) => recordRevocation(ctx, trx, { iss, jti, exp: issued.exp, actor, reason: 'holder' }));
    return nothing();
  });
  return app;
}
