import { generateKeyPair, publicJwkOf } from '@tessera/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, deleteAgent, getAgent, listAgents, setAgentStatus, updateAgent, agentView } from '../src/registry/agents.js';
import { createResource, deleteResource, describeScopes, resourceView, setResourceStatus, updateResource } from '../src/registry/resources.js';
import { DEFAULT_TRUST_POLICY, isAgentProviderTrusted, isResourceTrusted, readTrustPolicy, TRUST_POLICY_SETTING, writeTrustPolicy } from '../src/registry/trust-policy.js';
import { RegistryValidator } from '../src/registry/validation.js';
import { createGrant, listGrants } from '../src/store/grants.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

const T0 = 1_800_000_000;
const prod = new RegistryValidator({ allowLoopbackHttp: false });
const dev = new RegistryValidator({ allowLoopbackHttp: true });

function failure(result: { ok: boolean; detail?: string }): string {
  expect(result.ok).toBe(false);
  return result.detail ?? '';
}

describe('registry validation', () => {
  it('accepts a full agent and names each bad field', async () => {
    const publicJwk = publicJwkOf(await generateKeyPair('Ed25519', 'k1'));
    const ok = prod.agentCreate({
      identifier: 'aauth:assistant@agent.example',
      name: 'Assistant',
      agent_provider: 'https://agent.example',
      jwks: { keys: [publicJwk] },
      allowed_scopes: ['calendar.read'],
      requires_authorization: true,
      delegation_allowed: false,
    });
    expect(ok.ok).toBe(true);
    expect(failure(prod.agentCreate({ identifier: 'assistant@agent.example', agent_provider: 'https://agent.example' }))).toMatch(/^identifier: /);
    expect(failure(prod.agentCreate({ identifier: 'aauth:a@agent.example', agent_provider: 'https://agent.example/' }))).toMatch(/^agent_provider: /);
    expect(failure(prod.agentCreate({ identifier: 'aauth:a@agent.example' }))).toMatch(/agent_provider/);
    expect(failure(prod.agentCreate({ identifier: 'aauth:a@agent.example', agent_provider: 'https://agent.example', colour: 'red' }))).toMatch(/unknown field colour/);
    expect(failure(prod.agentCreate({ identifier: 'aauth:a@agent.example', agent_provider: 'https://agent.example', allowed_scopes: ['a b'] }))).toMatch(/^allowed_scopes\.0: /);
    expect(failure(prod.agentCreate({ identifier: 'aauth:a@agent.example', agent_provider: 'https://agent.example', requires_authorization: 'yes' }))).toMatch(/^requires_authorization: /);
  });

  it('refuses a JWK Set with a private key, and jwks together with jwks_uri', async () => {
    const privateJwk = await generateKeyPair('Ed25519', 'k1');
    const publicJwk = publicJwkOf(privateJwk);
    const base = { identifier: 'aauth:a@agent.example', agent_provider: 'https://agent.example' };
    expect(failure(prod.agentCreate({ ...base, jwks: { keys: [privateJwk] } }))).toMatch(/^jwks: .*private member d/);
    expect(failure(prod.agentCreate({ ...base, jwks: { nokeys: [] } }))).toMatch(/^jwks: /);
    expect(failure(prod.agentCreate({ ...base, jwks: { keys: [publicJwk] }, jwks_uri: 'https://agent.example/jwks.json' }))).toMatch(/^jwks_uri: give jwks or jwks_uri/);
  });

  it('URLs must be https; loopback http only in development', () => {
    const resource = { identifier: 'https://res.example', jwks_uri: 'http://localhost:9000/jwks' };
    expect(failure(prod.resourceCreate(resource))).toMatch(/^jwks_uri: must be an https URL/);
    expect(dev.resourceCreate(resource).ok).toBe(true);
    expect(failure(prod.resourceCreate({ identifier: 'http://localhost:9000' }))).toMatch(/^identifier: /);
    expect(dev.resourceCreate({ identifier: 'http://localhost:9000' }).ok).toBe(true);
    expect(failure(prod.resourceCreate({ identifier: 'https://res.example', logo_uri: 'https://res.example/logo.png?x=1' }))).toMatch(/^logo_uri: /);
  });

  it('resource scopes carry descriptions and must be unique; default_requirement is an access mode', () => {
    const r = prod.resourceCreate({ identifier: 'https://res.example', scopes: [{ scope: 'read' }, { scope: 'write', description: 'Write' }], default_requirement: 'person-token' });
    expect(r).toEqual({ ok: true, value: expect.objectContaining({ scopes: [{ scope: 'read', description: '' }, { scope: 'write', description: 'Write' }] }) });
    expect(failure(prod.resourceCreate({ identifier: 'https://res.example', scopes: [{ scope: 'a' }, { scope: 'a' }] }))).toMatch(/^scopes: duplicate scope/);
    expect(failure(prod.resourceCreate({ identifier: 'https://res.example', default_requirement: 'magic' }))).toMatch(/^default_requirement: /);
    expect(failure(prod.resourceCreate({ identifier: 'https://res.example', metadata_uri: 'https://res.example/m', jwks_uri: 'https://res.example/j' }))).toMatch(/^jwks_uri: give metadata_uri or jwks_uri/);
  });

  it('trust policy: mode, and lists of server identifiers', () => {
    expect(prod.trustPolicy({ mode: 'open' })).toEqual({ ok: true, value: { mode: 'open', agent_providers: [], resources: [] } });
    expect(failure(prod.trustPolicy({ mode: 'closed' }))).toMatch(/^mode: /);
    expect(failure(prod.trustPolicy({ mode: 'allowlist', agent_providers: ['https://ok.example', 'ftp://x'] }))).toMatch(/^agent_providers\.1: /);
  });

  it('allowlist decisions compare identifiers exactly', () => {
    const policy = { mode: 'allowlist' as const, agent_providers: ['https://agent.example'], resources: ['https://res.example'] };
    expect(isAgentProviderTrusted(policy, 'https://agent.example')).toBe(true);
    expect(isAgentProviderTrusted(policy, 'https://Agent.example')).toBe(false);
    expect(isResourceTrusted(policy, 'https://other.example')).toBe(false);
    expect(isResourceTrusted(DEFAULT_TRUST_POLICY, 'https://other.example')).toBe(true);
  });
});

for (const kind of STORE_KINDS) {
  describe(`registry on ${kind}`, () => {
    let t: TestStore;
    let now = T0;
    const ctx = () => ({ store: t.store, now: () => now });
    const auditOf = (type: string) => t.store.db.selectFrom('audit_events').selectAll().where('type', '=', type).execute();

    beforeAll(async () => {
      t = await testStore(kind, () => now);
      await t.store.db.insertInto('people').values({ id: 'p1', username: 'alice', display_name: 'Alice', password_hash: 'x', created_at: T0 }).execute();
    });
    afterAll(() => t.close());

    it('creates an agent with defaults and audits it with actor admin; a duplicate is a conflict and is not audited', async () => {
      const input = prod.agentCreate({ identifier: 'aauth:one@agent.example', agent_provider: 'https://agent.example' });
      if (!input.ok) throw new Error(input.detail);
      const created = await createAgent(ctx(), input.value, 'admin');
      expect(created.ok).toBe(true);
      const row = await getAgent(t.store.db, 'aauth:one@agent.example');
      expect(agentView(row!)).toMatchObject({ name: 'aauth:one@agent.example', allowed_scopes: [], requires_authorization: false, status: 'active', person_id: null, created_at: T0 });
      const again = await createAgent(ctx(), input.value, 'admin');
      expect(again).toEqual({ ok: false, reason: 'conflict', detail: expect.stringContaining('already exists') });
      const events = await auditOf('admin.agent.created');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ actor: 'admin', agent: 'aauth:one@agent.example' });
    });

    it('audits a JWK Set by kid only, never the key', async () => {
      const publicJwk = publicJwkOf(await generateKeyPair('Ed25519', 'pinned-1'));
      const input = prod.agentCreate({ identifier: 'aauth:pinned@agent.example', agent_provider: 'https://agent.example', jwks: { keys: [publicJwk] } });
      if (!input.ok) throw new Error(input.detail);
      expect((await createAgent(ctx(), input.value, 'admin')).ok).toBe(true);
      const [event] = (await auditOf('admin.agent.created')).filter((e) => e.agent === 'aauth:pinned@agent.example');
      expect(JSON.parse(event!.detail).jwks).toEqual({ kids: ['pinned-1'] });
      expect(event!.detail).not.toContain((publicJwk as { x: string }).x);
    });

    it('updates only the given fields; jwks and jwks_uri together are refused', async () => {
      now = T0 + 10;
      const patch = prod.agentUpdate({ name: 'One', allowed_scopes: ['a', 'b'], delegation_allowed: true, jwks_uri: 'https://agent.example/jwks.json' });
      if (!patch.ok) throw new Error(patch.detail);
      const r = await updateAgent(ctx(), 'aauth:one@agent.example', patch.value, 'admin');
      expect(r.ok && agentView(r.value)).toMatchObject({ name: 'One', allowed_scopes: ['a', 'b'], delegation_allowed: true, requires_authorization: false, updated_at: T0 + 10 });
      const both = await updateAgent(ctx(), 'aauth:pinned@agent.example', { jwks_uri: 'https://agent.example/jwks.json' }, 'admin');
      expect(both).toMatchObject({ ok: false, reason: 'invalid' });
      expect(await updateAgent(ctx(), 'aauth:none@agent.example', { name: 'x' }, 'admin')).toMatchObject({ ok: false, reason: 'not_found' });
    });

    it('disables and enables; lists by status and by person', async () => {
      expect((await setAgentStatus(ctx(), 'aauth:one@agent.example', 'disabled', 'admin')).ok).toBe(true);
      expect((await listAgents(t.store.db, { status: 'disabled' })).map((a) => a.id)).toEqual(['aauth:one@agent.example']);
      expect((await setAgentStatus(ctx(), 'aauth:one@agent.example', 'active', 'admin')).ok).toBe(true);
      expect(await listAgents(t.store.db, { status: 'disabled' })).toEqual([]);
      await t.store.db.updateTable('agents').set({ person_id: 'p1' }).where('id', '=', 'aauth:one@agent.example').execute();
      expect((await listAgents(t.store.db, { personId: 'p1' })).map((a) => a.id)).toEqual(['aauth:one@agent.example']);
      expect((await auditOf('admin.agent.disabled'))[0]).toMatchObject({ actor: 'admin', detail: '{"before":"active"}' });
    });

    it('deleting an agent revokes its live standing grants in the same transaction', async () => {
      await createGrant(t.store.db, { personId: 'p1', agentId: 'aauth:one@agent.example', resource: 'https://res.example', kind: 'auth_token', scopes: ['a'] }, now);
      const r = await deleteAgent(ctx(), 'aauth:one@agent.example', 'admin');
      expect(r).toEqual({ ok: true, value: { revokedGrants: 1 } });
      expect(await getAgent(t.store.db, 'aauth:one@agent.example')).toBeUndefined();
      expect(await listGrants(t.store.db, 'p1')).toEqual([]);
      expect(JSON.parse((await auditOf('admin.agent.deleted'))[0]!.detail)).toMatchObject({ revoked_grants: 1 });
      expect(await deleteAgent(ctx(), 'aauth:one@agent.example', 'admin')).toMatchObject({ ok: false, reason: 'not_found' });
    });

    it('resources: create, describe scopes, update, disable, delete', async () => {
      // Audit ids sort by milliseconds: step the clock so the order below is the order of the writes.
      const tick = () => (now += 0.01);
      const input = prod.resourceCreate({ identifier: 'https://res.example', name: 'Res', scopes: [{ scope: 'read', description: 'Read things' }] });
      if (!input.ok) throw new Error(input.detail);
      expect((await createResource(ctx(), input.value, 'admin')).ok).toBe(true);
      tick();
      expect(await createResource(ctx(), input.value, 'admin')).toMatchObject({ ok: false, reason: 'conflict' });
      expect(await describeScopes(t.store.db, 'https://res.example', ['read', 'write'])).toEqual([
        { scope: 'read', description: 'Read things' },
        { scope: 'write', description: '' },
      ]);
      tick();
      const updated = await updateResource(ctx(), 'https://res.example', { metadata_uri: 'https://res.example/.well-known/aauth-resource.json', default_requirement: 'person-token' }, 'admin');
      expect(updated.ok && resourceView(updated.value)).toMatchObject({ metadata_uri: 'https://res.example/.well-known/aauth-resource.json', default_requirement: 'person-token', name: 'Res' });
      expect(await updateResource(ctx(), 'https://res.example', { jwks_uri: 'https://res.example/jwks' }, 'admin')).toMatchObject({ ok: false, reason: 'invalid' });
      tick();
      expect((await setResourceStatus(ctx(), 'https://res.example', 'disabled', 'admin')).ok).toBe(true);
      tick();
      expect((await deleteResource(ctx(), 'https://res.example', 'admin')).ok).toBe(true);
      expect(await deleteResource(ctx(), 'https://res.example', 'admin')).toMatchObject({ ok: false, reason: 'not_found' });
      const types = (await t.store.db.selectFrom('audit_events').select('type').where('resource', '=', 'https://res.example').orderBy('id').execute()).map((e) => e.type);
      expect(types).toEqual(['admin.resource.created', 'admin.resource.updated', 'admin.resource.disabled', 'admin.resource.deleted']);
    });

    it('trust policy: open by default, written sorted and deduplicated with an audit event, closed when malformed', async () => {
      expect(await readTrustPolicy(t.store.db)).toEqual(DEFAULT_TRUST_POLICY);
      const written = await writeTrustPolicy(ctx(), { mode: 'allowlist', agent_providers: ['https://b.example', 'https://a.example', 'https://b.example'], resources: [] }, 'admin');
      expect(written).toEqual({ mode: 'allowlist', agent_providers: ['https://a.example', 'https://b.example'], resources: [] });
      expect(await readTrustPolicy(t.store.db)).toEqual(written);
      const [event] = await auditOf('admin.trust_policy.updated');
      expect(JSON.parse(event!.detail)).toEqual({ before: DEFAULT_TRUST_POLICY, after: written });
      await t.store.db.updateTable('settings').set({ value: '{"mode":"whatever"}' }).where('key', '=', TRUST_POLICY_SETTING).execute();
      expect(await readTrustPolicy(t.store.db)).toEqual({ mode: 'allowlist', agent_providers: [], resources: [] });
    });
  });
}
