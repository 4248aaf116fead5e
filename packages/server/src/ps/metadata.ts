/**
 * Person Server metadata, `/.well-known/aauth-person.json` (AAuth -11 §Person Server Metadata; digest §5), and its
 * JWKS. `issuer`, `jwks_uri`, `person_token_endpoint` and `auth_token_endpoint` are REQUIRED; the governance
 * endpoints (`mission_endpoint`, `permission_endpoint`, `audit_endpoint`) and the `interaction_endpoint` are OPTIONAL
 * and served; every key in the JWKS
 * carries a fully specified `alg` (AAuth §JWKS Discovery and Caching).
 *
 * `introspection_endpoint` is a Tessera extension (named after RFC 8414's member, with RFC 7662-like answers): a
 * resource that prefers asking over verifying locally posts a token there. Peers that do not know it ignore it.
 */
import { Hono } from 'hono';
import type { ServerContext } from '../context.js';

/** Paths of the PS endpoints under its identifier. */
export const PS_PATHS = {
  metadata: '/.well-known/aauth-person.json',
  jwks: '/jwks.json',
  personToken: '/person-token',
  authToken: '/token',
  revocation: '/revoke',
  introspection: '/introspect',
  mission: '/mission',
  permission: '/permission',
  audit: '/audit',
  /**
   * The agent-facing interaction endpoint (`interaction_endpoint`, AAuth -11 §Interaction Endpoint). Not
   * `/interaction`: that is the person-facing consent page (`GET /interaction?code=…`, ui/), whose page headers,
   * CSRF checks and rate-limit group must not apply to signed agent requests.
   */
  interaction: '/relay',
  pending: '/pending',
} as const;

/** The algorithms the PS's request verifier accepts, exactly (AAuth §Metadata Documents `accept_signature_algs`). */
export const PS_ACCEPT_SIGNATURE_ALGS = ['Ed25519', 'ES256'] as const;

/** Identity scopes this PS answers (AAuth §Scopes: `scopes_supported` lists identity scopes the PS declares). */
export const PS_SCOPES_SUPPORTED = ['openid', 'profile'] as const;
/** Claims the PS may put in auth tokens. */
export const PS_CLAIMS_SUPPORTED = ['sub', 'name', 'tenant'] as const;

/** Seconds the metadata and JWKS may be cached: short, so a key rotation propagates within the publish-ahead time. */
export const METADATA_MAX_AGE = 300;

export function personServerMetadata(ctx: ServerContext): Record<string, unknown> {
  const base = ctx.ps.issuer;
  const doc: Record<string, unknown> = {
    issuer: base,
    jwks_uri: base + PS_PATHS.jwks,
    person_token_endpoint: base + PS_PATHS.personToken,
    auth_token_endpoint: base + PS_PATHS.authToken,
    revocation_endpoint: base + PS_PATHS.revocation,
    mission_endpoint: base + PS_PATHS.mission,
    permission_endpoint: base + PS_PATHS.permission,
    audit_endpoint: base + PS_PATHS.audit,
    interaction_endpoint: base + PS_PATHS.interaction,
    introspection_endpoint: base + PS_PATHS.introspection,
    accept_signature_algs: [...PS_ACCEPT_SIGNATURE_ALGS],
    scopes_supported: [...PS_SCOPES_SUPPORTED],
    claims_supported: [...PS_CLAIMS_SUPPORTED],
    name: ctx.ps.name,
  };
  if (ctx.ps.description !== undefined) doc['description'] = ctx.ps.description;
  if (ctx.ps.logoUri !== undefined) doc['logo_uri'] = ctx.ps.logoUri;
  return doc;
}

const CACHEABLE = { 'cache-control': `public, max-age=${METADATA_MAX_AGE}` };

/** `GET /.well-known/aauth-person.json` and `GET /jwks.json`. */
export function metadataRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get(PS_PATHS.metadata, (c) => c.json(personServerMetadata(ctx), 200, CACHEABLE));
  app.get(PS_PATHS.jwks, async () => {
    const body = JSON.stringify(await ctx.keys.jwks('ps'));
    return new Response(body, { status: 200, headers: { ...CACHEABLE, 'content-type': 'application/jwk-set+json' } });
  });
  return app;
}
