/**
 * Fixture for the Agent Provider tests: a ServerContext on a test store (fixed clock), the AP app over an in-test
 * Deferred service, a fetch that captures the AP's outgoing requests, and signing helpers for the three schemes the AP
 * takes (`hwk` for enrolment, `jwt` with an agent token, `jkt-jwt` for key refresh).
 *
 * `FakeDeferred` implements the Deferred service contract (`deferred/types.ts`) in memory, enough for the AP: create,
 * accepted (202 + Location), approve (runs the kind's handler in a store transaction), refuse, and pending-URL GETs
 * authenticated with the kind's `authenticatePoll`. The tests for the real service live with it; the AP tests use this
 * fake so they exercise only the AP's side of the contract.
 */
import { randomBytes } from 'node:crypto';
import {
  AAuthError,
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  publicJwkOf,
  selectJwk,
  signAAuthRequest,
  signHwkRequest,
  signWithKeyMember,
  VerifyKeyCache,
  type KeyResolver,
  type PublicJwk,
  type SignedAAuthRequest,
  type Signer,
} from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import { pino } from 'pino';
import { expect } from 'vitest';
import { createAgentProviderApp, type AgentProviderOptions } from '../src/ap/ap-app.js';
import type { ServerContext } from '../src/context.js';
import type { ApprovalDecision, CreatedPending, CreatePendingInput, DeferredService, PendingHandler, PendingKind, RefusalCode } from '../src/deferred/types.js';
import { ServerKeys } from '../src/keys/server-keys.js';
import type { PendingRequest } from '../src/store/schema.js';
import { toJson } from '../src/store/store.js';
import { newPendingRow } from '../src/deferred/pending-row.js';
import { testStore, type StoreKind, type TestStore } from './helpers.js';

export const AP = 'https://ap.example';
export const PS = 'https://ps.example';
export const T0 = 1_800_000_000;

/** The Deferred service contract, in memory (see the file comment). */
export class FakeDeferred implements DeferredService {
  readonly handlers = new Map<string, PendingHandler>();
  readonly rows = new Map<string, PendingRequest>();
  readonly codes = new Map<string, string>();
  readonly #ctx: ServerContext;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  register(kind: PendingKind, handler: PendingHandler): void {
    if (this.handlers.has(kind)) throw new Error(`${kind} registered twice`);
    this.handlers.set(kind, handler);
  }
  handler(kind: string): PendingHandler | undefined {
    return this.handlers.get(kind);
  }
  create(input: CreatePendingInput): Promise<CreatedPending> {
    const now = Math.floor(this.#ctx.now());
    const pending = newPendingRow(input, { now, ttlSeconds: input.ttlSeconds ?? 600, codeHash: null });
    const id = pending.id;
    this.rows.set(id, pending);
    const hex = randomBytes(4).toString('hex').toUpperCase(); // Crockford-safe: 0-9 and A-F
    const code = `C${hex.slice(0, 3)}-${hex.slice(3, 7)}`;
    this.codes.set(code, id);
    return Promise.resolve({ pending, code, interactionUrl: `${this.#ctx.ps.issuer}/interaction` });
  }
  #issuerOf(row: PendingRequest): string {
    return this.handlers.get(row.kind)?.issuer === 'ap' ? this.#ctx.ap.issuer : this.#ctx.ps.issuer;
  }
  accepted(created: CreatedPending): Promise<Response> {
    return Promise.resolve(
      new Response(JSON.stringify({ status: 'pending' }), {
        status: 202,
        headers: {
          location: `${this.#issuerOf(created.pending)}/pending/${created.pending.id}`,
          'retry-after': '5',
          'cache-control': 'no-store',
          'aauth-requirement': `requirement=interaction; url="${created.interactionUrl}"; code="${created.code}"`,
          'content-type': 'application/json',
        },
      }),
    );
  }
  findByCode(code: string): Promise<PendingRequest | undefined> {
    const id = this.codes.get(code);
    return Promise.resolve(id === undefined ? undefined : this.rows.get(id));
  }
  get(id: string): Promise<PendingRequest | undefined> {
    return Promise.resolve(this.rows.get(id));
  }
  interacting(id: string, personId: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, status: 'interacting', person_id: personId });
    return Promise.resolve();
  }
  async approve(id: string, decision: ApprovalDecision): Promise<PendingRequest> {
    const row = this.rows.get(id);
    const handler = row && this.handlers.get(row.kind);
    if (!row || !handler) throw new Error('no such pending request');
    try {
      const result = await this.#ctx.store.transaction((trx) => handler.approve(row, decision, trx));
      const approved: PendingRequest = { ...row, status: 'approved', person_id: decision.personId, result: toJson(result) };
      this.rows.set(id, approved);
      return approved;
    } catch (error) {
      if (!(error instanceof AAuthError)) throw error;
      const failed: PendingRequest = { ...row, status: 'failed', error: error.code };
      this.rows.set(id, failed);
      return failed;
    }
  }
  refuse(id: string, code: RefusalCode, personId: string | null): Promise<PendingRequest> {
    const row = this.rows.get(id);
    if (!row) throw new Error('no such pending request');
    const refused: PendingRequest = { ...row, status: code === 'expired' ? 'expired' : code, error: code, person_id: personId };
    this.rows.set(id, refused);
    return Promise.resolve(refused);
  }
  listForPerson(personId: string): Promise<PendingRequest[]> {
    return Promise.resolve([...this.rows.values()].filter((r) => r.person_id === personId || r.person_id === null));
  }
  routes(owner: 'ps' | 'ap'): Hono {
    const app = new Hono();
    app.get('/:id', async (c: Context) => {
      const row = this.rows.get(c.req.param('id') ?? '');
      const handler = row && this.handlers.get(row.kind);
      if (!row || !handler || (handler.issuer ?? 'ps') !== owner || !handler.authenticatePoll) return c.json({ error: 'invalid_request' }, 404);
      const identity = await handler.authenticatePoll(c);
      if (identity instanceof Response) return identity;
      if (identity.jkt !== row.agent_jkt) return c.json({ error: 'invalid_request' }, 404);
      if (row.status === 'approved') return c.json(JSON.parse(row.result!) as object, 200);
      if (row.status === 'pending' || row.status === 'interacting') return c.json({ status: row.status }, 202);
      return c.json({ error: row.error }, row.status === 'expired' ? 408 : 403);
    });
    return app;
  }
}

/** A request the AP sent through its fetch. */
export interface SentRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
}

export interface ApFixture<D extends DeferredService = FakeDeferred> {
  readonly ctx: ServerContext;
  readonly app: Hono;
  readonly deferred: D;
  readonly sent: SentRequest[];
  /** Status the fake PS answers revocation notices with. */
  psStatus: number;
  /** The clock (epoch seconds), settable. */
  now: number;
  /** Verifies tokens this AP signed: a resolver backed by `ctx.keys.jwks('ap')`. */
  readonly resolveKey: KeyResolver;
  close(): Promise<void>;
}

export function apFixture(kind: StoreKind, options?: Omit<AgentProviderOptions, 'fetch'>): Promise<ApFixture>;
export function apFixture<D extends DeferredService>(kind: StoreKind, options: Omit<AgentProviderOptions, 'fetch'>, makeDeferred: (ctx: ServerContext) => D): Promise<ApFixture<D>>;
/** Builds the fixture; `makeDeferred` replaces the in-test `FakeDeferred` (e.g. with the real service). */
export async function apFixture(
  kind: StoreKind,
  options: Omit<AgentProviderOptions, 'fetch'> = {},
  makeDeferred: (ctx: ServerContext) => DeferredService = (ctx) => new FakeDeferred(ctx),
): Promise<ApFixture<DeferredService>> {
  const clock = { now: T0 };
  const t: TestStore = await testStore(kind, () => clock.now);
  const keys = new ServerKeys(t.store, () => clock.now);
  await keys.ensure('ap');
  await keys.ensure('ps');
  // Only this AP's keys are known: the same double verifies tokens in the tests and in the app's other paths.
  const resolveKey: KeyResolver = async ({ iss, kid }) => {
    if (iss !== AP) throw new AAuthError('unknown_key', { detail: `no keys for ${iss}` });
    return importVerifyKey(selectJwk(await keys.jwks('ap'), kid));
  };
  const ctx: ServerContext = {
    mode: 'production',
    ps: { issuer: PS, name: 'Test PS' },
    ap: { issuer: AP, name: 'Test Agent Provider' },
    store: t.store,
    keys,
    now: () => clock.now,
    resolveKey,
    keyCache: new VerifyKeyCache(),
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
  const deferred = makeDeferred(ctx);
  const sent: SentRequest[] = [];
  const fixture: ApFixture<DeferredService> = {
    ctx,
    app: undefined as unknown as Hono,
    deferred,
    sent,
    psStatus: 200,
    get now() {
      return clock.now;
    },
    set now(value: number) {
      clock.now = value;
    },
    resolveKey,
    close: () => t.close(),
  };
  const fetch = (url: string, init: RequestInit = {}): Promise<Response> => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    sent.push({ url, method: init.method ?? 'GET', headers, body: init.body as Uint8Array });
    return Promise.resolve(new Response('{}', { status: fixture.psStatus, headers: { 'content-type': 'application/json' } }));
  };
  try {
    (fixture as { app: Hono }).app = createAgentProviderApp(ctx, deferred, { ...options, fetch });
  } catch (error) {
    await t.close();
    throw error;
  }
  return fixture;
}

/** A fresh agent key. */
export async function newKey(alg: 'Ed25519' | 'ES256' = 'Ed25519'): Promise<{ signer: Signer; jwk: PublicJwk; jkt: string }> {
  const priv = await generateKeyPair(alg);
  const jwk = publicJwkOf(priv);
  return { signer: await createSigner(priv), jwk, jkt: await jwkThumbprint(jwk) };
}

type Sign = (message: { method: string; url: string; headers: [string, string][]; body?: Uint8Array }) => Promise<SignedAAuthRequest>;

/** Sends `method path` to the AP app, with a JSON body when given, signed by `sign`. */
export async function send(f: ApFixture<DeferredService>, method: string, path: string, body: unknown, sign?: Sign, extra: Record<string, string> = {}): Promise<Response> {
  const url = `${AP}${path}`;
  const bytes = body === undefined ? undefined : new TextEncoder().encode(JSON.stringify(body));
  const headers: [string, string][] = bytes === undefined ? [] : [['content-type', 'application/json']];
  const signed = sign ? (await sign({ method, url, headers, ...(bytes === undefined ? {} : { body: bytes }) })).headers : {};
  return f.app.request(url, { method, headers: { ...Object.fromEntries(headers), ...signed, ...extra }, ...(bytes === undefined ? {} : { body: bytes }) });
}

export const hwk = (f: ApFixture<DeferredService>, signer: Signer): Sign => (m) => signHwkRequest(m, { signer, created: f.now });
export const withToken = (f: ApFixture<DeferredService>, signer: Signer, token: string): Sign => (m) => signAAuthRequest(m, { signer, token, created: f.now });
export const withJktJwt = (f: ApFixture<DeferredService>, signer: Signer, jwt: string): Sign => (m) => signWithKeyMember(m, { scheme: 'jkt-jwt', jwt }, { signer, created: f.now });

export interface EnrolledAgent {
  readonly signer: Signer;
  readonly jwk: PublicJwk;
  readonly jkt: string;
  readonly agentId: string;
  readonly token: string;
  readonly pendingId: string;
}

/** Enrols a new key: POST /enrol (202), the person approves through the Deferred contract, the agent polls (200). */
export async function enrol(f: ApFixture<DeferredService>, body: Record<string, unknown> = {}, personId = 'person-1'): Promise<EnrolledAgent> {
  const key = await newKey();
  const res = await send(f, 'POST', '/enrol', body, hwk(f, key.signer));
  expect(res.status, await res.clone().text()).toBe(202);
  const location = res.headers.get('location')!;
  const pendingId = location.slice(`${AP}/pending/`.length);
  await f.deferred.approve(pendingId, { personId, always: false });
  const poll = await send(f, 'GET', `/pending/${pendingId}`, undefined, hwk(f, key.signer));
  expect(poll.status, await poll.clone().text()).toBe(200);
  const result = (await poll.json()) as { agent_id: string; agent_token: string; expires_in: number };
  return { ...key, agentId: result.agent_id, token: result.agent_token, pendingId };
}
