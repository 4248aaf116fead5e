/**
 * Fixture for the Person Server endpoint tests: a ServerContext on a test store with a settable clock, the PS app
 * over an in-memory Deferred service (`FakeDeferred`, fake-deferred.ts, shared with the AP tests), an Agent Provider and a resource whose keys the
 * `resolveKey` double knows, and helpers to sign requests as an agent (`sig=jwt`) or as a server (`sig=jwks_uri`).
 *
 * The fake stands in for `deferred/deferred.ts` so these tests exercise only the PS's side of the contract.
 */
import {
  createSigner,
  decodeJws,
  DWK,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  mintAgentToken,
  mintResourceToken,
  publicJwkOf,
  signAAuthRequest,
  signServerRequest,
  VerifyKeyCache,
  type KeyResolver,
  type PrivateJwk,
  type PublicJwk,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';
import type { Hono } from 'hono';
import { pino } from 'pino';
import type { ServerContext } from '../src/context.js';
import { ServerKeys } from '../src/keys/server-keys.js';
import { createPersonServerApp } from '../src/ps/ps-app.js';
import { FakeDeferred } from './fake-deferred.js';
import { testStore, type StoreKind, type TestStore } from './helpers.js';

export const PS = 'https://ps.example';
export const AP = 'https://agent.example';
export const RS = 'https://resource.example';
export const RS2 = 'https://calendar.example';
export const AGENT_ID = 'aauth:assistant@agent.example';
export const T0 = 1_800_000_000;

export interface Party {
  readonly jwk: PrivateJwk;
  readonly signer: Signer;
  readonly publicJwk: PublicJwk;
  readonly jkt: string;
}

export async function party(kid?: string): Promise<Party> {
  const jwk = await generateKeyPair('Ed25519', kid);
  const signer = await createSigner(jwk);
  const publicJwk = publicJwkOf(jwk);
  return { jwk, signer, publicJwk, jkt: await jwkThumbprint(publicJwk) };
}

export interface PsFixture {
  readonly t: TestStore;
  readonly ctx: ServerContext;
  readonly app: Hono;
  readonly deferred: FakeDeferred;
  readonly clock: { now: number };
  /** The Agent Provider's signing key (kid `ap-1`). */
  readonly ap: Party;
  /** The resource's signing key (kid `rs-1`). */
  readonly rs: Party;
  /** The agent's request-signing key. */
  readonly agent: Party;
  /** An agent token for `AGENT_ID` bound to `agent`. */
  agentToken(claims?: Record<string, unknown>, options?: { ttl?: number; key?: Party }): Promise<string>;
  /** A signed POST to the PS as an agent (`sig=jwt`). */
  post(path: string, body: unknown, options?: { token?: string; signer?: Signer; headers?: Record<string, string>; contentDigest?: boolean }): Promise<Response>;
  /** A signed POST to the PS as a server (`sig=jwks_uri`). */
  postAsServer(path: string, body: unknown, server: { id: string; dwk: string; key: Party }): Promise<Response>;
  /** A resource token from `RS` (or `iss`) for this PS. */
  resourceToken(claims: Record<string, unknown>, options?: { key?: Party; ttl?: number }): Promise<string>;
  /** A person in `people`. */
  person(id: string): Promise<string>;
  close(): Promise<void>;
}

export async function psFixture(kind: StoreKind): Promise<PsFixture> {
  const clock = { now: T0 };
  const now = (): number => clock.now;
  const t = await testStore(kind, now);
  const keys = new ServerKeys(t.store, now);
  await keys.ensure('ps');
  const ap = await party('ap-1');
  const rs = await party('rs-1');
  const agent = await party();
  const known = new Map<string, Promise<VerifyKey>>([
    [`${AP}|ap-1`, importVerifyKey(ap.publicJwk)],
    [`${RS}|rs-1`, importVerifyKey(rs.publicJwk)],
    [`${RS2}|rs-1`, importVerifyKey(rs.publicJwk)],
  ]);
  const resolveKey: KeyResolver = ({ iss, kid }) => known.get(`${iss}|${kid}`) ?? Promise.reject(new Error(`unknown key ${iss} ${kid}`));
  const ctx: ServerContext = {
    mode: 'development',
    ps: { issuer: PS, name: 'Test Person Server' },
    ap: { issuer: 'https://ap.tessera.example', name: 'Test AP' },
    store: t.store,
    keys,
    now,
    resolveKey,
    keyCache: new VerifyKeyCache(),
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: false,
  };
  const deferred = new FakeDeferred(ctx);
  const app = createPersonServerApp(ctx, deferred);

  const agentToken = (claims: Record<string, unknown> = {}, options: { ttl?: number; key?: Party } = {}): Promise<string> =>
    mintAgentToken(ap.signer, { iss: AP, sub: AGENT_ID, cnf: { jwk: (options.key ?? agent).publicJwk }, ...claims }, { now, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) });

  const encode = (body: unknown): Uint8Array => new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));

  const post: PsFixture['post'] = async (path, body, options = {}) => {
    const url = PS + path;
    const bytes = encode(body);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(options.headers ?? {}) };
    const signed = await signAAuthRequest(
      { method: 'POST', url, headers: Object.entries(headers), body: bytes },
      { signer: options.signer ?? agent.signer, token: options.token ?? (await agentToken()), now, ...(options.contentDigest === false ? { contentDigest: false } : {}) },
    );
    return app.request(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: bytes as Uint8Array<ArrayBuffer> });
  };

  const postAsServer: PsFixture['postAsServer'] = async (path, body, server) => {
    const url = PS + path;
    const bytes = encode(body);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const signed = await signServerRequest({ method: 'POST', url, headers: Object.entries(headers), body: bytes }, { signer: server.key.signer, id: server.id, dwk: server.dwk, now });
    return app.request(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: bytes as Uint8Array<ArrayBuffer> });
  };

  const resourceToken: PsFixture['resourceToken'] = (claims, options = {}) =>
    mintResourceToken(
      (options.key ?? rs).signer,
      { iss: RS, aud: PS, ps: PS, agent_jkt: agent.jkt, scope: 'notes.read', sub: 'x', presented_jti: 'x', ...claims },
      { now, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) },
    );

  const person = async (id: string): Promise<string> => {
    await t.store.db.insertInto('people').values({ id, username: id, display_name: `Person ${id}`, password_hash: 'x', created_at: T0 }).execute();
    return id;
  };

  return { t, ctx, app, deferred, clock, ap, rs, agent, agentToken, post, postAsServer, resourceToken, person, close: () => t.close() };
}

/** The claims of a JWT (unverified). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return decodeJws(jwt).payload;
}

export function headerOf(jwt: string): Record<string, unknown> {
  return decodeJws(jwt).header;
}

export const DWKS = DWK;
