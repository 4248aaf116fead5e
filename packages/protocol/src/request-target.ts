import { AAuthError } from './errors.js';

let lastOrigin: string | undefined;
let lastBase = '';

/**
 * The target URI of a request received under `origin` (a server's identifier: `scheme://host[:port]`, any path
 * ignored), given the request target in origin-form (RFC 9110 §7.1: path and query, starting with `/`).
 *
 * The two are concatenated, not resolved with `new URL(target, origin)`: a target that starts with `//` is a
 * network-path reference there (RFC 3986 §4.2), whose first segment becomes the authority, and a request signed for
 * another server (`@authority`, `@target-uri`, RFC 9421 §2.2) would verify here. A target that is not origin-form is
 * refused with `invalid_request`. The result is normalized as a URL parser normalizes it (dot segments, percent-encoding).
 */
export function targetUri(origin: string, pathAndQuery: string): string {
  if (pathAndQuery.charCodeAt(0) !== 0x2f) throw new AAuthError('invalid_request', { detail: 'the request target is not in origin-form' });
  if (origin !== lastOrigin) {
    lastBase = new URL(origin).origin;
    lastOrigin = origin;
  }
  const uri = lastBase + pathAndQuery;
  const url = new URL(uri);
  // A fragment is never part of a target URI (RFC 9110 §7.1).
  if (uri.includes('#')) url.hash = '';
  return url.href;
}
