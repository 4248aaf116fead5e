/**
 * Answers of repeated reads, kept until a write could change them: the registry look-ups every token request makes
 * (the signer's agent row, the resource's row, the trust policy, the standing grant, the agent token's revocation)
 * answer the same rows request after request, and each cost a SQLite read.
 *
 * A cached answer is exactly what the read-only connection would answer:
 *
 * - The tables a read reads, and the tables a write writes, are SQLite's own word: the `OpenRead` and `OpenWrite`
 *   instructions of the statement's program (`EXPLAIN`, on the connection that runs it), mapped to tables through
 *   `sqlite_schema`. The program lists the sub-programs of foreign-key actions and triggers too, so deleting a person
 *   counts as writing the grants its `ON DELETE CASCADE` deletes. A statement that is not an
 *   INSERT/UPDATE/DELETE/REPLACE (DDL, anything not understood) clears everything.
 * - Writes of this process land in the cache when their batch commits (`committed`), never before: a read outside
 *   a transaction sees committed data only, and so does the cache. A batch that fails to commit clears what it wrote
 *   all the same (more than needed, never less).
 * - Commits of other connections (another process on the same file) are seen through the writer's
 *   `PRAGMA data_version`, which moves only when another connection commits: the owner checks it whenever its read
 *   snapshot is renewed (read-snapshot.ts), and a move clears everything. A cached read is thus at most as far behind
 *   another process as an uncached one.
 *
 * Rows are frozen: every caller gets the same objects. Bounded: the oldest answers go first.
 */
import type { Database as SQLiteDatabase } from 'better-sqlite3';

/** Tables a statement writes, or `all` when that cannot be told. */
type WriteSet = readonly string[] | 'all';

interface Entry {
  readonly rows: readonly Record<string, unknown>[];
  readonly tables: readonly string[];
}

const WRITE = /^\s*(?:insert|update|delete|replace)\b/i;
/** Most SQL texts whose tables are remembered (each is learnt again, by one `EXPLAIN`, when forgotten). */
const MAX_STATEMENTS = 500;
/** The instructions that open a B-tree to read it (`ReopenIdx` is `OpenRead` reusing a cursor) or to write it. */
const READ_OPENS: ReadonlySet<string> = new Set(['OpenRead', 'ReopenIdx']);
const WRITE_OPENS: ReadonlySet<string> = new Set(['OpenWrite']);

export class ReadCache {
  readonly #entries = new Map<string, Entry>();
  /** Keys of the cached answers that read each table. */
  readonly #keysByTable = new Map<string, Set<string>>();
  /** Tables read by each cacheable SQL text; `undefined` is a read that is not cached (e.g. a temporary table). */
  readonly #readSets = new Map<string, readonly string[] | undefined>();
  readonly #writeSets = new Map<string, WriteSet>();
  /** Root page (of a table or an index) → table; read again after DDL. */
  #tableOfRoot: ReadonlyMap<number, string> | undefined;
  /** Tables written by the batch not yet committed. */
  #pending: Set<string> | 'all' = new Set();
  /** Hits and misses so far (tests, metrics). */
  readonly counts = { hits: 0, misses: 0 };

  constructor(
    private readonly writer: SQLiteDatabase,
    readonly maxEntries = 10_000,
  ) {}

  /** The cached answer to `sql` with `parameters`, if any. */
  get(sql: string, parameters: readonly unknown[]): readonly Record<string, unknown>[] | undefined {
    const entry = this.#entries.get(keyOf(sql, parameters));
    if (entry === undefined) this.counts.misses++;
    else this.counts.hits++;
    return entry?.rows;
  }

  /** Keeps `rows`, the committed answer to `sql` with `parameters`; answers them frozen. */
  set(sql: string, parameters: readonly unknown[], rows: Record<string, unknown>[]): readonly Record<string, unknown>[] {
    const tables = this.#readSet(sql, parameters);
    for (const row of rows) Object.freeze(row);
    Object.freeze(rows);
    if (tables === undefined) return rows;
    const key = keyOf(sql, parameters);
    if (this.#entries.size >= this.maxEntries) this.#evictOldest();
    this.#entries.set(key, { rows, tables });
    for (const table of tables) {
      let keys = this.#keysByTable.get(table);
      if (keys === undefined) this.#keysByTable.set(table, (keys = new Set()));
      keys.add(key);
    }
    return rows;
  }

  /** A write ran in the open batch: what it changes is dropped when the batch commits. */
  wrote(sql: string, parameters: readonly unknown[]): void {
    if (this.#pending === 'all') return;
    const tables = this.#writeSet(sql, parameters);
    if (tables === 'all') this.#pending = 'all';
    else for (const table of tables) this.#pending.add(table);
  }

  /** The open batch ended (committed, or failed): drops what its writes may have changed. */
  committed(): void {
    const pending = this.#pending;
    this.#pending = new Set();
    if (pending === 'all') this.clear();
    else for (const table of pending) this.#drop(table);
  }

  /** A write committed on its own (autocommit): drops what it may have changed. */
  changed(sql: string, parameters: readonly unknown[]): void {
    const tables = this.#writeSet(sql, parameters);
    if (tables === 'all') this.clear();
    else for (const table of tables) this.#drop(table);
  }

  /** Drops every answer (and, as the schema may have changed, what was learnt about statements). */
  clear(): void {
    this.#entries.clear();
    this.#keysByTable.clear();
    this.#readSets.clear();
    this.#writeSets.clear();
    this.#tableOfRoot = undefined;
  }

  get size(): number {
    return this.#entries.size;
  }

  #drop(table: string): void {
    const keys = this.#keysByTable.get(table);
    if (keys === undefined) return;
    for (const key of keys) this.#forget(key);
  }

  #evictOldest(): void {
    const oldest = this.#entries.keys().next();
    if (oldest.done !== true) this.#forget(oldest.value);
  }

  /** Drops one answer, and its place under each table it read. */
  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const table of entry.tables) {
      const keys = this.#keysByTable.get(table);
      keys?.delete(key);
      if (keys?.size === 0) this.#keysByTable.delete(table);
    }
  }

  #readSet(sql: string, parameters: readonly unknown[]): readonly string[] | undefined {
    if (this.#readSets.has(sql)) return this.#readSets.get(sql);
    const { tables, unknown } = this.#opened(sql, parameters, READ_OPENS);
    const set = unknown || tables.length === 0 ? undefined : tables;
    if (this.#readSets.size >= MAX_STATEMENTS) this.#readSets.clear();
    this.#readSets.set(sql, set);
    return set;
  }

  #writeSet(sql: string, parameters: readonly unknown[]): WriteSet {
    let set = this.#writeSets.get(sql);
    if (set !== undefined) return set;
    if (!WRITE.test(sql)) {
      set = 'all';
    } else {
      const { tables, unknown } = this.#opened(sql, parameters, WRITE_OPENS);
      set = unknown || tables.length === 0 ? 'all' : tables;
    }
    // Bounded like the statement caches: SQL texts vary with the length of `in (...)` lists.
    if (this.#writeSets.size >= MAX_STATEMENTS) this.#writeSets.clear();
    this.#writeSets.set(sql, set);
    return set;
  }

  /**
   * Tables whose B-trees `sql`'s program opens with one of `opcodes`; `unknown` when one is not a table of the main
   * schema (a root page held in a register, another database) or the program opens a virtual table. `parameters`
   * are bound as better-sqlite3 requires, though `EXPLAIN` runs nothing.
   */
  #opened(sql: string, parameters: readonly unknown[], opcodes: ReadonlySet<string>): { tables: string[]; unknown: boolean } {
    let program: { opcode: string; p2: number; p3: number }[];
    try {
      program = this.writer.prepare(`EXPLAIN ${sql}`).all(parameters) as { opcode: string; p2: number; p3: number }[];
    } catch {
      return { tables: [], unknown: true };
    }
    const tableOfRoot = this.#roots();
    const tables = new Set<string>();
    let unknown = false;
    for (const op of program) {
      if (op.opcode === 'VOpen') unknown = true;
      if (!opcodes.has(op.opcode)) continue;
      const table = op.p3 === 0 ? tableOfRoot.get(op.p2) : undefined;
      if (table === undefined) unknown = true;
      else tables.add(table);
    }
    return { tables: [...tables], unknown };
  }

  #roots(): ReadonlyMap<number, string> {
    if (this.#tableOfRoot !== undefined) return this.#tableOfRoot;
    const objects = this.writer.prepare('SELECT tbl_name, rootpage FROM sqlite_schema WHERE rootpage > 0').all() as { tbl_name: string; rootpage: number }[];
    this.#tableOfRoot = new Map(objects.map((o) => [o.rootpage, o.tbl_name]));
    return this.#tableOfRoot;
  }

}

/** One key per SQL text and parameter values (JSON keeps `null`, numbers and strings apart). */
const keyOf = (sql: string, parameters: readonly unknown[]): string => `${sql}\u0000${JSON.stringify(parameters)}`;
