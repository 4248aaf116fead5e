/**
 * `tessera approvals list|approve ID [--always]|deny ID`: decide pending requests through the Person Server's
 * approver API (`/api`), with a personal API token (`--token` or `TESSERA_TOKEN`) and the server URL (`--server` or
 * `TESSERA_URL`).
 *
 * Also the small HTTP client the approvals, grants, audit and admin commands share: JSON in and out, problem+json
 * errors printed as one line `tessera: <error>: <detail>` with exit code 1.
 */
import type { Command } from 'commander';
import { json, UsageError, type CliIo } from '../io.js';

/** What the API commands need besides the CLI's io: injected in tests. */
export interface ApiCommandDeps {
  /** Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface ApiTarget {
  /** The Person Server URL, without a trailing slash. */
  readonly server: string;
  readonly token: string;
}

/** An HTTP error answer, or a failure to reach the server: printed in one line, exit code 1. */
export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
}

export interface TargetOptions {
  readonly server?: string;
  readonly token?: string;
  readonly adminToken?: string;
}

/** The server and token from the options or the environment; a usage error (exit 2) when either is missing. */
export function resolveTarget(options: TargetOptions, deps: ApiCommandDeps, kind: 'person' | 'admin'): ApiTarget {
  const env = deps.env ?? process.env;
  const server = options.server ?? env['TESSERA_URL'];
  if (server === undefined || server === '') throw new UsageError('--server (or TESSERA_URL) is required');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server is not a URL: ${server}`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') throw new UsageError('--server must be an http(s) URL without query or fragment');
  const token = kind === 'admin' ? (options.adminToken ?? env['TESSERA_ADMIN_TOKEN']) : (options.token ?? env['TESSERA_TOKEN']);
  if (token === undefined || token === '') {
    throw new UsageError(kind === 'admin' ? '--admin-token (or TESSERA_ADMIN_TOKEN) is required' : '--token (or TESSERA_TOKEN) is required');
  }
  return { server: url.href.replace(/\/+$/, ''), token };
}

/** Adds `--server` and the token option of `kind` to a command. */
export function withTargetOptions(command: Command, kind: 'person' | 'admin'): Command {
  command.option('--server <url>', 'the Person Server URL (default: env TESSERA_URL)');
  if (kind === 'admin') command.option('--admin-token <token>', 'the admin token (default: env TESSERA_ADMIN_TOKEN)');
  else command.option('--token <token>', 'a personal API token (default: env TESSERA_TOKEN)');
  return command;
}

/** Encodes one path segment (agent and resource identifiers, ids). */
export const segment = (value: string): string => encodeURIComponent(value);

async function send(deps: ApiCommandDeps, target: ApiTarget, method: string, path: string, body?: unknown): Promise<Response> {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await doFetch(`${target.server}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
    throw new ApiFailure(`cannot reach ${target.server}: ${cause}`);
  }
  if (!response.ok) {
    const text = await response.text();
    let problem: { error?: unknown; detail?: unknown } = {};
    try {
      problem = JSON.parse(text) as typeof problem;
    } catch {
      // not problem+json
    }
    const error = typeof problem.error === 'string' ? problem.error : `HTTP ${response.status}`;
    const detail = typeof problem.detail === 'string' ? problem.detail : typeof problem.error === 'string' ? '' : response.statusText;
    throw new ApiFailure(detail === '' ? error : `${error}: ${detail}`);
  }
  return response;
}

/** Calls the API and returns the JSON body (`null` for 204). */
export async function callApi(deps: ApiCommandDeps, target: ApiTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await send(deps, target, method, path, body);
  if (response.status === 204) return null;
  const text = await response.text();
  try {
    return text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    throw new ApiFailure(`the server answered ${method} ${path} with something that is not JSON`);
  }
}

/** Calls the API and hands each line of a JSON Lines body to `line` as it arrives. */
export async function streamLines(deps: ApiCommandDeps, target: ApiTarget, path: string, line: (text: string) => void): Promise<void> {
  const response = await send(deps, target, 'GET', path);
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text !== '') line(text);
    }
  }
  buffered += decoder.decode();
  if (buffered !== '') line(buffered);
}

/** Runs an API command: an `ApiFailure` prints one line and sets exit code 1; usage errors propagate (exit 2). */
export async function runApi(io: CliIo, exit: { code: number }, action: () => Promise<void>): Promise<void> {
  try {
    await action();
    exit.code = 0;
  } catch (error) {
    if (!(error instanceof ApiFailure)) throw error;
    io.stderr(`tessera: ${error.message}`);
    exit.code = 1;
  }
}

export type Column<T> = readonly [header: string, cell: (row: T) => unknown];

const MAX_CELL = 60;

function cellText(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '-';
  else if (Array.isArray(value)) text = value.join(' ');
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else text = JSON.stringify(value);
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > MAX_CELL ? `${flat.slice(0, MAX_CELL - 1)}…` : flat;
}

/** A compact table: one header line, one line per row, columns padded to the widest cell. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = [columns.map(([header]) => header), ...rows.map((row) => columns.map(([, cell]) => cellText(cell(row))))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  return cells.map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Prints a list as JSON (the API's own body) or, with `--table`, as a compact table. */
export function printList<T>(io: CliIo, body: unknown, key: string, columns: readonly Column<T>[], asTable: boolean | undefined): void {
  if (asTable !== true) {
    io.stdout(json(body));
    return;
  }
  const rows = typeof body === 'object' && body !== null && Array.isArray((body as Record<string, unknown>)[key]) ? ((body as Record<string, unknown>)[key] as T[]) : [];
  io.stdout(table(rows, columns));
}

interface PendingRow {
  readonly id: string;
  readonly kind: string;
  readonly agent_id: string;
  readonly expires_at: number;
  readonly view: { readonly summary?: string } | null;
}

const isoTime = (epoch: unknown): string => (typeof epoch === 'number' ? new Date(epoch * 1000).toISOString().replace('.000Z', 'Z') : '-');

export function registerApprovalsCommands(program: Command, io: CliIo, exit: { code: number }, deps: ApiCommandDeps = {}): void {
  const approvals = program.command('approvals').description('list, approve and deny pending requests (personal API token)');

  withTargetOptions(approvals.command('list').description('the pending requests you may decide').option('--table', 'a compact table instead of JSON'), 'person').action(
    async (opts: TargetOptions & { table?: boolean }) => {
      const target = resolveTarget(opts, deps, 'person');
      await runApi(io, exit, async () => {
        const body = await callApi(deps, target, 'GET', '/api/pending');
        printList<PendingRow>(
          io,
          body,
          'pending',
          [
            ['ID', (p) => p.id],
            ['KIND', (p) => p.kind],
            ['AGENT', (p) => p.agent_id],
            ['EXPIRES', (p) => isoTime(p.expires_at)],
            ['SUMMARY', (p) => p.view?.summary],
          ],
          opts.table,
        );
      });
    },
  );

  withTargetOptions(
    approvals.command('approve').description('approve a pending request').argument('<id>', 'the pending request id').option('--always', 'approve always: create a standing grant'),
    'person',
  ).action(async (id: string, opts: TargetOptions & { always?: boolean }) => {
    const target = resolveTarget(opts, deps, 'person');
    await runApi(io, exit, async () => {
      io.stdout(json(await callApi(deps, target, 'POST', `/api/pending/${segment(id)}/approve`, { always: opts.always === true })));
    });
  });

  withTargetOptions(approvals.command('deny').description('deny a pending request').argument('<id>', 'the pending request id'), 'person').action(async (id: string, opts: TargetOptions) => {
    const target = resolveTarget(opts, deps, 'person');
    await runApi(io, exit, async () => {
      io.stdout(json(await callApi(deps, target, 'POST', `/api/pending/${segment(id)}/deny`)));
    });
  });
}
