/**
 * Test helpers: stores on both databases. PostgreSQL tests use a fresh database per store (created from the
 * `test` database on 127.0.0.1:5432, dropped on close), so files run in parallel without sharing state.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStore, type Store } from '../src/store/store.js';

export const PG_URL = process.env['TESSERA_TEST_PG'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

export interface TestStore {
  readonly store: Store;
  close(): Promise<void>;
}

export async function testStore(kind: StoreKind, now?: () => number): Promise<TestStore> {
  if (kind === 'sqlite') {
    const store = await openStore({ kind: 'sqlite', dataDir: ':memory:' }, now);
    return { store, close: () => store.close() };
  }
  const name = `tessera_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const store = await openStore({ kind: 'postgres', connectionString: url.href, maxConnections: 4 }, now);
  return {
    store,
    async close() {
      await store.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
