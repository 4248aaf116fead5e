/**
 * `tessera dev`: everything on this machine in one process — a Person Server on http://localhost:4100, an Agent
 * Provider on :4101 and the demo notes resource on :4102 (each role its own port; 0 = any free port), SQLite in
 * `./.tessera-dev` (or a temporary directory), a person `alice` with a printed password, an admin token printed
 * once. Development mode: `http://localhost:PORT` identifiers and loopback fetches are allowed (architecture.md
 * "Development identifiers"); production refuses both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { createApiToken, listApiTokens, revokeApiToken } from './auth/api-tokens.js';
import { createPerson, findPersonByUsername, setPassword } from './auth/people.js';
import type { ServerContext } from './context.js';
import { DEMO_SCOPES } from './demo/demo-resource.js';
import { createResource, getResource } from './registry/resources.js';
import { parseConfig, type LogLevel } from './config.js';
import { createLogger } from './logging.js';
import { attach, bindPort, createServer, loopbackAddresses, type BoundPort, type RunningServer } from './server.js';

export const DEV_PORTS = { ps: 4100, ap: 4101, resource: 4102 } as const;
export const DEV_DATA_DIR = '.tessera-dev';
export const DEV_USERNAME = 'alice';

export interface StartDevOptions {
  /** SQLite data directory; default `./.tessera-dev`. `temporary: true` uses a fresh temporary directory instead. */
  readonly dataDir?: string;
  /** A fresh temporary data directory, removed on close (tests, throwaway runs). */
  readonly temporary?: boolean;
  /** Ports (0 = any free port). */
  readonly ports?: { readonly ps?: number; readonly ap?: number; readonly resource?: number };
  /** Where the banner goes (default: standard output). */
  readonly print?: (line: string) => void;
  /** Print one JSON line (`DevBanner`) instead of the banner, for scripts and tests. */
  readonly json?: boolean;
  /** Default `process.env` (reads `TESSERA_DEV_PASSWORD`, `TESSERA_LOG_LEVEL`, `TESSERA_RATE_LIMIT`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: pino to standard error (so the banner on standard output stays readable). */
  readonly log?: Logger;
}

export interface DevServer {
  readonly running: RunningServer;
  /** The server identifiers (`http://localhost:PORT`). */
  readonly issuers: { readonly ps: string; readonly ap: string; readonly resource: string };
  readonly dataDir: string;
  readonly username: string;
  readonly password: string;
  readonly adminToken: string;
  /** A personal API token of the development person, for `tessera approvals` and `tessera grants` (approver API). */
  readonly approverToken: string;
  close(): Promise<void>;
}

/** What `tessera dev --json` prints, one line. */
export interface DevBanner {
  readonly ps: string;
  readonly ap: string;
  readonly resource: string;
  readonly username: string;
  /** Absent when it came from `TESSERA_DEV_PASSWORD`. */
  readonly password?: string;
  readonly adminToken: string;
  readonly approverToken: string;
  readonly dataDir: string;
}

/** The name of the personal API token `tessera dev` makes at each start (the previous one is revoked). */
export const DEV_APPROVER_TOKEN_NAME = 'tessera dev';

const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Registers the demo resource, so the consent page names it and describes its scopes instead of showing a bare
 * URL (its identifier changes with its port, so a stale row of an earlier run is left alone).
 */
async function registerDemoResource(ctx: ServerContext, identifier: string): Promise<void> {
  if (await getResource(ctx.store.db, identifier)) return;
  await createResource(
    ctx,
    {
      identifier,
      name: 'Tessera demo notes',
      description: 'A small **demo resource** that `tessera dev` runs beside the Person Server: it keeps a few notes.',
      scopes: Object.entries(DEMO_SCOPES).map(([scope, description]) => ({ scope, description })),
      default_requirement: 'auth-token',
    },
    'tessera-dev',
  );
}

/** Starts the development servers and prints how to use them. */
export async function startDev(options: StartDevOptions = {}): Promise<DevServer> {
  const env = options.env ?? process.env;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const level = env['TESSERA_LOG_LEVEL'] !== undefined && LOG_LEVELS.includes(env['TESSERA_LOG_LEVEL']) ? (env['TESSERA_LOG_LEVEL'] as LogLevel) : 'info';
  const log = options.log ?? createLogger({ level, mode: 'development', destination: pino.destination(2) });
  const dataDir = options.temporary === true ? await mkdtemp(join(tmpdir(), 'tessera-dev-')) : resolve(options.dataDir ?? DEV_DATA_DIR);

  // Bind first, so that port 0 becomes a real port before the identifiers are fixed.
  const addresses = await loopbackAddresses();
  const bound: BoundPort[] = [];
  const bind = async (port: number): Promise<BoundPort> => {
    const b = await bindPort(port, addresses);
    bound.push(b);
    return b;
  };
  let running: RunningServer;
  let password: string;
  let adminToken: string;
  let approverToken: string;
  let issuers: DevServer['issuers'];
  try {
    const ps = await bind(options.ports?.ps ?? DEV_PORTS.ps);
    const ap = await bind(options.ports?.ap ?? DEV_PORTS.ap);
    const resource = await bind(options.ports?.resource ?? DEV_PORTS.resource);
    issuers = { ps: `http://localhost:${ps.port}`, ap: `http://localhost:${ap.port}`, resource: `http://localhost:${resource.port}` };
    adminToken = `tsa_${randomBytes(32).toString('base64url')}`;
    const config = parseConfig(
      {
        ps: { issuer: issuers.ps, name: 'Tessera Person Server (dev)' },
        ap: { issuer: issuers.ap, name: 'Tessera Agent Provider (dev)' },
        store: { kind: 'sqlite', dataDir },
        listen: { host: addresses[0], psPort: ps.port, apPort: ap.port, resourcePort: resource.port },
        adminToken,
        log: { level },
        demoResource: { issuer: issuers.resource },
        // TESSERA_RATE_LIMIT=false turns the per-client limiter off (load tests from one address).
        ...(env['TESSERA_RATE_LIMIT'] === 'false' ? { rateLimit: { enabled: false } } : {}),
      },
      { mode: 'development', source: 'tessera dev' },
    );
    const server = await createServer(config, { log });
    try {
      password = env['TESSERA_DEV_PASSWORD'] ?? randomBytes(12).toString('base64url');
      let person = await findPersonByUsername(server.ctx, DEV_USERNAME);
      if (person === undefined) person = await createPerson(server.ctx, { username: DEV_USERNAME, password, displayName: 'Alice' });
      else await setPassword(server.ctx, person.id, password);
      // A fresh approver token at each start, shown like the password; the previous run's is revoked.
      for (const old of await listApiTokens(server.ctx, person.id)) if (old.name === DEV_APPROVER_TOKEN_NAME) await revokeApiToken(server.ctx, person.id, old.id);
      approverToken = (await createApiToken(server.ctx, person.id, DEV_APPROVER_TOKEN_NAME)).token;
      await registerDemoResource(server.ctx, issuers.resource);
    } catch (error) {
      await server.close();
      throw error;
    }
    running = attach(server, { ps, ap, resource });
  } catch (error) {
    await Promise.all(bound.map((b) => b.close(0)));
    if (options.temporary === true) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }

  const fromEnv = env['TESSERA_DEV_PASSWORD'] !== undefined;
  if (options.json === true) {
    const line: DevBanner = { ...issuers, username: DEV_USERNAME, ...(fromEnv ? {} : { password }), adminToken, approverToken, dataDir };
    print(JSON.stringify(line));
  } else {
    for (const line of banner({ issuers, dataDir, password, adminToken, approverToken, fromEnv })) print(line);
  }

  let closing: Promise<void> | undefined;
  return {
    running,
    issuers,
    dataDir,
    username: DEV_USERNAME,
    password,
    adminToken,
    approverToken,
    close() {
      closing ??= (async () => {
        await running.close();
        if (options.temporary === true) await rm(dataDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

function banner(info: { issuers: DevServer['issuers']; dataDir: string; password: string; adminToken: string; approverToken: string; fromEnv: boolean }): string[] {
  const { issuers } = info;
  return [
    'Tessera is running in development mode (http://localhost identifiers and loopback fetches are allowed).',
    '',
    `  Person Server    ${issuers.ps}      metadata: ${issuers.ps}/.well-known/aauth-person.json`,
    `  Agent Provider   ${issuers.ap}      metadata: ${issuers.ap}/.well-known/aauth-agent.json`,
    `  Demo resource    ${issuers.resource}      GET ${issuers.resource}/notes needs an auth token (notes.read)`,
    '',
    `  Sign in:         ${issuers.ps}/login   as ${DEV_USERNAME} / ${info.fromEnv ? '(TESSERA_DEV_PASSWORD)' : info.password}`,
    `  Admin API token: ${info.adminToken}   (shown once; send as Authorization: Bearer …)`,
    `  Approver token:  ${info.approverToken}   (${DEV_USERNAME}'s personal API token, for tessera approvals / grants)`,
    `  Data directory:  ${info.dataDir}`,
    '',
    'Next steps:',
    `  curl ${issuers.ps}/.well-known/aauth-person.json`,
    `  curl -i ${issuers.resource}/notes        # 401 AAuth-Requirement: requirement=agent-token`,
    `  curl -H 'Authorization: Bearer ${info.adminToken}' ${issuers.ps}/admin/agents`,
    `  TESSERA_URL=${issuers.ps} TESSERA_TOKEN=${info.approverToken} npx tessera approvals list`,
    '',
    'Press Ctrl-C to stop.',
  ];
}
