/**
 * `tessera fetch` against `tessera dev` (in process): enrol with the Agent Provider, person token, resource token,
 * auth token — the person approving in the background through the Deferred service — then the response; a second
 * call reuses the key and tokens persisted in the home directory and needs no approval.
 */
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDev, type DevServer } from '@tessera/server';
import { run } from '../src/main.js';

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), readStdin: () => Promise.resolve(''), now: () => Date.now() / 1000 });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('tessera fetch', () => {
  let dev: DevServer;
  let approving = true;
  const approved: string[] = [];

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {} });
    const { server } = dev.running;
    const person = await server.ctx.store.db.selectFrom('people').select('id').where('username', '=', dev.username).executeTakeFirstOrThrow();
    void (async () => {
      while (approving) {
        const pending = await server.ctx.store.db.selectFrom('pending_requests').select(['id', 'kind']).where('status', 'in', ['pending', 'interacting']).execute().catch(() => []);
        for (const { id, kind } of pending) {
          await server.deferred.interacting(id, person.id).catch(() => undefined);
          await server.deferred.approve(id, { personId: person.id, always: false }).then(() => approved.push(kind), () => undefined);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }, 60_000);

  afterAll(async () => {
    approving = false;
    await dev?.close();
  });

  it('enrols, gets a person token and an auth token with the person approving, and prints the notes; a second call reuses them', async () => {
    const home = await mkdtemp(join(tmpdir(), 'tessera-home-'));
    const notes = `${dev.issuers.resource}/notes`;
    const first = await cli(['fetch', notes, '--enrol', dev.issuers.ap, '--ps', dev.issuers.ps, '--name', 'CLI test agent', '--home', home, '--explain']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('notes');
    expect(first.stderr).toContain('approval needed. Open');
    expect(first.stderr).toContain('signature base:');
    expect(first.stderr).toContain('requirement=person-token');
    expect(first.stderr).toMatch(/requirement=auth-token; ?resource-token=<aa-resource\+jwt/);
    expect(first.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\./); // tokens are described, never printed whole
    expect(approved).toEqual(['enrolment', 'person_token', 'auth_token']);
    expect((await stat(join(home, 'agent.jwk'))).mode & 0o777).toBe(0o600);

    const second = await cli(['fetch', notes, '--home', home]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('notes');
    expect(second.stderr).not.toContain('approval needed');
    expect(approved).toHaveLength(3);
  }, 90_000);

  it('without an agent token or --enrol: one clear line, exit 2', async () => {
    const home = await mkdtemp(join(tmpdir(), 'tessera-home-'));
    const r = await cli(['fetch', `${dev.issuers.resource}/notes`, '--home', home]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--enrol/);
  });
});
