/**
 * Resource metadata, `/.well-known/aauth-resource.json` (AAuth -11 §Resource Metadata).
 */
import { AAuthError } from '../errors.js';
import type { CommonMetadata, MetadataOptions } from './common.js';
import { compact, openMetadata } from './common.js';

/**
 * Access modes of the AAuth Access Mode Value Registry, plus R3's `per-call`.
 * An unrecognized value is treated as no declaration (AAuth -11 §Resource Metadata).
 */
export type AccessMode = 'agent-token' | 'person-token' | 'session-token' | 'auth-token' | 'per-call';

const ACCESS_MODES: readonly string[] = ['agent-token', 'person-token', 'session-token', 'auth-token', 'per-call'];

/** `access_mode` when the resource declares none (or one the agent does not recognize). */
export const DEFAULT_ACCESS_MODE: AccessMode = 'agent-token';

export interface ResourceMetadata extends CommonMetadata {
  /** Absent when not declared or not recognized. Advisory: `AAuth-Requirement` is authoritative. */
  readonly access_mode?: AccessMode;
  readonly authorization_endpoint?: string;
  readonly login_endpoint?: string;
  /** Scope value → Markdown description (sanitize before rendering). */
  readonly scope_descriptions?: Readonly<Record<string, string>>;
  /** Seconds; the `created` validity window. Default 60 when absent. */
  readonly signature_window?: number;
  /** Component identifiers agents MUST cover in addition to the base components. */
  readonly additional_signature_components?: readonly string[];
  readonly revocation_endpoint?: string;
  /** R3 vocabularies, passed through unvalidated. */
  readonly r3_vocabularies?: unknown;
  /** AAuth Budgets. */
  readonly budget_units?: readonly string[];
  readonly usage_endpoint?: string;
}

/** The mode an agent should plan for: the declared one, else `agent-token`. */
export function effectiveAccessMode(metadata: Pick<ResourceMetadata, 'access_mode'>): AccessMode {
  return metadata.access_mode ?? DEFAULT_ACCESS_MODE;
}

function accessMode(value: unknown): AccessMode | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AAuthError('invalid_metadata', { detail: 'access_mode is not a string' });
  return ACCESS_MODES.includes(value) ? (value as AccessMode) : undefined;
}

/** Validates an `aauth-resource.json` document. Throws `issuer_missing`, `issuer_mismatch` or `invalid_metadata`. */
export function parseResourceMetadata(json: unknown, options: MetadataOptions): ResourceMetadata {
  const { issuer, reader } = openMetadata(json, options);
  const raw = json as Record<string, unknown>;
  const components = reader.stringArray('additional_signature_components');
  if (components !== undefined) {
    for (const component of components) {
      // Component identifiers are lowercase field names or derived components (RFC 9421 §2).
      if (!/^[\x21-\x7e]+$/.test(component)) {
        throw new AAuthError('invalid_metadata', { detail: 'additional_signature_components has an invalid identifier' });
      }
    }
  }
  return compact<ResourceMetadata>({
    // A resource that only verifies agent signatures has no keys to publish.
    ...reader.common(issuer, false),
    access_mode: accessMode(raw['access_mode']),
    authorization_endpoint: reader.endpoint('authorization_endpoint'),
    login_endpoint: reader.endpoint('login_endpoint'),
    scope_descriptions: reader.stringMap('scope_descriptions'),
    signature_window: reader.positiveInteger('signature_window'),
    additional_signature_components: components,
    revocation_endpoint: reader.endpoint('revocation_endpoint'),
    r3_vocabularies: raw['r3_vocabularies'] ?? undefined,
    budget_units: reader.stringArray('budget_units'),
    usage_endpoint: reader.endpoint('usage_endpoint'),
  });
}
