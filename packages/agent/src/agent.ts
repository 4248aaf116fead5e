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
import {
  advertising,
  completeMission as completeAtPs,
  EndedMissions,
  proposeMission as proposeAtPs,
  updateMission as updateAtPs,
  type Mission,
  type MissionAgent,
  type MissionCompletion,
  type MissionProposal,
  type MissionUpdate,
} from './missions.js';
import { createInteractionRelay } from './interaction-relay.js';
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
  /**
   * Relay a resource's `requirement=interaction` to the person through the Person Server first (AAuth -11 §Relaying
   * Through the Person Server; §8.50): the agent POSTs `{type: "interaction", url, code}` to the PS's
   * `interaction_endpoint`, signed with its agent token. When the PS takes it (202), `onInteraction` is not called: the
   * person is told by their PS. When it answers `424 interaction_unavailable`, or publishes no `interaction_endpoint`,
   * `onInteraction` is called as usual. Either way the agent keeps polling the resource's pending URL, never the PS's.
   * Default true, which relays whenever a PS is known (`personServer` or the agent token's `ps`); false: never relay.
   */
  readonly relayInteractions?: boolean;
  /** Told when the Person Server took a relayed interaction (the person will see it there); the agent keeps polling. */
  readonly onInteractionRelayed?: (interaction: InteractionRequest) => void | Promise<void>;
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
  /**
   * Proposes a mission at the PS's `mission_endpoint` (AAuth -11 §Mission Creation) and resolves once the person
   * approved it, verified: `s256` over the exact blob bytes (§8.54), the blob's required members, this agent, this PS
   * (`invalid_mission`). Person tokens returned with it go into the mission's scope of `tokens`.
   */
  proposeMission(proposal: MissionProposal): Promise<Mission>;
  /** Records a change in the work (§Mission Update): resolves to the digest of the accepted update. */
  updateMission(s256: string, description: string): Promise<MissionUpdate>;
  /** Proposes that the mission is finished (§Mission Completion); resolves once the person accepted. */
  completeMission(s256: string, summary: string): Promise<MissionCompletion>;
  /** This agent acting under `mission`: its `fetch` obtains and checks tokens carrying `mission_s256` (§6 F). */
  withMission(mission: Mission): MissionAgent;
  /**
   * Call chaining (AAuth -11 §Call Chaining; digest §6-G; §8.64): this agent is a resource that was called with the
   * auth token `upstreamToken` and must call further resources for the same person. The returned `fetch` asks the
   * upstream token's Person Server (its `ps` claim) for person and auth tokens, naming `upstream_token`; those
   * tokens are cached apart, per upstream token. An interaction the PS needs is handed to `onInteraction` (re-issue it
   * as this resource's own 202 to its caller); it is never relayed through this agent's own PS.
   */
  onBehalfOf(upstreamToken: string): ChainedAgent;
}

/** The relay step, telling `onRelayed` when the PS took the interaction. */
function relayTelling(
  relay: (interaction: InteractionRequest) => Promise<boolean>,
  onRelayed: ((interaction: InteractionRequest) => void | Promise<void>) | undefined,
): (interaction: InteractionRequest) => Promise<boolean> {
  if (onRelayed === undefined) return relay;
  return async (interaction) => {
    const relayed = await relay(interaction);
    if (relayed) await onRelayed(interaction);
    return relayed;
  };
}

/**
 * Where a first call to `resource` starts: with a live auth token for it from the cache (restored from an earlier run,
 * as `tessera fetch` does), else a person token, else the agent token — so a second process presents the token it
 * already holds instead of walking the challenges again.
 */
function stateFromCache(cache: TokenCache, resource: string): ResourceState {
  const prefix = tokenKey.auth(resource, ''); // `auth\n{resource}\n`: every scope at this resource
  let authKey: string | undefined;
  let latest = -Infinity;
  for (const [key, entry] of cache.snapshot()) {
    const exp = entry.exp ?? Infinity;
    if (key.startsWith(prefix) && exp > latest) [authKey, latest] = [key, exp];
  }
  if (authKey !== undefined) return { kind: 'auth', authKey };
  if (cache.get(tokenKey.person(resource)) !== undefined) return { kind: 'person' };
  return { kind: 'agent' };
}

/** What a chained call stands on: the upstream auth token's `ps`, `jti` and `exp`. */
export interface UpstreamToken {
  readonly ps: string;
  readonly jti: string;
  readonly exp: number;
}

/** This agent calling onward for the person of an upstream auth token. */
export interface ChainedAgent {
  readonly upstream: UpstreamToken;
  /** The tokens obtained for this chain (a scope of the agent's cache). */
  readonly tokens: TokenCache;
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

/** The chain a token exchange belongs to. */
interface Chain {
  readonly upstreamToken: string;
  readonly personServer: () => Promise<PersonServerClient>;
}

/** Reads `ps`, `jti` and `exp` of an upstream auth token (its PS verifies it; here it only routes the request). */
function readUpstream(token: string): UpstreamToken {
  let payload: Record<string, unknown>;
  let typ: unknown;
  try {
    const decoded = decodeJws(token);
    payload = decoded.payload;
    typ = decoded.header.typ;
  } catch (cause) {
    throw new AgentError('invalid_upstream_token', { detail: 'the upstream token is not a JWT', cause });
  }
  const { ps, jti, exp } = payload;
  if (typ !== 'aa-auth+jwt' || typeof ps !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') {
    throw new AgentError('invalid_upstream_token', { detail: 'the upstream token is not an auth token with ps, jti and exp' });
  }
  return { ps, jti, exp };
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

  async function checkContext(missionS256?: string, psOf: () => Promise<PersonServerClient> = personServer): Promise<TokenCheckContext> {
    const [{ jkt }, ps] = await Promise.all([identity(), psOf()]);
    return { resolveKey, now, jkt, ps: ps.ps, ...(missionS256 === undefined ? {} : { missionS256 }) };
  }

  /**
   * Person and auth tokens from the PS, cached in `tokens` (single-flight) and checked. Under a mission the
   * person-token request names `mission_s256` (digest §5) and every token must carry it (token-checks.ts).
   */
  function tokenExchanges(tokens: TokenCache, missionS256?: string, chain?: Chain): Pick<RequirementContext, 'personCredential' | 'authCredential'> {
    const psOf = chain?.personServer ?? personServer;
    const upstream = chain === undefined ? {} : { upstream_token: chain.upstreamToken };
    return {
      async personCredential(resource, { refresh }): Promise<Credential> {
        const key = tokenKey.person(resource);
        if (refresh) tokens.delete(key);
        const entry = await tokens.getOrFetch(key, async () => {
          const ps = await psOf();
          const issued = await ps.requestPersonToken({ resource, ...(missionS256 === undefined ? {} : { mission_s256: missionS256 }), ...upstream });
          await checkPersonToken(issued.token, resource, await checkContext(missionS256, psOf));
          return { token: issued.token, exp: issued.exp };
        });
        const sub = stringOr(claimsOf(entry.token)['sub']);
        return { kind: 'person', token: entry.token, cacheKey: key, ...(sub === undefined ? {} : { sub }) };
      },
      async authCredential(resource, resourceToken, presented) {
        const checks = await checkContext(missionS256, psOf);
        const claims = await checkResourceToken(resourceToken, resource, presented.kind === 'agent' ? undefined : presented.sub, checks);
        const key = tokenKey.auth(resource, normalizeScope(claims.scope ?? claims.r3_uri ?? ''));
        const entry = await tokens.getOrFetch(key, async () => {
          const ps = await psOf();
          const issued = await ps.requestAuthToken({ resource_token: resourceToken, ...(options.justification === undefined ? {} : { justification: options.justification }), ...upstream });
          await checkAuthToken(issued.token, claims, checks);
          return { token: issued.token, exp: issued.exp };
        });
        const sub = stringOr(claimsOf(entry.token)['sub']);
        return { credential: { kind: 'auth', token: entry.token, cacheKey: key, ...(sub === undefined ? {} : { sub }) }, claims };
      },
    };
  }

  /** The relay step (AAuth §8.50), naming `missionS256` within a mission; none when `relayInteractions` is false. */
  const relayFor = (missionS256?: string): Pick<RequirementContext, 'relayInteraction'> =>
    options.relayInteractions === false ? {} : { relayInteraction: relayTelling(createInteractionRelay(personServer, missionS256), options.onInteractionRelayed) };

  const context: RequirementContext = {
    cache,
    sleep,
    clock,
    maxWaitMs,
    allowLoopbackHttp,
    maxRounds: MAX_ROUNDS,
    ...(preferWait > 0 ? { preferWait } : {}),
    ...(options.onInteraction === undefined ? {} : { onInteraction: options.onInteraction }),
    ...relayFor(),
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
    ...tokenExchanges(cache),
  };

  // Missions (AAuth -11 §Mission; missions.ts). A mission's tokens live in its own scope of the cache.
  const ended = new EndedMissions(cache);
  const missionTokens = (s256: string): TokenCache => cache.scoped(tokenKey.mission(s256));

  async function proposeMission(proposal: MissionProposal): Promise<Mission> {
    const agent = stringOr(claimsOf(await agentToken())['sub']);
    if (agent === undefined) throw new AgentError('no_agent_token', { detail: 'the agent token has no sub' });
    const mission = await proposeAtPs(proposal, { client: await personServer(), agent, checks: await checkContext() });
    const tokens = missionTokens(mission.s256);
    for (const [resource, entry] of Object.entries(mission.personTokens)) tokens.set(tokenKey.person(resource), entry);
    return mission;
  }

  const updateMission = (s256: string, description: string): Promise<MissionUpdate> =>
    ended.run(s256, async () => updateAtPs(await personServer(), s256, description));

  const completeMission = (s256: string, summary: string): Promise<MissionCompletion> =>
    ended.run(s256, async () => {
      const completion = await completeAtPs(await personServer(), s256, summary);
      ended.record(s256, completion.terminationReason);
      return completion;
    });

  function withMission(mission: Mission): MissionAgent {
    const tokens = missionTokens(mission.s256);
    const advertised = [...capabilities, ...mission.capabilities];
    const scoped: RequirementContext = {
      ...context,
      cache: tokens,
      ...tokenExchanges(tokens, mission.s256),
      ...relayFor(mission.s256),
      send: (request, token) => context.send(advertising(request, advertised), token),
    };
    const states = new Map<string, ResourceState>();
    return {
      mission,
      tokens,
      fetch: (input, init) =>
        ended.run(mission.s256, async () => {
          if ((await personServer()).ps !== mission.ps) throw new AgentError('invalid_mission', { detail: 'the mission was approved by another Person Server than this agent’s' });
          const request = await requestParts(input, init);
          const resource = new URL(request.url).origin;
          const state = states.get(resource) ?? { kind: 'agent' };
          states.set(resource, state);
          return callResource(request, state, scoped);
        }),
      update: (description) => updateMission(mission.s256, description),
      complete: (summary) => completeMission(mission.s256, summary),
    };
  }

  // Call chaining (AAuth -11 §Call Chaining; §8.64): this agent is a resource calling onward for a person.
  const chainedPs = new Map<string, PersonServerClient>();
  function onBehalfOf(upstreamToken: string): ChainedAgent {
    const upstream = readUpstream(upstreamToken);
    // Route to the upstream token's PS, not this agent's own (an intermediary may have none).
    const psOf = async (): Promise<PersonServerClient> => {
      let client = chainedPs.get(upstream.ps);
      if (client === undefined) {
        const { signer } = await identity();
        client = new PersonServerClient({ ps: upstream.ps, fetch, signer, agentToken, now, metadataCache, ...pollContext });
        chainedPs.set(upstream.ps, client);
      }
      return client;
    };
    const tokens = cache.scoped(tokenKey.upstream(upstream.ps, upstream.jti));
    const { relayInteraction: _ownRelay, ...withoutRelay } = context;
    const scoped: RequirementContext = { ...withoutRelay, cache: tokens, ...tokenExchanges(tokens, undefined, { upstreamToken, personServer: psOf }) };
    const states = new Map<string, ResourceState>();
    return {
      upstream,
      tokens,
      async fetch(input, init) {
        if (upstream.exp <= now()) throw new AgentError('expired_upstream_token', { detail: 'the upstream token has expired: the call it came with is over' });
        const request = await requestParts(input, init);
        const resource = new URL(request.url).origin;
        const state = states.get(resource) ?? { kind: 'agent' };
        states.set(resource, state);
        return callResource(request, state, scoped);
      },
    };
  }

  return {
    tokens: cache,
    onBehalfOf,
    async fetch(input, init) {
      const request = await requestParts(input, init);
      const resource = new URL(request.url).origin;
      let state = resources.get(resource);
      if (state === undefined) {
        state = stateFromCache(cache, resource);
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
    proposeMission,
    updateMission,
    completeMission,
    withMission,
  };
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
