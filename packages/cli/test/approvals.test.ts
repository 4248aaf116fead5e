/**
 * `tessera approvals` and `tessera grants`, run in-process against the real approver API (a Hono app on an SQLite
 * store) through an injected fetch. Person authentication (`requirePerson`, src/auth/person-auth.ts) is a stand-in
 * here: `Authorization: Bearer person:<id>` is that person. The Deferred service is a stand-in over the table.
 */
import { Command, CommanderError } from 'commander';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApproverApp } from '../../server/src/api/approver-app.js';
import type { ServerContext } from '../../server/src/context.js';
import type { ApprovalDecision, Deferred } from '../../server/src/deferred/types.js';
import type { ServerKeys } from '../../server/src/keys/server-keys.js';
import { createGrant } from '../../server/src/store/grants.js';
import type { PendingRequest } from '../../server/src/store/schema.js';
import type { Store } from '../../server/src/store/store.js';
import { testStore, type TestStore } from '../../server/test/helpers.js';
import { registerApprovalsCommands, table } from '../src/commands/approvals.js';
import { registerGrantsCommands } from '../src/commands/grants.js';
import { UsageError } from '../src/io.js';

vi.mock('../../server/src/auth/person-auth.js', () => ({
  requirePerson:
    (ctx: { store: Store }): MiddlewareHandler =>
    async (c: Context, next: Next) => {
      const match = /^Bearer person:(\S+)$/.exec(c.req.header('authorization') ?? '');
      const person = match ? await ctx.store.db.selectFrom('people').selectAll().where('id', '=', match[1]!).executeTakeFirst() : undefined;
      if (!person) return c.json({ error: 'invalid_token', detail: 'the personal API token is unknown or revoked' }, 401);
      c.set('person', person);
      await next();
      return undefined;
    },
}));

const T0 = 1_800_000_000;
const SERVER = 'https://ps.example';

let t: TestStore;
let root: Hono;
const approvals: { id: string; decision: ApprovalDecision }[] = [];
const refusals: string[] = [];

function standInDeferred(store: Store): Deferred {
  const get = (id: string) => store.db.selectFrom('pending_requests').selectAll().where('id', '=', id).executeTakeFirst();
  const set = async (id: string, status: PendingRequest['status']) => {
    await store.db.updateTable('pending_requests').set({ status }).where('id', '=', id).execute();
    return (await get(id))!;
  };
  return {
    register: () => undefined,
    handler: () => ({
      describe: (p: PendingRequest) =>
        Promise.resolve({ summary: `${p.agent_id} wants to read your calendar`, agent: { id: p.agent_id, name: p.agent_id, provider: 'https://agent.example' }, scopes: [], allowAlways: true }),
      approve: () => Promise.resolve({}),
    }),
    create: () => Promise.reject(new Error('unused')),
    accepted: () => Promise.reject(new Error('unused')),
    findByCode: () => Promise.resolve(undefined),
    get,
    interacting: () => Promise.resolve(),
    approve: (id, decision) => (approvals.push({ id, decision }), set(id, 'approved')),
    refuse: (id) => (refusals.push(id), set(id, 'denied')),
    listForPerson: (personId) =>
      store.db
        .selectFrom('pending_requests')
        .selectAll()
        .where((eb) => eb.or([eb('person_id', '=', personId), eb('person_id', 'is', null)]))
        .where('status', '=', 'pending')
        .orderBy('id')
        .execute(),
  };
}

/** Runs `tessera ARGV` in-process like `run()` in main.ts, with these commands registered and fetch injected. */
async function cli(argv: string[], env: Record<string, string> = {}, fetchImpl?: typeof fetch) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), readStdin: () => Promise.resolve(''), now: () => T0 };
  const exit = { code: 0 };
  const program = new Command('tessera').exitOverride().configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });
  const deps = { fetch: fetchImpl ?? ((input: string | URL | Request, init?: RequestInit) => root.fetch(new Request(input, init))), env };
  registerApprovalsCommands(program, io, exit, deps as never);
  registerGrantsCommands(program, io, exit, deps as never);
  let code: number;
  try {
    await program.parseAsync(argv, { from: 'user' });
    code = exit.code;
  } catch (error) {
    if (error instanceof CommanderError) code = error.code === 'commander.helpDisplayed' ? 0 : 2;
    else if (error instanceof UsageError) {
      io.stderr(`tessera: ${error.message}`);
      code = 2;
    } else throw error;
  }
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const as = (person: string) => ['--server', SERVER, '--token', `person:${person}`];

beforeAll(async () => {
  t = await testStore('sqlite', () => T0);
  const ctx: ServerContext = {
    mode: 'development',
    ps: { issuer: SERVER, name: 'PS' },
    ap: { issuer: 'https://ap.example', name: 'AP' },
    store: t.store,
    keys: {} as ServerKeys,
    now: () => T0,
    resolveKey: () => Promise.reject(new Error('unused')),
    keyCache: {} as ServerContext['keyCache'],
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
  root = new Hono().route('/api', createApproverApp(ctx, standInDeferred(t.store)));
  const db = t.store.db;
  await db.insertInto('people').values([
    { id: 'alice', username: 'alice', display_name: 'Alice', password_hash: 'x', created_at: T0 },
    { id: 'bob', username: 'bob', display_name: 'Bob', password_hash: 'x', created_at: T0 },
  ]).execute();
  await db.insertInto('agents').values({ id: 'aauth:bobs@agent.example', name: 'Bob’s', description: '', agent_provider: 'https://agent.example', jwks_uri: null, jwks: null, allowed_scopes: '[]', requires_authorization: 0, delegation_allowed: 0, status: 'active', person_id: 'bob', created_at: T0, updated_at: T0 }).execute();
  const pending = (id: string, agent: string) => ({ id, kind: 'auth_token', agent_id: agent, agent_jkt: 'jkt', person_id: null, status: 'pending' as const, request: '{}', result: null, error: null, code_hash: null, code_failures: 0, clarification_rounds: 0, clarification: null, callback: null, created_at: T0, updated_at: T0, expires_at: T0 + 600 });
  await db.insertInto('pending_requests').values([pending('pnd_1', 'aauth:new@agent.example'), pending('pnd_2', 'aauth:other@agent.example'), pending('pnd_bob', 'aauth:bobs@agent.example')]).execute();
});
afterAll(() => t.close());
beforeEach(() => {
  approvals.length = 0;
  refusals.length = 0;
});

describe('tessera approvals', () => {
  it('usage errors exit 2: no server, no token, a server that is not a URL', async () => {
    expect(await cli(['approvals', 'list'])).toMatchObject({ code: 2, stderr: 'tessera: --server (or TESSERA_URL) is required' });
    expect(await cli(['approvals', 'list', '--server', SERVER])).toMatchObject({ code: 2, stderr: 'tessera: --token (or TESSERA_TOKEN) is required' });
    expect((await cli(['approvals', 'list', '--server', 'ps.example', '--token', 'x'])).code).toBe(2);
    expect((await cli(['approvals', 'approve'])).code).toBe(2);
  });

  it('list prints the API JSON; --table a compact table; env TESSERA_URL / TESSERA_TOKEN work', async () => {
    const r = await cli(['approvals', 'list', ...as('alice')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).pending.map((p: { id: string }) => p.id)).toEqual(['pnd_1', 'pnd_2']);
    const tabled = await cli(['approvals', 'list', '--table'], { TESSERA_URL: SERVER, TESSERA_TOKEN: 'person:alice' });
    expect(tabled.code).toBe(0);
    const lines = tabled.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+AGENT\s+EXPIRES\s+SUMMARY$/);
    expect(lines[1]).toMatch(/^pnd_1\s+auth_token\s+aauth:new@agent\.example\s+2027-01-15T08:10:00Z\s+aauth:new@agent\.example wants to read your calendar$/);
    expect(lines).toHaveLength(3);
  });

  it('approve --always and deny reach the Deferred service as this person', async () => {
    const approved = await cli(['approvals', 'approve', 'pnd_1', '--always', ...as('alice')]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toEqual({ id: 'pnd_1', status: 'approved' });
    expect(approvals).toEqual([{ id: 'pnd_1', decision: { personId: 'alice', always: true } }]);
    const denied = await cli(['approvals', 'deny', 'pnd_2', ...as('alice')]);
    expect(JSON.parse(denied.stdout)).toEqual({ id: 'pnd_2', status: 'denied' });
    expect(refusals).toEqual(['pnd_2']);
  });

  it('HTTP errors print the problem error and detail in one line and exit 1', async () => {
    const other = await cli(['approvals', 'approve', 'pnd_bob', ...as('alice')]);
    expect(other).toEqual({ code: 1, stdout: '', stderr: 'tessera: not_found: no such pending request' });
    const again = await cli(['approvals', 'deny', 'pnd_1', ...as('alice')]);
    expect(again).toMatchObject({ code: 1, stderr: 'tessera: conflict: the request is already approved' });
    expect(await cli(['approvals', 'list', ...as('mallory')])).toMatchObject({ code: 1, stderr: 'tessera: invalid_token: the personal API token is unknown or revoked' });
    expect(approvals).toEqual([]);
  });

  it('an unreachable server, or an answer that is not problem+json, is one line and exit 1', async () => {
    const down = await cli(['approvals', 'list', ...as('alice')], {}, () => Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') })));
    expect(down).toMatchObject({ code: 1, stderr: `tessera: cannot reach ${SERVER}: connect ECONNREFUSED 127.0.0.1:1` });
    const proxy = await cli(['approvals', 'list', ...as('alice')], {}, () => Promise.resolve(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })));
    expect(proxy).toMatchObject({ code: 1, stderr: 'tessera: HTTP 502: Bad Gateway' });
  });
});

describe('tessera grants', () => {
  it('list (JSON and --table), revoke, and revoke of an unknown grant', async () => {
    const grant = await createGrant(t.store.db, { personId: 'alice', agentId: 'aauth:new@agent.example', resource: 'https://cal.example', kind: 'auth_token', scopes: ['read'] }, T0);
    const listed = await cli(['grants', 'list', ...as('alice')]);
    expect(JSON.parse(listed.stdout)).toMatchObject({ grants: [{ id: grant.id, scopes: ['read'] }] });
    const tabled = await cli(['grants', 'list', '--table', ...as('alice')]);
    expect(tabled.stdout.split('\n')[1]).toMatch(new RegExp(`^${grant.id}\\s+aauth:new@agent\\.example\\s+https://cal\\.example\\s+auth_token\\s+read$`));
    expect(await cli(['grants', 'revoke', grant.id, ...as('bob')])).toMatchObject({ code: 1, stderr: 'tessera: not_found: no such live grant' });
    const revoked = await cli(['grants', 'revoke', grant.id, ...as('alice')]);
    expect(revoked).toMatchObject({ code: 0 });
    expect(JSON.parse(revoked.stdout)).toEqual({ revoked: grant.id });
    expect(JSON.parse((await cli(['grants', 'list', ...as('alice')])).stdout)).toEqual({ grants: [] });
    const all = await cli(['grants', 'list', '--all', '--table', ...as('alice')]);
    expect(all.stdout.split('\n')[0]).toMatch(/REVOKED$/);
    expect(all.stdout.split('\n')[1]).toMatch(/yes$/);
  });
});

describe('table', () => {
  it('pads columns, shows empty cells as -, joins arrays, and cuts long cells', () => {
    const rows = [{ a: 'x', b: null }, { a: 'longer', b: ['p', 'q'] }, { a: 'y'.repeat(70), b: 1 }];
    const out = table(rows, [['A', (r) => r.a], ['B', (r) => r.b]]).split('\n');
    expect(out[1]).toBe(`x${' '.repeat(59)}  -`);
    expect(out[2]).toBe(`longer${' '.repeat(54)}  p q`);
    expect(out[3]).toBe(`${'y'.repeat(59)}…  1`);
  });
});
