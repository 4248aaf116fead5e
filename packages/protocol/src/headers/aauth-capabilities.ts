/**
 * The `AAuth-Capabilities` request header (AAuth -11 §AAuth-Capabilities Request Header): an SF List of
 * Tokens naming what the agent (with its PS) can handle, so a resource knows which requirements it can
 * raise. Sent to resources only — PS endpoints take a `capabilities` body member instead (§8.63).
 */

import { AAuthError } from '../errors.js';
import { isInnerList, isSfToken, parseSfList, serializeSfList, sfToken, tokenValue, type List } from '../structured-fields.js';

export const AAUTH_CAPABILITIES = 'AAuth-Capabilities';

/** Capability values: AAuth -11 defines `interaction`, `clarification`, `payment`; AAuth Budgets adds `budget`. */
export type AAuthCapability = 'interaction' | 'clarification' | 'payment' | 'budget';

export const AAUTH_CAPABILITY_VALUES: readonly AAuthCapability[] = ['interaction', 'clarification', 'payment', 'budget'];

/** The capabilities a request declared. Unrecognized values are kept (in order) but never granted meaning. */
export interface ParsedAAuthCapabilities {
  /** The recognized capabilities. Empty when the header is absent: recipients MUST NOT assume any. */
  readonly known: ReadonlySet<AAuthCapability>;
  /** Token values this implementation does not recognize; recipients MUST ignore them. */
  readonly unrecognized: readonly string[];
  has(capability: AAuthCapability): boolean;
}

const KNOWN: ReadonlySet<string> = new Set(AAUTH_CAPABILITY_VALUES);

function result(known: Set<AAuthCapability>, unrecognized: string[]): ParsedAAuthCapabilities {
  return { known, unrecognized, has: (capability) => known.has(capability) };
}

/**
 * Parses `AAuth-Capabilities`. An absent header (`undefined`) declares nothing. Unrecognized values and
 * all parameters are ignored, as are members that are not Tokens. A value that is not an SF List →
 * `invalid_header`; a resource MAY treat that as "no capabilities" instead of failing the request.
 */
export function parseAAuthCapabilities(value: string | undefined): ParsedAAuthCapabilities {
  const known = new Set<AAuthCapability>();
  const unrecognized: string[] = [];
  if (value === undefined) return result(known, unrecognized);
  for (const member of parseSfList(value, { field: AAUTH_CAPABILITIES })) {
    if (isInnerList(member)) continue;
    const token = tokenValue(member[0]);
    if (token === undefined) continue;
    if (KNOWN.has(token)) known.add(token as AAuthCapability);
    else if (!unrecognized.includes(token)) unrecognized.push(token);
  }
  return result(known, unrecognized);
}

/**
 * Serializes `AAuth-Capabilities` as an SF List of Tokens, without duplicates. Accepts extension values
 * as long as they are valid Tokens; anything else → `invalid_argument`.
 */
export function serializeAAuthCapabilities(capabilities: Iterable<AAuthCapability | (string & {})>): string {
  const list: List = [];
  const seen = new Set<string>();
  for (const capability of capabilities) {
    if (typeof capability !== 'string' || !isSfToken(capability)) {
      throw new AAuthError('invalid_argument', { detail: 'a capability must be a Structured Field Token' });
    }
    if (seen.has(capability)) continue;
    seen.add(capability);
    list.push([sfToken(capability), new Map()]);
  }
  return serializeSfList(list);
}
