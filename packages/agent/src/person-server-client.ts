/**
 * The agent's Person Server client (AAuth -11 §Person Token Endpoint, §Person Server; digest §5, §6 C/D): discovery
 * of `{ps}/.well-known/aauth-person.json` with the issuer check (§8.13), person tokens (`POST person_token_endpoint
 * {resource}`) and auth tokens (`POST auth_token_endpoint {resource_token}`), each signed with the agent token and
 * covering `content-digest`/`content-type` (§8.1), with 202 → polling (§8.43, §8.44); and the signed POSTs to the
 * `mission_endpoint` that `missions.ts` builds on (§Mission). The PS never receives
 * `AAuth-Capabilities` (§8.63): capabilities would go in the body, and this client builds every header itself.
 */
import {
  MetadataCache,
  decodeJws,
  interpretMetadata,
  METADATA_DOCUMENTS,
  type FetchLike,
  type PersonMetadata,
  type Signer,
} from '@tessera/protocol';
import { AgentError, errorFromResponse, type AgentErrorCode } from './errors.js';
import { pollDeferred, type ClarificationRequest, type InteractionRequest } from './polling.js';
import { jsonBody, sendSigned } from './signed-fetch.js';

export interface PersonServerClientOptions {
  /** The PS identifier. */
  readonly ps: string;
  readonly fetch: FetchLike;
  readonly signer: Signer;
  /** The current agent token (renewed by the caller when needed). */
  readonly agentToken: () => Promise<string>;
  /** Clock, epoch seconds. */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: () => number;
  readonly preferWait?: number;
  readonly maxWaitMs: number;
  readonly onInteraction?: (interaction: InteractionRequest) => void | Promise<void>;
  readonly onClarification?: (question: ClarificationRequest) => Promise<string>;
  readonly allowLoopbackHttp?: boolean;
  /** Shared metadata cache; one is created when absent. */
  readonly metadataCache?: MetadataCache;
}

export interface IssuedToken {
  readonly token: string;
  /** Epoch seconds: the JWT's `exp` (else now + `expires_in`). */
  readonly exp: number | undefined;
  readonly claims: Record<string, unknown>;
}

export interface PersonTokenRequest {
  /** The resource identifier (its origin). */
  readonly resource: string;
  readonly mission_s256?: string;
  readonly subagent_token?: string;
  readonly upstream_token?: string;
}

export interface AuthTokenRequest {
  readonly resource_token: string;
  readonly justification?: string;
  readonly login_hint?: string;
  readonly tenant?: string;
  readonly domain_hint?: string;
  readonly prompt?: 'none' | 'login' | 'consent' | 'select_account';
  readonly subagent_token?: string;
  readonly upstream_token?: string;
  /** What the agent can do (the PS takes a `capabilities` body field, never the header: §8.63). */
  readonly capabilities?: readonly string[];
}

export class PersonServerClient {
  readonly ps: string;
  readonly #options: PersonServerClientOptions;
  readonly #metadataCache: MetadataCache;

  constructor(options: PersonServerClientOptions) {
    this.ps = options.ps;
    this.#options = options;
    this.#metadataCache =
      options.metadataCache ?? new MetadataCache({ fetch: options.fetch, now: options.now, ...(options.allowLoopbackHttp === true ? { allowLoopbackHttp: true } : {}) });
  }

  /** The PS metadata, issuer-checked and validated (`person_token_endpoint` and `auth_token_endpoint` REQUIRED). */
  async metadata(): Promise<PersonMetadata> {
    const dwk = METADATA_DOCUMENTS.person;
    try {
      const json = await this.#metadataCache.getDocument(this.ps, dwk);
      const discovered = interpretMetadata(json, this.ps, dwk, this.#options.allowLoopbackHttp === true);
      if (discovered.kind !== 'person') throw new AgentError('invalid_metadata', { detail: 'not Person Server metadata' });
      return discovered.document;
    } catch (error) {
      if (error instanceof AgentError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new AgentError('invalid_metadata', { detail: `Person Server metadata of ${this.ps}: ${typeof code === 'string' ? code : 'unavailable'}`, cause: error });
    }
  }

  /** The PS's `mission_endpoint` (OPTIONAL metadata); `AgentError('no_mission_endpoint')` when it has none. */
  async missionEndpoint(): Promise<string> {
    const endpoint = (await this.metadata()).mission_endpoint;
    if (endpoint === undefined) throw new AgentError('no_mission_endpoint', { detail: `${this.ps} publishes no mission_endpoint` });
    return endpoint;
  }

  /**
   * A signed JSON POST to one of the PS's endpoints with the agent token; a 202 is polled to its end (interaction and
   * clarification through the handlers). Resolves to the JSON object of the final 200. Another first answer →
   * `AgentError(failure)` (or `mission_terminated` / `mission_not_found`, see `errorFromResponse`).
   */
  async post(endpoint: string, payload: object, failure: AgentErrorCode): Promise<Record<string, unknown>> {
    return this.#post(endpoint, payload, failure);
  }

  /**
   * A signed JSON POST to one of the PS's endpoints with the agent token; the response as it comes, not polled (the
   * interaction relay reads it itself and never follows the PS's Location: interaction-relay.ts, §8.50).
   */
  async send(endpoint: string, payload: object): Promise<Response> {
    const o = this.#options;
    const { body, headers } = jsonBody(payload);
    return sendSigned({ fetch: o.fetch, signer: o.signer, now: o.now }, { method: 'POST', url: endpoint, headers, body }, await o.agentToken());
  }

  /** `POST person_token_endpoint` → `{person_token, expires_in}` (after a 202 and polling when the person is asked). */
  async requestPersonToken(request: PersonTokenRequest): Promise<IssuedToken> {
    const metadata = await this.metadata();
    const json = await this.#post(metadata.person_token_endpoint, request);
    return this.#issued(json, 'person_token', 'invalid_person_token');
  }

  /** `POST auth_token_endpoint` → `{auth_token, expires_in}` (after a 202 and polling when consent is needed). */
  async requestAuthToken(request: AuthTokenRequest): Promise<IssuedToken> {
    const metadata = await this.metadata();
    const json = await this.#post(metadata.auth_token_endpoint, request);
    return this.#issued(json, 'auth_token', 'invalid_auth_token');
  }

  #issued(json: Record<string, unknown>, member: string, code: 'invalid_person_token' | 'invalid_auth_token'): IssuedToken {
    const token = json[member];
    if (typeof token !== 'string' || token.length === 0) throw new AgentError(code, { status: 200, detail: `the response has no ${member}` });
    let claims: Record<string, unknown>;
    try {
      claims = decodeJws(token).payload;
    } catch (cause) {
      throw new AgentError(code, { status: 200, detail: `${member} is not a JWS`, cause });
    }
    const expiresIn = json['expires_in'];
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] : typeof expiresIn === 'number' ? this.#options.now() + expiresIn : undefined;
    return { token, exp, claims };
  }

  async #post(endpoint: string, payload: object, failure: AgentErrorCode = 'token_request_failed'): Promise<Record<string, unknown>> {
    const o = this.#options;
    const ctx = { fetch: o.fetch, signer: o.signer, now: o.now };
    const { body, headers } = jsonBody(payload);
    const token = await o.agentToken();
    const first = await sendSigned(ctx, { method: 'POST', url: endpoint, headers, body }, token);
    let final: Response;
    if (first.status === 202) {
      final = await pollDeferred(first, endpoint, {
        send: async (r) => sendSigned(ctx, r, await o.agentToken()),
        sleep: o.sleep,
        clock: o.clock,
        maxWaitMs: o.maxWaitMs,
        terminalErrors: true,
        ...(o.preferWait === undefined ? {} : { preferWait: o.preferWait }),
        ...(o.onInteraction === undefined ? {} : { onInteraction: o.onInteraction }),
        ...(o.onClarification === undefined ? {} : { onClarification: o.onClarification }),
        ...(o.allowLoopbackHttp === true ? { allowLoopbackHttp: true } : {}),
      });
    } else if (first.status === 200) {
      final = first;
    } else {
      throw await errorFromResponse(failure, first, `${endpoint} answered ${first.status}`);
    }
    try {
      const json = (await final.json()) as unknown;
      if (typeof json === 'object' && json !== null && !Array.isArray(json)) return json as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new AgentError(failure, { status: final.status, detail: `${endpoint} answered 200 without a JSON object` });
  }
}
