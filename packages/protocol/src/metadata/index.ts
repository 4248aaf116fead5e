/**
 * The AAuth metadata documents (AAuth -11 §Metadata Documents) and one entry point that validates any of them.
 */
import { AAuthError } from '../errors.js';
import type { AccessMetadata } from './access.js';
import { parseAccessMetadata } from './access.js';
import type { AgentMetadata } from './agent.js';
import { parseAgentMetadata } from './agent.js';
import type { MetadataKind, MetadataOptions } from './common.js';
import type { PersonMetadata } from './person.js';
import { parsePersonMetadata } from './person.js';
import type { ResourceMetadata } from './resource.js';
import { parseResourceMetadata } from './resource.js';

export type { AccessMetadata } from './access.js';
export type { AgentMetadata } from './agent.js';
export type { CommonMetadata, MetadataKind, MetadataOptions } from './common.js';
export type { PersonMetadata } from './person.js';
export type { AccessMode, ResourceMetadata } from './resource.js';
export { parseAccessMetadata } from './access.js';
export { parseAgentMetadata } from './agent.js';
export { METADATA_DOCUMENTS, checkIssuer, metadataKindOf, parseCommonMetadata } from './common.js';
export { parsePersonMetadata } from './person.js';
export { DEFAULT_ACCESS_MODE, effectiveAccessMode, parseResourceMetadata } from './resource.js';

export interface MetadataByKind {
  readonly agent: AgentMetadata;
  readonly person: PersonMetadata;
  readonly resource: ResourceMetadata;
  readonly access: AccessMetadata;
}

/**
 * Validates a metadata document of `kind` (already JSON-parsed). The issuer check runs first:
 * no `issuer` → `issuer_missing`; an `issuer` that differs by even one byte from `expectedIssuer` →
 * `issuer_mismatch` (checklist §8.13). Anything else invalid → `invalid_metadata`. Unknown members are ignored.
 */
export function parseMetadata<K extends MetadataKind>(kind: K, json: unknown, options: MetadataOptions): MetadataByKind[K] {
  switch (kind) {
    case 'agent':
      return parseAgentMetadata(json, options) as MetadataByKind[K];
    case 'person':
      return parsePersonMetadata(json, options);
    case 'resource':
      return parseResourceMetadata(json, options) as MetadataByKind[K];
    case 'access':
      return parseAccessMetadata(json, options) as MetadataByKind[K];
    default:
      throw new AAuthError('invalid_argument', { detail: 'unknown metadata kind' });
  }
}
