/** A minimal Agent Provider for cross-process tests: metadata and JWKS on 127.0.0.1, and the agent tokens it mints. */
import { createServer, type Server } from 'node:http';
import { createSigner, generateKeyPair, publicJwkOf } from '@tessera/protocol';

export async function testAgentProvider() {
  const key = await generateKeyPair('Ed25519', 'ap-test-1');
  let issuer = '';
  const server: Server = createServer((req, res) => {
    const body =
      req.url === '/.well-known/aauth-agent.json' ? { issuer, jwks_uri: `${issuer}/jwks.json`, name: 'Test Agent Provider' } : req.url === '/jwks.json' ? { keys: [publicJwkOf(key)] } : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { issuer, signer: await createSigner(key), close: () => new Promise<void>((r) => server.close(() => r())) };
}
