/**
 * The identity the gateway hands to the upstream, in headers the upstream can trust because the gateway strips
 * every incoming header of the `x-aauth-` family before it forwards (a client cannot spoof them):
 *
 * | header | value |
 * |---|---|
 * | `x-aauth-agent` | the agent identifier (`aauth:local@domain`), when the request carried an agent token |
 * | `x-aauth-agent-jkt` | RFC 7638 thumbprint of the key that signed the request (`agent_jkt`) |
 * | `x-aauth-person-iss` | the Person Server whose namespace `sub` belongs to (key persons on `(iss, sub)`, §8.21) |
 * | `x-aauth-person-sub` | the person's directed identifier at that Person Server |
 * | `x-aauth-scope` | granted scopes, space separated (auth-token mode) |
 * | `x-aauth-token-id` | `jti` of the token in `Signature-Key` |
 * | `x-aauth-mode` | the route's access mode |
 *
 * A header is absent when the value is unknown. A value with a character outside printable ASCII is sent
 * percent-encoded (`encodeURIComponent`), so a token claim cannot inject header syntax.
 */
import type { VerifiedIdentity } from '@tessera/resource';

export const IDENTITY_HEADER_PREFIX = 'x-aauth-';

export const IDENTITY_HEADERS = [
  'x-aauth-agent',
  'x-aauth-agent-jkt',
  'x-aauth-person-iss',
  'x-aauth-person-sub',
  'x-aauth-scope',
  'x-aauth-token-id',
  'x-aauth-mode',
] as const;

export type IdentityHeaderName = (typeof IDENTITY_HEADERS)[number];

const SAFE = /^[\x20-\x7e]*$/;

function headerValue(value: string): string {
  return SAFE.test(value) ? value : encodeURIComponent(value);
}

/** True for any name of the identity family (case-insensitive), which the gateway never lets through from a client. */
export function isIdentityHeader(name: string): boolean {
  return name.length > 8 && name.slice(0, 8).toLowerCase() === IDENTITY_HEADER_PREFIX;
}

/** The identity headers for a granted request, as `[name, value]` pairs (absent values left out). */
export function identityHeaders(identity: Pick<VerifiedIdentity, 'mode' | 'agent' | 'person' | 'scopes' | 'tokenId'>): [IdentityHeaderName, string][] {
  const out: [IdentityHeaderName, string][] = [];
  if (identity.agent.id !== undefined) out.push(['x-aauth-agent', headerValue(identity.agent.id)]);
  out.push(['x-aauth-agent-jkt', headerValue(identity.agent.jkt)]);
  if (identity.person !== undefined) {
    out.push(['x-aauth-person-iss', headerValue(identity.person.iss)]);
    out.push(['x-aauth-person-sub', headerValue(identity.person.sub)]);
  }
  if (identity.scopes.length > 0) out.push(['x-aauth-scope', headerValue(identity.scopes.join(' '))]);
  out.push(['x-aauth-token-id', headerValue(identity.tokenId)]);
  out.push(['x-aauth-mode', identity.mode]);
  return out;
}
