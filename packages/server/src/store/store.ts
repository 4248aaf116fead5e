/**
 * The `Store`: all state of a Tessera server, behind one Kysely instance. SQLite (better-sqlite3, WAL, in a
 * data directory) is the embedded default; PostgreSQL is the scale-out implementation. Every state change
 * runs in a transaction (`store.transaction`), so a crash loses nothing that was acknowledged.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import { pooledRandomHex } from '@tessera/protocol';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type SqliteDatabase, type Transaction } from 'kysely';
import type { AuditEventsTable, Database } from './schema.js';
import { migrationProvider } from './migrations.js';
import { prepared } from './prepared.js';
import { BACKSTOP_PAGES, startCheckpointer, type CheckpointerStats } from './sqlite-checkpointer.js';
import { directTransaction, GroupCommitSqliteDialect, registerDirectReads, StatementCache, type CommitBatch, type GroupCommitDriver } from './sqlite-group-commit.js';

export type StoreConfig =
  | {
      readonly kind: 'sqlite';
      /** A directory (the file is `tessera.db` in it), or `:memory:`. */
      readonly dataDir: string;
      /** WAL checkpoints on a worker thread (default true; sqlite-checkpointer.ts). */
      readonly backgroundCheckpoints?: boolean;
    }
  | { readonly kind: 'postgres'; readonly connectionString: string; readonly maxConnections?: number };

/** What an audit event carries; `id` and `at` are set by the store. Never a whole token, key or secret. */
export interface AuditInput {
  readonly type: string;
  readonly actor: string;
  readonly agent?: string | null;
  readonly person?: string | null;
  readonly resource?: string | null;
  readonly scope?: string | null;
  readonly requestId?: string | null;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export type Executor = Kysely<Database> | Transaction<Database>;

/** Every audit event goes through here: compiled once (see prepared.ts). */
const insertAuditEvent = prepared(
  10,
  (db, id: string, at: number, type: string, actor: string, agent: string | null, person: string | null, resource: string | null, scope: string | null, request_id: string | null, detail: string) =>
    db.insertInto('audit_events').values({ id, at, type, actor, agent, person, resource, scope, request_id, detail }),
);

export class Store {
  readonly db: Kysely<Database>;
  readonly kind: StoreConfig['kind'];
  readonly #now: () => number;
  /** SQLite files: the group-commit driver, whose batches a transaction waits for (see sqlite-group-commit.ts). */
  readonly #groupCommit: GroupCommitDriver | undefined;
  /** Last audit id time (ms) and sequence within it, so this store's ids strictly increase. */
  #lastMs = 0;
  #seq = 0;

  constructor(db: Kysely<Database>, kind: StoreConfig['kind'], now: () => number, groupCommit?: GroupCommitDriver) {
    this.db = db;
    this.kind = kind;
    this.#now = now;
    this.#groupCommit = groupCommit;
  }

  /**
   * Runs `fn` in a transaction: all of its writes land, or none do. It resolves once they are committed: with the
   * SQLite group commit, when the batch it joined has committed (a failed batch COMMIT rejects it).
   */
  async transaction<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    const group = this.#groupCommit;
    if (group === undefined) return this.db.transaction().execute(fn);
    let batch: CommitBatch | undefined;
    const result = await this.db.transaction().execute((trx) =>
      directTransaction(trx, group, async () => {
        const value = await fn(trx);
        batch = group.currentBatch();
        return value;
      }),
    );
    await batch?.durable;
    return result;
  }

  /** What the background WAL checkpointer has done (a SQLite file store with one running; for metrics and tests). */
  checkpoints(): CheckpointerStats | undefined {
    return this.#groupCommit?.checkpointer?.stats();
  }

  /** Appends an audit event (in `executor`'s transaction when given, so the event lands with the change). */
  async audit(event: AuditInput, executor: Executor = this.db): Promise<void> {
    const row: AuditEventsTable = {
      id: this.#nextAuditId(),
      at: Math.floor(this.#now()),
      type: event.type,
      actor: event.actor,
      agent: event.agent ?? null,
      person: event.person ?? null,
      resource: event.resource ?? null,
      scope: event.scope ?? null,
      request_id: event.requestId ?? null,
      detail: JSON.stringify(event.detail ?? {}),
    };
    await insertAuditEvent(executor, row.id, row.at, row.type, row.actor, row.agent, row.person, row.resource, row.scope, row.request_id, row.detail);
  }

  /**
   * A time-sortable, unguessable, strictly increasing id: 12 hex digits of milliseconds, 4 of sequence within the
   * millisecond (so events written in one millisecond keep their order), then 64 random bits.
   */
  #nextAuditId(): string {
    const ms = Math.max(Math.floor(this.#now() * 1000), this.#lastMs);
    this.#seq = ms === this.#lastMs ? this.#seq + 1 : 0;
    this.#lastMs = ms;
    return auditId(ms, this.#seq);
  }

  /** Runs pending migrations; returns the names applied. */
  async migrate(): Promise<string[]> {
    const migrator = new Migrator({ db: this.db, provider: migrationProvider });
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}

/** Formats an audit id from milliseconds and a sequence number (32 hex digits). */
export function auditId(ms: number, seq: number): string {
  return ms.toString(16).padStart(12, '0') + (seq & 0xffff).toString(16).padStart(4, '0') + pooledRandomHex(8);
}

/** Opens (and migrates) a store. */
export async function openStore(config: StoreConfig, now: () => number = () => Date.now() / 1000): Promise<Store> {
  const { db, groupCommit } = await createKysely(config);
  const store = new Store(db, config.kind, now, groupCommit);
  try {
    await store.migrate();
  } catch (error) {
    // Not left open behind a failed start: the connections, and the checkpointer's thread.
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

async function createKysely(config: StoreConfig): Promise<{ db: Kysely<Database>; groupCommit?: GroupCommitDriver }> {
  if (config.kind === 'sqlite') {
    const { default: SQLite } = await import('better-sqlite3');
    if (config.dataDir === ':memory:') {
      const database = new SQLite(':memory:');
      database.pragma('foreign_keys = ON');
      return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) }) };
    }
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const file = join(config.dataDir, 'tessera.db');
    const writer = new SQLite(file);
    writer.pragma('journal_mode = WAL');
    writer.pragma('synchronous = NORMAL');
    writer.pragma('foreign_keys = ON');
    writer.pragma('busy_timeout = 5000');
    // Checkpoints on a worker thread; the writer's own, less often, keeps the log bounded (sqlite-checkpointer.ts).
    const checkpointer = config.backgroundCheckpoints === false ? undefined : startCheckpointer(file);
    if (checkpointer !== undefined) writer.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    // A log that grew to the threshold is cut back when it starts over, rather than keeping its size on disk.
    writer.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
    // Reads outside transactions: a read-only connection, which sees committed data only (sqlite-group-commit.ts).
    const reader = new SQLite(file, { readonly: true });
    reader.pragma('busy_timeout = 5000');
    const dialect = new GroupCommitSqliteDialect(writer, reader, checkpointer);
    const db = new Kysely<Database>({ dialect });
    registerDirectReads(db, dialect.driver);
    return { db, groupCommit: dialect.driver };
  }
  const pg = await import('pg');
  const pool = new pg.default.Pool({
    connectionString: config.connectionString,
    max: config.maxConnections ?? 10,
    // BIGINT (epoch seconds) as a number, not a string: safe below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
        oid === 20 ? (value: string) => Number(value) : (pg.default.types.getTypeParser(oid, format ?? 'text') as unknown)) as typeof pg.default.types.getTypeParser,
    },
  });
  return { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }) };
}

/**
 * Kysely's SQLite driver prepares every query anew; a server runs the same few dozen statements all day. This keeps
 * prepared statements by SQL text (bounded), which better-sqlite3 allows reusing.
 */
function withStatementCache(database: SQLiteDatabase): SqliteDatabase {
  const statements = new StatementCache(database);
  return { close: () => void database.close(), prepare: (sql: string) => statements.prepare(sql) };
}

/** JSON text helpers for the TEXT columns that hold JSON. */
export const toJson = (value: unknown): string => JSON.stringify(value);
export function fromJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}
