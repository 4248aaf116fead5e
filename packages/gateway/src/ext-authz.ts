/**
 * Envoy `ext_authz` HTTP service mode. Envoy sends each check as an HTTP request carrying the client's method,
 * path (prefixed with the filter's `path_prefix`), headers (as allowed) and, with `with_request_body`, the body.
 * The gateway verifies it exactly as the proxy would and answers:
 *
 * - granted → `200` with the identity headers (Envoy copies those named in
 *   `authorization_response.allowed_upstream_headers` onto the upstream request, replacing client values) and
 *   `x-envoy-auth-headers-to-remove` naming the AAuth credentials and every identity header the gateway did not
 *   set, so neither a credential nor a spoofed identity header reaches the upstream;
 * - refused → the resource core's response as is: its status (401 challenge, 401 + `Signature-Error`, 403, 413),
 *   headers (`AAuth-Requirement`, `Signature-Error`, ...) and problem+json body, which Envoy returns to the client.
 */
import { IDENTITY_HEADERS, identityHeaders } from './identity-headers.js';

/** Headers Envoy must remove from the upstream request on a granted check (with the identity headers not set). */
export const CREDENTIAL_HEADERS = ['signature', 'signature-input', 'signature-key'] as const;

/** The path the client asked for, from the check request's path (`path_prefix` removed), or `undefined`. */
export function originalPath(checkPath: string, pathPrefix: string): string | undefined {
  const prefix = pathPrefix.endsWith('/') ? pathPrefix.slice(0, -1) : pathPrefix;
  if (!checkPath.startsWith(prefix)) return undefined;
  const rest = checkPath.slice(prefix.length);
  if (rest === '') return '/';
  return rest.startsWith('/') ? rest : undefined;
}

/** The headers of a granted check: identity headers plus `x-envoy-auth-headers-to-remove`. */
export function allowedCheckHeaders(
  identity: Parameters<typeof identityHeaders>[0],
  options: { readonly removeAuthorization: boolean },
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of identityHeaders(identity)) headers[name] = value;
  const remove: string[] = [...CREDENTIAL_HEADERS];
  if (options.removeAuthorization) remove.push('authorization');
  for (const name of IDENTITY_HEADERS) if (!(name in headers)) remove.push(name);
  headers['x-envoy-auth-headers-to-remove'] = remove.join(',');
  headers['cache-control'] = 'no-store';
  return headers;
}
