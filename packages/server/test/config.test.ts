/**
 * Configuration: the schema, environment variables and error messages that name the source, the key and the problem.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.js';

const VALID = {
  ps: { issuer: 'https://ps.example', name: 'Example PS' },
  ap: { issuer: 'https://ap.example' },
  store: { kind: 'sqlite', dataDir: '/var/lib/tessera' },
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

async function configErrorAsync(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('accepts a minimal production configuration and fills in defaults', () => {
    const config = parseConfig(VALID, { mode: 'production' });
    expect(config.mode).toBe('production');
    expect(config.ap.name).toBe('Tessera Agent Provider');
    expect(config.listen).toEqual({ host: '0.0.0.0', psPort: 4100, apPort: 4101, resourcePort: 4102, asPort: 4103 });
    expect(config.as).toBeUndefined();
    expect(config.rateLimit.enabled).toBe(true);
    expect(config.egress).toEqual({ allowPrivate: false, allowedHosts: [], timeoutMs: 5000 });
    expect(config.log.level).toBe('info');
  });

  it('an Access Server section: its own identifier, Person Servers it accepts, scopes per resource; mistakes named by key', () => {
    const config = parseConfig(
      { ...VALID, as: { issuer: 'https://as.example', acceptPersonServers: ['https://ps.example'], resources: { 'https://api.example': { scopes: ['notes.read'] } } } },
      { mode: 'production' },
    );
    expect(config.as).toEqual({ issuer: 'https://as.example', acceptPersonServers: ['https://ps.example'], resources: { 'https://api.example': { scopes: ['notes.read'] } } });
    const same = configError(() => parseConfig({ ...VALID, as: { issuer: 'https://ps.example' } }, { mode: 'production' }));
    expect(same.message).toContain('as.issuer');
    const http = configError(() => parseConfig({ ...VALID, as: { issuer: 'http://as.example' } }, { mode: 'production' }));
    expect(http.message).toContain('as.issuer');
    const scope = configError(() => parseConfig({ ...VALID, as: { issuer: 'https://as.example', resources: { 'https://api.example': { scopes: ['two words'] } } } }, { mode: 'production' }));
    expect(scope.message).toContain('as.resources');
    expect(parseConfig({ ...VALID, as: { issuer: 'https://as.example' } }, { mode: 'production', env: { TESSERA_AS_PORT: '9443' } }).listen.asPort).toBe(9443);
  });

  it('[§8.16] production refuses an http:// identifier, naming the key and the problem', () => {
    const error = configError(() => parseConfig({ ...VALID, ps: { issuer: 'http://localhost:4100' } }, { mode: 'production', source: 'config file /etc/t.json' }));
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.path).toBe('ps.issuer');
    expect(error.message).toContain('config file /etc/t.json: ps.issuer:');
    expect(error.message).toContain('http:// identifier; production requires https://host');
  });

  it('[§8.16] refuses identifiers with a port, a path or a trailing slash', () => {
    for (const issuer of ['https://ps.example:8443', 'https://ps.example/ps', 'https://ps.example/', 'https://PS.example']) {
      const error = configError(() => parseConfig({ ...VALID, ps: { issuer } }, { mode: 'production' }));
      expect(error.issues[0]!.path).toBe('ps.issuer');
      expect(error.message).toContain('not a server identifier');
    }
  });

  it('development accepts http://localhost:PORT identifiers', () => {
    const config = parseConfig({ ...VALID, ps: { issuer: 'http://localhost:4100' }, ap: { issuer: 'http://localhost:4101' } }, { mode: 'development' });
    expect(config.ps.issuer).toBe('http://localhost:4100');
    expect(config.listen.host).toBe('127.0.0.1');
  });

  it('names unknown keys, wrong types and every problem at once', () => {
    const error = configError(() =>
      parseConfig({ ...VALID, listen: { psPort: 70000, apPort: 'x' }, colour: 'blue' }, { mode: 'production', source: 'config file c.json' }),
    );
    const paths = error.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['listen.psPort', 'listen.apPort', '']));
    expect(error.message).toContain('config file c.json: listen.psPort: expected an integer from 0 to 65535');
    expect(error.message).toMatch(/colour/);
  });

  it('requires a store of a known kind', () => {
    const error = configError(() => parseConfig({ ...VALID, store: { kind: 'mysql' } }, { mode: 'production' }));
    expect(error.issues[0]!.path).toBe('store.kind');
    expect(error.message).toContain('"sqlite"');
  });

  it('refuses the same identifier for the PS and the AP', () => {
    const error = configError(() => parseConfig({ ...VALID, ap: { issuer: 'https://ps.example' } }, { mode: 'production' }));
    expect(error.issues[0]!.path).toBe('ap.issuer');
  });

  it('[§8.14] production refuses loopback hosts in egress.allowedHosts and the demo resource', () => {
    const error = configError(() =>
      parseConfig({ ...VALID, egress: { allowedHosts: ['idp.internal', 'localhost', '127.0.0.1'] }, demoResource: { issuer: 'https://notes.example' } }, { mode: 'production' }),
    );
    expect(error.issues.map((i) => i.path)).toEqual(['egress.allowedHosts.1', 'egress.allowedHosts.2', 'demoResource']);
    expect(error.message).toContain('production refuses loopback fetches');
  });

  it('admin token: at least 32 characters, or a SHA-256 in hex, not both', () => {
    expect(configError(() => parseConfig({ ...VALID, adminToken: 'short' }, { mode: 'production' })).issues[0]!.path).toBe('adminToken');
    expect(configError(() => parseConfig({ ...VALID, adminTokenSha256: 'ABC' }, { mode: 'production' })).issues[0]!.path).toBe('adminTokenSha256');
    const both = configError(() => parseConfig({ ...VALID, adminToken: 'x'.repeat(40), adminTokenSha256: 'a'.repeat(64) }, { mode: 'production' }));
    expect(both.message).toContain('not both');
  });
});

describe('environment variables', () => {
  it('override the file, typed', () => {
    const config = parseConfig(VALID, {
      mode: 'production',
      env: { TESSERA_PS_PORT: '8080', TESSERA_TRUST_PROXY: 'true', TESSERA_LOG_LEVEL: 'debug', TESSERA_PS_NAME: 'From env', UNRELATED: 'x' },
    });
    expect(config.listen.psPort).toBe(8080);
    expect(config.trustProxy).toBe(true);
    expect(config.log.level).toBe('debug');
    expect(config.ps.name).toBe('From env');
  });

  it('TESSERA_DATABASE_URL alone switches the store to PostgreSQL', () => {
    const config = parseConfig(VALID, { mode: 'production', env: { TESSERA_DATABASE_URL: 'postgres://db.example/tessera' } });
    expect(config.store).toEqual({ kind: 'postgres', connectionString: 'postgres://db.example/tessera' });
  });

  it('can supply the whole configuration with no file keys', () => {
    const config = parseConfig(
      {},
      { mode: 'production', env: { TESSERA_PS_ISSUER: 'https://ps.example', TESSERA_AP_ISSUER: 'https://ap.example', TESSERA_DATA_DIR: '/data', TESSERA_ADMIN_TOKEN: 'y'.repeat(43) } },
    );
    expect(config.store).toEqual({ kind: 'sqlite', dataDir: '/data' });
    expect(config.adminToken).toBe('y'.repeat(43));
  });

  it('errors name the variable and the key it sets', () => {
    const error = configError(() => parseConfig(VALID, { mode: 'production', env: { TESSERA_PS_PORT: 'eighty', TESSERA_AP_ISSUER: 'http://ap.example' } }));
    expect(error.message).toContain('environment variable TESSERA_PS_PORT: listen.psPort: expected an integer from 0 to 65535');
    expect(error.message).toContain('environment variable TESSERA_AP_ISSUER: ap.issuer:');
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a JSON file, production by default', async () => {
    const file = join(dir, 'ok.json');
    await writeFile(file, JSON.stringify(VALID));
    const config = await loadConfig(file, { env: {} });
    expect(config.mode).toBe('production');
    expect(config.ps.issuer).toBe('https://ps.example');
  });

  it('names the file when it cannot be read', async () => {
    const file = join(dir, 'missing.json');
    const error = await configErrorAsync(loadConfig(file, { env: {} }));
    expect(error.message).toBe(`config file ${file}: cannot be read (ENOENT)`);
  });

  it('names the file when it is not JSON', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{ "ps": ');
    const error = await configErrorAsync(loadConfig(file, { env: {} }));
    expect(error.message).toMatch(new RegExp(`^config file ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not valid JSON`));
  });

  it('names the file, the key path and the problem', async () => {
    const file = join(dir, 'http.json');
    await writeFile(file, JSON.stringify({ ...VALID, ap: { issuer: 'http://ap.example' } }));
    const error = await configErrorAsync(loadConfig(file, { env: {} }));
    expect(error.message).toBe(`config file ${file}: ap.issuer: "http://ap.example" is an http:// identifier; production requires https://host (no port, path or trailing slash)`);
  });
});
