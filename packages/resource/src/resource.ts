/**
 * `createResource(options)`: one object bundling what an AAuth resource does — verify requests against route
 * policies, answer challenges, mint resource tokens, serve its metadata, JWKS and authorization endpoint, issue
 * session tokens, and deliver auth-token requirements deferred.
 *
 * Capabilities are injected (AAuth layering: the clock, key resolution, signer, caches and stores); nothing here
 * keeps module-level state.
 */
import { AAuthError, type AccessMode, type HttpRequestMessage, type JwkSet, type ResourceMetadata } from '@tessera/protocol';
import { handleAuthorizationRequest, type AuthorizationEndpointOptions } from './authorization-endpoint.js';
import { handleLoginRequest, type LoginEndpointOptions } from './login-endpoint.js';
import { createDeferredAuthToken, type DeferredAuthToken, type DeferredAuthTokenOptions } from './deferred-auth-token.js';
import { DEFAULT_JWKS_PATH, jwksResponse, metadataResponse, resolveUrl, resourceJwks, resourceMetadata, RESOURCE_METADATA_PATH } from './metadata.js';
import { definePolicy, type RoutePolicy } from './policy.js';
import { issueResourceToken, resourceTokenContext, type IssuedResourceToken, type IssueResourceTokenInput } from './resource-token.js';
import { issueSessionToken, lookupSessionToken, revokeSessionToken, type IssuedSessionToken, type IssueSessionTokenInput, type SessionLookup } from './session-token.js';
import { verifyMessage, verifyRequest, type ResourceContext, type VerifyRequestResult } from './verify-request.js';

export interface CreateResourceOptions extends ResourceContext {
  /** Metadata: `access_mode` (advisory), display fields. */
  readonly accessMode?: AccessMode;
  readonly name?: string;
  readonly description?: string;
  readonly scopeDescriptions?: Readonly<Record<string, string>>;
  /** Path (or absolute URL) of the authorization endpoint; absent = the resource has none. */
  readonly authorizationEndpoint?: string;
  /** Path (or absolute URL) of the JWKS; default `/.well-known/jwks.json`. */
  readonly jwksUri?: string;
  /** Path (or absolute URL) of the login endpoint, published as `login_endpoint`; `handle` serves it with `login`. */
  readonly loginEndpoint?: string;
  /** Third-party login at `loginEndpoint` (§8.62): how `ps` is discovered, and the application's sign-in. */
  readonly login?: LoginEndpointOptions;
  readonly revocationEndpoint?: string;
  /** `accept_signature_algs` (default: `acceptAlgorithms` when given). */
  readonly acceptSignatureAlgs?: readonly string[];
  /** Options of the authorization endpoint (scopes default to the keys of `scopeDescriptions`). */
  readonly authorization?: AuthorizationEndpointOptions;
}

export interface Resource {
  readonly issuer: string;
  readonly context: ResourceContext;
  /** The core: verifies a fetch `Request` against a route policy (see `verifyRequest`). */
  verifyRequest(request: Request, policy: RoutePolicy): Promise<VerifyRequestResult>;
  /** The same for a message already read (raw header lines and body bytes; see `verifyMessage`). */
  verifyMessage(message: HttpRequestMessage, policy: RoutePolicy): Promise<VerifyRequestResult>;
  metadata(): ResourceMetadata;
  jwks(): JwkSet;
  /** The authorization endpoint handler (POST, person token). */
  authorize(request: Request): Promise<Response>;
  /**
   * Serves this resource's own endpoints — metadata, JWKS, authorization endpoint, login endpoint (with `login`) — or
   * `undefined` when the request is for none of them (mount it in front of your routes).
   */
  handle(request: Request): Promise<Response | undefined>;
  /** Mints a resource token for a verified person token (§8.24). */
  issueResourceToken(input: IssueResourceTokenInput): Promise<IssuedResourceToken>;
  /** Issues a session token (`AAuth-Access`) after the resource's own flow; needs `sessionStore`. */
  issueSessionToken(input: IssueSessionTokenInput): Promise<IssuedSessionToken>;
  lookupSessionToken(authorization: string | undefined, agentJkt: string): Promise<SessionLookup>;
  revokeSessionToken(token: string): Promise<boolean>;
  /** The deferred auth-token flow for one route (§8.26). */
  deferredAuthToken(options: DeferredAuthTokenOptions): DeferredAuthToken;
}

/** Path of a URL given as a path or an absolute URL. */
function pathOf(value: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(value) ? new URL(value).pathname : value;
}

export function createResource(options: CreateResourceOptions): Resource {
  const context: ResourceContext = options;
  const issuer = options.issuer;
  if (typeof issuer !== 'string' || issuer.length === 0) throw new AAuthError('invalid_argument', { detail: 'a resource needs its issuer identifier' });
  const signer = options.signer;
  const jwksUri = options.jwksUri ?? DEFAULT_JWKS_PATH;
  if (options.authorizationEndpoint !== undefined && signer === undefined) {
    throw new AAuthError('invalid_argument', { detail: 'an authorization endpoint needs a signer for resource tokens' });
  }
  if (options.login !== undefined && options.loginEndpoint === undefined) {
    throw new AAuthError('invalid_argument', { detail: 'login needs loginEndpoint: the path it is published and served at' });
  }
  const metadata = resourceMetadata({
    issuer,
    hasKeys: signer !== undefined,
    jwksUri,
    ...(options.accessMode === undefined ? {} : { accessMode: options.accessMode }),
    ...(options.authorizationEndpoint === undefined ? {} : { authorizationEndpoint: options.authorizationEndpoint }),
    ...(options.loginEndpoint === undefined ? {} : { loginEndpoint: options.loginEndpoint }),
    ...(options.revocationEndpoint === undefined ? {} : { revocationEndpoint: options.revocationEndpoint }),
    ...(options.scopeDescriptions === undefined ? {} : { scopeDescriptions: options.scopeDescriptions }),
    ...(options.signatureWindow === undefined ? {} : { signatureWindow: options.signatureWindow }),
    ...(options.additionalComponents === undefined ? {} : { additionalComponents: options.additionalComponents }),
    ...((options.acceptSignatureAlgs ?? options.acceptAlgorithms) === undefined ? {} : { acceptSignatureAlgs: options.acceptSignatureAlgs ?? options.acceptAlgorithms ?? [] }),
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.description === undefined ? {} : { description: options.description }),
  });
  const jwks = resourceJwks(signer === undefined ? [] : [signer]);
  const authorizationOptions: AuthorizationEndpointOptions = {
    ...(options.scopeDescriptions === undefined ? {} : { scopes: Object.keys(options.scopeDescriptions) }),
    ...options.authorization,
  };
  const paths = {
    metadata: RESOURCE_METADATA_PATH,
    jwks: signer === undefined ? undefined : new URL(resolveUrl(issuer, jwksUri)).pathname,
    authorize: options.authorizationEndpoint === undefined ? undefined : pathOf(options.authorizationEndpoint),
    login: options.login === undefined || options.loginEndpoint === undefined ? undefined : pathOf(options.loginEndpoint),
  };
  const needStore = () => {
    if (options.sessionStore === undefined) throw new AAuthError('invalid_argument', { detail: 'session tokens need a sessionStore' });
    return options.sessionStore;
  };

  const resource: Resource = {
    issuer,
    context,
    verifyRequest: (request, policy) => verifyRequest(request, definePolicy(policy), context),
    verifyMessage: (message, policy) => verifyMessage(message, definePolicy(policy), context),
    metadata: () => metadata,
    jwks: () => jwks,
    authorize: (request) => handleAuthorizationRequest(request, context, authorizationOptions),
    async handle(request) {
      const path = new URL(request.url).pathname;
      const method = request.method.toUpperCase();
      if (path === paths.metadata && (method === 'GET' || method === 'HEAD')) return metadataResponse(metadata);
      if (paths.jwks !== undefined && path === paths.jwks && (method === 'GET' || method === 'HEAD')) return jwksResponse(jwks);
      if (paths.authorize !== undefined && path === paths.authorize) return resource.authorize(request);
      if (paths.login !== undefined && options.login !== undefined && path === paths.login) return handleLoginRequest(request, issuer, options.login);
      return undefined;
    },
    issueResourceToken(input) {
      if (signer === undefined) throw new AAuthError('invalid_argument', { detail: 'resource tokens need a signer' });
      return issueResourceToken(resourceTokenContext(options), input);
    },
    issueSessionToken: (input) => issueSessionToken(needStore(), input, options.now),
    lookupSessionToken: (authorization, agentJkt) => lookupSessionToken(needStore(), authorization, agentJkt, options.now),
    revokeSessionToken: (token) => revokeSessionToken(needStore(), token),
    deferredAuthToken: (deferred) => createDeferredAuthToken(context, deferred),
  };
  return resource;
}
