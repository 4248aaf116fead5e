/**
 * Assembles a Tessera server from a checked configuration: the store (migrated), signing keys, the admin token
 * hash, the `ServerContext` (key discovery through the egress guard), the Deferred service and the apps of each
 * host — the Person Server, the Agent Provider and, in development, the demo resource. `listen` serves each host
 * on its own port; `close` stops accepting, lets in-flight requests finish (up to 10 s) and closes the store.
 *
 * Each host is one Hono app with the shared edge middleware (request id, access log, body limit, rate limit) in
 * front of the role apps. The role apps are reached by forwarding, not merged with `app.route('/')`, so that one
 * app's `*` middleware (e.g. the consent pages' CSP and Origin check) never applies to another's routes.
 */
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { Server as HttpServer } from 'node:http';
import { isIP } from 'node:net';
import { serve } from '@hono/node-server';
import {
  AAuthError,
  createKeyResolver,
  createSigner,
  generateKeyPair,
  isAAuthError,
  toErrorResponse,
  VerifiedTokenCache,
  VerifyKeyCache,
  type EgressPolicy,
  type FetchLike,
} from '@tessera/protocol';
import { createNodeEgressFetch, createVerifyThreads, cryptoBackend } from '@tessera/protocol/node';
import { Hono, type Context, type ErrorHandler, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { createAdminApp } from './api/admin-app.js';
import { createApproverApp } from './api/approver-app.js';
import { createAgentProviderApp } from './ap/ap-app.js';
import type { TesseraConfig } from './config.js';
import type { DeferredService } from './deferred/types.js';
import type { ServerContext, ServerIdentity } from './context.js';
import { createDeferred } from './deferred/deferred.js';
import { createAccessServerApp, type AccessPolicy } from './as/as-app.js';
import { createDemoResource } from './demo/demo-resource.js';
import { createRateLimiter, rateLimit, type RateLimiter } from './http/rate-limit.js';
import { errorResponse } from './http/signed-request.js';
import { apiBodyLimit, requestIds } from './http/security.js';
import { ServerKeys, type KeyRole } from './keys/server-keys.js';
import { accessLog, createLogger } from './logging.js';
import { createPersonServerApp } from './ps/ps-app.js';
import { openStore, toJson, type Store, type StoreConfig } from './store/store.js';
import { createInteractionApp } from './ui/ui-app.js';

/** Settings key holding the SHA-256 (lowercase hex, as a JSON string) of the admin API token. */
export const ADMIN_TOKEN_SHA256_SETTING = 'admin_token_sha256';

/** How long shutdown waits for in-flight requests before closing their connections. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** Paths of the consent and account pages on the PS host (served by the interaction app). */
export const INTERACTION_PATHS = ['/login', '/logout', '/interaction', '/interaction/*', '/account', '/account/*'] as const;

export interface CreateServerOptions {
  /** Default: a pino logger at `config.log.level`. */
  readonly log?: Logger;
  /** Clock in epoch seconds; default the system clock. */
  readonly now?: () => number;
  /** Replaces the egress-guarded fetch used for key discovery (tests route spec-valid identifiers to loopback). */
  readonly fetch?: FetchLike;
}

/** An assembled server: the Hono app of each host, the shared context, and `close()` (store and long-polls). */
export interface TesseraServer {
  readonly ps: Hono;
  readonly ap: Hono;
  /** The demo resource (development, when configured). */
  readonly resource?: Hono;
  /** The Access Server (when the configuration has an `as` section). */
  readonly as?: Hono;
  readonly ctx: ServerContext;
  readonly config: TesseraConfig;
  /** The deferred-request service (approvals can be driven through it in-process, e.g. by test harnesses). */
  readonly deferred: DeferredService;
  /** First step of shutdown: wakes every long-poll (it answers at once) and refuses new ones. */
  drain(): void;
  close(): Promise<void>;
}

const sha256Hex = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

function identity(config: TesseraConfig['ps']): ServerIdentity {
  return {
    issuer: config.issuer,
    name: config.name,
    ...(config.description === undefined ? {} : { description: config.description }),
    ...(config.logoUri === undefined ? {} : { logoUri: config.logoUri }),
  };
}

function storeConfig(store: TesseraConfig['store']): StoreConfig {
  if (store.kind === 'sqlite') return { kind: 'sqlite', dataDir: store.dataDir };
  return { kind: 'postgres', connectionString: store.connectionString, ...(store.maxConnections === undefined ? {} : { maxConnections: store.maxConnections }) };
}

/** The egress policy for key discovery: production refuses `http` and loopback (§8.14); development opens both. */
export function egressPolicy(config: TesseraConfig): EgressPolicy {
  if (config.mode === 'development') return { allowHttp: true, allowLoopback: true, timeoutMs: config.egress.timeoutMs };
  return { allowPrivate: config.egress.allowPrivate, allowedHosts: config.egress.allowedHosts, timeoutMs: config.egress.timeoutMs };
}

/** Stores the SHA-256 of the configured admin token (replacing any previous one), audited without the token. */
async function storeAdminTokenHash(store: Store, now: () => number, hash: string): Promise<void> {
  const at = Math.floor(now());
  await store.transaction(async (trx) => {
    await trx
      .insertInto('settings')
      .values({ key: ADMIN_TOKEN_SHA256_SETTING, value: toJson(hash), updated_at: at })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: toJson(hash), updated_at: at }))
      .execute();
    await store.audit({ type: 'admin.token.set', actor: 'system', detail: { source: 'configuration' } }, trx);
  });
}

/**
 * Answers an error thrown by a handler: an `AAuthError` as the spec gives it (`errorResponse`), anything else as
 * problem `server_error` (no detail leaves the process), logged.
 */
function errorHandler(log: Logger, host: string): ErrorHandler {
  return (error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    if (isAAuthError(error)) return errorResponse(c, error);
    log.error({ err: error, host, method: c.req.method, path: c.req.path }, 'unhandled error');
    const { status, headers, body } = toErrorResponse(new AAuthError('server_error'));
    return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': 'no-store' } });
  };
}

/** Hands the request to another app as it is (its own middleware then applies to its own routes only). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any app, whatever its Env
const forwardTo = (app: Hono<any>) => (c: Context) => app.fetch(c.req.raw, c.env);

interface EdgeOptions {
  readonly log: Logger;
  readonly limiter: RateLimiter | undefined;
  readonly trustProxy: boolean;
  readonly host: string;
  /** Rate-limit group of a path. */
  readonly groupOf: (path: string) => string;
  /** Paths whose app applies a body limit of its own (the admin API takes registry documents up to 256 KiB). */
  readonly ownBodyLimit?: (path: string) => boolean;
}

/** The shared edge middleware of every host. */
function edge(options: EdgeOptions): Hono {
  const app = new Hono();
  app.onError(errorHandler(options.log, options.host));
  app.use('*', requestIds());
  app.use('*', accessLog(options.log, options.host));
  if (options.limiter !== undefined) {
    app.use('*', rateLimit(options.limiter, { group: (c) => `${options.host}:${options.groupOf(c.req.path)}`, trustProxy: options.trustProxy }));
  }
  const ownBodyLimit = options.ownBodyLimit;
  const limit = apiBodyLimit();
  if (ownBodyLimit === undefined) {
    app.use('*', limit);
  } else {
    // A plain branch rather than hono/combine's `except`, whose wrapper ran around the whole rest of every request.
    const limitUnlessOwn: MiddlewareHandler = (c, next) => (ownBodyLimit(c.req.path) ? next() : limit(c, next));
    app.use('*', limitUnlessOwn);
  }
  return app;
}

/** PS host rate-limit groups: token endpoints, polling, pages, the approver API and the admin API each on their own. */
export function psRouteGroup(path: string): string {
  if (path.startsWith('/pending/')) return 'pending';
  if (path.startsWith('/api/')) return 'api';
  if (path.startsWith('/admin/')) return 'admin';
  if (path === '/login' || path === '/logout' || path.startsWith('/interaction') || path.startsWith('/account')) return 'pages';
  if (path.startsWith('/.well-known/') || path === '/jwks.json') return 'metadata';
  return 'endpoints';
}

function apRouteGroup(path: string): string {
  if (path.startsWith('/pending/')) return 'pending';
  if (path.startsWith('/.well-known/') || path === '/jwks.json') return 'metadata';
  return 'endpoints';
}

/**
 * The Access Server policy of `as.resources`: a listed resource gets the requested scopes it lists, an unlisted one
 * is denied (the configuration names what this AS serves).
 */
export function scopesPerResource(resources: Readonly<Record<string, { readonly scopes: readonly string[] }>>): AccessPolicy {
  return (input) => {
    const entry = resources[input.resource];
    if (entry === undefined) return { deny: true, detail: 'this Access Server does not serve that resource' };
    return { grant: input.requested.filter((s) => entry.scopes.includes(s)).join(' ') };
  };
}

/** Builds a server from a checked configuration. The store is opened and migrated; keys are created if missing. */
export async function createServer(config: TesseraConfig, options: CreateServerOptions = {}): Promise<TesseraServer> {
  const development = config.mode === 'development';
  const log = options.log ?? createLogger({ level: config.log.level, mode: config.mode });
  const now = options.now ?? (() => Date.now() / 1000);

  const store = await openStore(storeConfig(config.store), now);
  // Ed25519 checks and signatures go to a worker thread through shared memory (libsodium), so the event loop, this
  // server's bottleneck under load, spends a copy per operation instead of the operation; other algorithms verify with
  // WebCrypto on the libuv thread pool and sign with node:crypto (createVerifyThreads). The token endpoints sign before
  // the transaction that records a token, so a transaction never holds the write lock while the worker signs.
  const threads = createVerifyThreads();
  try {
    const keys = new ServerKeys(store, now, threads.createSigner);
    await keys.ensure('ps');
    await keys.ensure('ap');

    const adminHash = config.adminToken !== undefined ? sha256Hex(config.adminToken) : config.adminTokenSha256;
    if (adminHash !== undefined) await storeAdminTokenHash(store, now, adminHash);

    const fetch = options.fetch ?? createNodeEgressFetch(egressPolicy(config));
    log.debug({ ed25519: cryptoBackend(), verifyThreads: threads.active }, 'crypto');
    const resolveKey = createKeyResolver({ fetch, now, importKey: threads.importKey, allowLoopbackHttp: development });
    const ctx: ServerContext = {
      mode: config.mode,
      ps: identity(config.ps),
      ap: identity(config.ap),
      store,
      keys,
      now,
      resolveKey,
      keyCache: new VerifyKeyCache({ importKey: threads.importKey }),
      tokenCache: new VerifiedTokenCache({ now, maxEntries: 10_000 }),
      log,
      allowLoopbackHttp: development,
    };

    const deferred = createDeferred(ctx);
    const onError = (host: string) => errorHandler(log, host);
    const limiter = config.rateLimit.enabled
      ? createRateLimiter({ burst: config.rateLimit.burst, perSecond: config.rateLimit.perSecond, maxKeys: config.rateLimit.maxClients, now })
      : undefined;
    const edgeFor = (host: string, groupOf: (path: string) => string, ownBodyLimit?: (path: string) => boolean) =>
      edge({ log, limiter, trustProxy: config.trustProxy, host, groupOf, ...(ownBodyLimit === undefined ? {} : { ownBodyLimit }) });

    // Person Server host: AAuth endpoints, consent and account pages, the approver API (/api), the admin API (/admin).
    // The PS calls Access Servers (four-party federation) through the same configured egress-guarded fetch.
    const psApp = createPersonServerApp(ctx, deferred, { fetch });
    const ui = createInteractionApp(ctx, deferred);
    const approver = createApproverApp(ctx, deferred);
    const admin = createAdminApp(ctx);
    // These apps answer their own errors (each sets `onError`); the AP app and the demo resource get ours.
    const ps = edgeFor('ps', psRouteGroup, (path) => path === '/admin' || path.startsWith('/admin/'));
    ps.route('/api', approver);
    ps.route('/admin', admin);
    for (const path of INTERACTION_PATHS) ps.all(path, forwardTo(ui));
    ps.all('*', forwardTo(psApp));

    // Agent Provider host.
    const apApp = createAgentProviderApp(ctx, deferred);
    apApp.onError(onError('ap'));
    const ap = edgeFor('ap', apRouteGroup);
    ap.all('*', forwardTo(apApp));

    // The demo resource (tessera dev): its own key, generated at start (its resource tokens live 5 minutes).
    let resource: Hono | undefined;
    if (config.demoResource !== undefined) {
      const signer = await createSigner(await generateKeyPair('Ed25519'));
      const demo = createDemoResource({ issuer: config.demoResource.issuer, ps: ctx.ps.issuer, signer, resolveKey, keyCache: ctx.keyCache, now });
      demo.onError(onError('resource'));
      resource = edgeFor('resource', apRouteGroup);
      resource.all('*', forwardTo(demo));
    }

    // The Access Server (four-party access), on its own identifier; keys of role `as`, created on first use.
    let as: Hono | undefined;
    if (config.as !== undefined) {
      const asApp = createAccessServerApp(ctx, undefined, {
        issuer: config.as.issuer,
        ...(config.as.name === undefined ? {} : { name: config.as.name }),
        ...(config.as.acceptPersonServers === undefined ? {} : { acceptPersonServers: config.as.acceptPersonServers }),
        ...(config.as.resources === undefined ? {} : { policy: scopesPerResource(config.as.resources) }),
      });
      as = edgeFor('as', apRouteGroup);
      as.all('*', forwardTo(asApp));
    }

    let closed: Promise<void> | undefined;
    const server: TesseraServer = {
      ps,
      ap,
      ...(resource === undefined ? {} : { resource }),
      ...(as === undefined ? {} : { as }),
      ctx,
      config,
      deferred,
      drain() {
        deferred.close();
      },
      close() {
        closed ??= (async () => {
          deferred.close();
          await store.close();
          await threads.close();
        })();
        return closed;
      },
    };
    log.debug({ ps: ctx.ps.issuer, ap: ctx.ap.issuer, store: config.store.kind, mode: config.mode }, 'server assembled');
    return server;
  } catch (error) {
    await store.close().catch(() => undefined);
    await threads.close();
    throw error;
  }
}

// ---- Maintenance (tessera migrate, tessera keys rotate) ---------------------------------------------------------

/** Opens the configured store, runs pending migrations and returns every migration applied so far, oldest first. */
export async function migrateStore(config: TesseraConfig): Promise<{ readonly applied: readonly string[] }> {
  const store = await openStore(storeConfig(config.store));
  try {
    await store.migrate();
    const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db);
    return { applied: rows.rows.map((r) => r.name) };
  } finally {
    await store.close();
  }
}

/**
 * Rotates the `role` signing key with overlap (AAuth §Key Rotation): the new key is published now and signs after
 * `publishAheadSeconds`; the old key stays in the JWKS until everything it signed has expired.
 */
export async function rotateServerKey(config: TesseraConfig, role: KeyRole, options: { readonly now?: () => number; readonly publishAheadSeconds?: number } = {}): Promise<{ kid: string; activeFrom: number }> {
  const now = options.now ?? (() => Date.now() / 1000);
  const store = await openStore(storeConfig(config.store), now);
  try {
    const keys = new ServerKeys(store, now);
    await keys.ensure(role);
    return await keys.rotate(role, options.publishAheadSeconds);
  } finally {
    await store.close();
  }
}

// ---- Listening ------------------------------------------------------------------------------------------------

type FetchHandler = (request: Request, env: unknown) => Response | Promise<Response>;

/** A port bound on one or more addresses, serving whatever handler is set (503 until then). */
export interface BoundPort {
  readonly port: number;
  readonly addresses: readonly string[];
  setHandler(handler: FetchHandler): void;
  /** Stops accepting, waits for in-flight requests up to `graceMs`, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

function listenOn(fetch: FetchHandler, port: number, hostname: string): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }) as HttpServer;
    const failed = (error: Error) => reject(error);
    server.once('error', failed);
    server.once('listening', () => {
      server.off('error', failed);
      resolve(server);
    });
  });
}

/** Tracks in-flight requests so that shutdown can close idle keep-alive connections as soon as nothing runs. */
function closeGracefully(server: HttpServer, inFlight: { count: number; closing: boolean }, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    inFlight.closing = true;
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Binds `port` (0 = any free port) on each of `addresses` (the first decides the port; the others reuse it and
 * are skipped if the address family is unavailable).
 */
export async function bindPort(port: number, addresses: readonly string[]): Promise<BoundPort> {
  if (addresses.length === 0) throw new Error('bindPort: no address to listen on');
  let handler: FetchHandler = () => new Response('starting', { status: 503, headers: { 'retry-after': '1' } });
  // Handlers still running. A response's `close` event also fires when the client drops the socket mid-request, so
  // connections alone do not say when the work is done: shutdown waits for this count too (the store must not close
  // under a running handler).
  const running = { count: 0, idle: [] as (() => void)[] };
  const fetch: FetchHandler = async (request, env) => {
    running.count++;
    try {
      return await handler(request, env);
    } finally {
      running.count--;
      if (running.count === 0) for (const resolve of running.idle.splice(0)) resolve();
    }
  };
  const handlersDone = (graceMs: number): Promise<void> =>
    running.count === 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          running.idle.push(resolve);
          setTimeout(resolve, graceMs).unref();
        });
  const servers: { server: HttpServer; inFlight: { count: number; closing: boolean } }[] = [];
  const track = (server: HttpServer) => {
    const inFlight = { count: 0, closing: false };
    server.on('request', (_req, res) => {
      inFlight.count++;
      res.once('close', () => {
        inFlight.count--;
        if (inFlight.closing && inFlight.count === 0) server.closeIdleConnections();
      });
    });
    servers.push({ server, inFlight });
  };
  const first = await listenOn(fetch, port, addresses[0]!);
  track(first);
  const bound = (first.address() as { port: number }).port;
  const listening = [addresses[0]!];
  for (const address of addresses.slice(1)) {
    try {
      track(await listenOn(fetch, bound, address));
      listening.push(address);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRNOTAVAIL' && code !== 'EAFNOSUPPORT') {
        await Promise.all(servers.map((s) => closeGracefully(s.server, s.inFlight, 0)));
        throw error;
      }
    }
  }
  return {
    port: bound,
    addresses: listening,
    setHandler(next) {
      handler = next;
    },
    close(graceMs = SHUTDOWN_GRACE_MS) {
      return Promise.all([...servers.map((s) => closeGracefully(s.server, s.inFlight, graceMs)), handlersDone(graceMs)]).then(() => undefined);
    },
  };
}

/** The loopback addresses `localhost` resolves to here (so clients reach us whichever they try first). */
export async function loopbackAddresses(): Promise<string[]> {
  try {
    const records = await lookup('localhost', { all: true, verbatim: true });
    const loopback = records.map((r) => r.address).filter((a) => a === '::1' || (isIP(a) === 4 && a.startsWith('127.')));
    const unique = [...new Set(loopback)];
    // IPv4 first: the port is taken there, and it is the address every system has.
    unique.sort((a, b) => isIP(a) - isIP(b));
    return unique.length > 0 ? unique : ['127.0.0.1'];
  } catch {
    return ['127.0.0.1'];
  }
}

export interface ListenPorts {
  readonly ps: number;
  readonly ap: number;
  readonly resource?: number;
  /** The Access Server's port, when the server has one (`as` in the configuration). */
  readonly as?: number;
  /** Addresses to listen on; default the configuration's `listen.host`. */
  readonly addresses?: readonly string[];
}

export interface RunningServer {
  readonly server: TesseraServer;
  /** Where each host is reachable on this machine (`http://ADDRESS:PORT`). */
  readonly urls: { readonly ps: string; readonly ap: string; readonly resource?: string; readonly as?: string };
  readonly ports: { readonly ps: number; readonly ap: number; readonly resource?: number; readonly as?: number };
  /** Graceful shutdown: stop accepting, wake long-polls, wait up to 10 s for in-flight requests, close the store. */
  close(): Promise<void>;
}

const urlOf = (address: string, port: number): string => `http://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;

/** Serves `bound` ports with `server`'s apps and returns the running server (shutdown closes ports, then the server). */
export function attach(
  server: TesseraServer,
  bound: { readonly ps: BoundPort; readonly ap: BoundPort; readonly resource?: BoundPort; readonly as?: BoundPort },
): RunningServer {
  const hosts = (['ps', 'ap', 'resource', 'as'] as const).flatMap((name) => {
    const port = bound[name];
    const app = server[name];
    if (port === undefined || app === undefined) return [];
    port.setHandler((request, env) => app.fetch(request, env));
    return [{ name, port }];
  });
  const ports = hosts.map((h) => h.port);
  const urls = Object.fromEntries(hosts.map((h) => [h.name, urlOf(h.port.addresses[0]!, h.port.port)])) as unknown as RunningServer['urls'];
  const numbers = Object.fromEntries(hosts.map((h) => [h.name, h.port.port])) as unknown as RunningServer['ports'];
  let closing: Promise<void> | undefined;
  return {
    server,
    urls,
    ports: numbers,
    close() {
      closing ??= (async () => {
        const stopping = Promise.all(ports.map((p) => p.close()));
        // Long-polls end now: their waiters wake and answer (and new ones are refused), so in-flight requests finish
        // at once instead of holding the ports open for the whole grace period and then losing the store under them.
        server.drain();
        server.ctx.log.info('shutting down: no new connections; waiting for in-flight requests');
        await stopping;
        await server.close();
        server.ctx.log.info('shut down');
      })();
      return closing;
    },
  };
}

/** Serves each host on its own port (0 = any); returns the bound URLs. */
export async function listen(server: TesseraServer, ports: ListenPorts): Promise<RunningServer> {
  const addresses = ports.addresses ?? [server.config.listen.host];
  const bound: BoundPort[] = [];
  try {
    const ps = await bindPort(ports.ps, addresses);
    bound.push(ps);
    const ap = await bindPort(ports.ap, addresses);
    bound.push(ap);
    let resource: BoundPort | undefined;
    if (server.resource !== undefined && ports.resource !== undefined) {
      resource = await bindPort(ports.resource, addresses);
      bound.push(resource);
    }
    let as: BoundPort | undefined;
    if (server.as !== undefined) {
      as = await bindPort(ports.as ?? server.config.listen.asPort, addresses);
      bound.push(as);
    }
    return attach(server, { ps, ap, ...(resource === undefined ? {} : { resource }), ...(as === undefined ? {} : { as }) });
  } catch (error) {
    await Promise.all(bound.map((b) => b.close(0)));
    throw error;
  }
}

/**
 * Closes `running` gracefully on SIGINT or SIGTERM (a second signal exits at once). Returns a function that
 * removes the handlers, and a promise that settles when shutdown has finished.
 */
export function shutdownOnSignals(running: RunningServer, log: Logger): { readonly done: Promise<void>; remove(): void } {
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, 'signal received');
    running.close().then(resolveDone, (error: unknown) => {
      log.error({ err: error }, 'shutdown failed');
      resolveDone();
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    done,
    remove() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
