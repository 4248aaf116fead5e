/**
 * `tessera gateway --config FILE`: runs the AAuth gateway (@tessera/gateway) — a verifying reverse proxy and,
 * when configured, an Envoy ext_authz HTTP service — until SIGINT / SIGTERM. A bad configuration is refused with
 * a message naming the file, the key and what is wrong (exit code 2).
 */
import type { Command } from 'commander';
import { integerOption, UsageError, type CliIo } from '../io.js';

export interface GatewayCommandOptions {
  readonly config: string;
  readonly port?: string;
  readonly host?: string;
}

export async function gatewayCommand(options: GatewayCommandOptions, io: CliIo): Promise<number> {
  const gw = await import('@tessera/gateway');
  let config;
  try {
    config = await gw.loadGatewayConfig(options.config);
  } catch (error) {
    if (error instanceof gw.GatewayConfigError) throw new UsageError(`configuration refused:\n${error.message}`);
    throw error;
  }
  const port = options.port === undefined ? undefined : integerOption(options.port, '--port');
  if (port !== undefined && port > 65535) throw new UsageError(`--port must be from 0 to 65535, got ${port}`);
  const gateway = await gw.createGateway(config, { onError: (error) => io.stderr(`gateway error: ${error instanceof Error ? error.message : String(error)}`) });
  let bound;
  try {
    bound = await gateway.listen(port, options.host);
  } catch (error) {
    await gateway.close();
    const errno = error as NodeJS.ErrnoException & { port?: number };
    if (errno.code === 'EADDRINUSE') throw new Error(`port ${errno.port ?? '?'} is already in use; choose another port`);
    throw error;
  }
  io.stdout(`AAuth gateway for ${config.issuer} listening on ${bound.url} (${config.routes.length} route${config.routes.length === 1 ? '' : 's'}${config.extAuthz ? `, ext_authz at ${config.extAuthz.pathPrefix}` : ''})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await gateway.close();
  return 0;
}

/** Registers `tessera gateway` on the root program. */
export function registerGatewayCommands(program: Command, io: CliIo, exit: { code: number }): void {
  program
    .command('gateway')
    .description('run the AAuth gateway: a verifying reverse proxy (and Envoy ext_authz service) in front of any HTTP or MCP upstream')
    .requiredOption('--config <file>', 'gateway configuration JSON file (see docs/gateway.md)')
    .option('--port <n>', 'listen port (overrides listen.port)')
    .option('--host <address>', 'listen address (overrides listen.host)')
    .action(async (opts: GatewayCommandOptions) => {
      exit.code = await gatewayCommand(opts, io);
    });
}
