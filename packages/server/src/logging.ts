/**
 * Logging with pino: JSON lines, secrets redacted (architecture.md: observability stays at the edges; never a whole
 * token, key, signature or password in a log). In development the output is pretty when `pino-pretty` is
 * installed; otherwise (and always in production) plain JSON lines.
 */
import { createRequire } from 'node:module';
import type { MiddlewareHandler } from 'hono';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { LogLevel, ServerMode } from './config.js';

/** Field names whose values are never logged, wherever they appear (headers, bodies, error objects). */
export const REDACTED_FIELDS = [
  'authorization',
  'signature',
  'signature-key',
  'signature-input',
  'cookie',
  'set-cookie',
  'token',
  'tokens',
  'agent_token',
  'person_token',
  'resource_token',
  'auth_token',
  'upstream_token',
  'subagent_token',
  'access_token',
  'api_token',
  'admin_token',
  'adminToken',
  'password',
  'password_hash',
  'private_jwk',
  'privateJwk',
  'private_key',
  'privateKey',
  'secret',
  'd',
] as const;

/** Paths for pino's `redact`: each field at the top level and up to three levels down (`req.headers.cookie`). */
export function redactPaths(fields: readonly string[] = REDACTED_FIELDS): string[] {
  const paths: string[] = [];
  for (const field of fields) {
    const key = /^[A-Za-z_$][\w$]*$/.test(field) ? field : `["${field}"]`;
    const join = (prefix: string): string => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
    paths.push(key.startsWith('[') ? key : field, join('*'), join('*.*'), join('*.*.*'));
  }
  return paths;
}

export interface LoggerConfig {
  readonly level?: LogLevel;
  readonly mode?: ServerMode;
  /** Where lines go (tests); default standard output. */
  readonly destination?: DestinationStream;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Creates the server logger. */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: 'tessera' },
    redact: { paths: redactPaths(), censor: '[redacted]' },
  };
  if (config.destination !== undefined) return pino(options, config.destination);
  if (config.mode === 'development' && prettyAvailable()) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino(options);
}

/**
 * Hono middleware: one line per request (method, path without query, status, milliseconds, request id). Query
 * strings are left out because interaction URLs carry codes there.
 */
export function accessLog(log: Logger, host: string): MiddlewareHandler<{ Variables: { requestId?: string } }> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    // At a level above info (the benchmarks run at `error`) only failures are logged: build no line for the rest.
    if (c.res.status < 500 && !log.isLevelEnabled('info')) return;
    const requestId = c.var.requestId;
    const line = { host, method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started), requestId };
    if (c.res.status >= 500) log.error(line, 'request failed');
    else log.info(line, 'request');
  };
}
