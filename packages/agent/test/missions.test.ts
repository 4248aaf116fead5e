/**
 * Missions in the agent SDK (AAuth -11 §Mission; digest §5 `mission_endpoint`, §6 F, §8.53–§8.58):
 *
 * - against the real Tessera Person Server (`startDev`, in process; the person decides through the Deferred service):
 *   proposal → approval → verified `s256` → person tokens carrying `mission_s256` → calls under the mission; update;
 *   completion; a terminated mission and an unknown one as typed errors;
 * - against a fake Person Server and resource (an injected fetch) that lie: a wrong `s256`, a blob without a required
 *   member, another agent or approver, person, resource and auth tokens without the mission (mission stripping).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSigner,
  encodeMission,
  generateKeyPair,
  jwkThumbprint,
  jwksDocument,
  mintAgentToken,
  mintAuthToken,
  mintPersonToken,
  mintResourceToken,
  missionS256,
  parseAAuthCapabilities,
  parseSignatureKey,
  publicJwkOf,
  type FetchLike,
  type PrivateJwk,
} from '@tessera/protocol';
import { findPersonByUsername, missionLog, requireActiveMission, startDev, terminateMission, type DevServer } from '@tessera/server';
import { TokenCache, createAgent, isAgentError, tokenKey, type AgentOptions, type InteractionRequest } from '@tessera/agent';
import { testAgentProvider } from '../../../test/support/agent-provider.js';

const now = () => Math.floor(Date.now() / 1000);
const idOf = (i: InteractionRequest): string => new URL(i.pendingUrl).pathname.split('/').pop()!;
const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
const fastSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 20)));

describe('missions against tessera dev', () => {
  let dev: DevServer;
  let ap: Awaited<ReturnType<typeof testAgentProvider>>;
  let personId: string;
  let missionEndpoint: string;
  let personTokenEndpoint: string;

  beforeAll(async () => {
    dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'silent' } });
    ap = await testAgentProvider();
    personId = (await findPersonByUsername(dev.running.server.ctx, dev.username))!.id;
    const metadata = (await (await fetch(`${dev.issuers.ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
    missionEndpoint = metadata['mission_endpoint']!;
    personTokenEndpoint = metadata['person_token_endpoint']!;
  }, 60_000);

  afterAll(async () => {
    await ap?.close();
    await dev?.close();
  });

  const ctx = () => dev.running.server.ctx;
  const approve = async (i: InteractionRequest) => {
    await dev.running.server.deferred.interacting(idOf(i), personId);
    await dev.running.server.deferred.approve(idOf(i), { personId, always: false });
  };

  /** An agent with its own key and agent token at the dev PS; records every request (method, URL, JSON body). */
  async function agentFor(local: string, extra: Partial<AgentOptions> = {}) {
    const key = await generateKeyPair('Ed25519');
    const sub = `aauth:${local}@127.0.0.1`;
    const agentToken = await mintAgentToken(ap.signer, { iss: ap.issuer, sub, cnf: { jwk: publicJwkOf(key) }, ps: dev.issuers.ps }, { now, ttl: 3600 });
    /** Every request: method, URL, JSON body, and the claims of the token its Signature-Key presented. */
    const calls: { method: string; url: string; body?: Record<string, unknown>; presented?: Record<string, unknown> }[] = [];
    const interactions: InteractionRequest[] = [];
    const options: AgentOptions = {
      key,
      agentToken,
      allowLoopbackHttp: true,
      sleep: fastSleep,
      fetch: (url, init) => {
        const text = init?.body instanceof Uint8Array ? new TextDecoder().decode(init.body) : undefined;
        const signatureKey = new Headers(init?.headers).get('signature-key');
        const member = signatureKey === null ? undefined : parseSignatureKey(signatureKey).get('sig');
        calls.push({
          method: init?.method ?? 'GET',
          url,
          ...(text === undefined ? {} : { body: JSON.parse(text) as Record<string, unknown> }),
          ...(member?.scheme === 'jwt' ? { presented: claimsOf(member.jwt) } : {}),
        });
        return fetch(url, init);
      },
      onInteraction: async (i) => {
        interactions.push(i);
        await approve(i);
      },
      ...extra,
    };
    return { agent: createAgent(options), sub, calls, interactions, options };
  }

  it('§6 F, §8.53, §8.54: proposal (202, approved) → s256 verified → person token with mission_s256 → a call under the mission succeeds', async () => {
    const { agent, sub, calls, interactions } = await agentFor('mission-happy');
    const resource = dev.issuers.resource;
    const mission = await agent.proposeMission({ description: '# Read my notes', tools: [{ name: 'Read', description: 'read notes' }], resources: [resource] });
    expect(interactions).toHaveLength(1);
    expect(calls.find((c) => c.method === 'POST' && c.url === missionEndpoint)?.body).toEqual({
      description: '# Read my notes',
      tools: [{ name: 'Read', description: 'read notes' }],
      resources: [resource],
    });
    // §8.54: s256 is the digest of the exact bytes; the blob names this agent and this PS.
    expect(await missionS256(mission.bytes)).toBe(mission.s256);
    expect(mission.blob).toMatchObject({ agent: sub, approver: dev.issuers.ps, description: '# Read my notes', approved_resources: [resource] });
    expect(mission.ps).toBe(dev.issuers.ps);
    // §8.53: the person token for the approved resource carries mission_s256, and sits in the mission's scope only.
    const personToken = mission.personTokens[resource]!.token;
    expect(claimsOf(personToken)).toMatchObject({ aud: resource, mission_s256: mission.s256 });
    const scope = agent.tokens.scoped(tokenKey.mission(mission.s256));
    expect(scope.get(tokenKey.person(resource))?.token).toBe(personToken);
    expect(agent.tokens.get(tokenKey.person(resource))).toBeUndefined();

    const underMission = agent.withMission(mission);
    const response = await underMission.fetch(`${resource}/notes`);
    expect(response.status).toBe(200);
    // No person-token request: the PS gave it with the mission. The auth token carries the mission (copied from the
    // resource token, which copied it from the person token).
    expect(calls.filter((c) => c.url === personTokenEndpoint)).toHaveLength(0);
    const auth = underMission.tokens.snapshot().find(([key]) => key.startsWith('auth\n'));
    expect(auth).toBeDefined();
    expect(claimsOf(auth![1].token)['mission_s256']).toBe(mission.s256);
    // Tokens under the mission are never used outside it.
    expect(agent.tokens.snapshot().filter(([key]) => !key.startsWith(`${tokenKey.mission(mission.s256)}\n`))).toEqual([]);
  });

  it('§6 F: a person-token request under a mission names mission_s256; tokens under the mission and outside it never mix', async () => {
    const { agent, calls } = await agentFor('mission-ask');
    const notes = `${dev.issuers.resource}/notes`;
    const resourceCalls = (from: number) => calls.slice(from).filter((c) => c.url === notes);
    // Outside any mission first: person and auth tokens without mission_s256.
    expect((await agent.fetch(notes)).status).toBe(200);
    const mission = await agent.proposeMission({ description: 'Read notes, no resources named up front' });
    expect(mission.personTokens).toEqual({});
    const underMission = agent.withMission(mission);
    const from = calls.length;
    expect((await underMission.fetch(notes)).status).toBe(200);
    expect((await underMission.fetch(notes)).status).toBe(200);
    const asked = calls.slice(from).filter((c) => c.method === 'POST' && c.url === personTokenEndpoint);
    expect(asked.map((c) => c.body)).toEqual([{ resource: dev.issuers.resource, mission_s256: mission.s256 }]);
    // Under the mission the resource only ever saw the agent token or tokens carrying the mission; the last call used
    // the mission's cached auth token.
    const under = resourceCalls(from);
    expect(under.every((c) => c.presented?.['mission_s256'] === mission.s256 || c.presented?.['sub'] === `aauth:mission-ask@127.0.0.1`)).toBe(true);
    expect(under.at(-1)!.presented).toMatchObject({ aud: dev.issuers.resource, mission_s256: mission.s256, scope: 'notes.read' });
    // And outside it again, the agent's own tokens, without the mission.
    const later = calls.length;
    expect((await agent.fetch(notes)).status).toBe(200);
    expect(resourceCalls(later).map((c) => c.presented?.['mission_s256'])).toEqual([undefined]);
    expect(claimsOf(agent.tokens.get(tokenKey.person(dev.issuers.resource))!.token)['mission_s256']).toBeUndefined();
  });

  it('§8.58 update → 200 {s256}: the digest of the update as the PS persisted it; the mission s256 is unchanged', async () => {
    const { agent } = await agentFor('mission-update');
    const mission = await agent.proposeMission({ description: 'Plan a trip' });
    const update = await agent.withMission(mission).update('# Hotel unavailable\n\nAnother one two blocks away.');
    expect(update.s256).not.toBe(mission.s256);
    const logged = (await missionLog(ctx().store.db, mission.s256)).filter((e) => e.type === 'update');
    expect(logged.map((e) => e.s256)).toEqual([update.s256]);
    expect(await missionS256(new TextEncoder().encode(logged[0]!.entry))).toBe(update.s256);
    expect((await requireActiveMission(ctx(), mission.s256, mission.blob.agent)).s256).toBe(mission.s256);
  });

  it('completion → 202, the person accepts → 200; the agent then stops acting on the mission (§8.57)', async () => {
    const { agent, calls, interactions, options } = await agentFor('mission-complete');
    const mission = await agent.proposeMission({ description: 'Read notes once', resources: [dev.issuers.resource] });
    const underMission = agent.withMission(mission);
    expect((await underMission.fetch(`${dev.issuers.resource}/notes`)).status).toBe(200);
    const completion = await underMission.complete('Read them. Nothing else to do.');
    expect(completion).toEqual({ s256: mission.s256, terminationReason: 'completed' });
    expect(interactions).toHaveLength(3); // proposal, auth token, completion
    // The mission's tokens are dropped, and nothing more is sent under it.
    expect(underMission.tokens.snapshot()).toEqual([]);
    const sent = calls.length;
    const refused = await underMission.fetch(`${dev.issuers.resource}/notes`).catch((e: unknown) => e);
    expect(isAgentError(refused, 'mission_terminated')).toBe(true);
    expect(refused).toMatchObject({ missionStatus: 'terminated', terminationReason: 'completed' });
    expect(isAgentError(await underMission.update('one more thing').catch((e: unknown) => e), 'mission_terminated')).toBe(true);
    expect(calls.length).toBe(sent);
    // The PS says the same to an agent instance that has not seen it end: 403 mission_terminated, reason completed.
    const fresh = createAgent(options);
    const error = await fresh.updateMission(mission.s256, 'one more thing').catch((e: unknown) => e);
    expect(isAgentError(error, 'mission_terminated')).toBe(true);
    expect(error).toMatchObject({ status: 403, error: 'mission_terminated', missionStatus: 'terminated', terminationReason: 'completed' });
  });

  it('§8.57 a mission terminated at the PS → the person-token request under it fails with a typed mission_terminated', async () => {
    const { agent, calls } = await agentFor('mission-revoked');
    const mission = await agent.proposeMission({ description: 'Will be revoked' });
    const row = await requireActiveMission(ctx(), mission.s256, mission.blob.agent);
    await ctx().store.transaction((trx) => terminateMission(ctx(), trx, row, 'revoked', 'test'));
    const underMission = agent.withMission(mission);
    const error = await underMission.fetch(`${dev.issuers.resource}/notes`).catch((e: unknown) => e);
    expect(isAgentError(error, 'mission_terminated')).toBe(true);
    expect(error).toMatchObject({ status: 403, error: 'mission_terminated', missionStatus: 'terminated', terminationReason: 'revoked' });
    // MUST stop acting on it: later calls are refused without a request.
    const sent = calls.length;
    expect(isAgentError(await underMission.fetch(`${dev.issuers.resource}/notes`).catch((e: unknown) => e), 'mission_terminated')).toBe(true);
    expect(isAgentError(await agent.completeMission(mission.s256, 'done?').catch((e: unknown) => e), 'mission_terminated')).toBe(true);
    expect(calls.length).toBe(sent);
    // Outside the mission the agent still works.
    expect((await agent.fetch(`${dev.issuers.resource}/notes`)).status).toBe(200);
  });

  it('§8.56 an unknown mission → typed mission_not_found (404); a malformed s256 → invalid_mission before any request', async () => {
    const { agent, calls } = await agentFor('mission-unknown');
    const unknown = await missionS256(new TextEncoder().encode('no such mission'));
    const error = await agent.updateMission(unknown, 'x').catch((e: unknown) => e);
    expect(isAgentError(error, 'mission_not_found')).toBe(true);
    expect(error).toMatchObject({ status: 404, error: 'mission_not_found' });
    const sent = calls.length;
    const malformed = await agent.completeMission('../admin', 'x').catch((e: unknown) => e);
    expect(isAgentError(malformed, 'invalid_mission')).toBe(true);
    expect(calls.length).toBe(sent);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A fake Person Server and resource behind an injected fetch, to make them lie.

const PS = 'https://ps.example';
const RS = 'https://rs.example';
const AGENT = 'aauth:fake@agent.example';

interface FakeOptions {
  /** The approval answer (a value or a promise of one), given the honest parts to build it from. */
  readonly approval?: (honest: { blob: Record<string, unknown>; s256: string; mission: string; personToken: (mission?: string) => Promise<string> }) => unknown;
  /** The blob the PS approves (default: a valid one for AGENT). */
  readonly blob?: Record<string, unknown>;
  /** `mission_s256` the resource puts in its resource token: `copy` (honest), `drop`. */
  readonly resourceMission?: 'copy' | 'drop';
  /** `mission_s256` the PS puts in its auth token: `copy` (honest), `drop`. */
  readonly authMission?: 'copy' | 'drop';
  /** A `mission_s256` the PS stamps into every person token from its person-token endpoint, asked for or not. */
  readonly forcedPersonMission?: string;
}

async function fakeWorld(options: FakeOptions = {}) {
  const psKey = await generateKeyPair('Ed25519', 'ps-1');
  const rsKey = await generateKeyPair('Ed25519', 'rs-1');
  const apKey = await generateKeyPair('Ed25519', 'ap-1');
  const [psSigner, rsSigner, apSigner] = await Promise.all([createSigner(psKey), createSigner(rsKey), createSigner(apKey)]);
  const agentKey: PrivateJwk = await generateKeyPair('Ed25519');
  const agentJkt = await jwkThumbprint(publicJwkOf(agentKey));
  const agentToken = await mintAgentToken(apSigner, { iss: 'https://ap.example', sub: AGENT, cnf: { jwk: publicJwkOf(agentKey) }, ps: PS }, { now, ttl: 3600 });
  const blob = options.blob ?? { approver: PS, agent: AGENT, approved_at: new Date().toISOString(), description: '# Fake mission' };
  const bytes = new TextEncoder().encode(JSON.stringify(blob));
  const s256 = await missionS256(bytes);
  const personToken = (mission?: string) =>
    mintPersonToken(psSigner, { iss: PS, aud: RS, sub: 'person-1', cnf: { jwk: publicJwkOf(agentKey) }, ...(mission === undefined ? {} : { mission_s256: mission }) }, { now });
  const capabilitiesAtResource: (string | null)[] = [];
  /** Bodies POSTed to the PS's interaction endpoint (the relay). */
  const relays: Record<string, unknown>[] = [];

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

  const fetch: FetchLike = async (url, init) => {
    const u = new URL(url);
    const method = init?.method ?? 'GET';
    const body = init?.body instanceof Uint8Array ? (JSON.parse(new TextDecoder().decode(init.body)) as Record<string, unknown>) : {};
    if (u.origin === PS) {
      if (u.pathname === '/.well-known/aauth-person.json') {
        return json(200, { issuer: PS, jwks_uri: `${PS}/jwks`, person_token_endpoint: `${PS}/person-token`, auth_token_endpoint: `${PS}/auth-token`, mission_endpoint: `${PS}/mission`, interaction_endpoint: `${PS}/relay` });
      }
      if (u.pathname === '/jwks') return json(200, jwksDocument([publicJwkOf(psKey)]));
      if (method === 'POST' && u.pathname === '/relay') {
        relays.push(body);
        return json(202, { status: 'pending' }, { location: `${PS}/relay/1`, 'retry-after': '0' });
      }
      if (method === 'POST' && u.pathname === '/mission') {
        const honest = { s256, mission: encodeMission(bytes), person_tokens: { [RS]: await personToken(s256) } };
        return json(200, options.approval ? await options.approval({ blob, s256, mission: honest.mission, personToken }) : honest);
      }
      if (method === 'POST' && u.pathname === '/person-token') {
        const mission = options.forcedPersonMission ?? (typeof body['mission_s256'] === 'string' ? body['mission_s256'] : undefined);
        return json(200, { person_token: await personToken(mission), expires_in: 3600 });
      }
      if (method === 'POST' && u.pathname === '/auth-token') {
        const resourceToken = claimsOf(body['resource_token'] as string);
        const mission = options.authMission === 'drop' ? undefined : (resourceToken['mission_s256'] as string | undefined);
        const token = await mintAuthToken(
          psSigner,
          { iss: PS, aud: RS, ps: PS, sub: 'person-1', cnf: { jwk: publicJwkOf(agentKey) }, scope: 'x.read', ...(mission === undefined ? {} : { mission_s256: mission }) },
          { now },
        );
        return json(200, { auth_token: token, expires_in: 3600 });
      }
    }
    if (u.origin === RS) {
      if (u.pathname === '/.well-known/aauth-resource.json') return json(200, { issuer: RS, jwks_uri: `${RS}/jwks` });
      if (u.pathname === '/jwks') return json(200, jwksDocument([publicJwkOf(rsKey)]));
      // A resource that needs the person at its own interaction URL (two-party), done once the PS relayed it.
      if (u.pathname === '/interactive') {
        return json(202, { status: 'pending' }, { 'aauth-requirement': 'requirement=interaction; url="https://rs.example/interact"; code="ABCD-EFGH"', location: `${RS}/pending/1`, 'retry-after': '0' });
      }
      if (u.pathname === '/pending/1') return relays.length > 0 ? json(200, { done: true }) : json(202, { status: 'pending' }, { location: `${RS}/pending/1`, 'retry-after': '0' });
      const headers = new Headers(init?.headers);
      capabilitiesAtResource.push(headers.get('aauth-capabilities'));
      const member = parseSignatureKey(headers.get('signature-key')!).get('sig');
      const presented = member?.scheme === 'jwt' ? member.jwt : '';
      const typ = (JSON.parse(Buffer.from(presented.split('.')[0]!, 'base64url').toString()) as { typ: string }).typ;
      if (typ === 'aa-agent+jwt') return json(401, {}, { 'aauth-requirement': 'requirement=person-token' });
      const claims = claimsOf(presented);
      if (typ === 'aa-person+jwt') {
        const mission = options.resourceMission === 'drop' ? undefined : (claims['mission_s256'] as string | undefined);
        const resourceToken = await mintResourceToken(
          rsSigner,
          { iss: RS, aud: PS, ps: PS, sub: claims['sub'] as string, presented_jti: claims['jti'] as string, agent_jkt: agentJkt, scope: 'x.read', ...(mission === undefined ? {} : { mission_s256: mission }) },
          { now },
        );
        return json(401, {}, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken}"` });
      }
      return json(200, { mission_s256: claims['mission_s256'] ?? null });
    }
    return new Response(null, { status: 404 });
  };

  const agent = createAgent({ key: agentKey, agentToken, fetch, sleep: fastSleep });
  return { agent, s256, blob, bytes, capabilitiesAtResource, relays };
}

describe('missions against a fake Person Server', () => {
  it('control: an honest approval verifies; the call under the mission carries the mission end to end', async () => {
    const { agent, s256, bytes } = await fakeWorld();
    const mission = await agent.proposeMission({ description: 'x', resources: [RS] });
    expect(mission.s256).toBe(s256);
    expect(mission.bytes).toEqual(bytes);
    const response = await agent.withMission(mission).fetch(`${RS}/x`);
    expect(await response.json()).toEqual({ mission_s256: s256 });
  });

  it('§8.54 an s256 that is not the digest of the mission bytes → invalid_mission', async () => {
    const other = await missionS256(new TextEncoder().encode('{"other":true}'));
    const { agent } = await fakeWorld({ approval: ({ mission }) => ({ s256: other, mission }) });
    const error = await agent.proposeMission({ description: 'x' }).catch((e: unknown) => e);
    expect(isAgentError(error, 'invalid_mission')).toBe(true);
  });

  it('§8.54 a malformed s256, a missing mission, or a mission that is not base64url JSON → invalid_mission', async () => {
    for (const approval of [
      ({ mission }: { mission: string }) => ({ s256: 'abc', mission }),
      ({ s256 }: { s256: string }) => ({ s256 }),
      ({ s256 }: { s256: string }) => ({ s256, mission: '!!not base64url!!' }),
    ]) {
      const { agent } = await fakeWorld({ approval });
      const error = await agent.proposeMission({ description: 'x' }).catch((e: unknown) => e);
      expect(isAgentError(error, 'invalid_mission'), String(approval)).toBe(true);
    }
  });

  it.each(['approver', 'agent', 'approved_at', 'description'])('§8.53 a blob without its required member %s → invalid_mission (even when s256 matches)', async (member) => {
    const blob: Record<string, unknown> = { approver: PS, agent: AGENT, approved_at: new Date().toISOString(), description: 'x' };
    delete blob[member];
    const { agent } = await fakeWorld({ blob, approval: ({ s256, mission }) => ({ s256, mission }) });
    const error = await agent.proposeMission({ description: 'x' }).catch((e: unknown) => e);
    expect(isAgentError(error, 'invalid_mission')).toBe(true);
  });

  it('a blob naming another agent, or another approver than the PS → invalid_mission', async () => {
    for (const blob of [
      { approver: PS, agent: 'aauth:someone-else@agent.example', approved_at: new Date().toISOString(), description: 'x' },
      { approver: 'https://other-ps.example', agent: AGENT, approved_at: new Date().toISOString(), description: 'x' },
    ]) {
      const { agent } = await fakeWorld({ blob, approval: ({ s256, mission }) => ({ s256, mission }) });
      const error = await agent.proposeMission({ description: 'x' }).catch((e: unknown) => e);
      expect(isAgentError(error, 'invalid_mission'), JSON.stringify(blob)).toBe(true);
    }
  });

  it('§8.53 a person token returned with the mission without mission_s256, or with another one → invalid_person_token', async () => {
    const other = await missionS256(new TextEncoder().encode('another mission'));
    for (const carried of [undefined, other]) {
      const { agent } = await fakeWorld({ approval: async ({ s256, mission, personToken }) => ({ s256, mission, person_tokens: { [RS]: await personToken(carried) } }) });
      const error = await agent.proposeMission({ description: 'x', resources: [RS] }).catch((e: unknown) => e);
      expect(isAgentError(error, 'invalid_person_token')).toBe(true);
    }
  });

  it('a person token that carries a mission the agent did not ask under → invalid_person_token (its calls would count against it)', async () => {
    const stranger = await missionS256(new TextEncoder().encode('a mission of someone else'));
    const { agent } = await fakeWorld({ forcedPersonMission: stranger, approval: ({ s256, mission }) => ({ s256, mission }) });
    expect(isAgentError(await agent.fetch(`${RS}/x`).catch((e: unknown) => e), 'invalid_person_token')).toBe(true);
    const mission = await agent.proposeMission({ description: 'x' });
    expect(isAgentError(await agent.withMission(mission).fetch(`${RS}/x`).catch((e: unknown) => e), 'invalid_person_token')).toBe(true);
  });

  it('mission stripping: a resource token under the mission without mission_s256 → invalid_resource_token', async () => {
    const { agent } = await fakeWorld({ resourceMission: 'drop' });
    const mission = await agent.proposeMission({ description: 'x', resources: [RS] });
    const error = await agent.withMission(mission).fetch(`${RS}/x`).catch((e: unknown) => e);
    expect(isAgentError(error, 'invalid_resource_token')).toBe(true);
  });

  it('mission stripping: an auth token under the mission without mission_s256 → invalid_auth_token', async () => {
    const { agent } = await fakeWorld({ authMission: 'drop' });
    const mission = await agent.proposeMission({ description: 'x', resources: [RS] });
    const error = await agent.withMission(mission).fetch(`${RS}/x`).catch((e: unknown) => e);
    expect(isAgentError(error, 'invalid_auth_token')).toBe(true);
  });

  it('§Mission Approval capabilities: the PS’s are unioned into AAuth-Capabilities under the mission only; unknown ones ignored', async () => {
    const { agent, capabilitiesAtResource } = await fakeWorld({ approval: ({ s256, mission }) => ({ s256, mission, capabilities: ['payment', 'telepathy'] }) });
    const mission = await agent.proposeMission({ description: 'x' });
    expect(mission.capabilities).toEqual(['payment']);
    await agent.withMission(mission).fetch(`${RS}/x`);
    expect(capabilitiesAtResource.length).toBeGreaterThan(0);
    expect(capabilitiesAtResource.every((h) => h !== null && parseAAuthCapabilities(h).has('payment'))).toBe(true);
    const before = capabilitiesAtResource.length;
    await agent.fetch(`${RS}/x`);
    expect(capabilitiesAtResource.slice(before).every((h) => h === null)).toBe(true);
  });

  it('a capabilities member that is not an array of strings → invalid_mission', async () => {
    const { agent } = await fakeWorld({ approval: ({ s256, mission }) => ({ s256, mission, capabilities: 'payment' }) });
    expect(isAgentError(await agent.proposeMission({ description: 'x' }).catch((e: unknown) => e), 'invalid_mission')).toBe(true);
  });

  it('a mission approved by another PS than the agent’s → invalid_mission on use', async () => {
    const { agent } = await fakeWorld();
    const mission = await agent.proposeMission({ description: 'x' });
    const error = await agent.withMission({ ...mission, ps: 'https://other-ps.example' }).fetch(`${RS}/x`).catch((e: unknown) => e);
    expect(isAgentError(error, 'invalid_mission')).toBe(true);
  });
});

describe('interaction relay under a mission', () => {
  it('§8.50 a relayed interaction names the mission it happens under (kept in its log); outside a mission it names none', async () => {
    const { agent, s256, relays } = await fakeWorld();
    const mission = await agent.proposeMission({ description: 'x', resources: [RS] });
    expect((await agent.withMission(mission).fetch(`${RS}/interactive`)).status).toBe(200);
    expect(relays).toEqual([{ type: 'interaction', url: 'https://rs.example/interact', code: 'ABCD-EFGH', mission_s256: s256 }]);
    relays.length = 0;
    expect((await agent.fetch(`${RS}/interactive`)).status).toBe(200);
    expect(relays).toEqual([{ type: 'interaction', url: 'https://rs.example/interact', code: 'ABCD-EFGH' }]);
  });
});

describe('token cache scopes', () => {
  it('a mission scope shares storage but not keys; clear and snapshot of a scope cover it only; the root snapshot restores it', () => {
    const cache = new TokenCache({ now });
    const scope = cache.scoped(tokenKey.mission('m1'));
    cache.set(tokenKey.person(RS), { token: 'outside', exp: now() + 600 });
    scope.set(tokenKey.person(RS), { token: 'inside', exp: now() + 600 });
    expect(cache.get(tokenKey.person(RS))?.token).toBe('outside');
    expect(scope.get(tokenKey.person(RS))?.token).toBe('inside');
    expect(cache.scoped(tokenKey.mission('m2')).get(tokenKey.person(RS))).toBeUndefined();
    expect(scope.snapshot()).toEqual([[tokenKey.person(RS), { token: 'inside', exp: expect.any(Number) as number }]]);
    const restored = new TokenCache({ now });
    for (const [key, entry] of cache.snapshot()) restored.set(key, entry);
    expect(restored.scoped(tokenKey.mission('m1')).get(tokenKey.person(RS))?.token).toBe('inside');
    scope.clear();
    expect(scope.get(tokenKey.person(RS))).toBeUndefined();
    expect(cache.get(tokenKey.person(RS))?.token).toBe('outside');
  });
});
