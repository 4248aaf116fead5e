/** Test keys, a key-resolver double, token minting and request signing for @tessera/resource tests. */
import {
  b64urlDecode,
  createSigner,
  generateKeyPair,
  importVerifyKey,
  jwkThumbprint,
  mintAgentToken,
  mintAuthToken,
  mintPersonToken,
  publicJwkOf,
  signAAuthRequest,
  type KeyResolver,
  type PrivateJwk,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';
import { createResource, MemorySessionStore, type CreateResourceOptions, type Resource } from '@tessera/resource';

export const RESOURCE = 'https://resource.example';
export const AP = 'https://agent.example';
export const PS = 'https://ps.example';
export const PS2 = 'https://other-ps.example';
export const AS = 'https://as.example';
export const AGENT_ID = 'aauth:assistant@agent.example';

export const T0 = Math.floor(Date.now() / 1000);

export interface Keys {
  agent: Signer;
  agentJwk: PrivateJwk;
  otherAgent: Signer;
  ap: Signer;
  ps: Signer;
  ps2: Signer;
  as: Signer;
  resource: Signer;
  agentJkt: string;
}

let cached: Promise<Keys> | undefined;

export function keys(): Promise<Keys> {
  cached ??= (async () => {
    const agentJwk = await generateKeyPair('Ed25519', 'agent-1');
    const [agent, otherAgent, ap, ps, ps2, as, resource] = await Promise.all([
      createSigner(agentJwk),
      generateKeyPair('ES256', 'agent-2').then(createSigner),
      generateKeyPair('Ed25519', 'ap-1').then(createSigner),
      generateKeyPair('Ed25519', 'ps-1').then(createSigner),
      generateKeyPair('Ed25519', 'ps2-1').then(createSigner),
      generateKeyPair('ES256', 'as-1').then(createSigner),
      generateKeyPair('Ed25519', 'resource-1').then(createSigner),
    ]);
    return { agent, agentJwk, otherAgent, ap, ps, ps2, as, resource, agentJkt: await jwkThumbprint(publicJwkOf(agentJwk)) };
  })();
  return cached;
}

/** The key-resolver double: `{iss}|{kid}` → the issuer's public key. */
export async function resolver(): Promise<KeyResolver> {
  const k = await keys();
  const table = new Map<string, Promise<VerifyKey>>();
  for (const [iss, signer] of [
    [AP, k.ap],
    [PS, k.ps],
    [PS2, k.ps2],
    [AS, k.as],
    [RESOURCE, k.resource],
  ] as const) {
    table.set(`${iss}|${signer.publicJwk.kid}`, importVerifyKey(signer.publicJwk));
  }
  return ({ iss, kid }) => table.get(`${iss}|${kid}`) ?? Promise.reject(new Error(`no key ${iss} ${kid}`));
}

export const at = (t: number) => () => t;

export async function testResource(options: Partial<CreateResourceOptions> = {}): Promise<Resource> {
  const k = await keys();
  const now = options.now ?? at(T0);
  return createResource({
    issuer: RESOURCE,
    signer: k.resource,
    resolveKey: await resolver(),
    now,
    sessionStore: new MemorySessionStore({ now }),
    scopeDescriptions: { 'notes.read': 'Read your notes', 'notes.write': 'Add notes', 'notes.admin': 'Administer' },
    authorizationEndpoint: '/authorize',
    accessMode: 'auth-token',
    ...options,
  });
}

export async function agentToken(options: { signer?: Signer; iss?: string; issuer?: Signer } = {}): Promise<string> {
  const k = await keys();
  return mintAgentToken(options.issuer ?? k.ap, { iss: options.iss ?? AP, sub: AGENT_ID, cnf: { jwk: (options.signer ?? k.agent).publicJwk } }, { now: at(T0) });
}

export async function personToken(options: { signer?: Signer; iss?: string; issuer?: Signer; sub?: string; aud?: string; mission_s256?: string; tenant?: string; ttl?: number } = {}): Promise<string> {
  const k = await keys();
  return mintPersonToken(
    options.issuer ?? k.ps,
    {
      iss: options.iss ?? PS,
      aud: options.aud ?? RESOURCE,
      sub: options.sub ?? 'person-1',
      cnf: { jwk: (options.signer ?? k.agent).publicJwk },
      ...(options.mission_s256 === undefined ? {} : { mission_s256: options.mission_s256 }),
      ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    },
    { now: at(T0), ...(options.ttl === undefined ? {} : { ttl: options.ttl }) },
  );
}

export async function authToken(
  options: { signer?: Signer; iss?: string; ps?: string; issuer?: Signer; sub?: string; aud?: string; scope?: string; dwk?: 'aauth-person.json' | 'aauth-access.json'; ttl?: number; mission_s256?: string } = {},
): Promise<string> {
  const k = await keys();
  const iss = options.iss ?? PS;
  return mintAuthToken(
    options.issuer ?? k.ps,
    {
      iss,
      ps: options.ps ?? iss,
      aud: options.aud ?? RESOURCE,
      sub: options.sub ?? 'person-1',
      cnf: { jwk: (options.signer ?? k.agent).publicJwk },
      scope: options.scope ?? 'notes.read',
      ...(options.dwk === undefined ? {} : { dwk: options.dwk }),
      ...(options.mission_s256 === undefined ? {} : { mission_s256: options.mission_s256 }),
    },
    { now: at(T0), ...(options.ttl === undefined ? {} : { ttl: options.ttl }) },
  );
}

export interface SignOptions {
  method?: string;
  url?: string;
  token: string;
  signer?: Signer;
  body?: string;
  headers?: [string, string][];
  components?: string[];
  created?: number;
  contentDigest?: boolean;
}

/** Signs a request; returns the header lines (in order) and body. */
export async function signLines(options: SignOptions): Promise<{ method: string; url: string; headers: [string, string][]; body: Uint8Array | undefined }> {
  const k = await keys();
  const method = options.method ?? 'GET';
  const url = options.url ?? `${RESOURCE}/notes`;
  const body = options.body === undefined ? undefined : new TextEncoder().encode(options.body);
  const headers = [...(options.headers ?? [])];
  const signed = await signAAuthRequest(
    { method, url, headers, ...(body === undefined ? {} : { body }) },
    {
      signer: options.signer ?? k.agent,
      token: options.token,
      created: options.created ?? T0,
      ...(options.components === undefined ? {} : { components: options.components }),
      ...(options.contentDigest === undefined ? {} : { contentDigest: options.contentDigest }),
    },
  );
  return { method, url, headers: [...headers, ...Object.entries(signed.headers)], body };
}

/** A signed fetch `Request`. */
export async function signedRequest(options: SignOptions): Promise<Request> {
  const { method, url, headers, body } = await signLines(options);
  const h = new Headers();
  for (const [n, v] of headers) h.append(n, v);
  return new Request(url, { method, headers: h, ...(body === undefined ? {} : { body: body as Uint8Array<ArrayBuffer> }) });
}

/** The payload of a compact JWT (no verification). */
export function jwtClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(b64urlDecode(jwt.split('.')[1] ?? ''))) as Record<string, unknown>;
}

export async function problem(response: Response): Promise<{ error?: string; type?: string; detail?: string }> {
  return (await response.json()) as { error?: string };
}
