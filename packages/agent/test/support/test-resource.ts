/**
 * A small AAuth resource for the agent tests, on 127.0.0.1, trusting one Person Server (Tessera's or mockin's):
 *
 * - `GET /whoami`: person identity (agent token → 401 person-token; person token → 200 `{sub}`);
 * - `GET /data`: three-party (agent → 401 person-token; person → 401 auth-token, or a deferred 202 auth-token with
 *   `?deferred`; auth → 200 `{sub, scope}`), each 200 sending a new `AAuth-Access` session token;
 * - `GET /odd`: 401 with a requirement no one knows (§8.28);
 * - `GET /pending/:id`: the deferred auth-token's pending URL, answered with an auth token.
 *
 * Resource tokens carry both `presented_jti` (-11) and `person_token_jti` (what @hellocoop/mockin 2.0 reads).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  createKeyResolver,
  createSigner,
  generateKeyPair,
  jwksDocument,
  mintResourceToken,
  publicJwkOf,
  toErrorResponse,
  verifyAAuthRequest,
  type RequestTokenTyp,
} from '@tessera/protocol';

const now = () => Math.floor(Date.now() / 1000);

export interface TestResource {
  readonly issuer: string;
  /** `Authorization` headers received on `/data`, in order. */
  readonly authorizations: (string | undefined)[];
  /** Requests seen, by path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? undefined : new Uint8Array(Buffer.concat(chunks));
}

export async function testResource(options: { ps: string; scope?: string }): Promise<TestResource> {
  const key = await generateKeyPair('Ed25519', 'resource-test-1');
  const signer = await createSigner(key);
  const resolveKey = createKeyResolver({ fetch: (u, i) => fetch(u, i), now, allowLoopbackHttp: true });
  const scope = options.scope ?? 'data.read';
  const authorizations: (string | undefined)[] = [];
  const hits = new Map<string, number>();
  let issuer = '';
  let sessions = 0;
  let pendings = 0;

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
      const send = (status: number, json: unknown, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(json === undefined ? undefined : JSON.stringify(json));
      };
      if (url.pathname === '/.well-known/aauth-resource.json') return send(200, { issuer, jwks_uri: `${issuer}/jwks.json`, name: 'agent test resource' });
      if (url.pathname === '/jwks.json') return send(200, jwksDocument([publicJwkOf(key)]));
      if (req.headers['signature'] === undefined) return send(401, undefined, { 'aauth-requirement': 'requirement=agent-token' });
      if (url.pathname === '/odd') return send(401, undefined, { 'aauth-requirement': 'requirement=teleport; destination="mars"' });

      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      const accept: [RequestTokenTyp, ...RequestTokenTyp[]] = url.pathname === '/whoami' ? ['aa-agent+jwt', 'aa-person+jwt'] : ['aa-agent+jwt', 'aa-person+jwt', 'aa-auth+jwt'];
      const bytes = await body(req);
      const verified = await verifyAAuthRequest(
        { method: req.method ?? 'GET', url: url.href, headers, ...(bytes === undefined ? {} : { body: bytes }) },
        { accept, audience: issuer, resolveKey, now },
      );
      if (!verified.ok) {
        const e = toErrorResponse(verified.error);
        return send(e.status, e.body, e.headers);
      }
      const token = verified.value.token;
      if (token.kind === 'aa-agent+jwt') return send(401, undefined, { 'aauth-requirement': 'requirement=person-token' });
      if (url.pathname === '/whoami') return send(200, { sub: token.claims.sub, iss: token.claims.iss });
      if (token.kind === 'aa-person+jwt') {
        const claims = token.claims;
        const resourceToken = await mintResourceToken(
          signer,
          {
            iss: issuer,
            aud: claims.iss,
            ps: claims.iss,
            sub: claims.sub,
            presented_jti: claims.jti,
            person_token_jti: claims.jti,
            agent_jkt: verified.value.jkt,
            scope,
          },
          { now, ttl: 300, notAfter: claims.exp },
        );
        const requirement = `requirement=auth-token; resource-token="${resourceToken}"`;
        if (url.searchParams.has('deferred')) return send(202, { status: 'pending' }, { 'aauth-requirement': requirement, location: `/pending/${++pendings}`, 'retry-after': '0' });
        return send(401, undefined, { 'aauth-requirement': requirement });
      }
      // An auth token (the verifier checked typ, aud, cnf = signer).
      if (url.pathname.startsWith('/pending/')) return send(200, { deferred: true, sub: token.claims.sub });
      authorizations.push(headers['authorization']);
      return send(200, { sub: token.claims.sub, scope: token.claims.scope }, { 'aauth-access': `session-${++sessions}` });
    })().catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { issuer, authorizations, hits, close: () => new Promise<void>((r) => server.close(() => r())) };
}
