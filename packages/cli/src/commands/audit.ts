/**
 * `tessera audit [--since ISO] [--until ISO] [--type T] [--agent A] [--person P] [--resource R] [--format json|jsonl]`:
 * the Person Server's audit log through the admin API (admin token). `json` prints one page `{events, next_cursor}`
 * (`--limit`, `--cursor`; `--table` for a compact table); `jsonl` streams every matching event, one JSON object a line.
 */
import type { Command } from 'commander';
import { integerOption, UsageError, type CliIo } from '../io.js';
import { callApi, printList, resolveTarget, runApi, streamLines, withTargetOptions, type ApiCommandDeps, type TargetOptions } from './approvals.js';

interface AuditOptions extends TargetOptions {
  readonly since?: string;
  readonly until?: string;
  readonly type?: string;
  readonly agent?: string;
  readonly person?: string;
  readonly resource?: string;
  readonly limit?: string;
  readonly cursor?: string;
  readonly format: string;
  readonly table?: boolean;
}

interface AuditRow {
  readonly time: string;
  readonly type: string;
  readonly actor: string;
  readonly agent: string | null;
  readonly person: string | null;
  readonly resource: string | null;
}

const EPOCH = /^\d{1,12}$/;

/** `--since`/`--until`: epoch seconds or an ISO 8601 date(-time) the server understands. */
function timeOption(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (EPOCH.test(value) || (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(Date.parse(value)))) return value;
  throw new UsageError(`${name} must be an ISO 8601 date-time (e.g. 2026-05-01T00:00:00Z) or epoch seconds, got "${value}"`);
}

/** The query string of `GET /admin/audit` for these options. */
export function auditQuery(opts: AuditOptions): string {
  const params = new URLSearchParams();
  const since = timeOption(opts.since, '--since');
  const until = timeOption(opts.until, '--until');
  if (since !== undefined) params.set('since', since);
  if (until !== undefined) params.set('until', until);
  for (const key of ['type', 'agent', 'person', 'resource', 'cursor'] as const) {
    const value = opts[key];
    if (value !== undefined) params.set(key, value);
  }
  if (opts.limit !== undefined) params.set('limit', String(integerOption(opts.limit, '--limit')));
  const query = params.toString();
  return query === '' ? '' : `?${query}`;
}

export function registerAuditCommands(program: Command, io: CliIo, exit: { code: number }, deps: ApiCommandDeps = {}): void {
  withTargetOptions(
    program
      .command('audit')
      .description('read the audit log (admin token)')
      .option('--since <time>', 'events at or after (ISO 8601 or epoch seconds)')
      .option('--until <time>', 'events before (ISO 8601 or epoch seconds)')
      .option('--type <type>', 'event type, or a prefix like admin.*')
      .option('--agent <id>', 'agent identifier')
      .option('--person <id>', 'person id')
      .option('--resource <id>', 'resource identifier')
      .option('--limit <n>', 'events per page (json format; 1-1000)')
      .option('--cursor <cursor>', 'continue after this next_cursor (json format)')
      .option('--format <format>', 'json (one page) or jsonl (every event, streamed)', 'json')
      .option('--table', 'a compact table instead of JSON (json format)'),
    'admin',
  ).action(async (opts: AuditOptions) => {
    if (opts.format !== 'json' && opts.format !== 'jsonl') throw new UsageError(`--format must be json or jsonl, got "${opts.format}"`);
    const query = auditQuery(opts);
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => {
      if (opts.format === 'jsonl') {
        await streamLines(deps, target, `/admin/audit.jsonl${query}`, io.stdout);
        return;
      }
      const body = await callApi(deps, target, 'GET', `/admin/audit${query}`);
      printList<AuditRow>(
        io,
        body,
        'events',
        [
          ['TIME', (e) => e.time],
          ['TYPE', (e) => e.type],
          ['ACTOR', (e) => e.actor],
          ['AGENT', (e) => e.agent],
          ['PERSON', (e) => e.person],
          ['RESOURCE', (e) => e.resource],
        ],
        opts.table,
      );
    });
  });
}
