/**
 * A SQLite file store on the group-commit driver, built by hand so that tests reach the driver (its counts) and open
 * other connections to the same file beside it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import type { Database } from '../src/store/schema.js';
import { GroupCommitSqliteDialect, registerDirectReads, type GroupCommitDriver } from '../src/store/sqlite-group-commit.js';
import { openStore, Store } from '../src/store/store.js';

/** A fresh directory holding `tessera.db` with the schema, as the server creates it. */
export async function schemaFile(prefix: string): Promise<{ readonly dir: string; readonly file: string }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  await (await openStore({ kind: 'sqlite', dataDir: dir })).close();
  return { dir, file: join(dir, 'tessera.db') };
}

/** A store on `file` with the group-commit driver (a writer in WAL mode and a read-only reader), its clock fixed. */
export function groupCommitStore(file: string): { readonly store: Store; readonly driver: GroupCommitDriver } {
  const writer = new SQLite(file);
  writer.pragma('journal_mode = WAL');
  writer.pragma('foreign_keys = ON');
  const dialect = new GroupCommitSqliteDialect(writer, new SQLite(file, { readonly: true }));
  const db = new Kysely<Database>({ dialect });
  registerDirectReads(db, dialect.driver);
  return { store: new Store(db, 'sqlite', () => 1_800_000_000, dialect.driver), driver: dialect.driver };
}
