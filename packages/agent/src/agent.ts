/**
 * `createAgent(options)` → `agent.fetch(url, init)`: an AAuth agent (AAuth -11; HTTP Signature Keys -08). Every
 * request is signed (`sig=jwt`, §8.1, §8.2); requirements in 401 and 202 responses are satisfied with tokens from the
 * person's Person Server (see `requirement-handler.ts`); tokens are cached per resource and scope until they expire,
 * and concurrent requests share one exchange (`token-cache.ts`).
 */
import {
  createKeyResolver,
  decodeJws,
  MetadataCache,
  serializeAAuthCapabilities,
  type AAuthCapability,
  type FetchLike,
  type KeyResolver,
  type PrivateJwk,
  type Signer,
} from '@tessera/protocol';
import { enrol, renewAgentToken, type AgentTokenGrant, type EnrolmentDetails } from './enrolment.js';
import { AgentError } from './errors.js';
import { keyThumbprint, toSigner } from './keys.js';
import { PersonServerClient } from './person-server-client.js';
import type { ClarificationRequest, InteractionRequest } from './polling.js';
import { callResource, type Credential, type RequirementContext, type ResourceState } from './requirement-handler.js';
import { sendSigned, type SignedRequest } from './signed-fetch.js';
import { checkAuthToken, checkPersonToken, checkResourceToken, type TokenCheckContext } from './token-checks.js';
import { TokenCache, normalizeScope, tokenKey } from './token-cache.js';

export interface AgentOptions {
  /** The agent's private key (JWK with a fully specified `alg`) or any `Signer` (KMS, HSM, another process). */
  readonly key: PrivateJwk | Signer;
  /** An agent token whose `cnf.jwk` is `key`. One of `agentToken` and `enrolWith` is required. */
  readonly agentToken?: string;
  /**
   * A Tessera Agent Provider URL: with no `agentToken`, the agent enrols its key there on first use (the person
   * approves through `onInteraction`), and renews its agent token there (`POST {ap}/token`) before it expires.
   */
  readonly enrolWith?: string;
  /** What the enrolment asks for (`local`, `name`, `description`, `ps`). */
  readonly enrolment?: EnrolmentDetails;
  /** Called with each agent token obtained by enrolment or renewal (to persist it). */
  readonly onAgentToken?: (grant: AgentTokenGrant) => void | Promise<void>;
  /** The person's Person Server identifier; default: the agent token's `ps` claim. */
  readonly personServer?: string;
  /** Fetch used for everything (resources, PS, AP, metadata and JWKS); default `globalThis.fetch`. Inject an egress-guarded one in servers. */
  readonly fetch?: FetchLike;
  /** Clock, epoch seconds (may be fractional); default `Date.now() / 1000`. */
  readonly now?: () => number;
  /** Called when a person must act: open `fullUrl` (or `url` and type `code`). Polling continues meanwhile. */
  readonly onInteraction?: (interaction: InteractionRequest) => void | Promise<void>;
  /** Answers a clarification question from the PS or a resource. */
  readonly onClarification?: (question: ClarificationRequest) => Promise<string>;
  /** `Prefer: wait=N` (seconds) on polls; default 45; 0 = none. */
  readonly preferWait?: number;
  /** Bound on the polling of one pending request, ms; default 10 minutes. */
  readonly maxWaitMs?: number;
  /** `justification` sent with auth-token requests. */
  readonly justification?: string;
  /**
   * Capabilities advertised to resources in `AAuth-Capabilities` (never to the PS, §8.63). Default: `interaction`
   * when `onInteraction` is set, `clarification` when `onClarification` is set.
   */
  readonly capabilities?: readonly AAuthCapability[];
  /** Development only: `http://localhost:PORT` identifiers and `http` interaction URLs on loopback. Default false. */
  readonly allowLoopbackHttp?: boolean;
  /** How the agent waits between polls; default `setTimeout`. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Seconds before `exp` at which a cached token counts as expired; default 30. */
  readonly leeway?: number;
}

export interface Agent {
  /** A signed fetch that satisfies the resource's requirements; resolves to the resource's final response. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The agent's key thumbprint (RFC 7638), what `agent_jkt` and `cnf` name. */
  thumbprint(): Promise<string>;
  /** The current agent token (enrolling or renewing first when needed). */
  agentToken(): Promise<string>;
  /** Renews the agent token at the Agent Provider (`enrolWith`). */
  renew(): Promise<AgentTokenGrant>;
  /** The Person Server client (person and auth tokens). */
  personServer(): Promise<PersonServerClient>;
  /** The token cache (person, auth and session tokens); `exchanges` counts the token exchanges run. */
  readonly tokens: TokenCache;
}

const DEFAULT_PREFER_WAIT = 45;
const DEFAULT_MAX_WAIT_MS = 10 * 60 * 1000;
/** Renew an agent token this many seconds before it expires. */
const RENEW_BEFORE_SECONDS = 60;
const MAX_ROUNDS = 8;

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function claimsOf(jwt: string): Record<string, unknown> {
  try {
    return decodeJws(jwt).payload;
  } catch (cause) {
    throw new AgentError('no_agent_token', { detail: 'the agent token is not a JWS', cause });
  }
}

async function requestParts(input: string | URL | Request, init: RequestInit | undefined): Promise<SignedRequest> {
  const request = new Request(input, init);
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  let body: Uint8Array | undefined;
  if (request.method !== 'GET' && request.method !== 'HEAD' && request.body !== null) {
    const bytes = new Uint8Array(await request.arrayBuffer());
    if (bytes.length > 0) body = bytes;
  }
  return {
    method: request.method,
    url: request.url,
    headers,
    ...(body === undefined ? {} : { body }),
    init: { ...(init?.signal ? { signal: init.signal } : {}), ...(init?.redirect ? { redirect: init.redirect } : {}) },
  };
}

/** Creates an agent. The key is imported lazily on the first call. */
export function createAgent(options: AgentOptions): Agent {
  if (options.agentToken === undefined && options.enrolWith === undefined) {
    throw new AgentError('no_agent_token', { detail: 'createAgent needs agentToken or enrolWith' });
  }
  const fetch: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const now = options.now ?? (() => Date.now() / 1000);
  const clock = (): number => now() * 1000;
  const sleep = options.sleep ?? defaultSleep;
  const preferWait = options.preferWait ?? DEFAULT_PREFER_WAIT;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const allowLoopbackHttp = options.allowLoopbackHttp === true;
  const loopback = allowLoopbackHttp ? { allowLoopbackHttp: true } : {};
  const cache = new TokenCache({ now, ...(options.leeway === undefined ? {} : { leeway: options.leeway }) });
  const metadataCache = new MetadataCache({ fetch, now, ...loopback });
  const resolveKey: KeyResolver = createKeyResolver({ fetch, now, metadataCache, ...loopback });
  const resources = new Map<string, ResourceState>();
  const capabilities =
    options.capabilities ??
    ([...(options.onInteraction ? ['interaction'] : []), ...(options.onClarification ? ['clarification'] : [])] as AAuthCapability[]);

  let signerPromise: Promise<{ signer: Signer; jkt: string }> | undefined;
  const identity = (): Promise<{ signer: Signer; jkt: string }> =>
    (signerPromise ??= (async () => {
      const signer = await toSigner(options.key);
      return { signer, jkt: await keyThumbprint(signer) };
    })());

  // The agent token: given, or enrolled; renewed at the AP shortly before it expires.
  let agentGrant: { token: string; exp: number | undefined } | undefined =
    options.agentToken === undefined ? undefined : { token: options.agentToken, exp: numberOr(claimsOf(options.agentToken)['exp']) };
  let agentTokenFlight: Promise<string> | undefined;

  const pollContext = {
    sleep,
    clock,
    maxWaitMs,
    ...(preferWait > 0 ? { preferWait } : {}),
    ...(options.onInteraction === undefined ? {} : { onInteraction: options.onInteraction }),
    ...(options.onClarification === undefined ? {} : { onClarification: options.onClarification }),
    ...loopback,
  };

  async function obtainAgentToken(): Promise<string> {
    const { signer } = await identity();
    const ap = options.enrolWith;
    let grant: AgentTokenGrant;
    if (agentGrant === undefined) {
      if (ap === undefined) throw new AgentError('no_agent_token');
      grant = await enrol(ap, { ...(options.personServer === undefined ? {} : { ps: options.personServer }), ...(options.enrolment ?? {}) }, { fetch, signer, now, ...pollContext });
    } else {
      if (ap === undefined) return agentGrant.token;
      grant = await renewAgentToken(ap, agentGrant.token, { fetch, signer, now });
    }
    agentGrant = { token: grant.agentToken, exp: grant.exp };
    await options.onAgentToken?.(grant);
    return grant.agentToken;
  }

  async function agentToken(): Promise<string> {
    const current = agentGrant;
    const fresh = current !== undefined && (current.exp === undefined || current.exp - RENEW_BEFORE_SECONDS > now() || options.enrolWith === undefined);
    if (fresh) return current.token;
    agentTokenFlight ??= obtainAgentToken().finally(() => {
      agentTokenFlight = undefined;
    });
    return agentTokenFlight;
  }

  let psClient: PersonServerClient | undefined;
  async function personServer(): Promise<PersonServerClient> {
    if (psClient !== undefined) return psClient;
    const ps = options.personServer ?? stringOr(claimsOf(await agentToken())['ps']);
    if (ps === undefined) throw new AgentError('no_person_server', { detail: 'configure personServer or use an agent token with a ps claim' });
    const { signer } = await identity();
    psClient = new PersonServerClient({ ps, fetch, signer, agentToken, now, metadataCache, ...pollContext });
    return psClient;
  }

  async function checkContext(): Promise<TokenCheckContext> {
    const [{ jkt }, ps] = await Promise.all([identity(), personServer()]);
    return { resolveKey, now, jkt, ps: ps.ps };
  }

  const context: RequirementContext = {
    cache,
    sleep,
    clock,
    maxWaitMs,
    allowLoopbackHttp,
    maxRounds: MAX_ROUNDS,
    ...(preferWait > 0 ? { preferWait } : {}),
    ...(options.onInteraction === undefined ? {} : { onInteraction: options.onInteraction }),
    ...(options.onClarification === undefined ? {} : { onClarification: options.onClarification }),
    async send(request, token) {
      const { signer } = await identity();
      const headers = { ...(request.headers ?? {}) };
      if (capabilities.length > 0 && !Object.keys(headers).some((h) => h.toLowerCase() === 'aauth-capabilities')) {
        headers['aauth-capabilities'] = serializeAAuthCapabilities(capabilities);
      }
      return sendSigned({ fetch, signer, now }, { ...request, headers }, token);
    },
    async agentCredential(): Promise<Credential> {
      return { kind: 'agent', token: await agentToken() };
    },
    async personCredential(resource, { refresh }): Promise<Credential> {
      const key = tokenKey.person(resource);
      if (refresh) cache.delete(key);
      const entry = await cache.getOrFetch(key, async () => {
        const ps = await personServer();
        const issued = await ps.requestPersonToken({ resource });
        await checkPersonToken(issued.token, resource, await checkContext());
        return { token: issued.token, exp: issued.exp };
      });
      const sub = stringOr(claimsOf(entry.token)['sub']);
      return { kind: 'person', token: entry.token, cacheKey: key, ...(sub === undefined ? {} : { sub }) };
    },
    async authCredential(resource, resourceToken, presented) {
      const checks = await checkContext();
      const claims = await checkResourceToken(resourceToken, resource, presented.kind === 'agent' ? undefined : presented.sub, checks);
      const key = tokenKey.auth(resource, normalizeScope(claims.scope ?? claims.r3_uri ?? ''));
      const entry = await cache.getOrFetch(key, async () => {
        const ps = await personServer();
        const issued = await ps.requestAuthToken({ resource_token: resourceToken, ...(options.justification === undefined ? {} : { justification: options.justification }) });
        await checkAuthToken(issued.token, claims, checks);
        return { token: issued.token, exp: issued.exp };
      });
      const sub = stringOr(claimsOf(entry.token)['sub']);
      return { credential: { kind: 'auth', token: entry.token, cacheKey: key, ...(sub === undefined ? {} : { sub }) }, claims };
    },
  };

  return {
    tokens: cache,
    async fetch(input, init) {
      const request = await requestParts(input, init);
      const resource = new URL(request.url).origin;
      let state = resources.get(resource);
      if (state === undefined) {
        state = { kind: 'agent' };
        resources.set(resource, state);
      }
      return callResource(request, state, context);
    },
    async thumbprint() {
      return (await identity()).jkt;
    },
    agentToken,
    async renew() {
      if (options.enrolWith === undefined) throw new AgentError('no_agent_token', { detail: 'renewal needs enrolWith (the Agent Provider)' });
      if (agentGrant === undefined) await agentToken();
      const { signer } = await identity();
      const grant = await renewAgentToken(options.enrolWith, agentGrant!.token, { fetch, signer, now });
      agentGrant = { token: grant.agentToken, exp: grant.exp };
      await options.onAgentToken?.(grant);
      return grant;
    },
    personServer,
  };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
