/**
 * Fixture for four-party federation tests: a Person Server app (over the in-memory Deferred of ps-fixture) and an
 * Access Server app (as/as-app.ts), each on its own store, wired through an in-process `fetch` routed by origin, so
 * that metadata and JWKS discovery (issuer check included) run for real with spec-valid https identifiers. The Agent
 * Provider's and the resource's keys come from a resolver double; the PS's and the AS's from discovery. A third
 * origin, `ROGUE`, is a hand-written "Access Server" whose token endpoint answers whatever a test sets.
 */
import {
  createKeyResolver,
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwksDocument,
  mintAgentToken,
  mintResourceToken,
  publicJwkOf,
  signAAuthRequest,
  signServerRequest,
  VerifyKeyCache,
  type FetchLike,
  type KeyResolver,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';
import { Hono } from 'hono';
import { pino } from 'pino';
import { createAccessServerApp, type AccessPolicy } from '../src/as/as-app.js';
import type { ServerContext } from '../src/context.js';
import type { ApprovalDecision } from '../src/deferred/types.js';
import { ServerKeys } from '../src/keys/server-keys.js';
import type { PendingRequest } from '../src/store/schema.js';
import { toJson } from '../src/store/store.js';
import { createPersonServerApp } from '../src/ps/ps-app.js';
import { testStore, type StoreKind, type TestStore } from './helpers.js';
import { FakeDeferred } from './fake-deferred.js';
import { AGENT_ID, AP, claimsOf, party, PS, RS, RS2, T0, type Party } from './ps-fixture.js';

export const AS = 'https://as.resource.example';

/** The in-memory Deferred, also running a handler's `prepare` (outside the transaction) as `deferred.ts` does. */
export class FederationDeferred extends FakeDeferred {
  readonly #ctx: ServerContext;
  constructor(ctx: ServerContext) {
    super(ctx);
    this.#ctx = ctx;
  }
  override async approve(id: string, decision: ApprovalDecision): Promise<PendingRequest> {
    const row = this.rows.get(id);
    if (!row) throw new Error('no such pending request');
    const handler = this.handlers.get(row.kind);
    if (!handler) throw new Error(`no handler for ${row.kind}`);
    const prepared = handler.prepare === undefined ? undefined : await handler.prepare(row, decision);
    const result = await this.#ctx.store.transaction((trx) => handler.approve(row, decision, trx, prepared));
    const done: PendingRequest = { ...row, status: 'approved', person_id: decision.personId, result: toJson(result) };
    this.rows.set(id, done);
    return done;
  }
}
export const ROGUE = 'https://rogue.example';

export interface FederationFixture {
  readonly clock: { now: number };
  readonly ps: { readonly t: TestStore; readonly ctx: ServerContext; readonly app: Hono; readonly deferred: FederationDeferred };
  readonly as: { readonly t: TestStore; readonly ctx: ServerContext; readonly app: Hono };
  readonly ap: Party;
  readonly rs: Party;
  /** A second resource, RS2 (kid `rs2-1`), behind the same AS: the downstream resource of call chaining. */
  readonly rs2: Party;
  readonly agent: Party;
  /** The AS's policy (replaceable per test); default: grant what is asked. */
  policy: AccessPolicy;
  /** The rogue AS's token endpoint answer. */
  rogue: (request: Request) => Response | Promise<Response>;
  /** The rogue AS's signing key (kid `rogue-1`). */
  readonly rogueSigner: Signer;
  /** Every request the in-process fetch carried: `METHOD url`, and the requests themselves. */
  readonly calls: { readonly line: string; readonly headers: Headers; readonly body: string }[];
  readonly fetch: FetchLike;
  agentToken(claims?: Record<string, unknown>, options?: { key?: Party }): Promise<string>;
  /** A signed POST to the PS as the agent (`sig=jwt`). */
  post(path: string, body: unknown, options?: { token?: string; signer?: Signer }): Promise<Response>;
  /** A signed POST to the AS as a server (`sig=jwks_uri`). */
  postToAs(path: string, body: unknown, server: { id: string; dwk: string; signer: Signer }): Promise<Response>;
  /** A person token for RS, approved by `personId` (the agent is bound then). */
  personToken(personId: string, options?: { token?: string; body?: Record<string, unknown> }): Promise<{ token: string; claims: Record<string, unknown> }>;
  /** A resource token from RS answering person token `p`, for the AS (or `claims.aud`). */
  resourceToken(p: Record<string, unknown>, claims?: Record<string, unknown>): Promise<string>;
  person(id: string): Promise<string>;
  close(): Promise<void>;
}

export async function federationFixture(kind: StoreKind, options: { maxWaitSeconds?: number } = {}): Promise<FederationFixture> {
  const clock = { now: T0 };
  const now = (): number => clock.now;
  const psStore = await testStore(kind, now);
  const asStore = await testStore(kind, now);
  const ap = await party('ap-1');
  const rs = await party('rs-1');
  const rs2 = await party('rs2-1');
  const agent = await party();
  const rogueJwk = await generateKeyPair('Ed25519', 'rogue-1');
  const rogueSigner = await createSigner(rogueJwk);

  const apps = new Map<string, Hono>();
  const calls: FederationFixture['calls'] = [];
  const fetch: FetchLike = async (url, init) => {
    const request = new Request(url, init);
    const body = init?.body === undefined || init.body === null ? '' : await new Request(url, init).text();
    calls.push({ line: `${request.method} ${url}`, headers: request.headers, body });
    const app = apps.get(new URL(url).origin);
    if (app === undefined) throw new TypeError(`no route to ${url}`);
    return app.request(url, init);
  };
  const known = new Map<string, Promise<VerifyKey>>([
    [`${AP}|ap-1`, importVerifyKey(ap.publicJwk)],
    [`${RS}|rs-1`, importVerifyKey(rs.publicJwk)],
    [`${RS2}|rs2-1`, importVerifyKey(rs2.publicJwk)],
  ]);
  const discovery = createKeyResolver({ fetch, now });
  const resolveKey: KeyResolver = (request) => known.get(`${request.iss}|${request.kid}`) ?? discovery(request);

  const context = (t: TestStore): ServerContext => ({
    mode: 'production',
    ps: { issuer: PS, name: 'Test Person Server' },
    ap: { issuer: 'https://ap.tessera.example', name: 'Test AP' },
    store: t.store,
    keys: new ServerKeys(t.store, now),
    now,
    resolveKey,
    keyCache: new VerifyKeyCache(),
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  });
  const psCtx = context(psStore);
  await psCtx.keys.ensure('ps');
  const deferred = new FederationDeferred(psCtx);
  const sleep = (seconds: number): Promise<void> => {
    clock.now += seconds;
    return Promise.resolve();
  };
  const psApp = createPersonServerApp(psCtx, deferred, { fetch, federation: { sleep, ...(options.maxWaitSeconds === undefined ? {} : { maxWaitSeconds: options.maxWaitSeconds }) } });

  const asCtx = context(asStore);
  const fixture: FederationFixture = {
    clock,
    ps: { t: psStore, ctx: psCtx, app: psApp, deferred },
    as: { t: asStore, ctx: asCtx, app: undefined as unknown as Hono },
    ap,
    rs,
    rs2,
    agent,
    policy: (input) => ({ grant: input.requested.join(' ') }),
    rogue: () => new Response(null, { status: 500 }),
    rogueSigner,
    calls,
    fetch,
    agentToken: (claims = {}, o = {}) => mintAgentToken(ap.signer, { iss: AP, sub: AGENT_ID, cnf: { jwk: (o.key ?? agent).publicJwk }, ...claims }, { now }),
    async post(path, body, o = {}) {
      const url = PS + path;
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const headers = { 'content-type': 'application/json' };
      const signed = await signAAuthRequest({ method: 'POST', url, headers: Object.entries(headers), body: bytes }, { signer: o.signer ?? agent.signer, token: o.token ?? (await fixture.agentToken()), now });
      return psApp.request(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: bytes });
    },
    async postToAs(path, body, server) {
      const url = AS + path;
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const headers = { 'content-type': 'application/json' };
      const signed = await signServerRequest({ method: 'POST', url, headers: Object.entries(headers), body: bytes }, { signer: server.signer, id: server.id, dwk: server.dwk, now });
      return fixture.as.app.request(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: bytes });
    },
    async personToken(personId, o = {}) {
      const res = await fixture.post('/person-token', { resource: RS, ...(o.body ?? {}) }, o.token === undefined ? {} : { token: o.token });
      if (res.status !== 202) throw new Error(`person token request answered ${res.status}: ${await res.text()}`);
      const done = await deferred.approve(deferred.last().id, { personId, always: false });
      const token = (JSON.parse(done.result!) as { person_token: string }).person_token;
      return { token, claims: claimsOf(token) };
    },
    resourceToken: (p, claims = {}) =>
      mintResourceToken(rs.signer, { iss: RS, aud: AS, ps: p['iss'] as string, sub: p['sub'] as string, presented_jti: p['jti'] as string, agent_jkt: agent.jkt, scope: 'notes.read', ...claims }, { now }),
    async person(id) {
      await psStore.store.db.insertInto('people').values({ id, username: id, display_name: `Person ${id}`, password_hash: 'x', created_at: T0 }).execute();
      return id;
    },
    async close() {
      await psStore.close();
      await asStore.close();
    },
  };
  const asApp = createAccessServerApp(asCtx, undefined, { issuer: AS, name: 'Test Access Server', policy: (input) => fixture.policy(input) });
  (fixture.as as { app: Hono }).app = asApp;

  const rogue = new Hono();
  rogue.get('/.well-known/aauth-access.json', (c) => c.json({ issuer: ROGUE, jwks_uri: `${ROGUE}/jwks.json`, auth_token_endpoint: `${ROGUE}/token` }));
  rogue.get('/jwks.json', (c) => c.json(jwksDocument([publicJwkOf(rogueJwk)])));
  rogue.all('/token', (c) => fixture.rogue(c.req.raw));
  rogue.all('/token/*', (c) => fixture.rogue(c.req.raw));

  apps.set(PS, psApp);
  apps.set(AS, asApp);
  apps.set(ROGUE, rogue);
  return fixture;
}
