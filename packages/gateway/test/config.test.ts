/** Bad configuration is refused at start, naming the file, the key and what is wrong. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError, loadGatewayConfig, parseGatewayConfig } from '@tessera/gateway';
import { keys } from './fixtures.js';

const route = { pathPrefix: '/api', upstream: 'http://127.0.0.1:3000', policy: { mode: 'agent-token' } };

function refused(value: unknown): string {
  try {
    parseGatewayConfig(value, 'gw.json');
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('configuration', () => {
  it('accepts a good configuration with defaults', () => {
    const c = parseGatewayConfig({ issuer: 'https://resource.example', routes: [route] }, 'gw.json');
    expect(c.maxBodyBytes).toBe(1024 * 1024);
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
  });

  it('names the file, the key path and the problem', () => {
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, upstream: 'ftp://x' }] })).toMatch(/^gw\.json: routes\[0\]\.upstream: must be an http\(s\) URL/);
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, policy: { mode: 'bearer' } }] })).toMatch(/gw\.json: routes\[0\]\.policy\.mode: must be one of/);
    expect(refused({ issuer: 'https://resource.example:8443', routes: [route] })).toMatch(/gw\.json: issuer: "https:\/\/resource\.example:8443" is not a server identifier/);
    expect(refused({ issuer: 'https://resource.example', routes: [] })).toMatch(/routes: needs at least one route/);
    expect(refused({ issuer: 'https://resource.example', routes: [route], colour: 'red' })).toMatch(/gw\.json: .*colour/);
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, pathPrefix: 'api' }] })).toMatch(/routes\[0\]\.pathPrefix: must start with "\/"/);
  });

  it('refuses policies the resource core would refuse', () => {
    const authNoScopes = { issuer: 'https://resource.example', signingKeyFile: 'k.jwk', routes: [{ ...route, policy: { mode: 'auth-token' } }] };
    expect(refused(authNoScopes)).toMatch(/routes\[0\]\.policy\.scopes: .*needs scopes/);
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, policy: { mode: 'agent-token', scopes: ['a'] } }] })).toMatch(/routes\[0\]\.policy\.scopes: agent-token mode carries no scope/);
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, policy: { mode: 'auth-token', scopes: ['a'] } }] })).toMatch(/signingKeyFile: is required/);
    expect(refused({ issuer: 'https://resource.example', routes: [{ ...route, policy: { mode: 'session-token' } }] })).toMatch(/session-token/);
  });

  it('refuses an unreadable file, bad JSON and a bad signing key, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-gw-'));
    await expect(loadGatewayConfig(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read the file \(ENOENT\)/);
    await writeFile(join(dir, 'bad.json'), '{ nope');
    await expect(loadGatewayConfig(join(dir, 'bad.json'))).rejects.toThrow(/bad\.json: not valid JSON/);
    const withKey = { issuer: 'https://resource.example', signingKeyFile: 'key.jwk', routes: [{ ...route, policy: { mode: 'auth-token', scopes: ['a'] } }] };
    await writeFile(join(dir, 'gw.json'), JSON.stringify(withKey));
    await expect(loadGatewayConfig(join(dir, 'gw.json'))).rejects.toThrow(/gw\.json: signingKeyFile: cannot read .*key\.jwk/);
    await writeFile(join(dir, 'key.jwk'), JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'abc' }));
    await expect(loadGatewayConfig(join(dir, 'gw.json'))).rejects.toThrow(/signingKeyFile: .* is not a private JWK/);
    await writeFile(join(dir, 'key.jwk'), JSON.stringify((await keys()).resourceJwk));
    const loaded = await loadGatewayConfig(join(dir, 'gw.json'));
    expect(loaded.signingKey?.kid).toBe('resource-1');
  });
});
