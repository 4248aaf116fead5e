/**
 * The resource's `login_endpoint` (digest §5 `login_endpoint` row; §8.62): a PS, a portal or a partner site sends the
 * person's browser to `GET {login_endpoint}?ps=…&login_hint&domain_hint&tenant&start_path` to start a sign-in with
 * that PS. The request is untrusted: `parseLoginRequest` validates `ps` through its metadata and keeps `start_path` on
 * this resource's origin; what a sign-in then means for this resource (its own session, a redirect to its app) is
 * the application's `onLogin`. A bad request answers 400 problem+json and never reaches `onLogin`.
 */
import { AAuthError, isAAuthError, parseLoginRequest, type LoginMetadataSource, type LoginRequest } from '@tessera/protocol';
import { errorResponse, NO_STORE } from './challenge.js';

export interface LoginEndpointOptions {
  /** Where the PS's `aauth-person.json` comes from: a `MetadataCache` over an egress-guarded fetch. */
  readonly metadata: LoginMetadataSource;
  /** The application's sign-in, given the validated request (a redirect, typically). */
  onLogin(login: LoginRequest, request: Request): Response | Promise<Response>;
  /** Development only: accept `http://localhost:PORT` Person Servers. */
  readonly allowLoopbackHttp?: boolean;
}

/** Answers a request at the login endpoint: 405 for a method other than GET/HEAD, 400 for a bad request. */
export async function handleLoginRequest(request: Request, issuer: string, options: LoginEndpointOptions): Promise<Response> {
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    return new Response(JSON.stringify({ error: 'invalid_request', detail: 'the login endpoint takes GET' }), {
      status: 405,
      headers: { allow: 'GET, HEAD', 'content-type': 'application/problem+json', 'cache-control': NO_STORE },
    });
  }
  let login: LoginRequest;
  try {
    login = await parseLoginRequest(request.url, { metadata: options.metadata, origin: issuer, allowLoopbackHttp: options.allowLoopbackHttp === true });
  } catch (error) {
    return errorResponse(isAAuthError(error) ? error : new AAuthError('invalid_request', { detail: 'login request: not valid', cause: error }));
  }
  return options.onLogin(login, request);
}
