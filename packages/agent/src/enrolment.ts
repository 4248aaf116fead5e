/**
 * Enrolment with a Tessera Agent Provider (AAuth Bootstrap §Per-Platform Enrollment Sketches): `POST {ap}/enrol`
 * signed `hwk` with the new key (the agent has no token yet), a 202 with an interaction for the person, polls with
 * `hwk`-signed GETs, and `{agent_id, agent_token, expires_in}`. Renewal: `POST {ap}/token` signed with the current,
 * still valid agent token.
 */
import { decodeJws, type FetchLike, type Signer } from '@tessera/protocol';
import { AgentError, errorFromResponse } from './errors.js';
import { pollDeferred, type InteractionRequest } from './polling.js';
import { jsonBody, sendSigned } from './signed-fetch.js';

export interface EnrolmentDetails {
  /** The local part wanted (`aauth:{local}@{domain}`); the AP picks one when absent. */
  readonly local?: string;
  readonly name?: string;
  readonly description?: string;
  /** The person's PS, recorded in the agent token's `ps` claim. */
  readonly ps?: string;
}

export interface AgentTokenGrant {
  readonly agentId: string;
  readonly agentToken: string;
  /** Epoch seconds. */
  readonly exp: number;
}

export interface EnrolmentContext {
  readonly fetch: FetchLike;
  readonly signer: Signer;
  /** Clock, epoch seconds. */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly clock: () => number;
  readonly maxWaitMs: number;
  readonly preferWait?: number;
  readonly onInteraction?: (interaction: InteractionRequest) => void | Promise<void>;
  readonly allowLoopbackHttp?: boolean;
}

function apUrl(ap: string, path: string): string {
  return `${ap.replace(/\/+$/, '')}${path}`;
}

async function grantOf(response: Response, ctx: EnrolmentContext): Promise<AgentTokenGrant> {
  let json: Record<string, unknown>;
  try {
    json = (await response.json()) as Record<string, unknown>;
  } catch (cause) {
    throw new AgentError('token_request_failed', { status: response.status, detail: 'the Agent Provider answered 200 without JSON', cause });
  }
  const agentToken = json['agent_token'];
  const agentId = json['agent_id'];
  if (typeof agentToken !== 'string' || typeof agentId !== 'string') {
    throw new AgentError('token_request_failed', { status: response.status, detail: 'the response lacks agent_id or agent_token' });
  }
  let exp: number;
  try {
    const claims = decodeJws(agentToken).payload;
    exp = typeof claims['exp'] === 'number' ? claims['exp'] : ctx.now() + (typeof json['expires_in'] === 'number' ? json['expires_in'] : 0);
  } catch (cause) {
    throw new AgentError('no_agent_token', { detail: 'the agent token is not a JWS', cause });
  }
  return { agentId, agentToken, exp };
}

/** Enrols the signer's key with the Agent Provider `ap` and returns the first agent token. */
export async function enrol(ap: string, details: EnrolmentDetails, ctx: EnrolmentContext): Promise<AgentTokenGrant> {
  const url = apUrl(ap, '/enrol');
  const { body, headers } = jsonBody(details);
  const first = await sendSigned(ctx, { method: 'POST', url, headers, body }, { hwk: true });
  let final: Response;
  if (first.status === 202) {
    final = await pollDeferred(first, url, {
      send: (r) => sendSigned(ctx, r, { hwk: true }),
      sleep: ctx.sleep,
      clock: ctx.clock,
      maxWaitMs: ctx.maxWaitMs,
      terminalErrors: true,
      ...(ctx.preferWait === undefined ? {} : { preferWait: ctx.preferWait }),
      ...(ctx.onInteraction === undefined ? {} : { onInteraction: ctx.onInteraction }),
      ...(ctx.allowLoopbackHttp === true ? { allowLoopbackHttp: true } : {}),
    });
  } else if (first.status === 200) {
    final = first;
  } else {
    throw await errorFromResponse('token_request_failed', first, `enrolment at ${ap} answered ${first.status}`);
  }
  return grantOf(final, ctx);
}

/** Renews an agent token at `POST {ap}/token`, signed with the current agent token. */
export async function renewAgentToken(ap: string, agentToken: string, ctx: Pick<EnrolmentContext, 'fetch' | 'signer' | 'now'>): Promise<AgentTokenGrant> {
  const url = apUrl(ap, '/token');
  const { body, headers } = jsonBody({});
  const response = await sendSigned(ctx, { method: 'POST', url, headers, body }, agentToken);
  if (response.status !== 200) throw await errorFromResponse('token_request_failed', response, `renewal at ${ap} answered ${response.status}`);
  return grantOf(response, ctx as EnrolmentContext);
}
