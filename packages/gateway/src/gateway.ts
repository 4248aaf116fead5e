/**
 * `createGateway(config, options)`: a `node:http` server that makes any HTTP / MCP upstream an AAuth resource.
 *
 * Per request: the resource's own documents (`/.well-known/aauth-resource.json`, its JWKS) are served; otherwise
 * the route is matched (host + path prefix), the body read (bounded: 413 above `maxBodyBytes`), and the request
 * verified by the resource core (`verifyMessage`, the raw-message form of `verifyRequest`) against the route's policy for this method and path. A refusal
 * is sent exactly as the core built it (challenge, 401 + `Signature-Error`, 403). A grant is forwarded upstream
 * with the identity headers (see `identity-headers.ts`, `proxy.ts`). With `extAuthz`, paths under its prefix are
 * Envoy check requests (see `ext-authz.ts`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  createKeyResolver,
  createSigner,
  headerLinesFromRaw,
  MemoryReplayCache,
  VerifiedTokenCache,
  VerifyKeyCache,
  type FetchLike,
  type KeyResolver,
  type ReplayCache,
  type Signer,
} from '@tessera/protocol';
import { createNodeEgressFetch, createVerifyThreads, nodeDigest } from '@tessera/protocol/node';
import { createResource, RESOURCE_METADATA_PATH, type Resource } from '@tessera/resource';
import { sendFetchResponse } from '@tessera/resource/node';
import type { GatewayConfig } from './config.js';
import { allowedCheckHeaders, originalPath } from './ext-authz.js';
import { identityHeaders } from './identity-headers.js';
import { forward, forwardRequestHeaders, sendProblem, Upstreams } from './proxy.js';
import { matchRoute } from './routes.js';

export interface GatewayOptions {
  /** Clock, epoch seconds (default: the system clock). */
  readonly now?: () => number;
  /** Key resolution for agent, person and auth tokens (default: discovery over an egress-guarded fetch). */
  readonly resolveKey?: KeyResolver;
  /** The fetch key discovery uses (default: `createNodeEgressFetch`, loopback and http only in development). */
  readonly fetch?: FetchLike;
  /** Signs resource tokens (default: from `config.signingKey`). */
  readonly signer?: Signer;
  /** Replaces the configured verified-token cache (`false` = none). */
  readonly tokenCache?: VerifiedTokenCache | false;
  /** Replaces the configured replay cache (`false` = none). */
  readonly replayCache?: ReplayCache | false;
  /** Called with unexpected errors (default: none; the client gets a 500). */
  readonly onError?: (error: unknown) => void;
}

export interface Gateway {
  readonly server: Server;
  readonly resource: Resource;
  /** Starts listening (default: the configured host and port); resolves with the bound port and base URL. */
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>;
  close(): Promise<void>;
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const TOO_LARGE = Symbol('too large');

/** Reads the request body, bounded. `undefined` for none or empty. */
async function readBody(req: IncomingMessage, max: number): Promise<Uint8Array | undefined | typeof TOO_LARGE> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) return TOO_LARGE;
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined)) return undefined;
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > max) return TOO_LARGE;
    chunks.push(chunk);
  }
  if (length === 0) return undefined;
  return chunks.length === 1 ? (chunks[0]) : Buffer.concat(chunks, length);
}

export async function createGateway(config: GatewayConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const signer = options.signer ?? (config.signingKey === undefined ? undefined : await createSigner(config.signingKey));
  // Ed25519 signature checks go to a worker thread through shared memory (libsodium), so the event loop keeps
  // proxying; other algorithms use WebCrypto on the thread pool. Verifying on the event loop instead (node:crypto) had
  // measured 2,473–2,479 req/s in bench:gateway against WebCrypto's 3,773–3,808; the worker beats both
  // (docs/benchmarks.md).
  const threads = createVerifyThreads();
  const resolveKey =
    options.resolveKey ??
    createKeyResolver({
      fetch: options.fetch ?? createNodeEgressFetch(config.development ? { allowHttp: true, allowLoopback: true } : {}),
      now,
      importKey: threads.importKey,
      allowLoopbackHttp: config.development,
    });
  const tokenCache = options.tokenCache ?? (config.tokenCache ? new VerifiedTokenCache({ now, maxEntries: 10_000 }) : false);
  const replayCache = options.replayCache ?? (config.replayCache ? new MemoryReplayCache({ now }) : false);
  const resource = createResource({
    issuer: config.issuer,
    resolveKey,
    now,
    keyCache: new VerifyKeyCache({ importKey: threads.importKey }),
    digest: nodeDigest,
    maxBodyBytes: config.maxBodyBytes,
    ...(signer === undefined ? {} : { signer }),
    ...(tokenCache === false ? {} : { tokenCache }),
    ...(replayCache === false ? {} : { replayCache }),
    ...(config.trustedPersonServers === undefined ? {} : { trustedPersonServers: config.trustedPersonServers }),
    ...(config.trustedAgentProviders === undefined ? {} : { trustedAgentProviders: config.trustedAgentProviders }),
    ...(config.accessServer === undefined ? {} : { accessServer: config.accessServer }),
    ...(config.signatureWindow === undefined ? {} : { signatureWindow: config.signatureWindow }),
  });
  const jwksPath = signer === undefined ? undefined : '/.well-known/jwks.json';
  const upstreams = new Upstreams({ timeoutMs: config.upstreamTimeoutMs, idleTimeoutMs: config.upstreamIdleTimeoutMs });
  const extAuthzPrefix = config.extAuthz?.pathPrefix;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const target = req.url ?? '/';
    const host = req.headers.host;
    if (host === undefined || host === '' || !target.startsWith('/')) {
      sendProblem(res, 400, 'invalid_request', 'a Host header and an origin-form request target are required');
      return;
    }
    const q = target.indexOf('?');
    let path = q < 0 ? target : target.slice(0, q);
    let pathAndQuery = target;
    let check = false;
    if (extAuthzPrefix !== undefined) {
      const original = originalPath(path, extAuthzPrefix);
      if (original !== undefined) {
        check = true;
        path = original;
        pathAndQuery = original + (q < 0 ? '' : target.slice(q));
      }
    }
    const proto = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
    const url = `${proto}://${host}${pathAndQuery}`;

    if (!check && (path === RESOURCE_METADATA_PATH || path === jwksPath)) {
      const own = await resource.handle(new Request(url, { method }));
      if (own !== undefined) {
        await sendFetchResponse(res, own);
        return;
      }
    }

    const route = matchRoute(config.compiled, host, path);
    if (route === undefined || (!check && route.upstream === undefined)) {
      sendProblem(res, 404, 'invalid_request', 'no route for this host and path');
      return;
    }
    const policy = route.policyFor(method, path);
    if (policy === undefined) {
      sendProblem(res, 405, 'invalid_request', `${method} is not allowed on this route`);
      return;
    }
    const body = BODYLESS.has(method) ? undefined : await readBody(req, config.maxBodyBytes);
    if (body === TOO_LARGE) {
      sendProblem(res, 413, 'invalid_request', 'request body too large', { connection: 'close' });
      return;
    }
    // The message as received — raw field lines and the body bytes — with no fetch Request to build and read back.
    const result = await resource.verifyMessage({ method, url, headers: headerLinesFromRaw(req.rawHeaders), ...(body === undefined ? {} : { body }) }, policy);
    if (!result.ok) {
      await sendFetchResponse(res, result.response);
      return;
    }
    if (check) {
      const headers = allowedCheckHeaders(result, { removeAuthorization: /^\s*aauth(\s|$)/i.test(req.headers.authorization ?? '') });
      res.writeHead(200, { ...headers, 'content-length': '0' });
      res.end();
      return;
    }
    const headers = forwardRequestHeaders(req.rawHeaders, identityHeaders(result), { clientAddress: req.socket.remoteAddress ?? '', proto, host });
    await forward(upstreams, { upstream: route.upstream as URL, method, pathAndQuery, headers, body: result.body }, req, res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      sendProblem(res, 500, 'server_error');
    });
  });

  return {
    server,
    resource,
    listen(port = config.listen.port, host = config.listen.host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ port: address.port, url: `http://${shown}:${address.port}` });
        });
      });
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await upstreams.close();
      await threads.close();
    },
  };
}
