/** Header filtering, route matching and ext_authz helpers, without sockets. */
import { describe, expect, it } from 'vitest';
import { allowedCheckHeaders, compileRoutes, forwardRequestHeaders, forwardResponseHeaders, matchRoute, originalPath, upstreamFailure } from '@tessera/gateway';

const pairs = (flat: string[]) => Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]);

describe('forwardRequestHeaders', () => {
  it('removes hop-by-hop fields (RFC 9110 §7.6.1), AAuth credentials and identity spoofing; keeps the rest in order', () => {
    const raw = [
      'Host', 'gw.example',
      'Connection', 'keep-alive, X-Secret',
      'X-Secret', 'hop',
      'Keep-Alive', 'timeout=5',
      'Proxy-Authorization', 'Basic x',
      'TE', 'trailers',
      'Trailer', 'x',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'websocket',
      'Signature', 'sig=:x:',
      'Signature-Input', 'sig=()',
      'Signature-Key', 'sig=jwt;jwt="x"',
      'Authorization', 'AAuth session-token',
      'X-AAuth-Person-Sub', 'admin',
      'X-Forwarded-For', '10.0.0.1',
      'Accept', 'text/event-stream',
      'Cookie', 'a=1',
    ];
    const out = pairs(forwardRequestHeaders(raw, [['x-aauth-person-sub', 'alice']], { clientAddress: '127.0.0.1', proto: 'https', host: 'gw.example' }));
    expect(out).toEqual([
      ['Accept', 'text/event-stream'],
      ['Cookie', 'a=1'],
      ['x-aauth-person-sub', 'alice'],
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'gw.example'],
    ]);
  });

  it('keeps a non-AAuth Authorization (the upstream may have its own scheme)', () => {
    const out = pairs(forwardRequestHeaders(['Authorization', 'Bearer abc'], [], { clientAddress: '', proto: 'http', host: 'h' }));
    expect(out[0]).toEqual(['Authorization', 'Bearer abc']);
  });
});

describe('forwardResponseHeaders', () => {
  it('drops hop-by-hop response fields and those Connection names', () => {
    expect(forwardResponseHeaders({ connection: 'close, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'keep-alive': 'x', 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] })).toEqual({
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('maps upstream failures', () => {
    expect(upstreamFailure({ code: 'ECONNREFUSED' })).toEqual([502, 'bad_gateway']);
    expect(upstreamFailure({ code: 'UND_ERR_HEADERS_TIMEOUT' })).toEqual([504, 'gateway_timeout']);
  });
});

describe('routes', () => {
  const routes = compileRoutes([
    { pathPrefix: '/', upstream: 'http://u', policy: { mode: 'agent-token' } },
    { pathPrefix: '/api', upstream: 'http://u', policy: { mode: 'auth-token', scopes: ['api.read'], scopesByPath: [{ pathPrefix: '/api/admin', scopes: ['api.admin'] }, { pathPrefix: '/api/notes', methods: ['POST', 'PUT'], scopes: ['notes.write'] }] } },
    { host: 'mcp.example', pathPrefix: '/', upstream: 'http://m', policy: { mode: 'person-token' } },
    { pathPrefix: '/mcp', upstream: 'http://u', policy: { mode: 'auth-token', scopes: { GET: ['mcp.read'], '*': ['mcp.call'] } } },
  ]);

  it('matches host first, then the longest prefix on a segment boundary', () => {
    expect(matchRoute(routes, 'mcp.example:8443', '/api')?.index).toBe(2);
    expect(matchRoute(routes, 'gw.example', '/api')?.index).toBe(1);
    expect(matchRoute(routes, 'gw.example', '/api/x')?.index).toBe(1);
    expect(matchRoute(routes, 'gw.example', '/apix')?.index).toBe(0);
  });

  it('method- and path-specific scopes', () => {
    const api = routes.find((r) => r.index === 1)!;
    expect(api.policyFor('GET', '/api/x')?.scopes).toEqual(['api.read']);
    expect(api.policyFor('GET', '/api/admin/users')?.scopes).toEqual(['api.admin']);
    expect(api.policyFor('GET', '/api/notes')?.scopes).toEqual(['api.read']);
    expect(api.policyFor('POST', '/api/notes/1')?.scopes).toEqual(['notes.write']);
    expect(api.policyFor('POST', '/api/x')?.requireContentDigest).toBe(true);
    const mcp = routes.find((r) => r.index === 3)!;
    expect(mcp.policyFor('GET', '/mcp')?.scopes).toEqual(['mcp.read']);
    expect(mcp.policyFor('POST', '/mcp')?.scopes).toEqual(['mcp.call']);
  });
});

describe('ext_authz helpers', () => {
  it('strips the path prefix', () => {
    expect(originalPath('/ext-authz/api/x', '/ext-authz')).toBe('/api/x');
    expect(originalPath('/ext-authz', '/ext-authz/')).toBe('/');
    expect(originalPath('/ext-authzx', '/ext-authz')).toBeUndefined();
  });

  it('asks Envoy to remove the credentials and every identity header it does not set', () => {
    const h = allowedCheckHeaders({ mode: 'agent-token', agent: { jkt: 'j', id: 'aauth:a@b.example' }, scopes: [], tokenId: 't' }, { removeAuthorization: true });
    expect(h['x-aauth-agent']).toBe('aauth:a@b.example');
    expect(h['x-envoy-auth-headers-to-remove']!.split(',')).toEqual(['signature', 'signature-input', 'signature-key', 'authorization', 'x-aauth-person-iss', 'x-aauth-person-sub', 'x-aauth-scope']);
  });
});
