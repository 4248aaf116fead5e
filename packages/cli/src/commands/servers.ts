/**
 * Running the servers: `tessera dev` (everything on localhost), `tessera serve --config FILE` (production: https
 * identifiers only, no loopback fetches), `tessera migrate` and `tessera keys rotate`. `@tessera/server` is loaded
 * when one of these runs, so the other commands start without it.
 */
import type * as TesseraServer from '@tessera/server';
import type { Command } from 'commander';
import { integerOption, json, UsageError, type CliIo } from '../io.js';

type ServerModule = typeof TesseraServer;

const loadServer = (): Promise<ServerModule> => import('@tessera/server');

function portOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const port = integerOption(value, name);
  if (port > 65535) throw new UsageError(`${name} must be from 0 to 65535, got ${port}`);
  return port;
}

/** Turns configuration and listening failures into one clear line. */
function explain(error: unknown, server: ServerModule): never {
  if (error instanceof server.ConfigError) throw new UsageError(`configuration refused:\n${error.message}`);
  const errno = error as NodeJS.ErrnoException & { port?: number; address?: string };
  if (errno.code === 'EADDRINUSE') throw new Error(`port ${errno.port ?? '?'} on ${errno.address ?? 'this host'} is already in use; choose another port`);
  if (errno.code === 'EACCES' && errno.syscall === 'listen') throw new Error(`not allowed to listen on port ${errno.port ?? '?'} (ports below 1024 need privileges)`);
  throw error;
}

async function loadProductionConfig(server: ServerModule, file: string) {
  try {
    return await server.loadConfig(file, { mode: 'production' });
  } catch (error) {
    return explain(error, server);
  }
}

export interface DevOptions {
  readonly data?: string;
  readonly psPort?: string;
  readonly apPort?: string;
  readonly resourcePort?: string;
  readonly json?: boolean;
}

/** `tessera dev`: runs until SIGINT / SIGTERM. */
export async function dev(options: DevOptions, io: CliIo): Promise<number> {
  const ports = {
    ps: portOption(options.psPort, '--ps-port'),
    ap: portOption(options.apPort, '--ap-port'),
    resource: portOption(options.resourcePort, '--resource-port'),
  };
  const server = await loadServer();
  let running: Awaited<ReturnType<ServerModule['startDev']>>;
  try {
    running = await server.startDev({
      ...(options.data === undefined ? {} : { dataDir: options.data }),
      ports: {
        ...(ports.ps === undefined ? {} : { ps: ports.ps }),
        ...(ports.ap === undefined ? {} : { ap: ports.ap }),
        ...(ports.resource === undefined ? {} : { resource: ports.resource }),
      },
      print: io.stdout,
      ...(options.json === true ? { json: true } : {}),
    });
  } catch (error) {
    return explain(error, server);
  }
  await server.shutdownOnSignals(running.running, running.running.server.ctx.log).done;
  return 0;
}

/** `tessera serve --config FILE`: production; runs until SIGINT / SIGTERM. */
export async function serveCommand(options: { readonly config: string }, io: CliIo): Promise<number> {
  const server = await loadServer();
  const config = await loadProductionConfig(server, options.config);
  let running: Awaited<ReturnType<ServerModule['listen']>>;
  try {
    const assembled = await server.createServer(config);
    try {
      running = await server.listen(assembled, { ps: config.listen.psPort, ap: config.listen.apPort, ...(config.as === undefined ? {} : { as: config.listen.asPort }) });
    } catch (error) {
      await assembled.close();
      throw error;
    }
  } catch (error) {
    return explain(error, server);
  }
  io.stdout(`Person Server  ${config.ps.issuer}  listening on ${running.urls.ps}`);
  io.stdout(`Agent Provider ${config.ap.issuer}  listening on ${running.urls.ap}`);
  if (config.as !== undefined && running.urls.as !== undefined) io.stdout(`Access Server  ${config.as.issuer}  listening on ${running.urls.as}`);
  await server.shutdownOnSignals(running, running.server.ctx.log).done;
  return 0;
}

/** `tessera migrate --config FILE`. */
export async function migrate(options: { readonly config: string }, io: CliIo): Promise<number> {
  const server = await loadServer();
  const config = await loadProductionConfig(server, options.config);
  const { applied } = await server.migrateStore(config);
  io.stdout(`schema up to date (${config.store.kind}): ${applied.length} migration${applied.length === 1 ? '' : 's'} applied${applied.length > 0 ? `, latest ${applied[applied.length - 1]}` : ''}`);
  return 0;
}

/** `tessera keys rotate --config FILE --role ps|ap|as` (`as` when the configuration runs an Access Server). */
export async function keysRotate(options: { readonly config: string; readonly role: string; readonly publishAhead?: string }, io: CliIo): Promise<number> {
  if (options.role !== 'ps' && options.role !== 'ap' && options.role !== 'as') throw new UsageError(`--role must be ps, ap or as, got "${options.role}"`);
  const publishAheadSeconds = options.publishAhead === undefined ? undefined : integerOption(options.publishAhead, '--publish-ahead');
  const server = await loadServer();
  const config = await loadProductionConfig(server, options.config);
  if (options.role === 'as' && config.as === undefined) throw new UsageError(`--role as: ${options.config} has no "as" section (no Access Server runs)`);
  const rotated = await server.rotateServerKey(config, options.role, publishAheadSeconds === undefined ? {} : { publishAheadSeconds });
  io.stdout(json({ role: options.role, kid: rotated.kid, active_from: rotated.activeFrom, active_from_date: new Date(rotated.activeFrom * 1000).toISOString() }));
  return 0;
}

/** Registers `dev`, `serve`, `migrate` and `keys rotate` on the root program. */
export function registerServerCommands(program: Command, io: CliIo, exit: { code: number }): void {
  program
    .command('dev')
    .description('run a Person Server (:4100), an Agent Provider (:4101) and a demo resource (:4102) on localhost, for development')
    .option('--data <dir>', 'SQLite data directory', '.tessera-dev')
    .option('--ps-port <n>', 'Person Server port (0 = any free port)')
    .option('--ap-port <n>', 'Agent Provider port (0 = any free port)')
    .option('--resource-port <n>', 'demo resource port (0 = any free port)')
    .option('--json', 'print one JSON line {ps, ap, resource, username, password, adminToken, approverToken, dataDir} instead of the banner')
    .action(async (opts: DevOptions) => {
      exit.code = await dev(opts, io);
    });

  program
    .command('serve')
    .description('run the Person Server and Agent Provider in production (https identifiers only; no loopback fetches)')
    .requiredOption('--config <file>', 'configuration JSON file (TESSERA_* environment variables override it)')
    .action(async (opts: { config: string }) => {
      exit.code = await serveCommand(opts, io);
    });

  program
    .command('migrate')
    .description('apply pending database migrations')
    .requiredOption('--config <file>', 'configuration JSON file')
    .action(async (opts: { config: string }) => {
      exit.code = await migrate(opts, io);
    });

  const keys = program.command('keys').description('server signing keys');
  keys
    .command('rotate')
    .description('publish a new signing key now; it signs after --publish-ahead seconds and the old key retires then')
    .requiredOption('--config <file>', 'configuration JSON file')
    .requiredOption('--role <role>', 'ps, ap, or as (with an Access Server in the configuration)')
    .option('--publish-ahead <seconds>', 'seconds the new key is published before it signs (default 300)')
    .action(async (opts: { config: string; role: string; publishAhead?: string }) => {
      exit.code = await keysRotate(opts, io);
    });
}
