/**
 * The mission endpoint (AAuth -11 §Mission, §Mission Approval, §Mission Update, §Mission Completion, §Mission
 * Endpoint Errors, §Mission Status Errors; digest §6-F, §8.53, §8.55–§8.58), over the in-memory Deferred service.
 */
import { isS256, missionS256, verifyMissionS256 } from '@tessera/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MISSION_TTL_SECONDS, missionLog } from '../src/ps/missions.js';
import { STORE_KINDS } from './helpers.js';
import { AGENT_ID, claimsOf, party, PS, psFixture, RS, RS2, T0, type Party, type PsFixture } from './ps-fixture.js';

const OTHER_ID = 'aauth:other@agent.example';

interface Approval {
  s256: string;
  mission: string;
  person_tokens?: Record<string, string>;
  capabilities?: string[];
}

async function problem(res: Response): Promise<Record<string, unknown> & { status: number }> {
  return { status: res.status, ...((await res.json()) as Record<string, unknown>) };
}

/** Everything an observer sees of a response: status, every header, the body bytes. */
async function observable(res: Response): Promise<{ status: number; headers: [string, string][]; body: string }> {
  return { status: res.status, headers: [...res.headers.entries()].sort(([a], [b]) => a.localeCompare(b)), body: await res.text() };
}

for (const kind of STORE_KINDS) {
  describe(`mission endpoint on ${kind}`, () => {
    let f: PsFixture;
    let alice: string;
    let other: Party;
    let otherToken: string;

    const asOther = (path: string, body: unknown): Promise<Response> => f.post(path, body, { token: otherToken, signer: other.signer });

    async function propose(body: Record<string, unknown> = { description: '# Plan Japan\n\nBook a trip for **2**.' }): Promise<Approval> {
      const res = await f.post('/mission', body);
      expect(res.status).toBe(202);
      const done = await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      return JSON.parse(done.result!) as Approval;
    }

    beforeEach(async () => {
      f = await psFixture(kind);
      alice = await f.person('alice');
      other = await party();
      otherToken = await f.agentToken({ sub: OTHER_ID }, { key: other });
    });
    afterEach(() => f.close());

    it('[§8.53] proposal → 202 with a pending mission the person sees; approval → {s256, mission} whose s256 verifies over the exact bytes', async () => {
      const body = {
        description: '# Plan Japan\n\nBook a trip for **2**. <script>x</script>',
        tools: [
          { name: 'WebSearch', description: 'Search the web', extra: 'dropped' },
          { name: 'BookFlight', description: 'Book flights' },
        ],
        resources: [RS, RS2, RS],
      };
      const res = await f.post('/mission', body, { headers: { prefer: 'wait=30' } });
      expect(res.status).toBe(202);
      expect(f.deferred.lastWait).toBe(30);
      const pending = f.deferred.last();
      expect(pending).toMatchObject({ kind: 'mission', agent_id: AGENT_ID, agent_jkt: f.agent.jkt });
      const view = await f.deferred.handlers.get('mission')!.describe(pending);
      expect(view.summary).toBe(`${AGENT_ID} proposes a mission`);
      expect(view.mission?.description).toBe(body.description);
      expect(view.scopes.map((s) => s.scope)).toEqual(['WebSearch', 'BookFlight', RS, RS2]);
      expect(view.allowAlways).toBe(false);

      const done = await f.deferred.approve(pending.id, { personId: alice, always: false });
      const approval = JSON.parse(done.result!) as Approval;
      expect(isS256(approval.s256)).toBe(true);
      const { blob, bytes } = await verifyMissionS256(approval.mission, approval.s256);
      expect(blob).toEqual({
        approver: PS,
        agent: AGENT_ID,
        approved_at: new Date(T0 * 1000).toISOString(),
        description: body.description,
        expires_at: new Date((T0 + MISSION_TTL_SECONDS) * 1000).toISOString(),
        approved_tools: [
          { name: 'WebSearch', description: 'Search the web' },
          { name: 'BookFlight', description: 'Book flights' },
        ],
        approved_resources: [RS, RS2],
      });
      // The PS stores, hashes and returns the same bytes.
      const row = await f.t.store.db.selectFrom('missions').selectAll().where('s256', '=', approval.s256).executeTakeFirstOrThrow();
      expect(new TextEncoder().encode(row.blob)).toEqual(bytes);
      expect(await missionS256(new TextEncoder().encode(row.blob))).toBe(approval.s256);
      expect(row).toMatchObject({ agent_id: AGENT_ID, agent_jkt: f.agent.jkt, person_id: alice, status: 'active', termination_reason: null, expires_at: T0 + MISSION_TTL_SECONDS });
      // The approval binds the agent to the person, and is audited.
      expect((await f.t.store.db.selectFrom('agents').select('person_id').where('id', '=', AGENT_ID).executeTakeFirstOrThrow()).person_id).toBe(alice);
      const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'mission.approved').execute();
      expect(audit).toHaveLength(1);
      expect(JSON.parse(audit[0]!.detail)).toMatchObject({ mission: approval.s256 });
    });

    it('[§8.53] person_tokens: one per approved resource, each carrying mission_s256, bound to the agent key, ≤ the agent token', async () => {
      const approval = await propose({ description: 'Trip', resources: [RS, RS2] });
      expect(Object.keys(approval.person_tokens ?? {}).sort()).toEqual([RS2, RS].sort());
      for (const resource of [RS, RS2]) {
        const c = claimsOf(approval.person_tokens![resource]!);
        expect(c).toMatchObject({ iss: PS, aud: resource, mission_s256: approval.s256, cnf: { jwk: f.agent.publicJwk } });
        expect(c['exp']).toBe(T0 + 3600);
        const record = await f.t.store.db.selectFrom('person_token_records').selectAll().where('jti', '=', c['jti'] as string).executeTakeFirstOrThrow();
        expect(record).toMatchObject({ mission_s256: approval.s256, resource, agent_id: AGENT_ID, person_id: alice });
      }
      const log = await missionLog(f.t.store.db, approval.s256);
      expect(log.map((e) => e.type)).toEqual(['token.person', 'token.person']);
    });

    it('without resources or tools the blob has neither member, and no person_tokens', async () => {
      const approval = await propose({ description: 'Just think' });
      expect(approval.person_tokens).toBeUndefined();
      const { blob } = await verifyMissionS256(approval.mission, approval.s256);
      expect(Object.keys(blob)).toEqual(['approver', 'agent', 'approved_at', 'description', 'expires_at']);
    });

    it('a resource the trust policy refuses is refused at proposal (400 invalid_request)', async () => {
      await f.t.store.db.insertInto('settings').values({ key: 'trust_policy', value: JSON.stringify({ mode: 'allowlist', agent_providers: ['https://agent.example'], resources: [RS] }), updated_at: T0 }).execute();
      expect(await problem(await f.post('/mission', { description: 'x', resources: [RS2] }))).toMatchObject({ status: 400, error: 'invalid_request' });
      expect((await f.post('/mission', { description: 'x', resources: [RS] })).status).toBe(202);
    });

    it('proposal bodies: description required; tools and resources checked → 400 invalid_request', async () => {
      const bad: unknown[] = [
        {},
        { description: '' },
        { description: 42 },
        { description: 'x', tools: 'WebSearch' },
        { description: 'x', tools: [{ name: 'A' }] },
        { description: 'x', tools: [{ name: '', description: 'd' }] },
        { description: 'x', resources: ['http://resource.example'] },
        { description: 'x', resources: [`${RS}/api`] },
        { description: 'x', resources: RS },
        '[1]',
      ];
      for (const body of bad) expect(await problem(await f.post('/mission', body)), JSON.stringify(body)).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('an unsigned proposal → 401 Signature-Error', async () => {
      const res = await f.app.request(`${PS}/mission`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"description":"x"}' });
      expect(res.status).toBe(401);
      expect(res.headers.get('signature-error')).not.toBeNull();
    });

    it('a revoked agent token fails the proposal at the decision', async () => {
      const token = await f.agentToken();
      expect((await f.post('/mission', { description: 'x' }, { token })).status).toBe(202);
      await f.t.store.db.insertInto('revocations').values({ iss: 'https://agent.example', jti: claimsOf(token)['jti'] as string, revoked_at: T0, exp: T0 + 3600 }).execute();
      await expect(f.deferred.approve(f.deferred.last().id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'denied' });
      expect(await f.t.store.db.selectFrom('missions').selectAll().execute()).toHaveLength(0);
    });

    it('[§8.55] a malformed s256, a missing or unknown action, or a missing description/summary → 400 invalid_request', async () => {
      const { s256 } = await propose();
      for (const ref of ['abc', `${s256}x`, s256.slice(0, 42) + '=', 'A'.repeat(43).replace(/A$/, '!')]) {
        expect(await problem(await f.post(`/mission/${encodeURIComponent(ref)}`, { action: 'update', description: 'x' })), ref).toMatchObject({ status: 400, error: 'invalid_request' });
      }
      for (const body of [{}, { action: 'finish', summary: 'x' }, { action: 42 }, { action: 'update' }, { action: 'completion' }, { action: 'update', summary: 'x' }]) {
        expect(await problem(await f.post(`/mission/${s256}`, body)), JSON.stringify(body)).toMatchObject({ status: 400, error: 'invalid_request' });
      }
      // Another agent gets the same 400 for a malformed request naming this mission: nothing is read before it.
      expect(await problem(await asOther(`/mission/${s256}`, { action: 'nope' }))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('[§8.56] an unknown mission and another agent’s mission → identical 404 mission_not_found (status, headers, body)', async () => {
      const { s256 } = await propose();
      const unknown = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
      for (const body of [
        { action: 'update', description: 'change' },
        { action: 'completion', summary: 'done' },
      ]) {
        const notOwned = await observable(await asOther(`/mission/${s256}`, body));
        const absent = await observable(await asOther(`/mission/${unknown}`, body));
        expect(notOwned.status).toBe(404);
        expect(JSON.parse(notOwned.body)).toEqual({ error: 'mission_not_found' });
        expect(absent).toEqual(notOwned);
        // The owner's own unknown mission answers the same too.
        expect(await observable(await f.post(`/mission/${unknown}`, body))).toEqual(notOwned);
      }
      // Nothing changed for the owner.
      expect((await f.t.store.db.selectFrom('missions').select('status').where('s256', '=', s256).executeTakeFirstOrThrow()).status).toBe('active');
      expect(await missionLog(f.t.store.db, s256)).toHaveLength(0);
    });

    it('[§8.58] update → 200 {s256 of the update}; the blob and the mission s256 are unchanged', async () => {
      const approval = await propose({ description: 'Trip', resources: [RS] });
      const before = await f.t.store.db.selectFrom('missions').selectAll().where('s256', '=', approval.s256).executeTakeFirstOrThrow();
      const res = await f.post(`/mission/${approval.s256}`, { action: 'update', description: '# Hotel unavailable\n\nAnother one.' });
      expect(res.status).toBe(200);
      const { s256: first } = (await res.json()) as { s256: string };
      expect(isS256(first)).toBe(true);
      expect(first).not.toBe(approval.s256);
      f.clock.now += 5;
      const second = ((await (await f.post(`/mission/${approval.s256}`, { action: 'update', description: 'Second change' })).json()) as { s256: string }).s256;
      expect(second).not.toBe(first);

      const after = await f.t.store.db.selectFrom('missions').selectAll().where('s256', '=', approval.s256).executeTakeFirstOrThrow();
      expect(after.blob).toBe(before.blob);
      expect(after.status).toBe('active');
      await verifyMissionS256(approval.mission, approval.s256);
      // Each digest is over the update's bytes as persisted in the mission log.
      const updates = (await missionLog(f.t.store.db, approval.s256)).filter((e) => e.type === 'update');
      expect(updates.map((e) => e.s256)).toEqual([first, second]);
      for (const entry of updates) expect(await missionS256(new TextEncoder().encode(entry.entry))).toBe(entry.s256);
      expect(JSON.parse(updates[0]!.entry)).toMatchObject({ mission_s256: approval.s256, action: 'update', description: '# Hotel unavailable\n\nAnother one.' });
      // Tokens carrying the mission keep working: a person token with it is still issued.
      expect((await f.post('/person-token', { resource: RS, mission_s256: approval.s256 })).status).toBe(202);
    });

    it('completion → 202; the person accepts → 200 and the mission is terminated with reason completed', async () => {
      const { s256 } = await propose({ description: 'Plan the **trip**' });
      const res = await f.post(`/mission/${s256}`, { action: 'completion', summary: 'Booked flights. Total $4,180.' });
      expect(res.status).toBe(202);
      const pending = f.deferred.last();
      expect(pending).toMatchObject({ kind: 'mission', person_id: alice });
      const view = await f.deferred.handlers.get('mission')!.describe(pending);
      expect(view).toMatchObject({ summary: `${AGENT_ID} reports its mission complete`, justification: 'Booked flights. Total $4,180.', mission: { s256, description: 'Plan the **trip**' } });
      // Until the person accepts, the mission stays active.
      expect((await f.post(`/mission/${s256}`, { action: 'update', description: 'still going' })).status).toBe(200);
      const done = await f.deferred.approve(pending.id, { personId: alice, always: false });
      expect(JSON.parse(done.result!)).toEqual({ s256, mission_status: 'terminated', termination_reason: 'completed' });
      const row = await f.t.store.db.selectFrom('missions').selectAll().where('s256', '=', s256).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'terminated', termination_reason: 'completed' });
      expect((await missionLog(f.t.store.db, s256)).map((e) => e.type)).toEqual(['completion.proposed', 'update', 'completion.accepted']);
      const audit = await f.t.store.db.selectFrom('audit_events').selectAll().where('type', '=', 'mission.terminated').execute();
      expect(JSON.parse(audit[0]!.detail)).toEqual({ mission: s256, reason: 'completed' });
    });

    it('a completion whose mission ended meanwhile fails with mission_terminated; another person cannot accept it', async () => {
      const { s256 } = await propose();
      const bob = await f.person('bob');
      expect((await f.post(`/mission/${s256}`, { action: 'completion', summary: 'a' })).status).toBe(202);
      const first = f.deferred.last();
      await expect(f.deferred.approve(first.id, { personId: bob, always: false })).rejects.toMatchObject({ code: 'denied' });
      expect((await f.post(`/mission/${s256}`, { action: 'completion', summary: 'b' })).status).toBe(202);
      const second = f.deferred.last();
      await f.deferred.approve(second.id, { personId: alice, always: false });
      await expect(f.deferred.approve(first.id, { personId: alice, always: false })).rejects.toMatchObject({ code: 'mission_terminated' });
    });

    it('[§8.57] a terminated mission → 403 mission_terminated {mission_status, termination_reason}, and it stays terminated', async () => {
      const { s256 } = await propose();
      await f.post(`/mission/${s256}`, { action: 'completion', summary: 'done' });
      await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      for (const body of [
        { action: 'update', description: 'more' },
        { action: 'completion', summary: 'again' },
      ]) {
        const res = await f.post(`/mission/${s256}`, body);
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('signature-error')).toBeNull();
        expect(await res.json()).toEqual({ error: 'mission_terminated', detail: 'the mission is terminated', mission_status: 'terminated', termination_reason: 'completed' });
      }
      // Another agent still learns nothing: 404.
      expect(await problem(await asOther(`/mission/${s256}`, { action: 'update', description: 'x' }))).toMatchObject({ status: 404, error: 'mission_not_found' });
    });

    it('[§8.57] the auth-token endpoint acts on a mission-bound resource token only while the mission is active', async () => {
      const approval = await propose({ description: 'Trip', resources: [RS] });
      const person = claimsOf(approval.person_tokens![RS]!);
      const rt = await f.resourceToken({ sub: person['sub'], presented_jti: person['jti'], mission_s256: approval.s256 });
      const active = await f.post('/token', { resource_token: rt });
      expect(active.status).toBe(202); // consent asked: the mission is active
      await f.post(`/mission/${approval.s256}`, { action: 'completion', summary: 'done' });
      await f.deferred.approve(f.deferred.last().id, { personId: alice, always: false });
      const ended = await f.post('/token', { resource_token: await f.resourceToken({ sub: person['sub'], presented_jti: person['jti'], mission_s256: approval.s256 }) });
      expect(ended.status).toBe(403);
      expect(await ended.json()).toMatchObject({ error: 'mission_terminated', mission_status: 'terminated', termination_reason: 'completed' });
    });

    it('[§8.57] past expires_at the mission counts as terminated (reason expired) and is never reactivated', async () => {
      const { s256 } = await propose();
      f.clock.now = T0 + MISSION_TTL_SECONDS - 1;
      const fresh = await f.agentToken();
      expect((await f.post(`/mission/${s256}`, { action: 'update', description: 'last second' }, { token: fresh })).status).toBe(200);
      f.clock.now = T0 + MISSION_TTL_SECONDS;
      const late = await f.agentToken();
      const res = await f.post(`/mission/${s256}`, { action: 'update', description: 'too late' }, { token: late });
      expect(await problem(res)).toMatchObject({ status: 403, error: 'mission_terminated', mission_status: 'terminated', termination_reason: 'expired' });
      const row = await f.t.store.db.selectFrom('missions').selectAll().where('s256', '=', s256).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'terminated', termination_reason: 'expired' });
      // The clock going back does not bring it back.
      f.clock.now = T0 + 10;
      expect(await problem(await f.post(`/mission/${s256}`, { action: 'update', description: 'again' }))).toMatchObject({ status: 403, error: 'mission_terminated', termination_reason: 'expired' });
    });
  });
}
