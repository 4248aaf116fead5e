/** Keys, a key-resolver double, tokens, signing and a plain upstream for @tessera/gateway tests. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createSigner,
  generateKeyPair,
  importVerifyKey,
  mintAgentToken,
  mintAuthToken,
  mintPersonToken,
  signAAuthRequest,
  type KeyResolver,
  type PrivateJwk,
  type Signer,
  type VerifyKey,
} from '@tessera/protocol';

export const RESOURCE = 'https://resource.example';
export const AP = 'https://agent.example';
export const PS = 'https://ps.example';
export const AGENT_ID = 'aauth:assistant@agent.example';

export const now = (): number => Math.floor(Date.now() / 1000);

export interface Keys {
  agent: Signer;
  ap: Signer;
  ps: Signer;
  resourceJwk: PrivateJwk;
}

let cached: Promise<Keys> | undefined;
export function keys(): Promise<Keys> {
  cached ??= (async () => {
    const [agent, ap, ps] = await Promise.all([
      generateKeyPair('Ed25519', 'agent-1').then(createSigner),
      generateKeyPair('Ed25519', 'ap-1').then(createSigner),
      generateKeyPair('Ed25519', 'ps-1').then(createSigner),
    ]);
    return { agent, ap, ps, resourceJwk: await generateKeyPair('Ed25519', 'resource-1') };
  })();
  return cached;
}

/** `{iss}|{kid}` → the issuer's public key (stands in for metadata + JWKS discovery). */
export async function resolver(): Promise<KeyResolver> {
  const k = await keys();
  const table = new Map<string, Promise<VerifyKey>>([
    [`${AP}|${k.ap.publicJwk.kid}`, importVerifyKey(k.ap.publicJwk)],
    [`${PS}|${k.ps.publicJwk.kid}`, importVerifyKey(k.ps.publicJwk)],
  ]);
  return ({ iss, kid }) => table.get(`${iss}|${kid}`) ?? Promise.reject(new Error(`no key ${iss} ${kid}`));
}

export async function agentToken(): Promise<string> {
  const k = await keys();
  return mintAgentToken(k.ap, { iss: AP, sub: AGENT_ID, cnf: { jwk: k.agent.publicJwk } }, { now });
}

export async function personToken(sub = 'person-1'): Promise<string> {
  const k = await keys();
  return mintPersonToken(k.ps, { iss: PS, aud: RESOURCE, sub, cnf: { jwk: k.agent.publicJwk } }, { now });
}

export async function authToken(scope = 'notes.read', sub = 'person-1'): Promise<string> {
  const k = await keys();
  return mintAuthToken(k.ps, { iss: PS, ps: PS, aud: RESOURCE, sub, cnf: { jwk: k.agent.publicJwk }, scope }, { now });
}

export interface Signed {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

/** Signs `method url` (+ body, covering content-digest and content-type) with the agent key and `token`. */
export async function sign(method: string, url: string, token: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Signed> {
  const k = await keys();
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const body = options.body === undefined ? undefined : new TextEncoder().encode(options.body);
  const signed = await signAAuthRequest(
    { method, url, headers: Object.entries(headers), ...(body === undefined ? {} : { body }) },
    { signer: k.agent, token, now, ...(body === undefined ? {} : { contentDigest: true }) },
  );
  return { url, method, headers: { ...headers, ...signed.headers }, body: options.body };
}

export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly raw: string[];
  readonly body: string;
}

/**
 * A plain upstream that knows nothing of AAuth: it echoes what it received as JSON. `/sse` sends one event,
 * then waits for `release()` before the second and the end. `/slow` never answers; `closed` lists the `/slow` requests
 * whose connection the gateway closed.
 */
/** Size of the `/big` answer, and its byte at offset i (a pattern the test can check without holding it twice). */
export const BIG_BYTES = 64 * 1024 * 1024;
export const bigByte = (i: number): number => (i * 31 + (i >>> 16)) & 0xff;

export async function startUpstream(): Promise<{ url: string; calls: Received[]; closed: string[]; bigFinished: () => boolean; release: () => void; close: () => Promise<void> }> {
  let bigDone = false;
  const calls: Received[] = [];
  const closed: string[] = [];
  let release: () => void = () => undefined;
  const gate = () => new Promise<void>((resolve) => (release = resolve));
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: Object.fromEntries(Object.entries(req.headers).map(([n, v]) => [n, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
        raw: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      calls.push(received);
      if (req.url?.startsWith('/sse') === true) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: first\n\n');
        void gate().then(() => res.end('data: second\n\n'));
        return;
      }
      if (req.url?.startsWith('/big') === true) {
        // 64 MiB in 256 KiB chunks, waiting for 'drain' whenever the socket buffers: it can only finish as fast as the
        // gateway takes it.
        bigDone = false;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG_BYTES) });
        const chunk = 256 * 1024;
        let at = 0;
        const pump = () => {
          while (at < BIG_BYTES) {
            const buf = Buffer.allocUnsafe(chunk);
            for (let i = 0; i < chunk; i++) buf[i] = bigByte(at + i);
            at += chunk;
            if (!res.write(buf)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end(() => (bigDone = true));
        };
        pump();
        return;
      }
      if (req.url?.startsWith('/slow') === true) {
        res.once('close', () => closed.push(req.url ?? ''));
        return;
      }
      const body = JSON.stringify(received);
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'plain', connection: 'keep-alive, x-hop', 'x-hop': 'drop me' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    closed,
    bigFinished: () => bigDone,
    release: () => release(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
