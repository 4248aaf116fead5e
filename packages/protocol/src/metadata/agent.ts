/**
 * Agent Provider metadata, `/.well-known/aauth-agent.json` (AAuth -11 §Agent Provider Metadata).
 */
import type { CommonMetadata, MetadataOptions } from './common.js';
import { compact, openMetadata } from './common.js';

export interface AgentMetadata extends CommonMetadata {
  /** REQUIRED for an agent provider. */
  readonly jwks_uri: string;
  readonly callback_endpoint?: string;
  /** Where resources deliver event tokens (AAuth Events). */
  readonly event_endpoint?: string;
  readonly login_endpoint?: string;
  /** Default false. */
  readonly localhost_callback_allowed?: boolean;
}

/** Validates an `aauth-agent.json` document. Throws `issuer_missing`, `issuer_mismatch` or `invalid_metadata`. */
export function parseAgentMetadata(json: unknown, options: MetadataOptions): AgentMetadata {
  const { issuer, reader } = openMetadata(json, options);
  return compact<AgentMetadata>({
    ...reader.common(issuer, true),
    callback_endpoint: reader.endpoint('callback_endpoint'),
    event_endpoint: reader.endpoint('event_endpoint'),
    login_endpoint: reader.endpoint('login_endpoint'),
    localhost_callback_allowed: reader.boolean('localhost_callback_allowed'),
  });
}
