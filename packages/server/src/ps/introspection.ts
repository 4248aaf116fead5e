/**
 * Token introspection, `POST /introspect` `{token}` — a Tessera extension, modelled on RFC 7662, for resources
 * that prefer asking the PS over verifying person and auth tokens themselves (and want revocation reflected at
 * once). Advertised as `introspection_endpoint` in the PS metadata.
 *
 * The caller signs as a server (`Signature-Key: sig=jwks_uri;id=…;dwk=…;kid=…`, covering `content-digest` and
 * `content-type`). A token is reported active only to the party its `aud` names, and only when this PS issued it,
 * it verifies under this PS's keys, has not expired, and is not revoked:
 * `{active: true, iss, sub, aud, scope?, exp, jti, kind}`. Anything else is `{active: false}` (RFC 7662 §2.2: no
 * reason is given).
 */
import { AAuthError, audienceIncludes, verifyToken } from '@tessera/protocol';
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';
import { isRevoked } from './agent-admission.js';
import { PS_PATHS } from './metadata.js';
import { ownKeyResolver } from './own-key-resolver.js';
import { authenticateCaller } from './revocation.js';
import { parseJsonBody } from './token-request.js';

export type IntrospectionResult =
  | { readonly active: false }
  | {
      readonly active: true;
      readonly iss: string;
      readonly sub: string;
      readonly aud: string | readonly string[];
      readonly scope?: string;
      readonly exp: number;
      readonly jti: string;
      readonly kind: 'person_token' | 'auth_token';
    };

const INACTIVE: IntrospectionResult = Object.freeze({ active: false });

/** Introspects `token` for `callerId` (the verified identity of the asking server). Never throws on bad input. */
export async function introspect(ctx: ServerContext, token: string, callerId: string): Promise<IntrospectionResult> {
  let verified;
  try {
    verified = await verifyToken(token, { accept: ['aa-person+jwt', 'aa-auth+jwt'], resolveKey: ownKeyResolver(ctx), now: ctx.now, issuer: ctx.ps.issuer });
  } catch {
    return INACTIVE;
  }
  const claims = verified.claims;
  if (!audienceIncludes(claims.aud, callerId)) return INACTIVE;
  const row = await ctx.store.db.selectFrom('issued_tokens').select(['revoked_at']).where('iss', '=', claims.iss).where('jti', '=', claims.jti).executeTakeFirst();
  if (!row || row.revoked_at !== null || (await isRevoked(ctx.store.db, claims.iss, claims.jti))) return INACTIVE;
  const scope = verified.kind === 'aa-auth+jwt' ? verified.claims.scope : undefined;
  return {
    active: true,
    iss: claims.iss,
    sub: claims.sub,
    aud: claims.aud,
    ...(scope === undefined ? {} : { scope }),
    exp: claims.exp,
    jti: claims.jti,
    kind: verified.kind === 'aa-auth+jwt' ? 'auth_token' : 'person_token',
  };
}

export function introspectionRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post(PS_PATHS.introspection, async (c) => {
    const caller = await authenticateCaller(ctx, c, { agents: false });
    if (caller instanceof Response) return caller;
    if (caller.kind !== 'server') throw new AAuthError('invalid_request', { detail: 'introspection is for servers' });
    const body = parseJsonBody(caller.body, c.req.header('content-type'));
    const token = body['token'];
    if (typeof token !== 'string' || token.length === 0) throw new AAuthError('invalid_request', { detail: 'token is required' });
    return c.json(await introspect(ctx, token, caller.id), 200, { 'cache-control': 'no-store' });
  });
  return app;
}
