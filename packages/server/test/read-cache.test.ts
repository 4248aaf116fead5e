/**
 * The read cache of a SQLite file store (src/store/read-cache.ts): a cached read answers what the read-only
 * connection would — this process's writes once their batch has committed (never before), what foreign keys change
 * with them, and another connection's commits once the read snapshot is renewed.
 */
import { rmSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SNAPSHOT_MAX_MS } from '../src/store/read-snapshot.js';
import { createAgent } from '../src/registry/agents.js';
import { createGrant } from '../src/store/grants.js';
import { ReadCache } from '../src/store/read-cache.js';
import { prepared } from '../src/store/prepared.js';
import type { GroupCommitDriver } from '../src/store/sqlite-group-commit.js';
import type { Store } from '../src/store/store.js';
import { groupCommitStore, schemaFile } from './group-commit-fixture.js';

const agentStatus = prepared(1, (db, id: string) => db.selectFrom('agents').select(['id', 'status']).where('id', '=', id), { cached: true });
const uncachedAgentStatus = prepared(1, (db, id: string) => db.selectFrom('agents').select(['id', 'status']).where('id', '=', id));
const grantsOf = prepared(1, (db, personId: string) => db.selectFrom('grants').select('id').where('person_id', '=', personId), { cached: true });

/** The next turn of the event loop, after the read snapshot's longest life: the next read opens a new snapshot. */
const nextSnapshot = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SNAPSHOT_MAX_MS + 5));

describe('read cache (SQLite file store)', () => {
  let dir: string;
  let file: string;
  let store: Store;
  let driver: GroupCommitDriver;
  let grantId: string;

  beforeEach(async () => {
    ({ dir, file } = await schemaFile('tessera-read-cache-'));
    ({ store, driver } = groupCommitStore(file));
    await store.transaction((trx) => trx.insertInto('people').values({ id: 'p1', username: 'ada', display_name: 'Ada', password_hash: 'x', created_at: 1 }).execute());
    const created = await createAgent({ store, now: () => 1 }, { identifier: 'aauth:a@agents.example', agent_provider: 'https://agents.example' }, 'test');
    expect(created.ok).toBe(true);
    grantId = (await createGrant(store.db, { personId: 'p1', agentId: 'aauth:a@agents.example', resource: 'https://r.example', kind: 'auth_token', scopes: [] }, 1)).id;
  });
  afterEach(async () => {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  const setStatus = (status: 'active' | 'disabled') => (trx: Parameters<Parameters<Store['transaction']>[0]>[0]) =>
    trx.updateTable('agents').set({ status }).where('id', '=', 'aauth:a@agents.example').execute();

  it('answers a repeated read from the cache, with the same rows, frozen', async () => {
    const first = await agentStatus(store.db, 'aauth:a@agents.example');
    const hits = driver.readCache.counts.hits;
    const second = await agentStatus(store.db, 'aauth:a@agents.example');
    expect(driver.readCache.counts.hits).toBe(hits + 1);
    expect(second).toEqual([{ id: 'aauth:a@agents.example', status: 'active' }]);
    expect(second).toBe(first);
    expect(Object.isFrozen(second[0])).toBe(true);
    // Other arguments are another answer; a read not marked cached never uses it.
    expect(await agentStatus(store.db, 'aauth:b@agents.example')).toEqual([]);
    const before = { ...driver.readCache.counts };
    await uncachedAgentStatus(store.db, 'aauth:a@agents.example');
    expect(driver.readCache.counts).toEqual(before);
  });

  it("a write of this process is read as soon as its transaction resolves (the batch's commit drops the answers it changes)", async () => {
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('active');
    await store.transaction(setStatus('disabled'));
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('disabled');
  });

  it('while the batch is open the cache answers committed data only, then the new value once it commits', async () => {
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('active');
    const released = driver.counts.transactions;
    const pending = store.transaction(setStatus('disabled'));
    for (let i = 0; i < 1000 && driver.counts.transactions === released; i++) await Promise.resolve();
    expect(driver.counts.transactions).toBe(released + 1); // released into the open batch, not committed
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('active');
    await pending;
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('disabled');
  });

  it('a write outside a transaction is read as soon as it returns', async () => {
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('active');
    await store.db.updateTable('agents').set({ status: 'disabled' }).where('id', '=', 'aauth:a@agents.example').execute();
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('disabled');
  });

  it('a write drops the answers of the tables its foreign keys change (deleting a person cascades to its grants)', async () => {
    expect(await grantsOf(store.db, 'p1')).toEqual([{ id: grantId }]);
    await store.transaction((trx) => trx.deleteFrom('people').where('id', '=', 'p1').execute());
    expect(await grantsOf(store.db, 'p1')).toEqual([]);
  });

  it("another connection's commit (another process on the file) is read once the read snapshot is renewed", async () => {
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('active');
    await nextSnapshot();
    const other = new SQLite(file);
    try {
      other.prepare("update agents set status = 'disabled' where id = ?").run('aauth:a@agents.example');
    } finally {
      other.close();
    }
    await nextSnapshot();
    expect((await agentStatus(store.db, 'aauth:a@agents.example'))[0]?.status).toBe('disabled');
  });

  it('is bounded: the oldest answers go first', () => {
    const writer = new SQLite(file);
    try {
      const cache = new ReadCache(writer, 2);
      const sql = 'select "id" from "agents" where "id" = ?';
      for (const id of ['a', 'b', 'c']) cache.set(sql, [id], [{ id }]);
      expect(cache.size).toBe(2);
      expect(cache.get(sql, ['a'])).toBeUndefined();
      expect(cache.get(sql, ['c'])).toEqual([{ id: 'c' }]);
    } finally {
      writer.close();
    }
  });

  it('a statement it cannot read the tables of (DDL, or any statement but a plain write) clears everything', () => {
    const writer = new SQLite(file);
    try {
      const cache = new ReadCache(writer);
      cache.set('select "id" from "agents" where "id" = ?', ['a'], [{ id: 'a' }]);
      cache.set('select "id" from "grants" where "id" = ?', ['g'], [{ id: 'g' }]);
      cache.changed('insert into "settings" ("key", "value", "updated_at") values (?, ?, ?)', ['k', 'v', 1]);
      expect(cache.size).toBe(2);
      cache.changed('create table "t" ("x" integer)', []);
      expect(cache.size).toBe(0);
    } finally {
      writer.close();
    }
  });
});
