/** Queries compiled once (store/prepared.ts): the same rows as the query builder, on SQLite and PostgreSQL. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { prepared } from '../src/store/prepared.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`prepared queries on ${kind}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await testStore(kind);
      await t.store.db
        .insertInto('revocations')
        .values([
          { iss: 'https://a.example', jti: 'one', revoked_at: 1, exp: 100 },
          { iss: 'https://a.example', jti: 'two', revoked_at: 2, exp: 200 },
          { iss: 'https://b.example', jti: 'one', revoked_at: 3, exp: 300 },
        ])
        .execute();
    });
    afterEach(() => t.close());

    it('answers what the query builder answers, binding each call’s arguments; constants the builder wrote stay', async () => {
      const select = prepared(2, (db, iss: string, after: number) => db.selectFrom('revocations').select(['jti', 'exp']).where('iss', '=', iss).where('exp', '>', after).orderBy('exp', 'desc').limit(1));
      expect(await select(t.store.db, 'https://a.example', 0)).toEqual([{ jti: 'two', exp: 200 }]);
      expect(await select(t.store.db, 'https://a.example', 150)).toEqual([{ jti: 'two', exp: 200 }]);
      expect(await select(t.store.db, 'https://a.example', 250)).toEqual([]);
      expect(await select(t.store.db, 'https://b.example', 0)).toEqual([{ jti: 'one', exp: 300 }]);
    });

    it('compiles once per dialect, and runs inside a transaction', async () => {
      const build = vi.fn((db: Parameters<Parameters<typeof prepared>[1]>[0], jti: string) => db.selectFrom('revocations').select('iss').where('jti', '=', jti).orderBy('iss'));
      const select = prepared(1, build);
      for (let i = 0; i < 5; i++) await select(t.store.db, 'one');
      expect(build).toHaveBeenCalledTimes(1);
      const inTransaction = await t.store.transaction(async (trx) => {
        await trx.insertInto('revocations').values({ iss: 'https://c.example', jti: 'one', revoked_at: 4, exp: 400 }).execute();
        return select(trx, 'one');
      });
      expect(inTransaction.map((r) => r.iss)).toEqual(['https://a.example', 'https://b.example', 'https://c.example']);
      expect(build).toHaveBeenCalledTimes(1);
    });

    it('writes: an insert binds every value', async () => {
      const insert = prepared(4, (db, iss: string, jti: string, revokedAt: number, exp: number) => db.insertInto('revocations').values({ iss, jti, revoked_at: revokedAt, exp }));
      await insert(t.store.db, 'https://d.example', 'x', 7, 70);
      expect(await t.store.db.selectFrom('revocations').selectAll().where('iss', '=', 'https://d.example').execute()).toEqual([{ iss: 'https://d.example', jti: 'x', revoked_at: 7, exp: 70 }]);
    });

    it('refuses, on first use, an argument that does not reach the SQL as a parameter', async () => {
      const wrong = prepared(2, (db, iss: string, _unused: string) => db.selectFrom('revocations').select('jti').where('iss', '=', iss));
      await expect(wrong(t.store.db, 'https://a.example', 'x')).rejects.toThrow(/do not reach the SQL/);
    });
  });
}
