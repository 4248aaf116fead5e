/**
 * Fixture for the Agent Provider tests: a ServerContext on a test store (fixed clock), the AP app over an in-test
 * Deferred service, a fetch that captures the AP's outgoing requests, and signing helpers for the three schemes the AP
 * takes (`hwk` for enrolment, `jwt` with an agent token, `jkt-jwt` for key refresh).
 *
 * `FakeDeferred` (fake-deferred.ts) implements the Deferred service contract in memory, shared with the PS tests.
 */
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
import type { Hono } from 'hono';
import { pino } from 'pino';
import { expect } from 'vitest';
import { createAgentProviderApp, type AgentProviderOptions } from '../src/ap/ap-app.js';
import type { ServerContext } from '../src/context.js';
import type { DeferredService } from '../src/deferred/types.js';
import { ServerKeys } from '../src/keys/server-keys.js';
import { FakeDeferred } from './fake-deferred.js';
import { testStore, type StoreKind, type TestStore } from './helpers.js';

export { FakeDeferred };

export const AP = 'https://ap.example';
export const PS = 'https://ps.example';
export const T0 = 1_800_000_000;

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
