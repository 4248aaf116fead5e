/**
 * Read snapshots (src/store/read-snapshot.ts): the reads of one turn of the event loop share a read transaction on
 * the read-only connection; it ends with the turn, after `maxMs`, or at each commit of this process's group-commit
 * driver, so a committed write of this process is read at once.
 */
import { rmSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadSnapshot } from '../src/store/read-snapshot.js';
import { StatementCache, type GroupCommitDriver } from '../src/store/sqlite-group-commit.js';
import type { Store } from '../src/store/store.js';
import { groupCommitStore, schemaFile } from './group-commit-fixture.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('read snapshots', () => {
  let dir: string;
  let file: string;
  /** Another process's writes, as far as SQLite can tell: a connection of its own. */
  let other: SQLite.Database;

  beforeEach(async () => {
    ({ dir, file } = await schemaFile('tessera-snapshot-'));
    other = new SQLite(file);
    other.pragma('journal_mode = WAL');
  });
  afterEach(() => {
    other.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const otherPuts = (key: string) => other.prepare('insert into settings (key, value, updated_at) values (?, ?, 1)').run(key, '1');

  describe('ReadSnapshot', () => {
    let reader: SQLite.Database;
    let statements: StatementCache;
    beforeEach(() => {
      reader = new SQLite(file, { readonly: true });
      statements = new StatementCache(reader);
    });
    afterEach(() => reader.close());
    const read = (snapshot: ReadSnapshot, key: string): boolean => {
      snapshot.enter();
      return statements.prepare('select 1 from settings where key = ?').get(key) !== undefined;
    };

    it('the reads of one turn share one snapshot, and the next turn sees later commits', async () => {
      const snapshot = new ReadSnapshot(statements, 60_000);
      expect(read(snapshot, 'a')).toBe(false);
      otherPuts('a');
      // Same turn: the snapshot began before the commit.
      expect(read(snapshot, 'a')).toBe(false);
      await turn();
      expect(read(snapshot, 'a')).toBe(true);
    });

    it('a snapshot older than maxMs is renewed, whatever the turn', () => {
      const snapshot = new ReadSnapshot(statements, 5);
      expect(read(snapshot, 'b')).toBe(false);
      otherPuts('b');
      const until = performance.now() + 10;
      while (performance.now() < until) {
        // Busy: the turn does not end.
      }
      expect(read(snapshot, 'b')).toBe(true);
    });

    it('release() ends the snapshot at once', () => {
      const snapshot = new ReadSnapshot(statements, 60_000);
      expect(read(snapshot, 'c')).toBe(false);
      otherPuts('c');
      snapshot.release();
      expect(reader.inTransaction).toBe(false);
      expect(read(snapshot, 'c')).toBe(true);
    });
  });

  describe('in the group-commit store', () => {
    let store: Store;
    let driver: GroupCommitDriver;
    beforeEach(() => {
      ({ store, driver } = groupCommitStore(file));
    });
    afterEach(async () => {
      await store.close().catch(() => undefined);
    });
    const has = async (key: string) => (await store.db.selectFrom('settings').select('key').where('key', '=', key).executeTakeFirst()) !== undefined;

    it('a transaction that has resolved is read at once, though a snapshot opened before its commit', async () => {
      const writing = store.transaction((trx) => trx.insertInto('settings').values({ key: 'mine', value: '1', updated_at: 1 }).execute());
      for (let i = 0; i < 1000 && driver.counts.transactions < 1; i++) await Promise.resolve();
      expect(driver.counts.transactions).toBe(1);
      // The batch's COMMIT is scheduled before this read's snapshot would end on its own.
      expect(await has('mine')).toBe(false);
      await writing;
      expect(await has('mine')).toBe(true);
    });

    it('a write outside a transaction is read at once', async () => {
      // Warm: the statements compiled and prepared, so that the steps below take well under the snapshot's 1 ms.
      await store.db.insertInto('settings').values({ key: 'warm', value: '1', updated_at: 1 }).execute();
      expect(await has('warm')).toBe(true);
      await turn();
      expect(await has('direct')).toBe(false);
      await store.db.insertInto('settings').values({ key: 'direct', value: '1', updated_at: 1 }).execute();
      expect(await has('direct')).toBe(true);
    });

    it('another connection’s commit is read from the next turn on', async () => {
      expect(await has('theirs')).toBe(false);
      otherPuts('theirs');
      await turn();
      expect(await has('theirs')).toBe(true);
    });
  });
});
