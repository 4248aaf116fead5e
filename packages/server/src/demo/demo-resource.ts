/**
 * A small AAuth resource for `tessera dev`: a notes API that trusts one Person Server (three-party, AAuth -11
 * §Resource, digest §6 D). It walks an agent through every step of the flow:
 *
 * 1. unsigned request → `401 AAuth-Requirement: requirement=agent-token`;
 * 2. signed with an agent token → `401 requirement=person-token` (§8.23: a resource token needs a person token);
 * 3. signed with a person token (`aud` = this resource) → `401 requirement=auth-token; resource-token="…"` (§8.25),
 *    the resource token carrying `ps`/`sub`/`presented_jti` from the person token, `agent_jkt` = the signer's
 *    thumbprint, `scope`, `mission_s256`/`tenant` copied, ≤ 5 min (§8.24);
 * 4. signed with an auth token from the PS (`aud` = this resource, `scope` ⊇ `notes.read`) → 200 notes. A person
 *    token never stands in for an auth token (§8.22): the kinds are told apart by `typ`.
 *
 * `POST /authorize {scope}` (the `authorization_endpoint`) takes a person token and returns `{resource_token}`.
 */
import {
  AAuthError,
  buildAAuthRequirement,
  jwksDocument,
  mintResourceToken,
  toErrorResponse,
  verifyAAuthRequest,
  type KeyResolver,
  type RequestTokenTyp,
  type Signer,
  type VerifiedAAuthRequest,
  type VerifiedToken,
  type VerifyKeyCache,
} from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import { errorResponse, requestMessage } from '../http/signed-request.js';
import { payloadTooLarge } from '../http/security.js';

export const DEMO_SCOPES = {
  'notes.read': 'Read your notes',
  'notes.write': 'Add notes',
} as const;

export type DemoScope = keyof typeof DEMO_SCOPES;

export const DEMO_PATHS = {
  metadata: '/.well-known/aauth-resource.json',
  jwks: '/jwks.json',
  authorize: '/authorize',
  notes: '/notes',
} as const;

/** Resource tokens live 5 minutes (AAuth §Resource Token Structure: SHOULD NOT exceed 5 minutes; §8.24). */
export const DEMO_RESOURCE_TOKEN_TTL = 300;

export interface DemoNote {
  readonly id: number;
  readonly text: string;
}

export const DEMO_NOTES: readonly DemoNote[] = [
  { id: 1, text: 'Welcome to Tessera: this note came back because your agent presented an auth token.' },
  { id: 2, text: 'Every request was signed (RFC 9421) with the key your agent token names in cnf.jwk.' },
  { id: 3, text: 'The resource never learned who your agent is: only agent_jkt and your directed sub.' },
];

export interface DemoResourceOptions {
  /** This resource's identifier (`http://localhost:4102` in development). */
  readonly issuer: string;
  /** The one Person Server this resource trusts for person and auth tokens. */
  readonly ps: string;
  /** Signs resource tokens; its public key (with `kid`) is published at `/jwks.json`. */
  readonly signer: Signer;
  readonly resolveKey: KeyResolver;
  readonly keyCache?: VerifyKeyCache;
  /** Epoch seconds. */
  readonly now: () => number;
  readonly name?: string;
  readonly notes?: readonly DemoNote[];
}

const NO_STORE = { 'cache-control': 'no-store' };

/** A 401 carrying only `AAuth-Requirement` (never `WWW-Authenticate`, AAuth §Requirement Responses). */
function requirement(value: string): Response {
  return new Response(null, { status: 401, headers: { 'aauth-requirement': value, ...NO_STORE } });
}

function problem(status: number, error: AAuthError): Response {
  const { headers, body } = toErrorResponse(error);
  return new Response(JSON.stringify(body), { status, headers: { ...headers, ...NO_STORE } });
}

/** True when the request carries none of the signature headers: the agent has not started AAuth yet. */
function unsigned(c: Context): boolean {
  return c.req.header('signature') === undefined && c.req.header('signature-input') === undefined && c.req.header('signature-key') === undefined;
}

function scopesOf(scope: string | undefined): Set<string> {
  return new Set((scope ?? '').split(' ').filter((s) => s.length > 0));
}

export function demoResourceMetadata(options: Pick<DemoResourceOptions, 'issuer' | 'name'>): Record<string, unknown> {
  return {
    issuer: options.issuer,
    jwks_uri: options.issuer + DEMO_PATHS.jwks,
    name: options.name ?? 'Tessera demo notes',
    description: 'A demo resource for `tessera dev`: `GET /notes` needs an auth token with `notes.read`.',
    authorization_endpoint: options.issuer + DEMO_PATHS.authorize,
    scope_descriptions: { ...DEMO_SCOPES },
    access_mode: 'auth-token',
    accept_signature_algs: ['Ed25519', 'ES256'],
  };
}

/** Builds the demo resource's Hono app. */
export function createDemoResource(options: DemoResourceOptions): Hono {
  const { issuer, ps, signer, resolveKey, now } = options;
  const notes = options.notes ?? DEMO_NOTES;
  const app = new Hono();

  async function verify<K extends RequestTokenTyp>(c: Context, accept: readonly [K, ...K[]], requireContentDigest: boolean): Promise<{ verified: VerifiedAAuthRequest<K>; body: Uint8Array | undefined } | Response> {
    const read = await requestMessage(c, issuer);
    if ('tooLarge' in read) return payloadTooLarge(64 * 1024);
    const result = await verifyAAuthRequest(read.message, {
      accept,
      audience: issuer,
      resolveKey,
      now,
      requireContentDigest,
      ...(options.keyCache === undefined ? {} : { keyCache: options.keyCache }),
    });
    // Every verification failure is a signature failure: 401 + Signature-Error (§8.3).
    if (!result.ok) return errorResponse(c, result.error, { duringVerification: true });
    return { verified: result.value, body: read.body };
  }

  /** The resource token for a verified person token (§8.24): `aud` = `ps` = the person token's issuer. */
  function resourceToken(token: VerifiedToken<'aa-person+jwt'>, agentJkt: string, scope: string): Promise<string> {
    const claims = token.claims;
    return mintResourceToken(
      signer,
      {
        iss: issuer,
        aud: claims.iss,
        ps: claims.iss,
        sub: claims.sub,
        presented_jti: claims.jti,
        agent_jkt: agentJkt,
        scope,
        ...(claims.mission_s256 === undefined ? {} : { mission_s256: claims.mission_s256 }),
        ...(claims.tenant === undefined ? {} : { tenant: claims.tenant }),
      },
      // No token outlives the one it derives from.
      { now, ttl: DEMO_RESOURCE_TOKEN_TTL, notAfter: claims.exp },
    );
  }

  /** This resource trusts person and auth tokens from its PS only. */
  function untrusted(kind: 'invalid_person_token' | 'invalid_auth_token', iss: string): Response | undefined {
    if (iss === ps) return undefined;
    return problem(403, new AAuthError(kind, { detail: `this resource trusts tokens from ${ps} only` }));
  }

  app.get(DEMO_PATHS.metadata, (c) => c.json(demoResourceMetadata(options), 200, { 'cache-control': 'public, max-age=300' }));
  app.get(DEMO_PATHS.jwks, () => new Response(JSON.stringify(jwksDocument([signer.publicJwk])), { headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' } }));

  app.get(DEMO_PATHS.notes, async (c) => {
    if (unsigned(c)) return requirement(buildAAuthRequirement('agent-token'));
    const checked = await verify(c, ['aa-agent+jwt', 'aa-person+jwt', 'aa-auth+jwt'], false);
    if (checked instanceof Response) return checked;
    const { verified } = checked;
    const token = verified.token;
    switch (token.kind) {
      case 'aa-agent+jwt':
        // §8.23: no person token, no resource token.
        return requirement(buildAAuthRequirement('person-token'));
      case 'aa-person+jwt': {
        const refused = untrusted('invalid_person_token', token.claims.iss);
        if (refused) return refused;
        const rt = await resourceToken(token, verified.jkt, 'notes.read');
        return requirement(buildAAuthRequirement('auth-token', { resourceToken: rt }));
      }
      case 'aa-auth+jwt': {
        const refused = untrusted('invalid_auth_token', token.claims.iss);
        if (refused) return refused;
        if (!scopesOf(token.claims.scope).has('notes.read')) {
          return problem(403, new AAuthError('invalid_scope', { detail: 'the auth token does not grant notes.read' }));
        }
        return c.json({ notes, owner: { ps: token.claims.ps, sub: token.claims.sub } }, 200, NO_STORE);
      }
    }
  });

  app.post(DEMO_PATHS.authorize, async (c) => {
    if (unsigned(c)) return requirement(buildAAuthRequirement('agent-token'));
    const checked = await verify(c, ['aa-agent+jwt', 'aa-person+jwt'], true);
    if (checked instanceof Response) return checked;
    const { verified, body } = checked;
    const token = verified.token;
    // §8.23: the authorization endpoint without a person token answers 401 requirement=person-token.
    if (token.kind !== 'aa-person+jwt') return requirement(buildAAuthRequirement('person-token'));
    const refused = untrusted('invalid_person_token', token.claims.iss);
    if (refused) return refused;
    let scope: unknown;
    try {
      scope = (JSON.parse(new TextDecoder().decode(body ?? new Uint8Array())) as Record<string, unknown> | null)?.['scope'];
    } catch {
      return errorResponse(c, new AAuthError('invalid_request', { detail: 'body must be JSON {scope}' }));
    }
    if (typeof scope !== 'string' || scopesOf(scope).size === 0) return errorResponse(c, new AAuthError('invalid_request', { detail: 'scope is required' }));
    const unknown = [...scopesOf(scope)].filter((s) => !(s in DEMO_SCOPES));
    if (unknown.length > 0) return errorResponse(c, new AAuthError('invalid_scope', { detail: `unknown scope ${unknown.join(' ')}` }));
    const rt = await resourceToken(token, verified.jkt, [...scopesOf(scope)].join(' '));
    return c.json({ resource_token: rt }, 200, NO_STORE);
  });

  return app;
}
