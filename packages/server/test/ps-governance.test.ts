/**
 * Governance at the Person Server beyond the mission endpoint (AAuth -11 §Person Token Endpoint `mission_s256`,
 * §Permission Endpoint, §Audit Endpoint, §Mission Status Errors; digest §6-F, §8.18, §8.41, §8.56, §8.57, §8.59):
 * person tokens within a mission (and the auth token that follows), permission and audit requests.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MISSION_TTL_SECONDS, missionLog } from '../src/ps/missions.js';
import { createGrant } from '../src/store/grants.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, claimsOf, party, PS, psFixture, RS, T0, type Party, type PsFixture } from './ps-fixture.js';

const OTHER_ID = 'aauth:other@agent.example';
const UNKNOWN = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

async function problem(res: Response): Promise<Record<string, unknown> & { status: number }> {
  return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
}

async function observable(res: Response): Promise<{ status: number; headers: [string, string][]; body: string }> {
  return { status: res.status, headers: [...res.headers.entries()].sort(([a], [b]) => a.localeCompare(b)), body: await res.text() };
}

for (const kind of STORE_KINDS) {
  describe(`PS governance on ${kind}`, () => {
    let f: PsFixture;
    let alice: string;
    let other: Party;
    let otherToken: string;
    /** An active mission of AGENT_ID, approved by alice, with the tool WebSearch. */
    let s256: string;

    const asOther = (path: string, body: unknown): Promise<Response> => f.post(path, body, { token: otherToken, signer: other.signer });

    async function approveLast(personId = alice): Promise<Record<string, unknown>> {
      const done = await f.deferred.approve(f.deferred.last().id, { personId, always: false });
      return JSON.parse(done.result!) as Record<string, unknown>;
    }

    async function terminate(mission: string): Promise<void> {
      expect((await f.post(`/mission/${mission}`, { action: 'completion', summary: 'done' })).status).toBe(202);
      await approveLast();
    }

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      other = await party();
      otherToken = await f.agentToken({ sub: OTHER_ID }, { key: other });
      expect((await f.post('/mission', { description: 'Plan the trip', tools: [{ name: 'WebSearch', description: 'Search the web' }] })).status).toBe(202);
      s256 = (await approveLast())['s256'] as string;
    });
    afterEach(() => f.close());

    describe('person tokens within a mission', () => {
      it('[§8.18] the agent’s own active mission → the person token and its record carry mission_s256; the person sees the mission', async () => {
        const res = await f.post('/person-token', { resource: RS, mission_s256: s256 });
        expect(res.status).toBe(202);
        const pending = f.deferred.last();
        const view = await f.deferred.handlers.get('person_token')!.describe(pending);
        expect(view.mission).toEqual({ s256, description: 'Plan the trip' });
        const { person_token } = (await approveLast()) as { person_token: string };
        const c = claimsOf(person_token);
        expect(c).toMatchObject({ iss: PS, aud: RS, mission_s256: s256 });
        const record = await f.t.store.db.selectFrom('person_token_records').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
        expect(record.mission_s256).toBe(s256);
        expect((await missionLog(f.t.store.db, s256)).map((e) => e.type)).toEqual(['token.person']);
      });

      it('[§8.18] with a standing grant the person token is issued at once, with mission_s256', async () => {
        await createGrant(f.t.store.db, { personId: alice, agentId: AGENT_ID, resource: RS, kind: 'person_token', scopes: [] }, T0);
        const res = await f.post('/person-token', { resource: RS, mission_s256: s256 });
        expect(res.status).toBe(200);
        expect(claimsOf(((await res.json()) as { person_token: string }).person_token)['mission_s256']).toBe(s256);
        // Without the mission, the same grant issues a token without it.
        const plain = await f.post('/person-token', { resource: RS });
        expect(claimsOf(((await plain.json()) as { person_token: string }).person_token)['mission_s256']).toBeUndefined();
      });

      it('[§8.41] the person token never outlives the mission’s expires_at', async () => {
        await createGrant(f.t.store.db, { personId: alice, agentId: AGENT_ID, resource: RS, kind: 'person_token', scopes: [] }, T0);
        f.clock.now = T0 + MISSION_TTL_SECONDS - 600;
        const res = await f.post('/person-token', { resource: RS, mission_s256: s256 }, { token: await f.agentToken() });
        const body = (await res.json()) as { person_token: string; expires_in: number };
        expect(claimsOf(body.person_token)['exp']).toBe(T0 + MISSION_TTL_SECONDS);
        expect(body.expires_in).toBe(600);
      });

      it('[§8.18] [§8.56] an unknown mission and another agent’s mission → the same 404 mission_not_found', async () => {
        const foreign = await observable(await asOther('/person-token', { resource: RS, mission_s256: s256 }));
        const unknown = await observable(await asOther('/person-token', { resource: RS, mission_s256: UNKNOWN }));
        expect(foreign.status).toBe(404);
        expect(JSON.parse(foreign.body)).toEqual({ error: 'mission_not_found' });
        expect(unknown).toEqual(foreign);
        expect(await observable(await f.post('/person-token', { resource: RS, mission_s256: UNKNOWN }))).toEqual(foreign);
        expect(await f.t.store.db.selectFrom('person_token_records').selectAll().execute()).toHaveLength(0);
      });

      it('[§8.18] a malformed mission_s256 → 400 invalid_request', async () => {
        for (const mission of ['abc', 42, `${s256}=`]) {
          expect(await problem(await f.post('/person-token', { resource: RS, mission_s256: mission })), String(mission)).toMatchObject({ status: 400, error: 'invalid_request' });
        }
      });

      it('[§8.18] [§8.57] an inactive (completed or expired) mission → 403 mission_terminated', async () => {
        await terminate(s256);
        expect(await problem(await f.post('/person-token', { resource: RS, mission_s256: s256 }))).toMatchObject({
          status: 403,
          error: 'mission_terminated',
          mission_status: 'terminated',
          termination_reason: 'completed',
        });
        expect((await f.post('/mission', { description: 'Second' })).status).toBe(202);
        const second = (await approveLast())['s256'] as string;
        f.clock.now = T0 + MISSION_TTL_SECONDS;
        expect(await problem(await f.post('/person-token', { resource: RS, mission_s256: second }, { token: await f.agentToken() }))).toMatchObject({
          status: 403,
          error: 'mission_terminated',
          termination_reason: 'expired',
        });
      });

      it('[§8.18] a mission that ends while the person decides fails the pending person-token request', async () => {
        expect((await f.post('/person-token', { resource: RS, mission_s256: s256 })).status).toBe(202);
        const pending = f.deferred.last();
        await terminate(s256);
        await expect(f.deferred.approve(pending.id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'mission_terminated' });
        expect(await f.t.store.db.selectFrom('person_token_records').selectAll().execute()).toHaveLength(0);
      });

      it('mission_s256 flows from the person token through the resource token into the auth token', async () => {
        expect((await f.post('/person-token', { resource: RS, mission_s256: s256 })).status).toBe(202);
        const pt = claimsOf(((await approveLast()) as { person_token: string }).person_token);
        const resourceToken = await f.resourceToken({ iss: RS, ps: PS, sub: pt['sub'], presented_jti: pt['jti'], agent_jkt: f.agent.jkt, scope: 'notes.read', mission_s256: s256 });
        expect((await f.post('/token', { resource_token: resourceToken })).status).toBe(202);
        const { auth_token } = (await approveLast()) as { auth_token: string };
        expect(claimsOf(auth_token)).toMatchObject({ aud: RS, mission_s256: s256 });
        // A resource token that drops the mission is refused (mission stripping).
        const stripped = await f.resourceToken({ iss: RS, ps: PS, sub: pt['sub'], presented_jti: pt['jti'], agent_jkt: f.agent.jkt, scope: 'notes.read' });
        expect(await problem(await f.post('/token', { resource_token: stripped }))).toMatchObject({ status: 400, error: 'invalid_resource_token' });
      });
    });

    describe('permission', () => {
      it('[§8.59] an action in the mission’s approved_tools → 200 {permission: "granted"} at once, logged in the mission', async () => {
        const res = await f.post('/permission', { action: 'WebSearch', description: 'Search flights', parameters: { q: 'Tokyo' }, mission_s256: s256 });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ permission: 'granted' });
        const log = await missionLog(f.t.store.db, s256);
        expect(log.map((e) => e.type)).toEqual(['permission']);
        expect(JSON.parse(log[0]!.entry)).toMatchObject({ action: 'WebSearch', parameters: { q: 'Tokyo' }, permission: 'granted', by: 'mission' });
        const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'permission.granted').execute();
        expect(JSON.parse(audit[0]!.detail)).toEqual({ action: 'WebSearch', by: 'mission', mission: s256 });
      });

      it('[§8.59] any other action → 202; the person grants → {permission: "granted"}', async () => {
        const res = await f.post('/permission', { action: 'SendEmail', description: 'Send the **itinerary**', parameters: { to: 'a@example.com' }, mission_s256: s256 }, { headers: { prefer: 'wait=10' } });
        expect(res.status).toBe(202);
        expect(f.deferred.lastWait).toBe(10);
        const pending = f.deferred.last();
        expect(pending).toMatchObject({ kind: 'permission', agent_id: AGENT_ID, agent_jkt: f.agent.jkt, person_id: alice });
        const view = await f.deferred.handlers.get('permission')!.describe(pending);
        expect(view).toMatchObject({
          summary: `${AGENT_ID} asks to perform SendEmail`,
          justification: 'Send the **itinerary**',
          scopes: [{ scope: 'to', description: 'a@example.com' }],
          mission: { s256, description: 'Plan the trip' },
          allowAlways: false,
        });
        expect(await approveLast()).toEqual({ permission: 'granted' });
        expect((await missionLog(f.t.store.db, s256)).map((e) => JSON.parse(e.entry) as Record<string, unknown>)).toEqual([
          expect.objectContaining({ action: 'SendEmail', permission: 'granted', by: 'person' }),
        ]);
      });

      it('[§8.59] the person denies → the pending request ends denied (the agent MUST NOT proceed)', async () => {
        expect((await f.post('/permission', { action: 'DeleteFiles' })).status).toBe(202);
        const done = await f.deferred.refuse(f.deferred.last().id, 'denied');
        expect(done.status).toBe('denied');
        expect(await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'permission.granted').execute()).toHaveLength(0);
      });

      it('[§8.59] works without a mission; action is REQUIRED; parameters must be an object', async () => {
        expect((await f.post('/permission', { action: 'WriteFile' })).status).toBe(202);
        expect(await approveLast()).toEqual({ permission: 'granted' });
        for (const body of [{}, { action: '' }, { action: 7 }, { action: 'x', parameters: [1] }, { action: 'x', parameters: 'p' }, { action: 'x', mission_s256: 'bad' }]) {
          expect(await problem(await f.post('/permission', body)), JSON.stringify(body)).toMatchObject({ status: 400, error: 'invalid_request' });
        }
      });

      it('[§8.56] [§8.57] a foreign or unknown mission → identical 404; a terminated one → 403 mission_terminated', async () => {
        const foreign = await observable(await asOther('/permission', { action: 'WebSearch', mission_s256: s256 }));
        expect(foreign.status).toBe(404);
        expect(await observable(await asOther('/permission', { action: 'WebSearch', mission_s256: UNKNOWN }))).toEqual(foreign);
        await terminate(s256);
        expect(await problem(await f.post('/permission', { action: 'WebSearch', mission_s256: s256 }))).toMatchObject({ status: 403, error: 'mission_terminated', termination_reason: 'completed' });
      });

      it('a mission that ends before the person decides fails the permission request', async () => {
        expect((await f.post('/permission', { action: 'Pay', mission_s256: s256 })).status).toBe(202);
        const pending = f.deferred.last();
        await terminate(s256);
        await expect(f.deferred.approve(pending.id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'mission_terminated' });
      });
    });

    describe('audit', () => {
      it('[§8.59] a record within the mission → 201, in the mission log and the audit log as mission.audit', async () => {
        const res = await f.post('/audit', {
          mission_s256: s256,
          action: 'WebSearch',
          description: 'Searched for flights',
          parameters: { query: 'flights to Tokyo' },
          result: { status: 'completed', summary: 'Found 12' },
        });
        expect(res.status).toBe(201);
        expect(await res.text()).toBe('');
        const log = await missionLog(f.t.store.db, s256);
        expect(log.map((e) => e.type)).toEqual(['audit']);
        expect(JSON.parse(log[0]!.entry)).toEqual({
          action: 'WebSearch',
          description: 'Searched for flights',
          parameters: { query: 'flights to Tokyo' },
          result: { status: 'completed', summary: 'Found 12' },
        });
        const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'mission.audit').execute();
        expect(audit).toHaveLength(1);
        expect(audit[0]).toMatchObject({ actor: AGENT_ID, agent: AGENT_ID, person: alice });
        // Parameters and results stay in the mission log, out of the audit log.
        expect(JSON.parse(audit[0]!.detail)).toEqual({ mission: s256, action: 'WebSearch' });
      });

      it('[§8.59] audit requires a mission: without mission_s256 → 400; action REQUIRED; result must be an object', async () => {
        for (const body of [{ action: 'WebSearch' }, { mission_s256: s256 }, { mission_s256: 'short', action: 'x' }, { mission_s256: s256, action: 'x', result: 'ok' }]) {
          expect(await problem(await f.post('/audit', body)), JSON.stringify(body)).toMatchObject({ status: 400, error: 'invalid_request' });
        }
        expect(await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'mission.audit').execute()).toHaveLength(0);
      });

      it('[§8.56] [§8.57] a foreign or unknown mission → identical 404; a terminated one → 403 mission_terminated', async () => {
        const foreign = await observable(await asOther('/audit', { action: 'x', mission_s256: s256 }));
        expect(foreign.status).toBe(404);
        expect(JSON.parse(foreign.body)).toEqual({ error: 'mission_not_found' });
        expect(await observable(await asOther('/audit', { action: 'x', mission_s256: UNKNOWN }))).toEqual(foreign);
        await terminate(s256);
        expect(await problem(await f.post('/audit', { action: 'x', mission_s256: s256 }))).toMatchObject({ status: 403, error: 'mission_terminated', mission_status: 'terminated' });
      });
    });

    it('the metadata names the governance endpoints', async () => {
      const doc = (await (await f.app.request(`${PS}/.well-known/aauth-person.json`)).json()) as Record<string, unknown>;
      expect(doc).toMatchObject({ mission_endpoint: `${PS}/mission`, permission_endpoint: `${PS}/permission`, audit_endpoint: `${PS}/audit` });
    });
  });
}
