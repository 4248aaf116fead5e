/**
 * The Agent Provider's metadata document, `/.well-known/aauth-agent.json` (AAuth -11 §Agent Provider Metadata), and
 * its JWKS. `issuer` is the AP identifier byte for byte (§8.13); `jwks_uri` is REQUIRED for an AP.
 *
 * The spec defines no endpoints for getting an agent token (enrolment is AP-specific: AAuth Bootstrap, informational).
 * Tessera publishes its own as extension members, which other parties ignore (§Metadata Documents: unknown members
 * are ignored):
 *
 * - `enrolment_endpoint` — `POST`, signed `hwk` with the new key: enrol an agent (202, the person approves);
 * - `agent_token_endpoint` — `POST`, signed with a valid agent token: a fresh agent token for the same key;
 * - `refresh_endpoint` — `POST`, `Signature-Key: sig=jkt-jwt` (old key delegates to the new one): key refresh;
 * - `subagent_endpoint` — `POST`, signed with the parent's agent token: a sub-agent token;
 * - `revocation_endpoint` — `POST {jti} | {agent_id}`, signed with an agent token: revoke agent tokens.
 */
import { METADATA_DOCUMENTS, SUPPORTED_ALGORITHMS, type AgentMetadata } from '@tessera/protocol';
import type { ServerIdentity } from '../context.js';

/** Paths of the AP routes (relative to the AP identifier). */
export const AP_PATHS = {
  metadata: `/.well-known/${METADATA_DOCUMENTS.agent}`,
  jwks: '/jwks.json',
  enrolment: '/enrol',
  agentToken: '/token',
  refresh: '/refresh',
  subagent: '/subagent',
  revocation: '/revoke',
  pending: '/pending',
} as const;

/** Tessera's extension members naming its AP endpoints. */
export interface TesseraAgentProviderEndpoints {
  readonly enrolment_endpoint: string;
  readonly agent_token_endpoint: string;
  readonly refresh_endpoint: string;
  readonly subagent_endpoint: string;
  readonly revocation_endpoint: string;
}

export type AgentProviderMetadata = AgentMetadata & TesseraAgentProviderEndpoints;

/** The `aauth-agent.json` document for the AP identity `ap`. */
export function agentProviderMetadata(ap: ServerIdentity): AgentProviderMetadata {
  const url = (path: string): string => `${ap.issuer}${path}`;
  return {
    issuer: ap.issuer,
    jwks_uri: url(AP_PATHS.jwks),
    accept_signature_algs: [...SUPPORTED_ALGORITHMS],
    name: ap.name,
    ...(ap.description === undefined ? {} : { description: ap.description }),
    ...(ap.logoUri === undefined ? {} : { logo_uri: ap.logoUri }),
    enrolment_endpoint: url(AP_PATHS.enrolment),
    agent_token_endpoint: url(AP_PATHS.agentToken),
    refresh_endpoint: url(AP_PATHS.refresh),
    subagent_endpoint: url(AP_PATHS.subagent),
    revocation_endpoint: url(AP_PATHS.revocation),
  };
}
