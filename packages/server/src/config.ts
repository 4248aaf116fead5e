/**
 * Server configuration: a JSON file plus `TESSERA_*` environment variables (the environment wins), checked
 * with one zod schema. Every problem is reported with where it came from (the file, or the variable), the
 * key path and what is wrong, e.g. `config file /etc/tessera.json: listen.psPort: expected an integer from 0 to 65535`.
 *
 * The mode is decided by the command, not the file: `tessera serve` runs `production`, where server identifiers
 * must be `https://host` (AAuth -11 §Server Identifiers) and loopback fetches are refused (§8.14); `tessera dev`
 * builds a `development` configuration in code, where `http://localhost:PORT` identifiers are allowed.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseServerIdentifier } from '@tessera/protocol';
import { z } from 'zod';

export type ServerMode = 'development' | 'production';

/** A configuration problem: `source: path: message`, one per line. */
export interface ConfigIssue {
  /** Where the value came from: `config file PATH`, `environment variable TESSERA_X`, or the caller's label. */
  readonly source: string;
  /** Dotted key path (`listen.psPort`), empty for the whole document. */
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.source}: ${i.path === '' ? '' : `${i.path}: `}${i.message}`).join('\n'));
    this.issues = issues;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const port = z
  .number({ error: 'expected an integer from 0 to 65535' })
  .int('expected an integer from 0 to 65535')
  .min(0, 'expected an integer from 0 to 65535')
  .max(65535, 'expected an integer from 0 to 65535');

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', '::1', '[::1]']);

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and ::1: hosts production never fetches from. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (LOOPBACK_NAMES.has(h) || h.endsWith('.localhost')) return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

function serverIdentifier(mode: ServerMode) {
  return z.string({ error: 'expected a server identifier string' }).superRefine((value, ctx) => {
    try {
      parseServerIdentifier(value, { allowLoopbackHttp: mode === 'development' });
    } catch {
      ctx.addIssue({
        code: 'custom',
        message:
          mode === 'production'
            ? value.startsWith('http://')
              ? `"${value}" is an http:// identifier; production requires https://host (no port, path or trailing slash)`
              : `"${value}" is not a server identifier: https://host, lowercase, no port, path or trailing slash`
            : `"${value}" is not a server identifier: https://host, or http://localhost:PORT in development`,
      });
    }
  });
}

function identity(mode: ServerMode, defaultName: string) {
  return z.strictObject({
    issuer: serverIdentifier(mode),
    name: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters').default(defaultName),
    description: z.string().max(2000, 'at most 2000 characters').optional(),
    logoUri: z
      .string()
      .refine((v) => v.startsWith('https://') || (mode === 'development' && v.startsWith('http://')), 'expected an https URL')
      .optional(),
  });
}

/** The schema for `mode`; exported for documentation (JSON Schema export) and tests. */
export function configSchema(mode: ServerMode) {
  return z
    .strictObject({
      ps: identity(mode, 'Tessera Person Server'),
      ap: identity(mode, 'Tessera Agent Provider'),
      store: z.discriminatedUnion(
        'kind',
        [
          z.strictObject({ kind: z.literal('sqlite'), dataDir: z.string().min(1, 'must not be empty') }),
          z.strictObject({
            kind: z.literal('postgres'),
            connectionString: z.string().refine((v) => /^postgres(ql)?:\/\//.test(v), 'expected a postgres:// connection string'),
            maxConnections: z.number().int().min(1).max(1000).optional(),
          }),
        ],
        { error: 'expected "kind": "sqlite" (with dataDir) or "postgres" (with connectionString)' },
      ),
      listen: z
        .strictObject({
          host: z.string().min(1).default(mode === 'development' ? '127.0.0.1' : '0.0.0.0'),
          psPort: port.default(4100),
          apPort: port.default(4101),
          resourcePort: port.default(4102),
          asPort: port.default(4103),
        })
        .prefault({}),
      /** The admin API bearer token (prefer `TESSERA_ADMIN_TOKEN`); only its SHA-256 is stored. */
      adminToken: z.string().min(32, 'must be at least 32 characters').max(512).optional(),
      /** Or its SHA-256, hex, when the token itself should not be in the configuration. */
      adminTokenSha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (the SHA-256 of the admin token)')
        .optional(),
      log: z.strictObject({ level: z.enum(LOG_LEVELS, { error: `expected one of ${LOG_LEVELS.join(', ')}` }).default('info') }).prefault({}),
      rateLimit: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Requests a client may make at once per route group. */
          burst: z.number().int().min(1).max(100_000).default(120),
          /** Sustained requests per second per client and route group. */
          perSecond: z.number().positive().max(100_000).default(4),
          /** Clients tracked at once (oldest forgotten first). */
          maxClients: z.number().int().min(100).max(10_000_000).default(50_000),
        })
        .prefault({}),
      /** Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry. */
      trustProxy: z.boolean().default(false),
      egress: z
        .strictObject({
          /** Allow fetching metadata from private (RFC 1918, ULA) addresses. */
          allowPrivate: z.boolean().default(false),
          /** Hosts admitted explicitly whatever their addresses (SK-08: deployment admission). */
          allowedHosts: z.array(z.string().min(1)).max(1000).default([]),
          timeoutMs: z.number().int().min(100).max(60_000).default(5000),
        })
        .prefault({}),
      /**
       * An Access Server on its own identifier and port (four-party access; AAuth -11 §Access Server Federation): the
       * policy engine of the resources that name it. `acceptPersonServers` limits which PSes may call it; `resources`,
       * when given, lists the resources it serves and the scopes it grants each (requested ∩ listed; an unlisted
       * resource is denied); without it every requested scope is granted.
       */
      as: z
        .strictObject({
          issuer: serverIdentifier(mode),
          name: z.string().trim().min(1, 'must not be empty').max(100, 'at most 100 characters').optional(),
          acceptPersonServers: z.array(serverIdentifier(mode)).min(1, 'list at least one Person Server, or leave the key out').optional(),
          resources: z
            .record(serverIdentifier(mode), z.strictObject({ scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token (RFC 6749 §3.3)')).max(200) }))
            .optional(),
        })
        .optional(),
      /** Development only: the demo notes resource of `tessera dev`. */
      demoResource: z.strictObject({ issuer: serverIdentifier(mode) }).optional(),
    })
    .superRefine((config, ctx) => {
      if (config.ps.issuer === config.ap.issuer) {
        ctx.addIssue({ code: 'custom', path: ['ap', 'issuer'], message: 'must differ from ps.issuer (each role keeps its own identifier)' });
      }
      if (config.as !== undefined && (config.as.issuer === config.ps.issuer || config.as.issuer === config.ap.issuer)) {
        ctx.addIssue({ code: 'custom', path: ['as', 'issuer'], message: 'must differ from ps.issuer and ap.issuer (each role keeps its own identifier)' });
      }
      if (config.adminToken !== undefined && config.adminTokenSha256 !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['adminTokenSha256'], message: 'give adminToken or adminTokenSha256, not both' });
      }
      if (mode === 'production') {
        // §8.14: production never fetches from loopback; admitting it by name would bypass the egress guard.
        config.egress.allowedHosts.forEach((host, i) => {
          if (isLoopbackHost(host)) {
            ctx.addIssue({ code: 'custom', path: ['egress', 'allowedHosts', i], message: `"${host}" is a loopback host; production refuses loopback fetches (use tessera dev)` });
          }
        });
        if (config.demoResource !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['demoResource'], message: 'the demo resource runs only in development (tessera dev)' });
        }
      }
    });
}

type ParsedConfig = z.output<ReturnType<typeof configSchema>>;

/** A checked configuration. */
export type TesseraConfig = ParsedConfig & { readonly mode: ServerMode };

/** Environment variables read, each with the key it sets and how its text becomes a value. */
export const ENVIRONMENT: readonly { readonly name: string; readonly path: readonly string[]; readonly type: 'string' | 'integer' | 'boolean' }[] = [
  { name: 'TESSERA_PS_ISSUER', path: ['ps', 'issuer'], type: 'string' },
  { name: 'TESSERA_PS_NAME', path: ['ps', 'name'], type: 'string' },
  { name: 'TESSERA_AP_ISSUER', path: ['ap', 'issuer'], type: 'string' },
  { name: 'TESSERA_AP_NAME', path: ['ap', 'name'], type: 'string' },
  { name: 'TESSERA_STORE', path: ['store', 'kind'], type: 'string' },
  { name: 'TESSERA_DATA_DIR', path: ['store', 'dataDir'], type: 'string' },
  { name: 'TESSERA_DATABASE_URL', path: ['store', 'connectionString'], type: 'string' },
  { name: 'TESSERA_DATABASE_MAX_CONNECTIONS', path: ['store', 'maxConnections'], type: 'integer' },
  { name: 'TESSERA_HOST', path: ['listen', 'host'], type: 'string' },
  { name: 'TESSERA_PS_PORT', path: ['listen', 'psPort'], type: 'integer' },
  { name: 'TESSERA_AP_PORT', path: ['listen', 'apPort'], type: 'integer' },
  { name: 'TESSERA_AS_ISSUER', path: ['as', 'issuer'], type: 'string' },
  { name: 'TESSERA_AS_PORT', path: ['listen', 'asPort'], type: 'integer' },
  { name: 'TESSERA_ADMIN_TOKEN', path: ['adminToken'], type: 'string' },
  { name: 'TESSERA_ADMIN_TOKEN_SHA256', path: ['adminTokenSha256'], type: 'string' },
  { name: 'TESSERA_LOG_LEVEL', path: ['log', 'level'], type: 'string' },
  { name: 'TESSERA_TRUST_PROXY', path: ['trustProxy'], type: 'boolean' },
  { name: 'TESSERA_RATE_LIMIT', path: ['rateLimit', 'enabled'], type: 'boolean' },
];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function envValue(text: string, type: 'string' | 'integer' | 'boolean'): unknown {
  if (type === 'integer') return /^-?\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : text;
  if (type === 'boolean') {
    const t = text.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(t)) return true;
    if (['0', 'false', 'no', 'off'].includes(t)) return false;
    return text;
  }
  return text;
}

/** Which store kind an environment variable implies (so `TESSERA_DATABASE_URL` alone switches to PostgreSQL). */
const IMPLIED_STORE: Readonly<Record<string, 'sqlite' | 'postgres'>> = { TESSERA_DATA_DIR: 'sqlite', TESSERA_DATABASE_URL: 'postgres' };

/**
 * Applies `TESSERA_*` variables over `raw` (a copy); returns the merged document and, per key path set from the
 * environment, the variable's name.
 */
export function applyEnvironment(raw: unknown, env: Readonly<Record<string, string | undefined>>): { document: unknown; fromEnv: Map<string, string> } {
  const fromEnv = new Map<string, string>();
  if (!isRecord(raw)) return { document: raw, fromEnv };
  const document = structuredClone(raw);
  const set = ENVIRONMENT.filter((e) => env[e.name] !== undefined && env[e.name] !== '');
  // A store kind named or implied by the environment replaces a file store of another kind wholesale.
  const kind = env['TESSERA_STORE'] ?? set.map((e) => IMPLIED_STORE[e.name]).find((k) => k !== undefined);
  if (kind !== undefined && isRecord(document['store']) && document['store']['kind'] !== kind) document['store'] = { kind };
  if (kind !== undefined && document['store'] === undefined) document['store'] = { kind };
  for (const entry of set) {
    let target: Record<string, unknown> = document;
    for (const key of entry.path.slice(0, -1)) {
      if (!isRecord(target[key])) target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[entry.path[entry.path.length - 1]!] = envValue(env[entry.name]!, entry.type);
    fromEnv.set(entry.path.join('.'), entry.name);
  }
  return { document, fromEnv };
}

function issuesOf(error: z.ZodError, source: string, fromEnv: ReadonlyMap<string, string>): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const variable = fromEnv.get(path);
    return { source: variable === undefined ? source : `environment variable ${variable}`, path, message: issue.message };
  });
}

export interface ParseConfigOptions {
  readonly mode: ServerMode;
  /** Names the document in errors, e.g. `config file /etc/tessera.json`. */
  readonly source?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Checks a configuration document (with the environment applied). Throws `ConfigError`. */
export function parseConfig(raw: unknown, options: ParseConfigOptions): TesseraConfig {
  const source = options.source ?? 'configuration';
  const { document, fromEnv } = applyEnvironment(raw, options.env ?? {});
  if (!isRecord(document)) throw new ConfigError([{ source, path: '', message: 'expected a JSON object' }]);
  const result = configSchema(options.mode).safeParse(document);
  if (!result.success) throw new ConfigError(issuesOf(result.error, source, fromEnv));
  return { ...result.data, mode: options.mode };
}

export interface LoadConfigOptions {
  readonly mode?: ServerMode;
  /** Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Reads `file` (JSON), applies `TESSERA_*` variables and checks the result. Throws `ConfigError`. */
export async function loadConfig(file: string, options: LoadConfigOptions = {}): Promise<TesseraConfig> {
  const source = `config file ${file}`;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new ConfigError([{ source, path: '', message: `cannot be read (${code})` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ConfigError([{ source, path: '', message: `is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})` }]);
  }
  return parseConfig(raw, { mode: options.mode ?? 'production', source, env: options.env ?? process.env });
}
