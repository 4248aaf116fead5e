/**
 * The `AAuth-Requirement` response header (AAuth -11 §Requirement Responses): an SF Dictionary whose
 * REQUIRED `requirement` member is a Token; the requirement's data are parameters on that member —
 * `requirement=auth-token; resource-token="eyJ…"`. Sent with 401, 202 or 402; never via `WWW-Authenticate`.
 */

import { AAuthError } from '../errors.js';
import { validateEndpointUrl, type IdentifierOptions } from '../identifiers.js';
import { isEmittableInteractionCode } from '../interaction-code.js';
import {
  isInnerList,
  parseSfDictionary,
  serializeSfDictionary,
  sfToken,
  stringValue,
  tokenValue,
  type BareItem,
  type Dictionary,
  type Parameters,
} from '../structured-fields.js';

export const AAUTH_REQUIREMENT = 'AAuth-Requirement';

/** Requirement values defined by AAuth -11 §Requirement Values. */
export type RequirementValue = 'agent-token' | 'person-token' | 'auth-token' | 'interaction' | 'approval' | 'clarification' | 'claims';

/** Requirements that carry no parameters. */
export type BareRequirementValue = Exclude<RequirementValue, 'auth-token' | 'interaction'>;

export type AAuthRequirement =
  | { readonly requirement: BareRequirementValue }
  /** `resource-token` is REQUIRED (§Auth Token Required, §8.29). */
  | { readonly requirement: 'auth-token'; readonly resourceToken: string }
  /** `url` (https, no query or fragment) and `code` are REQUIRED (§Interaction Required, §8.46). */
  | { readonly requirement: 'interaction'; readonly url: string; readonly code: string };

/**
 * What {@link parseAAuthRequirement} returns: a known requirement, or `unknown` with the value received.
 * An unknown value means the response cannot be satisfied; on a 202 the agent MAY keep polling (§8.28).
 */
export type ParsedAAuthRequirement = AAuthRequirement | { readonly requirement: 'unknown'; readonly value: string };

const BARE: ReadonlySet<string> = new Set<BareRequirementValue>(['agent-token', 'person-token', 'approval', 'clarification', 'claims']);

export type RequirementOptions = IdentifierOptions;

const bad = (detail: string): AAuthError => new AAuthError('invalid_header', { detail: `AAuth-Requirement: ${detail}` });

/**
 * Parses `AAuth-Requirement` (§AAuth-Requirement Header Structure). Unknown parameters and unknown
 * dictionary members are ignored (§8.28); parameters on `agent-token`/`person-token` are ignored too.
 * Throws `invalid_header` when the value is not an SF Dictionary, `requirement` is missing or not a
 * Token, `auth-token` lacks a String `resource-token` (§8.29), or `interaction` lacks an https `url`
 * without query or fragment or a String `code` (§8.46).
 */
export function parseAAuthRequirement(value: string, options: RequirementOptions = {}): ParsedAAuthRequirement {
  const dictionary = parseSfDictionary(value, { field: AAUTH_REQUIREMENT });
  const entry = dictionary.get('requirement');
  if (entry === undefined) throw bad('no requirement member');
  if (isInnerList(entry)) throw bad('requirement is an Inner List');
  const [item, params] = entry;
  const requirement = tokenValue(item);
  if (requirement === undefined) throw bad('requirement is not a Token');
  if (BARE.has(requirement)) return { requirement: requirement as BareRequirementValue };
  if (requirement === 'auth-token') {
    const resourceToken = stringValue(params.get('resource-token'));
    if (resourceToken === undefined || resourceToken.length === 0) throw bad('auth-token without a resource-token String');
    return { requirement, resourceToken };
  }
  if (requirement === 'interaction') {
    const url = stringValue(params.get('url'));
    const code = stringValue(params.get('code'));
    if (url === undefined) throw bad('interaction without a url String');
    if (code === undefined || code.length === 0) throw bad('interaction without a code String');
    try {
      validateEndpointUrl(url, options);
    } catch (cause) {
      throw new AAuthError('invalid_header', { detail: 'AAuth-Requirement: interaction url must be https without query or fragment', cause });
    }
    return { requirement, url, code };
  }
  return { requirement: 'unknown', value: requirement };
}

/**
 * Serializes a requirement. Never emits parameters on bare requirements (§8.29). Validates what it
 * emits: `resource-token` non-empty; interaction `url` https without query or fragment; `code` of
 * Crockford symbols and hyphens, at least 8 symbols (§Interaction Code Format). Throws `invalid_argument`.
 */
export function serializeAAuthRequirement(requirement: AAuthRequirement, options: RequirementOptions = {}): string {
  const params: Parameters = new Map<string, BareItem>();
  switch (requirement.requirement) {
    case 'auth-token':
      if (typeof requirement.resourceToken !== 'string' || requirement.resourceToken.length === 0) {
        throw new AAuthError('invalid_argument', { detail: 'auth-token requires a resource token' });
      }
      params.set('resource-token', requirement.resourceToken);
      break;
    case 'interaction':
      try {
        validateEndpointUrl(requirement.url, options);
      } catch (cause) {
        throw new AAuthError('invalid_argument', { detail: 'interaction url must be https without query or fragment', cause });
      }
      if (!isEmittableInteractionCode(requirement.code)) {
        throw new AAuthError('invalid_argument', { detail: 'interaction code must be at least 8 Crockford base32 symbols' });
      }
      params.set('url', requirement.url);
      params.set('code', requirement.code);
      break;
    default:
      if (!BARE.has(requirement.requirement)) throw new AAuthError('invalid_argument', { detail: 'unknown requirement value' });
  }
  const dictionary: Dictionary = new Map([['requirement', [sfToken(requirement.requirement), params]]]);
  return serializeSfDictionary(dictionary);
}

/**
 * Builds an `AAuth-Requirement` value. The overloads make a requirement without its REQUIRED data a
 * compile error: `auth-token` needs `resourceToken`, `interaction` needs `url` and `code`, and the
 * others take nothing.
 */
export function buildAAuthRequirement(requirement: BareRequirementValue): string;
export function buildAAuthRequirement(requirement: 'auth-token', data: { readonly resourceToken: string }): string;
export function buildAAuthRequirement(
  requirement: 'interaction',
  data: { readonly url: string; readonly code: string },
  options?: RequirementOptions,
): string;
export function buildAAuthRequirement(
  requirement: RequirementValue,
  data?: { readonly resourceToken?: string; readonly url?: string; readonly code?: string },
  options: RequirementOptions = {},
): string {
  switch (requirement) {
    case 'auth-token':
      return serializeAAuthRequirement({ requirement, resourceToken: data?.resourceToken ?? '' });
    case 'interaction':
      return serializeAAuthRequirement({ requirement, url: data?.url ?? '', code: data?.code ?? '' }, options);
    default:
      return serializeAAuthRequirement({ requirement });
  }
}
