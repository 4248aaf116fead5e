/**
 * The Agent Provider's enrolment over the real Deferred service (`createDeferred`): the 202 carries the interaction
 * requirement with the PS interaction page and a code, the code finds the pending request, and the enrolment handler's
 * `hwk` poll authentication and approval plug into the service's pending-URL routes. SQLite and PostgreSQL.
 */
import { jwkThumbprint, parseAAuthRequirement, verifyToken } from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeferred, type ExtendedDeferredService } from '../src/deferred/deferred.js';
import { AP, PS, apFixture, hwk, newKey, send, type ApFixture } from './ap-fixture.js';
import { STORE_KINDS } from './helpers.js';

for (const kind of STORE_KINDS) {
  describe(`Agent Provider enrolment over the Deferred service on ${kind}`, () => {
    let f: ApFixture<ExtendedDeferredService>;
    beforeAll(async () => {
      f = await apFixture(kind, {}, (ctx) => createDeferred(ctx));
    });
    afterAll(async () => {
      f.deferred.close();
      await f.close();
    });

    it('202 with interaction url and code → the code finds the enrolment → approve → the hwk-signed poll gets the agent token', async () => {
      const key = await newKey();
      const res = await send(f, 'POST', '/enrol', { local: 'realdeferred', name: 'Real', ps: PS }, hwk(f, key.signer));
      expect(res.status, await res.clone().text()).toBe(202);
      const location = res.headers.get('location')!;
      expect(location.startsWith(`${AP}/pending/`)).toBe(true);
      const requirement = parseAAuthRequirement(res.headers.get('aauth-requirement')!);
      expect(requirement.requirement).toBe('interaction');
      if (requirement.requirement !== 'interaction') return;
      expect(requirement.url).toBe(`${PS}/interaction`);

      const pending = await f.deferred.findByCode(requirement.code);
      expect(pending).toMatchObject({ kind: 'enrolment', agent_id: 'aauth:realdeferred@ap.example', agent_jkt: key.jkt });
      const view = await f.deferred.handler('enrolment')!.describe(pending!);
      expect(view.summary).toContain(key.jkt);

      const path = location.slice(AP.length);
      const early = await send(f, 'GET', path, undefined, hwk(f, key.signer));
      expect(early.status).toBe(202);
      // Another key polling the same URL learns nothing.
      const other = await newKey();
      f.now += 2;
      expect((await send(f, 'GET', path, undefined, hwk(f, other.signer))).status).toBe(404);

      await f.deferred.approve(pending!.id, { personId: 'person-9', always: false });
      f.now += 2;
      const poll = await send(f, 'GET', path, undefined, hwk(f, key.signer));
      expect(poll.status, await poll.clone().text()).toBe(200);
      const body = (await poll.json()) as { agent_id: string; agent_token: string; expires_in: number };
      const token = await verifyToken(body.agent_token, { accept: ['aa-agent+jwt'], resolveKey: f.resolveKey, now: () => f.now });
      expect(token.claims).toMatchObject({ iss: AP, sub: 'aauth:realdeferred@ap.example', ps: PS });
      expect(await jwkThumbprint(token.claims.cnf.jwk)).toBe(key.jkt);
      const row = await f.ctx.store.db.selectFrom('ap_agents').selectAll().where('jkt', '=', key.jkt).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'active', person_id: 'person-9' });
    });
  });
}
