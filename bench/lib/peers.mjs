// Shared pieces for the server benchmarks: a bench-side Agent Provider and resource (metadata + JWKS on loopback),
// an agent that signs requests, and @hellocoop/mockin as a child process.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { childEnv } from './child-env.mjs';
import {
  createSigner,
  generateKeyPair,
  jwkThumbprint,
  mintAgentToken,
  mintResourceToken,
  publicJwkOf,
  signAAuthRequest,
} from '@tessera/protocol';

const now = () => Math.floor(Date.now() / 1000);

/** Serves `/.well-known/{dwk}` and `/jwks.json` for one issuer on 127.0.0.1. */
export async function wellKnownServer(dwk, extra = {}) {
  const key = await generateKeyPair('Ed25519', `${dwk.split('-')[1].split('.')[0]}-1`);
  let issuer = '';
  const hits = { metadata: 0, jwks: 0 };
  const server = createServer((req, res) => {
    if (req.url === `/.well-known/${dwk}`) hits.metadata++;
    if (req.url === '/jwks.json') hits.jwks++;
    if (req.url === `/.well-known/${dwk}`) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json`, ...extra }));
    } else if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwkOf(key)] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, hits, signer: await createSigner(key), close: () => new Promise((r) => server.close(r)) };
}

/** An agent with its own key and an agent token from `ap`. */
export async function makeAgent(ap, ps) {
  const key = await generateKeyPair('Ed25519', 'agent-1');
  const signer = await createSigner(key);
  const agentToken = await mintAgentToken(
    ap.signer,
    { iss: ap.issuer, sub: 'aauth:bench@127.0.0.1', cnf: { jwk: publicJwkOf(key) }, ...(ps ? { ps } : {}) },
    { now, ttl: 3600 },
  );
  const jkt = await jwkThumbprint(publicJwkOf(key));
  /** Signs a JSON POST with the agent token; returns {url, headers, body} ready to send. */
  async function signedPost(url, json) {
    const body = JSON.stringify(json);
    const base = { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: new TextEncoder().encode(body) };
    const signed = await signAAuthRequest(base, { signer, token: agentToken, now });
    return { url, headers: { 'content-type': 'application/json', ...signed.headers }, body };
  }
  async function signedGet(url) {
    const signed = await signAAuthRequest({ method: 'GET', url, headers: {} }, { signer, token: agentToken, now });
    return { url, headers: { ...signed.headers } };
  }
  return { signer, agentToken, jkt, signedPost, signedGet };
}

/** A resource token for `ps`, bound to a person token the agent obtained there. */
export async function resourceToken(resource, { ps, aud, personClaims, jkt, scope = 'notes.read' }) {
  return mintResourceToken(
    resource.signer,
    {
      iss: resource.issuer,
      aud: aud ?? ps,
      ps,
      sub: personClaims.sub,
      // -11 (a99d353) names it presented_jti; @hellocoop/mockin 2.0.0 reads person_token_jti. Both are sent;
      // each PS ignores the claim it does not know (docs/interop.md).
      presented_jti: personClaims.jti,
      person_token_jti: personClaims.jti,
      agent_jkt: jkt,
      scope,
      ...(personClaims.mission_s256 ? { mission_s256: personClaims.mission_s256 } : {}),
    },
    { now, ttl: 300 },
  );
}

/** Starts @hellocoop/mockin (a -11 Person Server mock) on a free port; issuer http://127.0.0.1:PORT. */
export async function startMockin() {
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('@hellocoop/mockin/package.json');
  const entry = join(dirname(pkg), 'src', 'server.js');
  const probe = createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  const child = spawn(process.execPath, [entry], { env: childEnv({ PORT: String(port), HOST: '127.0.0.1' }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const issuer = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${issuer}/.well-known/aauth-person.json`);
      if (r.ok) return { issuer, metadata: await r.json(), pid: child.pid, close: () => child.kill('SIGTERM') };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`mockin did not start: ${output.slice(-500)}`);
}

export function decodeClaims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}
