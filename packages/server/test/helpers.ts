/**
 * Test helpers: stores on both databases. PostgreSQL tests use a fresh database per store (created from the
 * `test` database on 127.0.0.1:5432, dropped on close), so files run in parallel without sharing state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // A database file, as in production: SQLite files run with group commit and a read-only reader connection.
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-store-'));
    const store = await openStore({ kind: 'sqlite', dataDir }, now);
    return {
      store,
      async close() {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
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
      await dropDatabase(name);
    },
  };
}

/**
 * Drops a test database. pg's `pool.end()` resolves before its sockets are closed, so a forced drop right after it
 * can terminate those connections and surface an unhandled FATAL 57P01; a plain drop, retried while they finish
 * closing, does not. Forced only as a last resort.
 */
async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  c.on('error', () => undefined);
  await c.connect();
  try {
    for (let i = 0; i < 50; i++) {
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}
