/**
 * Four-party federation, the Person Server's side (AAuth -11 §PS-AS Federation, §PS-to-AS Token Request, §AS
 * Response, §Auth Token Delivery; digest §6-E, §8.36, §8.37). When a resource token's `aud` is not this PS but an
 * Access Server, the PS — after its own checks and the person's consent — discovers `{aud}/.well-known/aauth-access.json`
 * (issuer-checked, cached), POSTs `{resource_token, agent_token, subagent_token?, upstream_token?}` to its `auth_token_endpoint` signed
 * `sig=jwks_uri;id=<PS>;dwk="aauth-person.json";kid=<current PS key>` (covering `content-digest`/`content-type`), and
 * follows the AS's answer:
 *
 * - `200`: the AS's auth token is verified before it is relayed (§Auth Token Delivery, §8.37): `typ` `aa-auth+jwt`,
 *   signature with the AS's JWKS, `iss` = the AS called, `dwk` = `aauth-access.json`, `aud` = the resource (resource
 *   token `iss`), `ps` = this PS, `cnf.jwk` = the agent's key, `sub` = the directed identifier of the person token,
 *   `scope` ⊆ the requested scope, `exp` ≤ the agent token's and the person token's. A token failing any of these is
 *   not relayed: `server_error`.
 * - `202 requirement=claims`: the PS POSTs the claims it holds for the person (`name`; never `sub`) to the `Location`,
 *   signed the same way, and goes on with the answer.
 * - `202` `approval`, `interaction`, `clarification` (or an unknown requirement): the PS polls the `Location` with
 *   signed GETs, honouring `Retry-After`, for at most `maxWaitSeconds` (default 10). Tessera's choice: the agent's
 *   own request stays as it is (its 202/pending at the PS, or its synchronous call) and the PS does not relay the
 *   AS's interaction to the agent or the person; an AS still waiting after that is answered `user_unreachable`
 *   (interaction: the person would have to act at the AS) or `temporarily_unavailable` (approval, clarification).
 * - `402`: this PS makes no payments (§AS Response: "the PS settles payment per the indicated protocol") → 403 `denied`.
 * - a problem+json from the AS: relayed with the AS's `error` when it is one of the token endpoint / polling codes
 *   (`denied`, `invalid_resource_token`, `expired_resource_token`, …); any other failure (unreachable, malformed
 *   answer, 401 to our signature, 5xx) → `temporarily_unavailable` (transport) or `server_error`.
 *
 * The relayed token is recorded in `issued_tokens` as `relayed_auth_token` (`iss` = the AS), with the agent and the
 * person: call chaining accepts an AS's token as `upstream_token` only when this PS holds that record. The relay is
 * audited `token.federated`.
 */
import {
  AAuthError,
  DWK,
  isAAuthError,
  jwkThumbprint,
  MetadataCache,
  parseAAuthRequirement,
  signServerRequest,
  verifyToken,
  type AuthTokenClaims,
  type FetchLike,
  type ProblemErrorCode,
  type Signer,
} from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Executor } from '../store/store.js';
import { scopeList } from './resource-token-check.js';

/** The well-known document of an Access Server. */
export const ACCESS_DWK = DWK.access;
/** `issued_tokens.kind` of an AS's auth token this PS verified and relayed (not one it issued). */
export const RELAYED_AUTH_TOKEN = 'relayed_auth_token';
/** Default budget for polling an AS that answered 202 approval/interaction. */
export const FEDERATION_MAX_WAIT_SECONDS = 10;
/** Round trips with the AS (claims, polls) per token request. */
export const FEDERATION_MAX_STEPS = 10;

export interface FederationOptions {
  /** Egress-guarded fetch for the AS's metadata and token endpoint. */
  readonly fetch: FetchLike;
  /** Seconds to keep polling an AS that answered 202 approval/interaction/clarification; default 10. */
  readonly maxWaitSeconds?: number;
  /** How to wait between polls (tests pass one that advances their clock). */
  readonly sleep?: (seconds: number) => Promise<void>;
}

/** One federated token request (everything the PS checked before consenting). */
export interface FederatedRequest {
  /** The AS: the resource token's `aud`. */
  readonly accessServer: string;
  /** The resource: the resource token's `iss`, the auth token's `aud`. */
  readonly resource: string;
  readonly resourceToken: string;
  /** The agent token that signed the agent's request (the parent's for a sub-agent). */
  readonly agentToken: string;
  readonly subagentToken?: string;
  /** Call chaining: the auth token the agent (an intermediary resource) was called with (§8.64), passed on. */
  readonly upstreamToken?: string;
  /** Thumbprint of the key the auth token must be bound to. */
  readonly agentJkt: string;
  /** The directed `sub` of the person token the resource token names. */
  readonly sub: string;
  /** The scopes the person approved (⊆ the resource token's `scope`). */
  readonly scopes: readonly string[];
  /** The earliest of the agent token's and the person token's `exp`. */
  readonly notAfter: number;
  readonly personId: string;
  readonly agentId: string;
  readonly actor: string;
}

export interface FederatedToken {
  readonly auth_token: string;
  readonly expires_in: number;
}

export interface Federation {
  /**
   * Obtains and verifies the AS's auth token. `db` is the executor to read and audit with (the approval's
   * transaction when called from the pending handler), `signer` the PS's current key.
   */
  requestAuthToken(request: FederatedRequest, db: Executor, signer: Signer): Promise<FederatedToken>;
}

/** Codes an AS may answer that the PS relays as they are (AAuth §Auth Token Delivery: "the PS relays it"). */
const RELAYED: ReadonlySet<string> = new Set<ProblemErrorCode>([
  'denied',
  'abandoned',
  'expired',
  'invalid_resource_token',
  'expired_resource_token',
  'invalid_agent_token',
  'expired_agent_token',
  'invalid_scope',
  'invalid_account',
  'user_unreachable',
]);

const failed = (detail: string, code: ProblemErrorCode = 'server_error'): AAuthError => new AAuthError(code, { detail: `Access Server: ${detail}` });

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const value = (await response.json()) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const defaultSleep = (seconds: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export function createFederation(ctx: ServerContext, options: FederationOptions): Federation {
  const metadata = new MetadataCache({ fetch: options.fetch, now: ctx.now, ...(ctx.allowLoopbackHttp ? { allowLoopbackHttp: true } : {}) });
  const maxWait = options.maxWaitSeconds ?? FEDERATION_MAX_WAIT_SECONDS;
  const sleep = options.sleep ?? defaultSleep;

  /** §PS-AS Federation: `{aud}/.well-known/aauth-access.json`, issuer-checked. */
  async function tokenEndpoint(accessServer: string): Promise<string> {
    try {
      const found = await metadata.getMetadata(accessServer, ACCESS_DWK);
      if (found.kind !== 'access') throw new AAuthError('invalid_metadata', { detail: 'not Access Server metadata' });
      return found.document.auth_token_endpoint;
    } catch (error) {
      const detail = isAAuthError(error) ? (error.detail ?? error.code) : 'discovery failed';
      if (isAAuthError(error) && error.code === 'fetch_failed') throw failed(`metadata could not be fetched (${detail})`, 'temporarily_unavailable');
      throw new AAuthError('invalid_resource_token', { detail: `the Access Server the resource token names could not be discovered (${detail})`, cause: error });
    }
  }

  /** A signed request to the AS (`sig=jwks_uri`, `dwk="aauth-person.json"`). */
  async function send(url: string, method: 'GET' | 'POST', signer: Signer, json?: Record<string, unknown>): Promise<Response> {
    const body = json === undefined ? undefined : new TextEncoder().encode(JSON.stringify(json));
    const headers: Record<string, string> = json === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' };
    const signed = await signServerRequest(
      { method, url, headers: Object.entries(headers), ...(body === undefined ? {} : { body }) },
      { signer, id: ctx.ps.issuer, dwk: DWK.person, now: ctx.now },
    );
    try {
      return await options.fetch(url, { method, headers: { ...headers, ...signed.headers }, ...(body === undefined ? {} : { body: body }) });
    } catch (error) {
      throw failed(`unreachable (${isAAuthError(error) ? (error.detail ?? error.code) : 'fetch failed'})`, 'temporarily_unavailable');
    }
  }

  /** The `Location` of a 202/402, same origin as the token endpoint. */
  function locationOf(response: Response, endpoint: string): string {
    const location = response.headers.get('location');
    if (location === null) throw failed(`a ${response.status} without Location`);
    let url: URL;
    try {
      url = new URL(location, endpoint);
    } catch {
      throw failed('an invalid Location');
    }
    if (url.origin !== new URL(endpoint).origin || url.hash !== '') throw failed('a Location on another origin');
    return url.href;
  }

  /** §Claims Required: the claims this PS holds for the person. `sub` is never sent. */
  async function claimsFor(personId: string, required: unknown, db: Executor): Promise<Record<string, unknown>> {
    const names = Array.isArray(required) ? required.filter((n): n is string => typeof n === 'string') : [];
    const claims: Record<string, unknown> = {};
    if (names.includes('name')) {
      const person = await db.selectFrom('people').select('display_name').where('id', '=', personId).executeTakeFirst();
      if (person) claims['name'] = person.display_name;
    }
    return claims;
  }

  /** §Auth Token Delivery: verify the AS's token before relaying it (§8.37). */
  async function verifyDelivered(jwt: unknown, request: FederatedRequest): Promise<AuthTokenClaims> {
    if (typeof jwt !== 'string' || jwt.length === 0) throw failed('a 200 without auth_token');
    let claims: AuthTokenClaims;
    try {
      claims = (
        await verifyToken(jwt, { accept: ['aa-auth+jwt'], resolveKey: ctx.resolveKey, now: ctx.now, keyCache: ctx.keyCache, issuer: request.accessServer, audience: request.resource })
      ).claims;
    } catch (error) {
      throw failed(`its auth token does not verify (${isAAuthError(error) ? (error.detail ?? error.code) : 'invalid'})`);
    }
    const wrong: string[] = [];
    if (claims.dwk !== DWK.access) wrong.push('dwk');
    if (claims.ps !== ctx.ps.issuer) wrong.push('ps');
    if (claims.sub !== request.sub) wrong.push('sub');
    if ((await jwkThumbprint(claims.cnf.jwk)) !== request.agentJkt) wrong.push('cnf');
    if (scopeList(claims.scope).some((s) => !request.scopes.includes(s))) wrong.push('scope');
    if (claims.exp > request.notAfter) wrong.push('exp');
    if (wrong.length > 0) {
      ctx.log.warn({ event: 'federation.token_mismatch', access_server: request.accessServer, mismatched: wrong }, 'Access Server auth token not relayed');
      throw failed(`its auth token does not match the request (${wrong.join(', ')})`);
    }
    return claims;
  }

  /** A problem from the AS, relayed or mapped. */
  async function refusal(response: Response): Promise<AAuthError> {
    const body = await readJson(response);
    const code = typeof body?.['error'] === 'string' ? body['error'] : undefined;
    const detail = typeof body?.['detail'] === 'string' ? `: ${body['detail'].slice(0, 200)}` : '';
    if (code !== undefined && RELAYED.has(code)) return new AAuthError(code as ProblemErrorCode, { detail: `Access Server refused${detail}` });
    if (response.status === 401) return failed(`refused this Person Server's signature (${response.headers.get('signature-error') ?? 'no Signature-Error'})`);
    if (response.status >= 500) return failed(`answered ${response.status}${code === undefined ? '' : ` ${code}`}`, 'temporarily_unavailable');
    return failed(`answered ${response.status}${code === undefined ? '' : ` ${code}`}`);
  }

  return {
    async requestAuthToken(request, db, signer) {
      const endpoint = await tokenEndpoint(request.accessServer);
      // §PS-to-AS Token Request: agent_token is REQUIRED (the parent's for a sub-agent).
      let response = await send(endpoint, 'POST', signer, {
        resource_token: request.resourceToken,
        agent_token: request.agentToken,
        ...(request.subagentToken === undefined ? {} : { subagent_token: request.subagentToken }),
        ...(request.upstreamToken === undefined ? {} : { upstream_token: request.upstreamToken }),
      });
      let waited = 0;
      for (let step = 0; ; step += 1) {
        if (step >= FEDERATION_MAX_STEPS) throw failed('too many round trips');
        if (response.status === 200) {
          const body = await readJson(response);
          const claims = await verifyDelivered(body?.['auth_token'], request);
          const now = Math.floor(ctx.now());
          await db
            .insertInto('issued_tokens')
            .values({
              iss: claims.iss,
              jti: claims.jti,
              kind: RELAYED_AUTH_TOKEN,
              sub: claims.sub,
              agent_id: request.agentId,
              aud: request.resource,
              scope: claims.scope ?? null,
              person_id: request.personId,
              exp: claims.exp,
              revoked_at: null,
            })
            .onConflict((oc) => oc.columns(['iss', 'jti']).doNothing())
            .execute();
          // An AS answering a token id it used before (a cached answer) is fine for the same person and agent only.
          const kept = await db.selectFrom('issued_tokens').select(['kind', 'person_id', 'agent_id', 'sub']).where('iss', '=', claims.iss).where('jti', '=', claims.jti).executeTakeFirstOrThrow();
          if (kept.kind !== RELAYED_AUTH_TOKEN || kept.person_id !== request.personId || kept.agent_id !== request.agentId || kept.sub !== claims.sub) {
            throw failed('its auth token reuses the id of another token');
          }
          await ctx.store.audit(
            {
              type: 'token.federated',
              actor: request.actor,
              agent: request.agentId,
              person: request.personId,
              resource: request.resource,
              scope: claims.scope ?? null,
              detail: { kind: 'auth_token', access_server: request.accessServer, jti: claims.jti, exp: claims.exp },
            },
            db,
          );
          return { auth_token: body!['auth_token'] as string, expires_in: Math.max(0, claims.exp - now) };
        }
        if (response.status === 402) {
          await response.body?.cancel().catch(() => undefined);
          throw new AAuthError('denied', { detail: 'the Access Server requires payment, which this Person Server does not make' });
        }
        if (response.status !== 202) throw await refusal(response);

        const location = locationOf(response, endpoint);
        const header = response.headers.get('aauth-requirement');
        let requirement: string = 'unknown';
        if (header !== null) {
          try {
            const parsed = parseAAuthRequirement(header);
            requirement = parsed.requirement;
          } catch {
            requirement = 'unknown';
          }
        }
        const body = await readJson(response);
        if (requirement === 'claims') {
          response = await send(location, 'POST', signer, await claimsFor(request.personId, body?.['required_claims'], db));
          continue;
        }
        // approval, interaction, clarification or unknown: poll within the budget.
        const retryAfter = Number(response.headers.get('retry-after') ?? '5');
        const delay = Number.isFinite(retryAfter) && retryAfter >= 0 ? Math.min(retryAfter, 60) : 5;
        if (waited + delay > maxWait) {
          if (requirement === 'interaction') throw failed('the person must interact with the Access Server, which this Person Server does not relay yet', 'user_unreachable');
          throw failed(`still pending (${requirement}) after ${waited} s`, 'temporarily_unavailable');
        }
        await sleep(delay);
        waited += delay;
        response = await send(location, 'GET', signer);
      }
    },
  };
}
