/**
 * SQLite with group commit: a Kysely dialect for a SQLite database file that commits many transactions at once.
 *
 * Why: a SQLite COMMIT writes the transaction's pages to the WAL, and in bench:ps it was the largest single cost of
 * an auth-token issuance (80–120 µs of event loop, beside 10–25 µs per statement). Transactions that end within a
 * few turns of the event loop share one COMMIT here:
 *
 * - The first transaction opens a batch (`BEGIN IMMEDIATE`) and schedules its COMMIT `commitAfterTurns` turns of the
 *   event loop later (`setImmediate`, again and again: default 3), after the callbacks of those turns. A token
 *   request spans several turns (its signature checks and its signing answer from a worker thread), so a batch that
 *   waited one turn held the transactions of the requests that happened to finish in that turn: about eight at 32
 *   connections. Three turns hold about three times as many, and each COMMIT, and each renewal of the readers' snapshot
 *   that follows it, serves that many more (bench:ps +10% tokens/s; a fourth turn added 1%). An idle event loop turns
 *   at once, so a lone request waits for its COMMIT no longer than before. Each transaction of the batch runs in its
 *   own SAVEPOINT, one at a time (a mutex), so a failing one rolls back its own writes only.
 * - A transaction counts as done only once its batch has committed: `Store.transaction` awaits `durable(batch)`, so
 *   nothing is acknowledged before it is on disk (as with one COMMIT per transaction). A failed COMMIT fails every
 *   transaction of its batch.
 * - Reads outside a transaction go to a second, read-only connection, which sees committed data only (WAL snapshot
 *   isolation). They never wait for a running transaction and never see a batch that has not committed.
 * - A write outside a transaction first commits the open batch, then runs on its own (autocommit), so it is durable
 *   when it returns, as before.
 *
 * Kysely's own SQLite driver, with one connection behind one mutex and a COMMIT per transaction, stays in use for
 * `:memory:` databases, where a second connection would open a second, empty database.
 */
import type { Database as SQLiteDatabase, Statement } from 'better-sqlite3';
import {
  CompiledQuery,
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { ReadCache } from './read-cache.js';
import { ReadSnapshot } from './read-snapshot.js';
import type { Checkpointer } from './sqlite-checkpointer.js';

/** The batch a transaction joined: `durable` settles when its COMMIT has run. */
export interface CommitBatch {
  readonly durable: Promise<void>;
}

class Batch implements CommitBatch {
  readonly durable: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.durable = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A batch whose transactions all failed has no one awaiting it; its COMMIT failure must not go unhandled.
    this.durable.catch(() => undefined);
  }
}

/** A FIFO lock: `lock()` resolves when the caller holds it. */
class Mutex {
  #held = false;
  readonly #waiting: (() => void)[] = [];
  lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  unlock(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#held = false;
    else next();
  }
}

/** Prepared statements by SQL text, bounded: a server runs the same few dozen statements all day. */
export class StatementCache {
  readonly #statements = new Map<string, Statement>();
  constructor(
    readonly database: SQLiteDatabase,
    readonly max = 500,
  ) {}
  prepare(sql: string): Statement {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.database.prepare(sql);
      this.#statements.set(sql, statement);
      if (this.#statements.size > this.max) this.#statements.delete(this.#statements.keys().next().value!);
    }
    return statement;
  }
}

/** Column names of the reader statements `rowsOf` has run (each then in raw mode). */
const columnsOf = new WeakMap<Statement, readonly string[]>();

/**
 * The rows of a reader statement, as objects. better-sqlite3 builds each row object in C++, setting every column as
 * a property under a name string it makes anew (3.3 µs for a 13-column row on this project's machine); here the
 * statement answers arrays and the objects are built in JavaScript with the column names read once (2.3 µs). A
 * statement of this driver's caches is only ever run through here, so its raw mode is its own.
 */
function rowsOf(statement: Statement, parameters: readonly unknown[]): Record<string, unknown>[] {
  let columns = columnsOf.get(statement);
  if (columns === undefined) {
    columns = statement.columns().map((column) => column.name);
    statement.raw(true);
    columnsOf.set(statement, columns);
  }
  const values = statement.all(parameters) as unknown[][];
  const rows: Record<string, unknown>[] = new Array<Record<string, unknown>>(values.length);
  for (let r = 0; r < values.length; r++) {
    const line = values[r]!;
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = line[i];
    rows[r] = row;
  }
  return rows;
}

function run(statement: Statement, parameters: readonly unknown[]): QueryResult<never> {
  if (statement.reader) return { rows: rowsOf(statement, parameters) as never[] };
  const { changes, lastInsertRowid } = statement.run(parameters);
  return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
}

/** The connection Kysely holds for one query or one transaction. */
class GroupConnection implements DatabaseConnection {
  /** Set while this connection runs a transaction (and so holds the driver's mutex). */
  inTransaction = false;
  constructor(readonly driver: GroupCommitDriver) {}
  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return this.driver.execute(this, compiled) as Promise<QueryResult<R>>;
  }
  streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    // Kysely streams only with `.stream()`, which the store never calls; a stream would hold a statement open across
    // turns of the event loop, which a shared connection cannot allow.
    throw new Error(`streaming queries are not supported on this store: ${compiled.sql}`);
  }
}

const SAVEPOINT = 'tessera_tx';

/** Turns of the event loop a batch stays open for more transactions before its COMMIT (see the module comment). */
export const COMMIT_AFTER_TURNS = 3;

export class GroupCommitDriver implements Driver {
  readonly #writer: StatementCache;
  readonly #reader: StatementCache;
  readonly #mutex = new Mutex();
  /** The open batch: an SQLite transaction holding the released savepoints of the transactions that joined it. */
  #batch: Batch | undefined;
  #closed = false;
  /** Batches committed and transactions released into a batch so far (for tests and metrics). */
  readonly counts = { batches: 0, transactions: 0 };

  /** The WAL checkpointer (sqlite-checkpointer.ts), stopped before the connections close. */
  readonly checkpointer: Checkpointer | undefined;
  /** The connection of the transaction running now (it holds the mutex). */
  #running: GroupConnection | undefined;
  /** Reads of one turn share a read transaction, ended by each commit here (read-snapshot.ts). */
  readonly #snapshot: ReadSnapshot;
  /** Answers of the reads `readNow` is asked to cache, kept until a write could change them (read-cache.ts). */
  readonly readCache: ReadCache;
  /** The writer's `PRAGMA data_version` when last read: it moves when another connection commits. */
  #dataVersion: unknown;

  constructor(
    writer: SQLiteDatabase,
    reader: SQLiteDatabase,
    checkpointer?: Checkpointer,
    /** Turns of the event loop a batch stays open before its COMMIT (at least 1). */
    readonly commitAfterTurns = COMMIT_AFTER_TURNS,
  ) {
    this.#writer = new StatementCache(writer);
    this.#reader = new StatementCache(reader);
    this.readCache = new ReadCache(writer);
    this.#snapshot = new ReadSnapshot(this.#reader, undefined, this.#seeOtherCommits);
    this.checkpointer = checkpointer;
  }

  /** At each new read snapshot: another connection's commit since the last one clears the read cache. */
  readonly #seeOtherCommits = (): void => {
    const version = this.#writer.prepare('PRAGMA data_version').pluck().get();
    if (version !== this.#dataVersion && this.#dataVersion !== undefined) this.readCache.clear();
    this.#dataVersion = version;
  };

  async init(): Promise<void> {}

  acquireConnection(): Promise<DatabaseConnection> {
    if (this.#closed) return Promise.reject(new Error('the store is closed'));
    return Promise.resolve(new GroupConnection(this));
  }

  /** The batch the transaction running now belongs to (call it inside the transaction). */
  currentBatch(): CommitBatch {
    if (this.#batch === undefined) throw new Error('no transaction is running');
    return this.#batch;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    if (settings.isolationLevel !== undefined || settings.accessMode !== undefined) throw new Error('SQLite transactions take no isolation level or access mode');
    await this.#mutex.lock();
    try {
      if (this.#closed) throw new Error('the store is closed');
      if (this.#batch !== undefined && !this.#writer.database.inTransaction) {
        // SQLite rolled the whole batch back on its own (it does on some I/O errors): its transactions fail.
        this.#batch.reject(new Error('the transaction batch was rolled back by SQLite'));
        this.#batch = undefined;
      }
      if (this.#batch === undefined) {
        this.#writer.prepare('BEGIN IMMEDIATE').run();
        const batch = new Batch();
        this.#batch = batch;
        this.#commitAfter(batch, Math.max(1, this.commitAfterTurns));
      }
      this.#writer.prepare(`SAVEPOINT ${SAVEPOINT}`).run();
      (connection as GroupConnection).inTransaction = true;
      this.#running = connection as GroupConnection;
    } catch (error) {
      this.#mutex.unlock();
      throw error;
    }
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    this.#end(connection, () => {
      this.#writer.prepare(`RELEASE ${SAVEPOINT}`).run();
      this.counts.transactions++;
    });
    return Promise.resolve();
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    this.#end(connection, () => {
      // After an error that made SQLite roll back on its own there is no savepoint left to roll back to.
      if (!this.#writer.database.inTransaction) return;
      this.#writer.prepare(`ROLLBACK TO ${SAVEPOINT}`).run();
      this.#writer.prepare(`RELEASE ${SAVEPOINT}`).run();
    });
    return Promise.resolve();
  }

  #end(connection: DatabaseConnection, step: () => void): void {
    const c = connection as GroupConnection;
    if (!c.inTransaction) throw new Error('no transaction is running on this connection');
    try {
      step();
    } finally {
      c.inTransaction = false;
      this.#running = undefined;
      this.#mutex.unlock();
    }
  }

  // Savepoints inside a transaction (Kysely's `trx.savepoint()`), named apart from the batch's own.
  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await this.execute(connection as GroupConnection, CompiledQuery.raw(`SAVEPOINT "tx_${name.replaceAll('"', '')}"`));
  }
  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await this.execute(connection as GroupConnection, CompiledQuery.raw(`ROLLBACK TO "tx_${name.replaceAll('"', '')}"`));
  }
  async releaseSavepoint(connection: DatabaseConnection, name: string, _compile?: QueryCompiler['compileQuery']): Promise<void> {
    await this.execute(connection as GroupConnection, CompiledQuery.raw(`RELEASE "tx_${name.replaceAll('"', '')}"`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    // A transaction Kysely gave up on without commit or rollback (it always does one of them) must not keep the lock.
    const c = connection as GroupConnection;
    if (c.inTransaction) await this.rollbackTransaction(c);
  }

  /** Runs one statement: in the connection's transaction, on the read-only connection, or as its own write. */
  async execute(connection: GroupConnection, compiled: CompiledQuery): Promise<QueryResult<unknown>> {
    if (connection.inTransaction) return this.#inTransaction(compiled.sql, compiled.parameters);
    if (this.#closed) throw new Error('the store is closed');
    const read = this.#readOnly(compiled.sql);
    if (read !== undefined) {
      this.#snapshot.enter();
      return run(read, compiled.parameters);
    }
    await this.#mutex.lock();
    try {
      if (this.#closed) throw new Error('the store is closed');
      this.#commitNow();
      try {
        return run(this.#writer.prepare(compiled.sql), compiled.parameters);
      } finally {
        this.#snapshot.release();
        this.readCache.changed(compiled.sql, compiled.parameters);
      }
    } finally {
      this.#mutex.unlock();
    }
  }

  /**
   * The statement prepared on the read-only connection when it only reads; `undefined` for a write, or for a
   * statement that connection cannot prepare (one naming a table an open batch has just created): the writer runs it.
   */
  #readOnly(sql: string): Statement | undefined {
    try {
      const statement = this.#reader.prepare(sql);
      return statement.readonly ? statement : undefined;
    } catch {
      return undefined;
    }
  }

  #inTransaction(sql: string, parameters: readonly unknown[]): QueryResult<unknown> {
    const statement = this.#writer.prepare(sql);
    if (!statement.reader) this.readCache.wrote(sql, parameters);
    return run(statement, parameters);
  }

  /**
   * Runs a statement in the transaction running now, at once, as `execute` would on its connection but without
   * Kysely's connection plumbing (about 1.7 µs a statement). Only for a transaction's own statements while its callback
   * runs (`directTransaction`), which is when it holds the mutex.
   */
  runInTransaction(sql: string, parameters: readonly unknown[]): QueryResult<unknown> {
    if (this.#running === undefined) throw new Error('no transaction is running');
    return this.#inTransaction(sql, parameters);
  }

  /**
   * Runs a read-only query on the read-only connection at once, as `execute` would outside a transaction but without
   * Kysely's connection plumbing; `undefined` when the statement is not a read (the caller goes through Kysely).
   * With `cached`, the answer may come from the read cache (read-cache.ts), and is kept there: its rows are frozen.
   */
  readNow(sql: string, parameters: readonly unknown[], cached = false): readonly unknown[] | undefined {
    if (this.#closed) throw new Error('the store is closed');
    if (cached) {
      // As a read would: renew the snapshot when it is due, which is where other connections' commits are seen.
      this.#snapshot.enter();
      const hit = this.readCache.get(sql, parameters);
      if (hit !== undefined) return hit;
    }
    const read = this.#readOnly(sql);
    if (read?.reader !== true) return undefined;
    if (!cached) this.#snapshot.enter();
    const rows = rowsOf(read, parameters);
    return cached ? this.readCache.set(sql, parameters, rows) : rows;
  }

  #commitAfter(batch: Batch, turns: number): void {
    setImmediate(() => (turns > 1 ? this.#commitAfter(batch, turns - 1) : void this.#commitWhenFree(batch)));
  }

  async #commitWhenFree(batch: Batch): Promise<void> {
    await this.#mutex.lock();
    try {
      if (this.#batch === batch) this.#commitNow();
    } finally {
      this.#mutex.unlock();
    }
  }

  /** Commits the open batch, if any (the caller holds the mutex). */
  #commitNow(): void {
    const batch = this.#batch;
    if (batch === undefined) return;
    this.#batch = undefined;
    try {
      this.#writer.prepare('COMMIT').run();
      this.counts.batches++;
      // What is acknowledged from now on is read from now on, and no cached answer its writes may have changed.
      this.#snapshot.release();
      this.readCache.committed();
      batch.resolve();
    } catch (error) {
      try {
        if (this.#writer.database.inTransaction) this.#writer.prepare('ROLLBACK').run();
      } finally {
        this.readCache.committed();
        batch.reject(error);
      }
    }
  }

  async destroy(): Promise<void> {
    if (this.#closed) return;
    await this.#mutex.lock();
    try {
      this.#commitNow();
    } finally {
      this.#closed = true;
      this.#mutex.unlock();
      await this.checkpointer?.stop();
      this.#snapshot.release();
      this.readCache.clear();
      this.#reader.database.close();
      this.#writer.database.close();
    }
  }
}

/** The group-commit driver behind each root Kysely instance of a SQLite file store (not behind its transactions). */
const directReaders = new WeakMap<object, GroupCommitDriver>();

/** Lets `queryDirect` serve reads made on `db` itself (a transaction is another object, and is never served). */
export function registerDirectReads(db: object, driver: GroupCommitDriver): void {
  directReaders.set(db, driver);
}

/** The transactions of group-commit stores whose callbacks are running now (Store.transaction registers them). */
const directTransactions = new WeakMap<object, GroupCommitDriver>();

/** Runs `fn` with `trx` (a transaction of `driver`'s store, begun and not ended) served by `queryDirect`. */
export async function directTransaction<T>(trx: object, driver: GroupCommitDriver, fn: () => Promise<T>): Promise<T> {
  directTransactions.set(trx, driver);
  try {
    return await fn();
  } finally {
    directTransactions.delete(trx);
  }
}

/**
 * A query answered synchronously, without Kysely's asynchronous connection handling (about 2.5 µs a statement):
 * a read on a store's root instance from the read-only connection (with `cached`, maybe from the read cache), or any
 * statement of a transaction whose callback is running, on the writer. `undefined` when `db` is neither (another
 * store, a transaction after its callback) or a read on the root is not a read: the caller goes through Kysely.
 * `prepared` queries use it: a dozen of them run per token request.
 */
export function queryDirect(db: object, sql: string, parameters: readonly unknown[], cached = false): readonly unknown[] | undefined {
  const reader = directReaders.get(db);
  if (reader !== undefined) return reader.readNow(sql, parameters, cached);
  return directTransactions.get(db)?.runInTransaction(sql, parameters).rows;
}

/** Kysely's SQLite dialect (compiler, adapter, introspector) over the group-commit driver. */
export class GroupCommitSqliteDialect extends SqliteDialect {
  readonly driver: GroupCommitDriver;
  constructor(
    writer: SQLiteDatabase,
    reader: SQLiteDatabase,
    checkpointer?: Checkpointer,
    /** Turns of the event loop a batch stays open before its COMMIT (at least 1). */
    readonly commitAfterTurns = COMMIT_AFTER_TURNS,
  ) {
    super({ database: writer });
    this.driver = new GroupCommitDriver(writer, reader, checkpointer);
  }
  override createDriver(): Driver {
    return this.driver;
  }
}
