/**
 * The gateway's configuration file (JSON): the resource identity it speaks for (AAuth -11 §Resource Metadata,
 * §Resource Token) and the routes it protects. Checked once at start with zod; a refusal names the file, the key
 * path and what is wrong (`gateway.json: routes[0].upstream: must be an http(s) URL`).
 *
 * Route policies are also run through the resource core's `definePolicy` for every scope set a route can
 * produce, so a policy the core would refuse at request time (auth-token without scopes, scopes in agent-token
 * mode) is refused here, at start.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { AAuthError, isServerIdentifier, validatePublicJwk, type PrivateJwk } from '@tessera/protocol';
import { z } from 'zod';
import { compileRoutes, RouteConfigError, type CompiledRoute } from './routes.js';

export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
  }
}

const METHOD = /^[A-Z]+$/;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 §3.3 scope-token

const scopeList = z.array(z.string().regex(SCOPE, 'is not a scope token (RFC 6749 §3.3)'));
const pathPrefix = z.string().refine((p) => p.startsWith('/') && !/[?#\s]/.test(p), 'must start with "/" and carry no query, fragment or space');
const httpUrl = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}, 'must be an http(s) URL with no query, fragment or credentials');

const methodScopes = z.record(z.string().refine((m) => m === '*' || METHOD.test(m), 'methods are upper-case (GET, POST, ...) or "*"'), scopeList);

const policySchema = z
  .object({
    mode: z.enum(['agent-token', 'person-token', 'auth-token', 'session-token'], { error: 'must be one of agent-token, person-token, auth-token, session-token' }),
    scopes: z.union([scopeList, methodScopes], { error: 'must be a list of scopes or an object {METHOD: [scopes]}' }).optional(),
    scopesByPath: z
      .array(
        z
          .object({
            pathPrefix,
            methods: z.array(z.string().regex(METHOD, 'methods are upper-case (GET, POST, ...)')).min(1).optional(),
            scopes: scopeList,
          })
          .strict(),
      )
      .optional(),
    trustedPersonServers: z.array(z.string().min(1)).optional(),
    trustedAgentProviders: z.array(z.string().min(1)).optional(),
    accessServer: z.string().min(1).optional(),
  })
  .strict();

const routeSchema = z
  .object({
    host: z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be a host name, optionally with :port')
      .optional(),
    pathPrefix,
    upstream: httpUrl.optional(),
    policy: policySchema,
  })
  .strict();

const positiveInt = z.number().int().positive();

const configSchema = z
  .object({
    issuer: z.string(),
    development: z.boolean().optional(),
    signingKeyFile: z.string().min(1).optional(),
    trustedPersonServers: z.array(z.string().min(1)).optional(),
    trustedAgentProviders: z.array(z.string().min(1)).optional(),
    accessServer: z.string().min(1).optional(),
    signatureWindow: positiveInt.optional(),
    listen: z.object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535).optional() }).strict().optional(),
    maxBodyBytes: positiveInt.optional(),
    upstreamTimeoutMs: positiveInt.optional(),
    upstreamIdleTimeoutMs: z.number().int().min(0).optional(),
    replayCache: z.boolean().optional(),
    tokenCache: z.boolean().optional(),
    extAuthz: z.object({ pathPrefix }).strict().optional(),
    routes: z.array(routeSchema).min(1, 'needs at least one route'),
  })
  .strict();

export type GatewayConfigInput = z.input<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type RoutePolicyConfig = z.output<typeof policySchema>;

/** A checked configuration. `signingKey` is the loaded private JWK (from `signingKeyFile`), when there is one. */
export interface GatewayConfig {
  readonly file: string;
  readonly issuer: string;
  readonly development: boolean;
  readonly signingKeyFile?: string;
  readonly signingKey?: PrivateJwk;
  readonly trustedPersonServers?: readonly string[];
  readonly trustedAgentProviders?: readonly string[];
  readonly accessServer?: string;
  readonly signatureWindow?: number;
  readonly listen: { readonly host: string; readonly port: number };
  readonly maxBodyBytes: number;
  readonly upstreamTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly replayCache: boolean;
  readonly tokenCache: boolean;
  readonly extAuthz?: { readonly pathPrefix: string };
  readonly routes: readonly RouteConfig[];
  /** The routes compiled for matching (longest prefix first). */
  readonly compiled: readonly CompiledRoute[];
}

function pathString(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(top level)' : out;
}

/**
 * Checks a parsed configuration value. `file` names the source in every message; `signingKeyFile` is resolved
 * against `baseDir` (default: the file's directory). Throws `GatewayConfigError`.
 */
export function parseGatewayConfig(value: unknown, file: string, baseDir: string = dirname(resolve(file))): GatewayConfig {
  const parsed = configSchema.safeParse(value);
  if (!parsed.success) {
    throw new GatewayConfigError(
      file,
      parsed.error.issues.map((issue) => `${pathString(issue.path)}: ${issue.message}`),
    );
  }
  const c = parsed.data;
  const development = c.development === true;
  const problems: string[] = [];
  const identifier = (v: string, key: string) => {
    if (!isServerIdentifier(v, { allowLoopbackHttp: development })) {
      problems.push(`${key}: ${JSON.stringify(v)} is not a server identifier (https://host, lower case, no port, path or trailing slash${development ? '; or http://localhost:PORT in development' : ''})`);
    }
  };
  identifier(c.issuer, 'issuer');
  c.trustedPersonServers?.forEach((v, i) => identifier(v, `trustedPersonServers[${i}]`));
  c.trustedAgentProviders?.forEach((v, i) => identifier(v, `trustedAgentProviders[${i}]`));
  if (c.accessServer !== undefined) identifier(c.accessServer, 'accessServer');
  c.routes.forEach((r, i) => {
    r.policy.trustedPersonServers?.forEach((v, j) => identifier(v, `routes[${i}].policy.trustedPersonServers[${j}]`));
    r.policy.trustedAgentProviders?.forEach((v, j) => identifier(v, `routes[${i}].policy.trustedAgentProviders[${j}]`));
    if (r.policy.accessServer !== undefined) identifier(r.policy.accessServer, `routes[${i}].policy.accessServer`);
    if (r.upstream === undefined && c.extAuthz === undefined) problems.push(`routes[${i}].upstream: is required (only an ext_authz-only gateway may omit it)`);
  });
  if (c.signingKeyFile === undefined && c.routes.some((r) => r.policy.mode === 'auth-token')) {
    problems.push('signingKeyFile: is required when a route is in auth-token mode (the gateway mints resource tokens)');
  }
  if (c.routes.some((r) => r.policy.mode === 'session-token')) {
    problems.push('routes: session-token mode needs the resource\'s own session flow, which the gateway does not run; use agent-token, person-token or auth-token');
  }
  let compiled: CompiledRoute[] = [];
  try {
    compiled = compileRoutes(c.routes);
  } catch (error) {
    if (error instanceof RouteConfigError) problems.push(error.message);
    else throw error;
  }
  if (problems.length > 0) throw new GatewayConfigError(file, problems);
  return {
    file,
    issuer: c.issuer,
    development,
    ...(c.signingKeyFile === undefined ? {} : { signingKeyFile: resolve(baseDir, c.signingKeyFile) }),
    ...(c.trustedPersonServers === undefined ? {} : { trustedPersonServers: c.trustedPersonServers }),
    ...(c.trustedAgentProviders === undefined ? {} : { trustedAgentProviders: c.trustedAgentProviders }),
    ...(c.accessServer === undefined ? {} : { accessServer: c.accessServer }),
    ...(c.signatureWindow === undefined ? {} : { signatureWindow: c.signatureWindow }),
    listen: { host: c.listen?.host ?? '127.0.0.1', port: c.listen?.port ?? 8080 },
    maxBodyBytes: c.maxBodyBytes ?? 1024 * 1024,
    upstreamTimeoutMs: c.upstreamTimeoutMs ?? 30_000,
    upstreamIdleTimeoutMs: c.upstreamIdleTimeoutMs ?? 300_000,
    replayCache: c.replayCache ?? true,
    tokenCache: c.tokenCache ?? true,
    ...(c.extAuthz === undefined ? {} : { extAuthz: c.extAuthz }),
    routes: c.routes,
    compiled,
  };
}

/** Reads the signing key file: a private JWK with a fully specified `alg` and a `kid` (resource tokens carry it). */
async function readSigningKey(config: GatewayConfig): Promise<PrivateJwk> {
  const path = config.signingKeyFile as string;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(config.file, [`signingKeyFile: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
  }
  let jwk: unknown;
  try {
    jwk = JSON.parse(text);
  } catch {
    throw new GatewayConfigError(config.file, [`signingKeyFile: ${path} is not valid JSON`]);
  }
  if (typeof jwk !== 'object' || jwk === null || typeof (jwk as Record<string, unknown>)['d'] !== 'string') {
    throw new GatewayConfigError(config.file, [`signingKeyFile: ${path} is not a private JWK (no "d")`]);
  }
  const { d, p, q, dp, dq, qi, ...publicPart } = jwk as Record<string, unknown>;
  void [p, q, dp, dq, qi];
  try {
    validatePublicJwk(publicPart);
  } catch (error) {
    throw new GatewayConfigError(config.file, [`signingKeyFile: ${path}: ${error instanceof AAuthError ? error.message : String(error)}`]);
  }
  if (typeof publicPart['kid'] !== 'string' || publicPart['kid'].length === 0) {
    throw new GatewayConfigError(config.file, [`signingKeyFile: ${path} has no "kid" (resource tokens name their key)`]);
  }
  return { ...(publicPart as unknown as PrivateJwk), d: d as string };
}

/** Reads, parses and checks a configuration file, and loads its signing key. Throws `GatewayConfigError`. */
export async function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new GatewayConfigError(file, [`cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GatewayConfigError(file, [`not valid JSON (${error instanceof Error ? error.message : String(error)})`]);
  }
  const config = parseGatewayConfig(value, file);
  if (config.signingKeyFile === undefined) return config;
  return { ...config, signingKey: await readSigningKey(config) };
}
