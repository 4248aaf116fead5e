import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`Store on ${kind}`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await testStore(kind, () => 1_800_000_000);
    });
    afterAll(() => t.close());

    it('migrates to the latest schema, and a second migrate applies nothing', async () => {
      expect(await t.store.migrate()).toEqual([]);
      const tables = await t.store.db.introspection.getTables();
      expect(tables.map((x) => x.name)).toEqual(expect.arrayContaining(['people', 'agents', 'grants', 'pending_requests', 'audit_events', 'signing_keys']));
    });

    it('round-trips epoch seconds beyond 2^31 as numbers', async () => {
      await t.store.db.insertInto('settings').values({ key: 'k', value: '{"a":1}', updated_at: 4_102_444_800 }).execute();
      const row = await t.store.db.selectFrom('settings').selectAll().where('key', '=', 'k').executeTakeFirstOrThrow();
      expect(row.updated_at).toBe(4_102_444_800);
    });

    it('a failed transaction leaves nothing behind (audit event included)', async () => {
      await expect(
        t.store.transaction(async (trx) => {
          await trx.insertInto('settings').values({ key: 'tx', value: '1', updated_at: 1 }).execute();
          await t.store.audit({ type: 'test.event', actor: 'test' }, trx);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await t.store.db.selectFrom('settings').selectAll().where('key', '=', 'tx').execute()).toEqual([]);
      expect(await t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'test.event').execute()).toEqual([]);
    });

    it('audit ids sort by time', async () => {
      await t.store.audit({ type: 'a', actor: 'x', detail: { n: 1 } });
      const [row] = await t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'a').execute();
      expect(row?.id).toMatch(/^[0-9a-f]{32}$/);
      expect(JSON.parse(row!.detail)).toEqual({ n: 1 });
    });
  });
}

describe('audit ids', () => {
  it('strictly increase within one millisecond (a fixed clock), so pages keep the order of events', async () => {
    const t = await testStore('sqlite', () => 1_800_000_000);
    for (let i = 0; i < 50; i++) await t.store.audit({ type: 'order', actor: 'x', detail: { i } });
    const rows = await t.store.db.selectFrom('audit_events').select(['id', 'detail']).where('type', '=', 'order').orderBy('id').execute();
    expect(rows.map((r) => (JSON.parse(r.detail) as { i: number }).i)).toEqual([...Array(50).keys()]);
    await t.close();
  });
});
