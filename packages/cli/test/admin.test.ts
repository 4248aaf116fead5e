/**
 * `tessera admin ...` and `tessera audit`, run in-process against the real admin API (a Hono app on an SQLite store)
 * through an injected fetch.
 */
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, publicJwkOf } from '@tessera/protocol';
import { Command, CommanderError } from 'commander';
import { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setAdminToken } from '../../server/src/api/admin-auth.js';
import { createAdminApp } from '../../server/src/api/admin-app.js';
import type { ServerContext } from '../../server/src/context.js';
import type { ServerKeys } from '../../server/src/keys/server-keys.js';
import { testStore, type TestStore } from '../../server/test/helpers.js';
import { registerAdminCommands } from '../src/commands/admin.js';
import { registerAuditCommands } from '../src/commands/audit.js';
import { UsageError } from '../src/io.js';

const T0 = 1_800_000_000;
const SERVER = 'https://ps.example';
const TOKEN = 'tsa_admin-token-for-cli-tests-0123';

let t: TestStore;
let root: Hono;
let now = T0;
const requests: string[] = [];

async function cli(argv: string[], env: Record<string, string> = { TESSERA_URL: SERVER, TESSERA_ADMIN_TOKEN: TOKEN }) {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s), readStdin: () => Promise.resolve(''), now: () => now };
  const exit = { code: 0 };
  const program = new Command('tessera').exitOverride().configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });
  const deps = {
    fetch: (input: string | URL | Request, init?: RequestInit) => {
      const request = new Request(input, init);
      requests.push(`${request.method} ${request.url}`);
      return root.fetch(request);
    },
    env,
  };
  registerAdminCommands(program, io, exit, deps as never);
  registerAuditCommands(program, io, exit, deps as never);
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
  now += 1; // one command per second: audit events sort in command order
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

const ok = async (argv: string[]) => {
  const r = await cli(argv);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
};

let dir: string;

beforeAll(async () => {
  t = await testStore('sqlite', () => now);
  const ctx: ServerContext = {
    mode: 'development',
    ps: { issuer: SERVER, name: 'PS' },
    ap: { issuer: 'https://ap.example', name: 'AP' },
    store: t.store,
    keys: {} as ServerKeys,
    now: () => now,
    resolveKey: () => Promise.reject(new Error('unused')),
    keyCache: {} as ServerContext['keyCache'],
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
  root = new Hono().route('/admin', createAdminApp(ctx));
  await setAdminToken(ctx, TOKEN);
  dir = await mkdtemp(join(tmpdir(), 'tessera-admin-'));
});
afterAll(() => t.close());

describe('tessera admin agents', () => {
  it('add, list (--table), show, update, disable, enable, remove; ids are URL-encoded in paths', async () => {
    const jwk = publicJwkOf(await generateKeyPair('Ed25519', 'pin-1'));
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const added = await ok(['admin', 'agents', 'add', 'aauth:assistant@agent.example', '--provider', 'https://agent.example', '--name', 'Assistant', '--scope', 'calendar.read', '--scope', 'calendar.write', '--requires-authorization', '--jwks', `@${join(dir, 'jwks.json')}`]);
    expect(added).toMatchObject({ id: 'aauth:assistant@agent.example', name: 'Assistant', allowed_scopes: ['calendar.read', 'calendar.write'], requires_authorization: true, jwks: { keys: [{ kid: 'pin-1' }] } });

    const table = await cli(['admin', 'agents', 'list', '--table']);
    expect(table.stdout.split('\n')).toEqual([
      expect.stringMatching(/^ID\s+NAME\s+PROVIDER\s+STATUS\s+PERSON\s+SCOPES$/),
      expect.stringMatching(/^aauth:assistant@agent\.example\s+Assistant\s+https:\/\/agent\.example\s+active\s+-\s+calendar\.read calendar\.write$/),
    ]);
    expect(await ok(['admin', 'agents', 'show', 'aauth:assistant@agent.example'])).toMatchObject({ id: 'aauth:assistant@agent.example' });
    expect(requests.at(-1)).toBe(`GET ${SERVER}/admin/agents/aauth%3Aassistant%40agent.example`);

    const updated = await ok(['admin', 'agents', 'update', 'aauth:assistant@agent.example', '--no-requires-authorization', '--any-scope', '--no-jwks', '--jwks-uri', 'https://agent.example/jwks.json', '--description', 'Books trips']);
    expect(updated).toMatchObject({ requires_authorization: false, allowed_scopes: [], jwks: null, jwks_uri: 'https://agent.example/jwks.json', description: 'Books trips' });
    expect(await ok(['admin', 'agents', 'disable', 'aauth:assistant@agent.example'])).toMatchObject({ status: 'disabled' });
    expect(await ok(['admin', 'agents', 'list', '--status', 'disabled'])).toMatchObject({ agents: [{ id: 'aauth:assistant@agent.example' }] });
    expect(await ok(['admin', 'agents', 'enable', 'aauth:assistant@agent.example'])).toMatchObject({ status: 'active' });
    expect(await ok(['admin', 'agents', 'remove', 'aauth:assistant@agent.example'])).toEqual({ removed: 'aauth:assistant@agent.example' });
    expect(await cli(['admin', 'agents', 'show', 'aauth:assistant@agent.example'])).toMatchObject({ code: 1, stderr: 'tessera: not_found: no agent aauth:assistant@agent.example' });
  });

  it('problems from the server: one line, exit 1 (validation naming the field, duplicate, wrong admin token)', async () => {
    expect(await cli(['admin', 'agents', 'add', 'assistant', '--provider', 'https://agent.example'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^tessera: invalid_request: identifier: not an agent identifier/) });
    await ok(['admin', 'agents', 'add', 'aauth:dup@agent.example', '--provider', 'https://agent.example']);
    expect(await cli(['admin', 'agents', 'add', 'aauth:dup@agent.example', '--provider', 'https://agent.example'])).toEqual({ code: 1, stdout: '', stderr: 'tessera: conflict: agent aauth:dup@agent.example already exists' });
    expect(await cli(['admin', 'agents', 'list', '--server', SERVER, '--admin-token', 'wrong'], {})).toMatchObject({ code: 1, stderr: 'tessera: unauthorized: wrong admin token' });
  });

  it('usage errors exit 2', async () => {
    expect(await cli(['admin', 'agents', 'list'], {})).toMatchObject({ code: 2, stderr: 'tessera: --server (or TESSERA_URL) is required' });
    expect(await cli(['admin', 'agents', 'list'], { TESSERA_URL: SERVER })).toMatchObject({ code: 2, stderr: 'tessera: --admin-token (or TESSERA_ADMIN_TOKEN) is required' });
    expect(await cli(['admin', 'agents', 'add', 'aauth:x@agent.example'])).toMatchObject({ code: 2, stderr: 'tessera: --provider is required' });
    expect(await cli(['admin', 'agents', 'update', 'aauth:x@agent.example'])).toMatchObject({ code: 2, stderr: expect.stringContaining('nothing to update') });
    expect((await cli(['admin', 'agents', 'list', '--status', 'gone'])).code).toBe(2);
    expect((await cli(['admin', 'agents', 'add', 'aauth:x@agent.example', '--provider', 'https://a.example', '--body', '[1]'])).code).toBe(2);
    expect((await cli(['admin', 'agents', 'frobnicate'])).code).toBe(2);
  });
});

describe('tessera admin resources and policy', () => {
  it('resources: add with scope descriptions, show by server identifier, update, remove', async () => {
    const added = await ok(['admin', 'resources', 'add', 'https://calendar.example', '--name', 'Calendar', '--scope', 'calendar.read=Read your calendar', '--scope', 'calendar.write', '--metadata-uri', 'https://calendar.example/.well-known/aauth-resource.json']);
    expect(added).toMatchObject({ id: 'https://calendar.example', scopes: [{ scope: 'calendar.read', description: 'Read your calendar' }, { scope: 'calendar.write', description: '' }] });
    expect(await ok(['admin', 'resources', 'show', 'https://calendar.example'])).toMatchObject({ name: 'Calendar' });
    expect(requests.at(-1)).toBe(`GET ${SERVER}/admin/resources/https%3A%2F%2Fcalendar.example`);
    expect(await ok(['admin', 'resources', 'update', 'https://calendar.example', '--no-metadata-uri', '--jwks-uri', 'https://calendar.example/jwks.json', '--body', '{"description":"**Cal**"}'])).toMatchObject({ metadata_uri: null, jwks_uri: 'https://calendar.example/jwks.json', description: '**Cal**' });
    const tabled = await cli(['admin', 'resources', 'list', '--table']);
    expect(tabled.stdout.split('\n')[1]).toMatch(/^https:\/\/calendar\.example\s+Calendar\s+active\s+auth-token\s+calendar\.read calendar\.write$/);
    expect(await ok(['admin', 'resources', 'remove', 'https://calendar.example'])).toEqual({ removed: 'https://calendar.example' });
  });

  it('policy get and set', async () => {
    expect(await ok(['admin', 'policy', 'get'])).toEqual({ mode: 'open', agent_providers: [], resources: [] });
    expect(await ok(['admin', 'policy', 'set', '--mode', 'allowlist', '--agent-provider', 'https://agent.example', '--resource', 'https://calendar.example'])).toEqual({ mode: 'allowlist', agent_providers: ['https://agent.example'], resources: ['https://calendar.example'] });
    expect(await ok(['admin', 'policy', 'get'])).toMatchObject({ mode: 'allowlist' });
    expect(await cli(['admin', 'policy', 'set', '--mode', 'closed'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/^tessera: invalid_request: mode: /) });
    expect((await cli(['admin', 'policy', 'set', '--agent-provider', 'https://agent.example'])).code).toBe(2);
  });
});

describe('tessera audit', () => {
  it('json: one page with filters (--type prefix, --agent, --since), --table', async () => {
    const page = await ok(['audit', '--type', 'admin.agent.*', '--agent', 'aauth:assistant@agent.example']);
    expect((page['events'] as { type: string; actor: string }[]).map((e) => e.type)).toEqual(['admin.agent.created', 'admin.agent.updated', 'admin.agent.disabled', 'admin.agent.enabled', 'admin.agent.deleted']);
    expect(page['next_cursor']).toBeNull();
    const limited = await ok(['audit', '--type', 'admin.agent.*', '--limit', '2']);
    expect(limited['next_cursor']).toEqual((limited['events'] as { id: string }[])[1]!.id);
    const next = await ok(['audit', '--type', 'admin.agent.*', '--limit', '2', '--cursor', limited['next_cursor'] as string]);
    expect((next['events'] as { type: string }[]).map((e) => e.type)).toEqual(['admin.agent.disabled', 'admin.agent.enabled']);
    const since = await ok(['audit', '--since', new Date(now * 1000).toISOString()]);
    expect(since['events']).toEqual([]);
    const tabled = await cli(['audit', '--type', 'admin.trust_policy.updated', '--table']);
    expect(tabled.stdout.split('\n')[0]).toMatch(/^TIME\s+TYPE\s+ACTOR\s+AGENT\s+PERSON\s+RESOURCE$/);
    expect(tabled.stdout.split('\n')[1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z\s+admin\.trust_policy\.updated\s+admin\s+-\s+-\s+-$/);
  });

  it('jsonl: every event, one JSON object a line, with ISO time', async () => {
    const r = await cli(['audit', '--format', 'jsonl', '--type', 'admin.resource.*']);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.split('\n').map((l) => JSON.parse(l) as { type: string; at: number; time: string });
    expect(events.map((e) => e.type)).toEqual(['admin.resource.created', 'admin.resource.updated', 'admin.resource.deleted']);
    expect(events.every((e) => e.time === new Date(e.at * 1000).toISOString())).toBe(true);
    expect(requests.at(-1)).toBe(`GET ${SERVER}/admin/audit.jsonl?type=admin.resource.*`);
  });

  it('usage errors exit 2; server-side errors exit 1', async () => {
    expect(await cli(['audit', '--since', 'yesterday'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--since must be an ISO 8601 date-time') });
    expect(await cli(['audit', '--format', 'xml'])).toMatchObject({ code: 2, stderr: 'tessera: --format must be json or jsonl, got "xml"' });
    expect((await cli(['audit', '--limit', 'ten'])).code).toBe(2);
    expect(await cli(['audit', '--limit', '5000'])).toMatchObject({ code: 1, stderr: 'tessera: invalid_request: limit: an integer from 1 to 1000' });
  });
});
