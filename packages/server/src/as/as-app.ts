/**
 * A minimal Access Server (AAuth -11 §Access Server Federation, §Access Server Metadata; digest §5 AS
 * `auth_token_endpoint`, §6-E, §8.38): the resource's policy engine in four-party access.
 *
 * - `GET /.well-known/aauth-access.json`: `issuer`, `jwks_uri`, `auth_token_endpoint`, `accept_signature_algs`, `name`.
 * - `GET /jwks.json`: the AS's keys (role `as` in `ServerKeys`, created on first use).
 * - `POST /token`: only Person Servers call it — the request is signed `sig=jwks_uri` with `dwk="aauth-person.json"`
 *   (§PS-to-AS Token Request: "The PS MUST make a signed POST … The PS is the only entity that calls AS token
 *   endpoints"), covering `content-digest`/`content-type`. Body `{resource_token, agent_token, subagent_token?,
 *   upstream_token?}`. The AS verifies the resource token (`aud` = this AS, `ps` = the calling PS — §8.38), the agent
 *   token (`agent_jkt` = its `cnf` key, or the sub-agent's when `subagent_token` is given), applies its policy and
 *   issues an `aa-auth+jwt` with `dwk: "aauth-access.json"`, `iss` = this AS, `ps` = the calling PS, `aud` = the
 *   resource, `sub` copied from the resource token, `cnf` = the agent key, `scope` ⊆ requested, `exp` ≤ 1 h and ≤
 *   the agent token(s).
 * - Policy `{claims: [...]}` → `202` with `AAuth-Requirement: requirement=claims`, body `{status, required_claims}`
 *   and a `Location` (`/token/pending/{id}`) the PS POSTs the claims to (signed by the same PS); the policy then runs
 *   again with them. These pending requests are kept in memory by this app instance (bounded, 10 minutes): a
 *   restart loses them and the PS starts over. `{deny}` → 403 `denied`.
 *
 * - `upstream_token` (call chaining, §8.64: the agent is a resource R1 acting for the person of the auth token it was
 *   called with): verified as an `aa-auth+jwt` of its issuer (the calling PS, or an AS), with `ps` = the calling PS
 *   (the person is that PS's) and `aud` = the `iss` of `agent_token` (the intermediary); refused with
 *   `subagent_token`. The policy sees it as `upstream`, and the token issued ends no later than it.
 *
 * Not done: no 402, interaction or revocation endpoint; no PS allowlist beyond `options.acceptPersonServers`.
 */
import { randomBytes } from 'node:crypto';
import {
  AAuthError,
  audienceIncludes,
  buildAAuthRequirement,
  DWK,
  isAAuthError,
  jwkThumbprint,
  mintAuthTokenWithClaims,
  tokenProblemCode,
  verifyServerRequest,
  verifyToken,
  type AgentTokenClaims,
  type AuthTokenClaims,
  type PublicJwk,
  type ResourceTokenClaims,
  type VerifiedServerRequest,
} from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import type { ServerContext } from '../context.js';
import type { DeferredService } from '../deferred/types.js';
import { errorResponse, requestMessage } from '../http/signed-request.js';
import { parseJsonBody } from '../ps/token-request.js';
import { scopeList } from '../ps/resource-token-check.js';
import { issuance } from '../store/issued-jti.js';

/** Paths of the AS endpoints under its identifier. */
export const AS_PATHS = {
  metadata: '/.well-known/aauth-access.json',
  jwks: '/jwks.json',
  authToken: '/token',
  pending: '/token/pending',
} as const;

export const AS_ACCEPT_SIGNATURE_ALGS = ['Ed25519', 'ES256'] as const;

/** Auth tokens live at most one hour (AAuth §Auth Token Structure). */
export const AS_AUTH_TOKEN_TTL = 3600;
/** How long a `requirement=claims` pending request waits for the PS's claims. */
export const AS_PENDING_TTL = 600;
/** Bound on pending claims requests held in memory. */
export const AS_MAX_PENDING = 1000;
/** Claims rounds before the AS gives up with `denied`. */
export const AS_MAX_CLAIMS_ROUNDS = 3;

/** What the policy sees of a token request. */
export interface AccessPolicyInput {
  /** The calling Person Server (`ps` of the resource token). */
  readonly ps: string;
  /** The resource: the resource token's `iss`. */
  readonly resource: string;
  /** The directed user identifier at the resource (resource token `sub`). */
  readonly sub: string;
  /** The requested scopes (resource token `scope`). */
  readonly requested: readonly string[];
  readonly resourceToken: ResourceTokenClaims;
  /** The (top-level) agent's token; the parent's for a sub-agent. */
  readonly agent: AgentTokenClaims;
  readonly subagent?: AgentTokenClaims;
  /** Call chaining: the verified upstream auth token the intermediary agent was called with (§8.64). */
  readonly upstream?: AuthTokenClaims;
  /** Claims the PS supplied after a `requirement=claims` answer (never `sub`). */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** The policy's verdict: grant these scopes (space separated, narrowed to the requested ones), deny, or ask for claims. */
export type AccessDecision = { readonly grant: string } | { readonly deny: true; readonly detail?: string } | { readonly claims: readonly string[] };

export type AccessPolicy = (input: AccessPolicyInput) => AccessDecision | Promise<AccessDecision>;

export interface AccessServerOptions {
  /** The AS's server identifier. */
  readonly issuer: string;
  readonly name?: string;
  /** Default: grant the requested scope. */
  readonly policy?: AccessPolicy;
  /** When given, only these Person Servers may call the token endpoint (others: 401 `invalid_key`). */
  readonly acceptPersonServers?: readonly string[];
}

/** A checked token request, kept while the AS waits for claims. */
interface CheckedRequest {
  readonly input: AccessPolicyInput;
  /** The key the auth token is bound to. */
  readonly cnfJwk: PublicJwk;
  readonly boundAgent: string;
  readonly notAfter: number;
}

interface PendingClaims {
  readonly request: CheckedRequest;
  readonly required: readonly string[];
  readonly expiresAt: number;
  readonly rounds: number;
}

const NO_STORE = { 'cache-control': 'no-store' };

export const grantRequested: AccessPolicy = (input) => ({ grant: input.requested.join(' ') });

/** Builds the Access Server app. `_deferred` is reserved (the AS keeps its claims rounds itself). */
export function createAccessServerApp(ctx: ServerContext, _deferred: DeferredService | undefined, options: AccessServerOptions): Hono {
  const issuer = options.issuer;
  const policy = options.policy ?? grantRequested;
  let keysReady: Promise<void> | undefined;
  const ensureKeys = (): Promise<void> => (keysReady ??= ctx.keys.ensure('as').catch((error: unknown) => {
    keysReady = undefined;
    throw error;
  }));
  /** Pending claims requests of this app instance (not module state). */
  const pending = new Map<string, PendingClaims>();

  const app = new Hono();

  app.get(AS_PATHS.metadata, (c) =>
    c.json(
      {
        issuer,
        jwks_uri: issuer + AS_PATHS.jwks,
        auth_token_endpoint: issuer + AS_PATHS.authToken,
        accept_signature_algs: [...AS_ACCEPT_SIGNATURE_ALGS],
        name: options.name ?? issuer,
      },
      200,
      { 'cache-control': 'public, max-age=300' },
    ),
  );
  app.get(AS_PATHS.jwks, async (c) => {
    await ensureKeys();
    return c.json(await ctx.keys.jwks('as'), 200, { 'cache-control': 'public, max-age=300', 'content-type': 'application/jwk-set+json' });
  });

  /** Verifies the PS's `sig=jwks_uri` signature; returns the verified request and body, or the 401 to send. */
  async function authenticatePs(c: Context): Promise<{ ps: VerifiedServerRequest; body: Uint8Array | undefined } | Response> {
    const read = await requestMessage(c, issuer);
    if ('tooLarge' in read) return errorResponse(c, new AAuthError('invalid_request', { detail: 'the body is too large' }));
    const result = await verifyServerRequest(read.message, {
      resolveKey: ctx.resolveKey,
      now: ctx.now,
      requireContentDigest: true,
      ...(options.acceptPersonServers === undefined ? {} : { acceptIds: options.acceptPersonServers }),
    });
    if (!result.ok) return errorResponse(c, result.error, { duringVerification: true });
    // §PS-AS Federation: the PS is the only entity that calls AS token endpoints.
    if (result.value.dwk !== DWK.person) {
      return errorResponse(c, new AAuthError('invalid_key', { detail: 'only Person Servers (dwk="aauth-person.json") call this endpoint' }), { duringVerification: true });
    }
    return { ps: result.value, body: read.body };
  }

  /** Checks the token request of PS `ps` (AAuth §PS-to-AS Token Request; §Resource Token Verification at the AS). */
  async function checkRequest(ps: string, body: Record<string, unknown>): Promise<CheckedRequest> {
    const resourceJwt = body['resource_token'];
    const agentJwt = body['agent_token'];
    if (typeof resourceJwt !== 'string' || resourceJwt.length === 0) throw new AAuthError('invalid_request', { detail: 'resource_token is required' });
    if (typeof agentJwt !== 'string' || agentJwt.length === 0) throw new AAuthError('invalid_request', { detail: 'agent_token is required' });

    let rt: ResourceTokenClaims;
    try {
      rt = (await verifyToken(resourceJwt, { accept: ['aa-resource+jwt'], resolveKey: ctx.resolveKey, now: ctx.now })).claims;
    } catch (error) {
      throw new AAuthError(tokenProblemCode('aa-resource+jwt', error), { detail: `resource_token: ${isAAuthError(error) ? (error.detail ?? error.code) : 'does not verify'}`, cause: error });
    }
    if (!audienceIncludes(rt.aud, issuer)) throw new AAuthError('invalid_resource_token', { detail: 'the resource token is not for this Access Server' });
    // §8.38: the resource token's `ps` is the Person Server that signed this request.
    if (rt.ps !== ps) throw new AAuthError('invalid_resource_token', { detail: 'the resource token names another Person Server than the one calling' });

    const agent = await verifyAgentToken(agentJwt, 'agent_token');
    if (agent.parent_agent !== undefined) throw new AAuthError('invalid_agent_token', { detail: 'agent_token: for a sub-agent send the parent’s agent token and the sub-agent’s as subagent_token' });
    let subagent: AgentTokenClaims | undefined;
    const subJwt = body['subagent_token'];
    if (subJwt !== undefined && subJwt !== null) {
      if (typeof subJwt !== 'string' || subJwt.length === 0) throw new AAuthError('invalid_request', { detail: 'subagent_token must be a string' });
      subagent = await verifyAgentToken(subJwt, 'subagent_token');
      if (subagent.parent_agent !== agent.sub) throw new AAuthError('invalid_agent_token', { detail: 'subagent_token: parent_agent does not name the agent of agent_token' });
      if (subagent.iss !== agent.iss) throw new AAuthError('invalid_agent_token', { detail: 'subagent_token: issued by another agent provider than the parent’s' });
    }
    const upstream = await verifyUpstreamToken(body['upstream_token'], ps, agent, subagent);
    const bound = subagent ?? agent;
    // §Resource Token Verification: `agent_jkt` is the bound agent's key (the sub-agent's when present).
    if ((await jwkThumbprint(bound.cnf.jwk)) !== rt.agent_jkt) {
      throw new AAuthError('invalid_resource_token', { detail: 'agent_jkt does not match the agent token’s key' });
    }
    const input: AccessPolicyInput = {
      ps,
      resource: rt.iss,
      sub: rt.sub,
      requested: scopeList(rt.scope),
      resourceToken: rt,
      agent,
      ...(subagent === undefined ? {} : { subagent }),
      ...(upstream === undefined ? {} : { upstream }),
    };
    return { input, cnfJwk: bound.cnf.jwk, boundAgent: bound.sub, notAfter: Math.min(agent.exp, subagent?.exp ?? Infinity, upstream?.exp ?? Infinity) };
  }

  /** §8.64 at the AS: the upstream auth token of a chained request, or `undefined` when there is none. */
  async function verifyUpstreamToken(value: unknown, ps: string, agent: AgentTokenClaims, subagent: AgentTokenClaims | undefined): Promise<AuthTokenClaims | undefined> {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.length === 0) throw new AAuthError('invalid_request', { detail: 'upstream_token must be a string' });
    if (subagent !== undefined) throw new AAuthError('invalid_request', { detail: 'upstream_token cannot be combined with subagent_token' });
    let upstream: AuthTokenClaims;
    try {
      upstream = (await verifyToken(value, { accept: ['aa-auth+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, keyCache: ctx.keyCache })).claims;
    } catch (error) {
      throw new AAuthError(tokenProblemCode('aa-auth+jwt', error), { detail: `upstream_token: ${isAAuthError(error) ? (error.detail ?? error.code) : 'does not verify'}`, cause: error });
    }
    // The person is the calling PS's: only it can vouch for the upstream authorization.
    if (upstream.ps !== ps) throw new AAuthError('invalid_auth_token', { detail: 'upstream_token: its ps is not the Person Server calling' });
    // §8.64: it was issued to the intermediary, which now acts as the agent.
    if (!audienceIncludes(upstream.aud, agent.iss)) throw new AAuthError('invalid_auth_token', { detail: "upstream_token: its aud is not the agent token's iss" });
    return upstream;
  }

  async function verifyAgentToken(jwt: string, name: string): Promise<AgentTokenClaims> {
    try {
      return (await verifyToken(jwt, { accept: ['aa-agent+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, keyCache: ctx.keyCache })).claims;
    } catch (error) {
      throw new AAuthError(tokenProblemCode('aa-agent+jwt', error), { detail: `${name}: ${isAAuthError(error) ? (error.detail ?? error.code) : 'does not verify'}`, cause: error });
    }
  }

  /** Applies the policy; answers 200 (auth token), 202 (claims) or throws `denied`. */
  async function decide(c: Context, request: CheckedRequest, rounds: number): Promise<Response> {
    const decision = await policy(request.input);
    if ('deny' in decision) throw new AAuthError('denied', { detail: decision.detail ?? 'the Access Server’s policy refuses this request' });
    if ('claims' in decision) {
      // §Claims Required: `sub` is never requested — the person is identified by the resource token.
      const required = [...new Set(decision.claims.filter((n) => typeof n === 'string' && n.length > 0 && n !== 'sub'))];
      if (rounds >= AS_MAX_CLAIMS_ROUNDS || required.length === 0) throw new AAuthError('denied', { detail: 'the Access Server could not decide with the claims provided' });
      const now = Math.floor(ctx.now());
      for (const [id, p] of pending) if (p.expiresAt <= now) pending.delete(id);
      while (pending.size >= AS_MAX_PENDING) pending.delete(pending.keys().next().value!);
      const id = randomBytes(16).toString('base64url');
      pending.set(id, { request, required, expiresAt: now + AS_PENDING_TTL, rounds: rounds + 1 });
      return c.json({ status: 'pending', required_claims: required }, 202, {
        ...NO_STORE,
        location: `${issuer}${AS_PATHS.pending}/${id}`,
        'retry-after': '0',
        'aauth-requirement': buildAAuthRequirement('claims'),
      });
    }
    const requested = request.input.requested;
    const scopes = scopeList(decision.grant).filter((s) => requested.includes(s));
    const scope = scopes.join(' ');
    const rt = request.input.resourceToken;
    await ensureKeys();
    const signer = await ctx.keys.signer('as');
    const issue = issuance(ctx.now);
    const now = issue.now;
    if (request.notAfter <= now) throw new AAuthError('expired_agent_token', { detail: 'the agent token has expired' });
    const { token, claims: minted } = await mintAuthTokenWithClaims(
      signer,
      {
        iss: issuer,
        jti: issue.jti,
        dwk: DWK.access,
        aud: rt.iss,
        ps: request.input.ps,
        sub: rt.sub,
        cnf: { jwk: request.cnfJwk },
        ...(scope.length === 0 ? {} : { scope }),
        ...(rt.account === undefined ? {} : { account: rt.account }),
        ...(rt.mission_s256 === undefined ? {} : { mission_s256: rt.mission_s256 }),
        ...(rt.tenant === undefined ? {} : { tenant: rt.tenant }),
      },
      { now: issue.clock, ttl: AS_AUTH_TOKEN_TTL, notAfter: request.notAfter },
    );
    const { jti, exp } = minted;
    await ctx.store.transaction(async (trx) => {
      await trx
        .insertInto('issued_tokens')
        .values({ iss: issuer, jti, kind: 'auth_token', sub: rt.sub, agent_id: request.boundAgent, aud: rt.iss, scope: scope.length === 0 ? null : scope, person_id: null, exp, revoked_at: null })
        .execute();
      await ctx.store.audit(
        { type: 'token.issued', actor: 'as', agent: request.boundAgent, resource: rt.iss, scope: scope.length === 0 ? null : scope, detail: { kind: 'auth_token', issuer, ps: request.input.ps, jti, exp } },
        trx,
      );
    });
    return c.json({ auth_token: token, expires_in: exp - now }, 200, NO_STORE);
  }

  app.post(AS_PATHS.authToken, async (c) => {
    const auth = await authenticatePs(c);
    if (auth instanceof Response) return auth;
    const body = parseJsonBody(auth.body, c.req.header('content-type'));
    const request = await checkRequest(auth.ps.id, body);
    return decide(c, request, 0);
  });

  // §Claims Required: the PS POSTs the claims to the `Location`, signed; the AS continues with them.
  app.post(`${AS_PATHS.pending}/:id`, async (c) => {
    const auth = await authenticatePs(c);
    if (auth instanceof Response) return auth;
    const id = c.req.param('id');
    const held = pending.get(id);
    if (!held || held.expiresAt <= Math.floor(ctx.now()) || held.request.input.ps !== auth.ps.id) {
      return c.json({ error: 'invalid_request', detail: 'no such pending request' }, 404, { ...NO_STORE, 'content-type': 'application/problem+json' });
    }
    pending.delete(id);
    const body = parseJsonBody(auth.body, c.req.header('content-type'));
    const claims = Object.fromEntries(Object.entries(body).filter(([name]) => name !== 'sub'));
    return decide(c, { ...held.request, input: { ...held.request.input, claims } }, held.rounds);
  });
  app.get(`${AS_PATHS.pending}/:id`, async (c) => {
    const auth = await authenticatePs(c);
    if (auth instanceof Response) return auth;
    const held = pending.get(c.req.param('id'));
    if (!held || held.expiresAt <= Math.floor(ctx.now()) || held.request.input.ps !== auth.ps.id) {
      return c.json({ error: 'invalid_request', detail: 'no such pending request' }, 404, { ...NO_STORE, 'content-type': 'application/problem+json' });
    }
    return c.json({ status: 'pending', required_claims: held.required }, 202, {
      ...NO_STORE,
      location: `${issuer}${AS_PATHS.pending}/${c.req.param('id')}`,
      'retry-after': '0',
      'aauth-requirement': buildAAuthRequirement('claims'),
    });
  });

  app.onError((error, c) => {
    if (isAAuthError(error)) return errorResponse(c, error);
    ctx.log.error({ err: error, path: c.req.path }, 'Access Server endpoint failed');
    return errorResponse(c, new AAuthError('server_error'));
  });
  return app;
}
