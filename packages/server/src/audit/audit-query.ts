/**
 * Reading the audit log: filters (time range, event type, agent, person, resource), cursor pagination by event id
 * (ids sort by time), and a JSON Lines export streamed page by page. Every event read is shown with its ISO time
 * and with its `detail` scrubbed: a value under a secret-sounding name, or shaped like a JWS, never leaves whole
 * (the log must never hold a whole token, key or secret; this is the second line of defence).
 */
import { redact } from '@tessera/protocol';
import { sql } from 'kysely';
import type { AuditEvent } from '../store/schema.js';
import { fromJson, type Executor } from '../store/store.js';
import type { Validated } from '../registry/validation.js';

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;
/** Rows per query while exporting. */
const EXPORT_PAGE = 500;

export interface AuditFilter {
  /** Epoch seconds, inclusive. */
  readonly since?: number;
  /** Epoch seconds, exclusive. */
  readonly until?: number;
  /** An exact event type, or a prefix written `admin.*`. */
  readonly type?: string;
  readonly agent?: string;
  readonly person?: string;
  readonly resource?: string;
  /** Events after this id (the previous page's `next_cursor`). */
  readonly cursor?: string;
  readonly limit: number;
}

/** An audit event as the admin API and the export show it. */
export interface AuditRecord {
  readonly id: string;
  readonly at: number;
  /** `at` as an ISO 8601 date-time (UTC). */
  readonly time: string;
  readonly type: string;
  readonly actor: string;
  readonly agent: string | null;
  readonly person: string | null;
  readonly resource: string | null;
  readonly scope: string | null;
  readonly request_id: string | null;
  readonly detail: unknown;
}

export interface AuditPage {
  readonly events: readonly AuditRecord[];
  /** Pass as `cursor` for the next page; `null` on the last page. */
  readonly next_cursor: string | null;
}

const CURSOR = /^[0-9a-f]{12,64}$/;
const EPOCH = /^\d{1,12}$/;
/** ISO 8601 date or date-time, e.g. `2026-05-01` or `2026-05-01T12:00:00Z` / `+02:00`. */
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const TYPE = /^[A-Za-z0-9_.-]{1,100}(?:\.\*)?$|^\*$/;

/** Epoch seconds from `1767225600` or an ISO 8601 date(-time); undefined when neither. */
export function parseAuditTime(value: string): number | undefined {
  if (EPOCH.test(value)) return Number(value);
  if (!ISO.test(value)) return undefined;
  const ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

/** Validates the query parameters of `GET /admin/audit` (`since, until, type, agent, person, resource, cursor, limit`). */
export function parseAuditFilter(query: Readonly<Record<string, string | undefined>>): Validated<AuditFilter> {
  const bad = (detail: string): Validated<AuditFilter> => ({ ok: false, detail });
  const filter: { -readonly [K in keyof AuditFilter]: AuditFilter[K] } = { limit: DEFAULT_AUDIT_LIMIT };
  for (const key of ['since', 'until'] as const) {
    const value = query[key];
    if (value === undefined || value === '') continue;
    const time = parseAuditTime(value);
    if (time === undefined) return bad(`${key}: not epoch seconds or an ISO 8601 date-time`);
    filter[key] = time;
  }
  const type = query['type'];
  if (type !== undefined && type !== '' && type !== '*') {
    if (!TYPE.test(type)) return bad('type: not an event type (e.g. token.issued, or a prefix like admin.*)');
    filter.type = type;
  }
  for (const key of ['agent', 'person', 'resource'] as const) {
    const value = query[key];
    if (value === undefined || value === '') continue;
    if (value.length > 2048) return bad(`${key}: too long`);
    filter[key] = value;
  }
  const cursor = query['cursor'];
  if (cursor !== undefined && cursor !== '') {
    if (!CURSOR.test(cursor)) return bad('cursor: not a cursor from a previous page');
    filter.cursor = cursor;
  }
  const limit = query['limit'];
  if (limit !== undefined && limit !== '') {
    if (!/^\d{1,5}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_AUDIT_LIMIT) return bad(`limit: an integer from 1 to ${MAX_AUDIT_LIMIT}`);
    filter.limit = Number(limit);
  }
  return { ok: true, value: filter };
}

function select(db: Executor, filter: AuditFilter, limit: number): Promise<AuditEvent[]> {
  let q = db.selectFrom('audit_events').selectAll();
  if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
  if (filter.until !== undefined) q = q.where('at', '<', filter.until);
  if (filter.type !== undefined) {
    if (filter.type.endsWith('.*')) {
      // A prefix match without LIKE (whose `_` would be a wildcard): the same on SQLite and PostgreSQL.
      const prefix = filter.type.slice(0, -1);
      q = q.where(sql<string>`substr(type, 1, ${prefix.length})`, '=', prefix);
    } else {
      q = q.where('type', '=', filter.type);
    }
  }
  if (filter.agent !== undefined) q = q.where('agent', '=', filter.agent);
  if (filter.person !== undefined) q = q.where('person', '=', filter.person);
  if (filter.resource !== undefined) q = q.where('resource', '=', filter.resource);
  if (filter.cursor !== undefined) q = q.where('id', '>', filter.cursor);
  return q.orderBy('id').limit(limit).execute();
}

/** One page of events, oldest first. */
export async function queryAudit(db: Executor, filter: AuditFilter): Promise<AuditPage> {
  const rows = await select(db, filter, filter.limit + 1);
  const page = rows.slice(0, filter.limit);
  const last = page[page.length - 1];
  return { events: page.map(auditRecord), next_cursor: rows.length > filter.limit && last !== undefined ? last.id : null };
}

/** Every matching event (from `filter.cursor` on; `filter.limit` is ignored) as JSON Lines, queried page by page. */
export async function* exportAudit(db: Executor, filter: AuditFilter): AsyncGenerator<string, void, undefined> {
  let cursor = filter.cursor;
  for (;;) {
    const rows = await select(db, cursor === undefined ? filter : { ...filter, cursor }, EXPORT_PAGE);
    for (const row of rows) yield `${JSON.stringify(auditRecord(row))}\n`;
    const last = rows[rows.length - 1];
    if (rows.length < EXPORT_PAGE || last === undefined) return;
    cursor = last.id;
  }
}

/** A `ReadableStream` of the export, pulled as the client reads (for `GET /admin/audit.jsonl`). */
export function auditExportStream(db: Executor, filter: AuditFilter): ReadableStream<Uint8Array> {
  const lines = exportAudit(db, filter);
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done === true) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
}

export function auditRecord(row: AuditEvent): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    time: new Date(row.at * 1000).toISOString(),
    type: row.type,
    actor: row.actor,
    agent: row.agent,
    person: row.person,
    resource: row.resource,
    scope: row.scope,
    request_id: row.request_id,
    detail: scrubDetail(fromJson<unknown>(row.detail, {})),
  };
}

/** Names whose string values are secrets: tokens, passwords, private keys, codes, signatures. */
const SECRET_NAME = /^(?:d|code|interaction_code)$|(?:^|_)(?:token|secret|password|jwt|signature|private_jwk|private_key|api_key)$/i;
/** A compact JWS/JWT. */
const JWS = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g;

/**
 * Removes secrets from an event's `detail`: strings under a secret-sounding name are shortened with `redact`,
 * anything shaped like a JWS elsewhere is shortened in place. Thumbprints, identifiers and scopes stay.
 */
export function scrubDetail(value: unknown, name = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_NAME.test(name)) return redact(value);
    return value.replace(JWS, (match) => redact(match));
  }
  if (Array.isArray(value)) return value.map((v) => scrubDetail(v, name));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrubDetail(v, k);
    return out;
  }
  return value;
}
