/**
 * The SQLite group commit (src/store/sqlite-group-commit.ts): transactions that end in the same turn of the event
 * loop share one COMMIT, yet none is acknowledged before its batch is on disk, a failing one takes only its own
 * writes with it, and reads outside transactions see committed data only.
 */
import { rmSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { GroupCommitDriver } from '../src/store/sqlite-group-commit.js';
import { prepared } from '../src/store/prepared.js';
import { openStore, type Store } from '../src/store/store.js';
import { groupCommitStore, schemaFile } from './group-commit-fixture.js';

describe('SQLite group commit', () => {
  let dir: string;
  let file: string;
  let store: Store;
  let driver: GroupCommitDriver;
  /** Another connection to the same file: it sees only what has been committed. */
  let observer: SQLite.Database;

  beforeEach(async () => {
    ({ dir, file } = await schemaFile('tessera-group-'));
    ({ store, driver } = groupCommitStore(file));
    observer = new SQLite(file, { readonly: true });
  });
  afterEach(async () => {
    observer.close();
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Lets microtasks run (no macrotask: the batch stays open) until `n` transactions have released into a batch. */
  async function untilReleased(n: number): Promise<void> {
    for (let i = 0; i < 1000 && driver.counts.transactions < n; i++) await Promise.resolve();
    expect(driver.counts.transactions).toBe(n);
  }
  const committed = (key: string): boolean => observer.prepare('select 1 from settings where key = ?').get(key) !== undefined;
  const put = (key: string) => (trx: Parameters<Parameters<Store['transaction']>[0]>[0]) => trx.insertInto('settings').values({ key, value: '1', updated_at: 1 }).execute();

  it('transactions that end in the same turn share one COMMIT, and each resolves only once it is committed', async () => {
    const before = { ...driver.counts };
    const seenAtResolve: boolean[] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.transaction(put(`k${i}`)).then(() => {
          seenAtResolve.push(committed(`k${i}`));
        }),
      ),
    );
    expect(seenAtResolve).toEqual(Array(10).fill(true));
    expect(driver.counts.transactions - before.transactions).toBe(10);
    expect(driver.counts.batches - before.batches).toBe(1);
  });

  it('a batch stays open a few turns of the event loop: a transaction begun two turns later joins its COMMIT', async () => {
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const before = driver.counts.batches;
    const first = store.transaction(put('t1'));
    await turn();
    await turn();
    expect(committed('t1')).toBe(false);
    const second = store.transaction(put('t2'));
    await Promise.all([first, second]);
    expect(driver.counts.batches - before).toBe(1);
    expect([committed('t1'), committed('t2')]).toEqual([true, true]);
  });

  it('a failing transaction rolls back its own writes only; the others of its batch commit', async () => {
    const results = await Promise.allSettled([
      store.transaction(put('a')),
      store.transaction(async (trx) => {
        await put('b')(trx);
        await store.audit({ type: 'test.failed', actor: 'test' }, trx);
        throw new Error('boom');
      }),
      store.transaction(put('c')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect([committed('a'), committed('b'), committed('c')]).toEqual([true, false, true]);
    expect(observer.prepare("select count(*) as n from audit_events where type = 'test.failed'").get()).toEqual({ n: 0 });
  });

  it('reads outside a transaction see committed data only, never a batch still open', async () => {
    let readInside: unknown[] = ['not read'];
    const writing = store.transaction(async (trx) => {
      await put('open')(trx);
      return 'done';
    });
    // The transaction has released its savepoint into the open batch; the batch commits after this turn.
    await untilReleased(1);
    expect(committed('open')).toBe(false);
    readInside = await store.db.selectFrom('settings').select('key').where('key', '=', 'open').execute();
    expect(readInside).toEqual([]);
    expect(await writing).toBe('done');
    expect(await store.db.selectFrom('settings').select('key').where('key', '=', 'open').execute()).toEqual([{ key: 'open' }]);
  });

  it('prepared reads on the store itself come from the read-only connection; inside a transaction they see its writes', async () => {
    const selectSetting = prepared(1, (db, key: string) => db.selectFrom('settings').select('value').where('key', '=', key));
    const direct = vi.spyOn(driver, 'readNow');
    let inside: readonly unknown[] = [];
    const writing = store.transaction(async (trx) => {
      await put('p')(trx);
      inside = await selectSetting(trx, 'p');
    });
    await untilReleased(1);
    expect(inside).toEqual([{ value: '1' }]);
    expect(await selectSetting(store.db, 'p')).toEqual([]);
    await writing;
    expect(await selectSetting(store.db, 'p')).toEqual([{ value: '1' }]);
    // The two reads on the store itself went straight to the read-only connection; the one in the transaction did not.
    expect(direct).toHaveBeenCalledTimes(2);
  });

  it("prepared statements of a running transaction's callback run on the writer at once, and roll back with it", async () => {
    const insert = prepared(2, (db, key: string, value: string) => db.insertInto('settings').values({ key, value, updated_at: 1 }));
    const selectSetting = prepared(1, (db, key: string) => db.selectFrom('settings').select('value').where('key', '=', key));
    const direct = vi.spyOn(driver, 'runInTransaction');
    await expect(
      store.transaction(async (trx) => {
        await trx.insertInto('settings').values({ key: 'built', value: '0', updated_at: 1 }).execute();
        await insert(trx, 'x', '1');
        // In order with the builder's statements, and seeing the transaction's own writes.
        expect(await selectSetting(trx, 'built')).toEqual([{ value: '0' }]);
        expect(await selectSetting(trx, 'x')).toEqual([{ value: '1' }]);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(direct).toHaveBeenCalledTimes(3);
    expect(await selectSetting(store.db, 'x')).toEqual([]);
    expect(await selectSetting(store.db, 'built')).toEqual([]);
    await store.transaction((trx) => insert(trx, 'y', '2'));
    expect(committed('y')).toBe(true);
    // A transaction kept past its callback is Kysely's again, which refuses it: nothing runs on the writer.
    let kept: Parameters<Parameters<Store['transaction']>[0]>[0] | undefined;
    await store.transaction((trx) => {
      kept = trx;
      return Promise.resolve();
    });
    const calls = direct.mock.calls.length;
    await expect(insert(kept!, 'z', '3')).rejects.toThrow();
    expect(direct.mock.calls.length).toBe(calls);
    expect(committed('z')).toBe(false);
  });

  it('rows come back as better-sqlite3 builds them (every column, its value and type, in column order), on each path', async () => {
    await store.transaction(async (trx) => {
      await trx.insertInto('settings').values({ key: 'a', value: 'x', updated_at: 1 }).execute();
      await trx.insertInto('settings').values({ key: 'b', value: '', updated_at: 2 ** 40 }).execute();
    });
    const expected = observer.prepare('select * from settings where key in (?, ?) order by key').all('a', 'b');
    expect(expected).toHaveLength(2);
    const query = () => store.db.selectFrom('settings').selectAll().where('key', 'in', ['a', 'b']).orderBy('key').execute();
    const selectAll = prepared(2, (db, k1: string, k2: string) => db.selectFrom('settings').selectAll().where('key', 'in', [k1, k2]).orderBy('key'));
    for (let i = 0; i < 2; i++) {
      // Through Kysely and through the direct read, twice each (a statement keeps its mode), and inside a transaction.
      for (const rows of [await query(), await selectAll(store.db, 'a', 'b'), await store.transaction((trx) => selectAll(trx, 'a', 'b'))]) {
        expect(rows).toEqual(expected);
        expect(rows.map((row) => Object.keys(row))).toEqual(expected.map((row) => Object.keys(row as object)));
      }
    }
    expect(await store.db.selectFrom('settings').select(['key', 'key as again']).where('key', '=', 'zzz').execute()).toEqual([]);
  });

  it('a write outside a transaction commits the open batch first, and is itself committed when it returns', async () => {
    const before = driver.counts.batches;
    const pending = store.transaction(put('batched'));
    await untilReleased(1);
    expect(committed('batched')).toBe(false);
    await store.db.insertInto('settings').values({ key: 'alone', value: '1', updated_at: 1 }).execute();
    expect(committed('alone')).toBe(true);
    expect(committed('batched')).toBe(true);
    await pending;
    expect(driver.counts.batches - before).toBe(1);
  });

  it('a COMMIT that fails fails every transaction of its batch, and none of their writes lands', async () => {
    // A deferred foreign key is checked at COMMIT: the batch's COMMIT fails, after both transactions released.
    await store.db.schema.createTable('parent').addColumn('id', 'integer', (c) => c.primaryKey()).execute();
    await sql`create table child (id integer primary key, parent integer references parent(id) deferrable initially deferred)`.execute(store.db);
    const results = await Promise.allSettled([
      store.transaction(put('innocent')),
      store.transaction((trx) => sql`insert into child (id, parent) values (1, 42)`.execute(trx)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(committed('innocent')).toBe(false);
    // The store goes on: the next transaction opens a new batch.
    await store.transaction(put('after'));
    expect(committed('after')).toBe(true);
  });

  it('a statement the read-only connection cannot prepare yet (a table an open batch created) runs on the writer, after that batch commits', async () => {
    const pending = store.transaction((trx) => sql`create table fresh (id integer primary key)`.execute(trx));
    await untilReleased(1);
    await sql`insert into fresh (id) values (1)`.execute(store.db);
    expect(observer.prepare('select count(*) as n from fresh').get()).toEqual({ n: 1 });
    await pending;
  });

  it('close() commits the open batch before closing', async () => {
    const pending = store.transaction(put('last'));
    await untilReleased(1);
    await store.close();
    await pending;
    expect(committed('last')).toBe(true);
  });

  it(':memory: stores keep one connection (a second would open another, empty database) and commit each transaction', async () => {
    const memory = await openStore({ kind: 'sqlite', dataDir: ':memory:' });
    await memory.transaction(put('m'));
    expect(await memory.db.selectFrom('settings').select('key').execute()).toEqual([{ key: 'm' }]);
    await memory.close();
  });
});
