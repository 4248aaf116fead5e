/**
 * Queries compiled once. Kysely builds a query's operation tree and compiles it to SQL on every call: in bench:ps that
 * was 15% of the Person Server's event loop. A hot query of fixed shape is written once with the query builder
 * (so it stays type-checked), compiled on first use per SQL dialect with a unique marker in place of each argument,
 * and every later call only binds its arguments to the compiled SQL. The SQL runs as a raw query, so Kysely plugins
 * would not see it: the store configures none.
 */
import { CompiledQuery, type Compilable } from 'kysely';
import { queryDirect } from './sqlite-group-commit.js';
import type { Executor } from './store.js';

/** A marker no real argument can equal: a fresh object per slot, matched by identity. */
class Slot {
  constructor(readonly index: number) {}
}

interface Compiled {
  readonly sql: string;
  /** For each compiled parameter: the argument index it takes, or the constant the builder put there. */
  readonly parameters: readonly ({ readonly arg: number } | { readonly value: unknown })[];
}

export interface PreparedOptions {
  /**
   * A read whose answers may be kept in a SQLite file store's read cache until a write could change them
   * (read-cache.ts): for look-ups repeated with the same arguments request after request. Its rows are then frozen.
   */
  readonly cached?: boolean;
}

/**
 * Prepares `build` (called with slot markers standing for its arguments). The returned function runs the query on
 * `db` (a store or a transaction) with `args`, and answers the rows. Every argument must reach the SQL as a bound
 * parameter (a `where` value, an inserted value): one that does not is a programming error, caught on first use.
 */
export function prepared<A extends readonly unknown[], R>(
  arity: A['length'],
  build: (db: Executor, ...args: A) => Compilable<R>,
  options: PreparedOptions = {},
): (db: Executor, ...args: A) => Promise<readonly R[]> {
  const cached = options.cached === true;
  const byDialect = new Map<unknown, Compiled>();
  const compile = (db: Executor): Compiled => {
    const slots = Array.from({ length: arity }, (_, i) => new Slot(i));
    const compiled = build(db, ...(slots as unknown as A)).compile();
    const seen = new Set<number>();
    const parameters = compiled.parameters.map((p) => {
      if (p instanceof Slot) {
        seen.add(p.index);
        return { arg: p.index };
      }
      return { value: p };
    });
    if (seen.size !== arity) throw new Error(`prepared query: ${arity - seen.size} argument(s) do not reach the SQL as parameters: ${compiled.sql}`);
    return { sql: compiled.sql, parameters };
  };
  return async (db, ...args) => {
    // One compilation per dialect: the SQLite and PostgreSQL adapters write different SQL.
    const dialect = db.getExecutor().adapter.constructor;
    let compiled = byDialect.get(dialect);
    if (compiled === undefined) {
      compiled = compile(db);
      byDialect.set(dialect, compiled);
    }
    const parameters = compiled.parameters.map((p) => ('arg' in p ? args[p.arg] : p.value));
    // A read on a SQLite file store's root instance, or a statement of its running transaction: at once, on the
    // connection Kysely would have used (sqlite-group-commit.ts).
    const rows = queryDirect(db, compiled.sql, parameters, cached);
    if (rows !== undefined) return rows as readonly R[];
    const result = await db.executeQuery<R>(CompiledQuery.raw(compiled.sql, parameters));
    return result.rows;
  };
}
