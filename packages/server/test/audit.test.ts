import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditExportStream, auditRecord, exportAudit, parseAuditFilter, parseAuditTime, queryAudit, scrubDetail, type AuditFilter } from '../src/audit/audit-query.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

const T0 = 1_800_000_000;
const JWT = 'eyJhbGciOiJFZDI1NTE5In0.eyJpc3MiOiJodHRwczovL2EuZXhhbXBsZSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtYW5kLW1vcmU';

function filter(query: Record<string, string>): AuditFilter {
  const r = parseAuditFilter(query);
  if (!r.ok) throw new Error(r.detail);
  return r.value;
}

describe('audit filters', () => {
  it('times: epoch seconds or ISO 8601 (date or date-time with zone)', () => {
    expect(parseAuditTime('1800000000')).toBe(1_800_000_000);
    expect(parseAuditTime('2026-05-01')).toBe(Date.UTC(2026, 4, 1) / 1000);
    expect(parseAuditTime('2026-05-01T12:00:00Z')).toBe(Date.UTC(2026, 4, 1, 12) / 1000);
    expect(parseAuditTime('2026-05-01T12:00:00.5+02:00')).toBe(Date.UTC(2026, 4, 1, 10) / 1000);
    expect(parseAuditTime('2026-05-01T12:00:00')).toBeUndefined(); // no zone: ambiguous
    expect(parseAuditTime('May 1, 2026')).toBeUndefined();
    expect(parseAuditTime('-1')).toBeUndefined();
  });

  it('each bad parameter is named; limit is bounded', () => {
    const detail = (q: Record<string, string>) => {
      const r = parseAuditFilter(q);
      return r.ok ? '' : r.detail;
    };
    expect(detail({ until: 'soon' })).toMatch(/^until: /);
    expect(detail({ type: 'a b' })).toMatch(/^type: /);
    expect(detail({ type: 'admin.*.x' })).toMatch(/^type: /);
    expect(detail({ cursor: "x' OR 1=1" })).toMatch(/^cursor: /);
    expect(detail({ limit: '0' })).toMatch(/^limit: /);
    expect(detail({ limit: '1001' })).toMatch(/^limit: /);
    expect(filter({})).toEqual({ limit: 100 });
    expect(filter({ type: '*', agent: '', limit: '1000' })).toEqual({ limit: 1000 });
  });
});

describe('audit detail scrubbing', () => {
  it('never shows a whole token or secret; keeps thumbprints, identifiers and codes of errors', () => {
    const scrubbed = scrubDetail({
      auth_token: JWT,
      password: 'correct horse',
      code: 'ABCD-EFGH',
      nested: { private_jwk: { d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU' }, note: `got ${JWT} from the agent` },
      agent_jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
      error_code: 'denied',
      kind: 'person_token',
      scopes: ['a', 'b'],
    }) as Record<string, unknown>;
    const text = JSON.stringify(scrubbed);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('correct horse');
    expect(text).not.toContain('ABCD-EFGH');
    expect(text).not.toContain('n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU');
    expect(scrubbed).toMatchObject({ agent_jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', error_code: 'denied', kind: 'person_token', scopes: ['a', 'b'] });
    expect((scrubbed['nested'] as { note: string }).note).toMatch(/^got eyJhbGci…\(\d+\) from the agent$/);
  });

  it('records carry the ISO time and the decoded, scrubbed detail', () => {
    const record = auditRecord({ id: 'x', at: T0, type: 't', actor: 'a', agent: null, person: null, resource: null, scope: null, request_id: null, detail: JSON.stringify({ token: JWT }) });
    expect(record.time).toBe('2027-01-15T08:00:00.000Z');
    expect(record.detail).toEqual({ token: `eyJhbGci…(${JWT.length})` });
  });
});

for (const kind of STORE_KINDS) {
  describe(`audit queries on ${kind}`, () => {
    let t: TestStore;
    let now = T0;

    beforeAll(async () => {
      t = await testStore(kind, () => now);
      // 30 events, one per second: types cycle, agents alternate.
      for (let i = 0; i < 30; i++) {
        now = T0 + i;
        const type = ['token.issued', 'trust_policy.updated', 'trustXpolicy.updated'][i % 3]!;
        await t.store.audit({ type, actor: 'ps', agent: i % 2 === 0 ? 'aauth:even@a.example' : 'aauth:odd@a.example', person: i < 10 ? 'p1' : 'p2', resource: 'https://r.example', detail: { i } });
      }
    });
    afterAll(() => t.close());

    it('pages by cursor through every event once, oldest first', async () => {
      const seen: number[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await queryAudit(t.store.db, filter({ limit: '7', ...(cursor === null ? {} : { cursor }) }));
        seen.push(...page.events.map((e) => (e.detail as { i: number }).i));
        cursor = page.next_cursor;
        pages++;
      } while (cursor !== null);
      expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(pages).toBe(5);
    });

    it('since (inclusive) and until (exclusive), in epoch seconds or ISO', async () => {
      const page = await queryAudit(t.store.db, filter({ since: String(T0 + 5), until: new Date((T0 + 8) * 1000).toISOString() }));
      expect(page.events.map((e) => e.at)).toEqual([T0 + 5, T0 + 6, T0 + 7]);
    });

    it('type exact, or a prefix with .* in which _ is not a wildcard; agent, person and resource', async () => {
      expect((await queryAudit(t.store.db, filter({ type: 'token.issued', limit: '1000' }))).events).toHaveLength(10);
      const prefixed = await queryAudit(t.store.db, filter({ type: 'trust_policy.*', limit: '1000' }));
      expect(new Set(prefixed.events.map((e) => e.type))).toEqual(new Set(['trust_policy.updated']));
      const odd = await queryAudit(t.store.db, filter({ agent: 'aauth:odd@a.example', person: 'p1', limit: '1000' }));
      expect(odd.events.map((e) => (e.detail as { i: number }).i)).toEqual([1, 3, 5, 7, 9]);
      expect((await queryAudit(t.store.db, filter({ resource: 'https://other.example' }))).events).toEqual([]);
    });

    it('exports JSON Lines page by page (past the page size), from a cursor, with the same filters', async () => {
      const lines: string[] = [];
      for await (const line of exportAudit(t.store.db, filter({ person: 'p2' }))) lines.push(line);
      expect(lines).toHaveLength(20);
      expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
      const first = JSON.parse(lines[0]!);
      expect(first).toMatchObject({ person: 'p2', at: T0 + 10, time: new Date((T0 + 10) * 1000).toISOString(), detail: { i: 10 } });

      // More events than one export page (500): the stream keeps going.
      now = T0 + 100;
      await t.store.transaction(async (trx) => {
        for (let i = 0; i < 520; i++) await t.store.audit({ type: 'bulk', actor: 'test', detail: { i } }, trx);
      });
      const text = await new Response(auditExportStream(t.store.db, filter({ type: 'bulk' }))).text();
      const bulk = text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string });
      expect(bulk).toHaveLength(520);
      expect(new Set(bulk.map((e) => e.id)).size).toBe(520);
      const fromCursor = await new Response(auditExportStream(t.store.db, filter({ type: 'bulk', cursor: bulk[509]!.id }))).text();
      expect(fromCursor.trimEnd().split('\n')).toHaveLength(10);
    });
  });
}
