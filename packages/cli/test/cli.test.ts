import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../src/main.js';

/** Runs the CLI in-process with captured output. */
async function cli(argv: string[], options: { stdin?: string; now?: number } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readStdin: () => Promise.resolve(options.stdin ?? ''),
    now: () => options.now ?? Date.now() / 1000,
  });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

// ../shared/spec/vectors.md §2: the derived AAuth-profile vector.
const AGENT_JWK = { kty: 'OKP', crv: 'Ed25519', kid: 'test-key-ed25519', alg: 'Ed25519', d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' };
const AP_PUBLIC = { kty: 'OKP', crv: 'Ed25519', x: 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U', alg: 'Ed25519', kid: 'ap-key-1' };
const AP_JWK = { ...AP_PUBLIC, d: 'wDM88T93YS50ZtT04y1ZoJcjdZYaVNE-OOWjhHX51t8' };
const VECTOR_TOKEN =
  'eyJhbGciOiJFZDI1NTE5IiwidHlwIjoiYWEtYWdlbnQrand0Iiwia2lkIjoiYXAta2V5LTEifQ.eyJpc3MiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJkd2siOiJhYXV0aC1hZ2VudC5qc29uIiwic3ViIjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJqdGkiOiJhZ3QtMDAwMSIsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiJKclFMajVQXzg5aVhFUzktdkZnckl5MjljbEY5Q0Nfb1BQc3czYzVEMGJzIiwiYWxnIjoiRWQyNTUxOSJ9fSwiaWF0IjoxNzMwMjE3NjAwLCJleHAiOjE3MzAyMjEyMDB9.IzvM6zL-iYyNsHLwb2gv7dh19bgcZS9ZPj5nib1934c1Bb2zDimYYlD2Cr_6IKu7oEzYT-A0sEcmVK3mQjgxBw';
const VECTOR_SIGNATURE = 'sig=:NPQRauazCeReXW5NS09/2URgsm6n4rziYWWpBXNEs8w9dMeY88atn4WVl9qqd5YT2R0TrQUso1tLMK31BCkxBA==:';
const T0 = 1730217600;

let dir: string;
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
  await writeFile(path('agent.jwk'), JSON.stringify(AGENT_JWK));
  await writeFile(path('ap.jwk'), JSON.stringify(AP_JWK));
  await writeFile(path('ap-jwks.json'), JSON.stringify({ keys: [AP_PUBLIC] }));
  await writeFile(path('agent.jwt'), VECTOR_TOKEN);
});

async function signVector(extra: string[] = []) {
  const r = await cli(['http', 'sign', '--key', path('agent.jwk'), '--token', `@${path('agent.jwt')}`, '--method', 'GET', '--url', 'https://resource.example/api/documents', '--created', String(T0), ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

describe('tessera keygen', () => {
  it('prints an Ed25519 private JWK with alg and kid by default', async () => {
    const r = await cli(['keygen', '--kid', 'k1']);
    expect(r.code).toBe(0);
    const jwk = JSON.parse(r.stdout);
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', kid: 'k1' });
    expect(typeof jwk.d).toBe('string');
  });

  it('prints an ES256 key, and the public JWK of a private one without d', async () => {
    const r = await cli(['keygen', '--alg', 'ES256']);
    const jwk = JSON.parse(r.stdout);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(jwk.kid).toMatch(/^[A-Za-z0-9_-]{43}$/); // RFC 7638 thumbprint by default
    await writeFile(path('es.jwk'), r.stdout);
    const pub = JSON.parse((await cli(['keygen', '--public', path('es.jwk')])).stdout);
    expect(pub.d).toBeUndefined();
    expect(pub).toMatchObject({ kty: 'EC', alg: 'ES256', x: jwk.x, y: jwk.y, kid: jwk.kid });
  });

  it('refuses an unknown --alg with one line and exit 2', async () => {
    const r = await cli(['keygen', '--alg', 'EdDSA']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--alg');
  });

  it('refuses an unreadable or non-private key file with exit 2', async () => {
    expect((await cli(['keygen', '--public', path('missing.jwk')])).code).toBe(2);
    expect((await cli(['keygen', '--public', path('ap-jwks.json')])).code).toBe(2);
  });
});

describe('tessera token', () => {
  it('mints an agent token that decodes with every offline check passing', async () => {
    const claims = JSON.stringify({ iss: 'https://agent.example', sub: 'aauth:assistant@agent.example', cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: AGENT_JWK.x, alg: 'Ed25519' } } });
    const minted = await cli(['token', 'mint', '--type', 'agent', '--key', path('ap.jwk'), '--claims', claims, '--ttl', '600']);
    expect(minted.code, minted.stderr).toBe(0);
    const decoded = await cli(['token', 'decode', minted.stdout]);
    expect(decoded.code).toBe(0);
    const out = JSON.parse(decoded.stdout);
    expect(out.header).toMatchObject({ alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'ap-key-1' });
    expect(out.claims.exp - out.claims.iat).toBe(600);
    expect(out.times.exp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(out.offline_checks_pass).toBe(true);
  });

  it('[§8.41] refuses a ttl over the kind cap (auth token: 1 h) with exit 2', async () => {
    const claims = JSON.stringify({ iss: 'https://ps.example', aud: 'https://resource.example', ps: 'https://ps.example', sub: 'u1', cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: AGENT_JWK.x, alg: 'Ed25519' } } });
    const r = await cli(['token', 'mint', '--type', 'auth', '--key', path('ap.jwk'), '--claims', claims, '--ttl', '7200']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cap/);
  });

  it('[§8.19] refuses a person token carrying scope', async () => {
    const claims = JSON.stringify({ iss: 'https://ps.example', aud: 'https://resource.example', sub: 'u1', scope: 'read', cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: AGENT_JWK.x, alg: 'Ed25519' } } });
    const r = await cli(['token', 'mint', '--type', 'person', '--key', path('ap.jwk'), '--claims', claims]);
    expect(r.code).toBe(2);
  });

  it('decode reports the expired vector token as failing the expiry check (exit 1)', async () => {
    const r = await cli(['token', 'decode', VECTOR_TOKEN]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.checks.find((c: { check: string }) => c.check === 'not expired').ok).toBe(false);
    expect(out.checks.find((c: { check: string }) => c.check === 'required claims of the kind').ok).toBe(true);
  });

  it('decode of a non-JWT says invalid_jwt (exit 1)', async () => {
    const r = await cli(['token', 'decode', 'not.a.jwt']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toBe('invalid_jwt');
  });
});

describe('tessera http sign / verify', () => {
  it('[§8.12] reproduces the vectors.md AAuth-profile signature byte for byte', async () => {
    const signed = JSON.parse(await signVector());
    expect(signed.headers['signature']).toBe(VECTOR_SIGNATURE);
    expect(signed.headers['signature-input']).toBe('sig=("@method" "@authority" "@path" "signature-key");created=1730217600');
    expect(signed.headers['signature-key']).toBe(`sig=jwt;jwt="${VECTOR_TOKEN}"`);
    expect(signed.body).toBeNull();
  });

  it('verifies it offline with a pinned JWKS at created time, naming the signer thumbprint', async () => {
    const r = await cli(['http', 'verify', '-', '--now', String(T0), '--jwks', `https://agent.example=${path('ap-jwks.json')}`], { stdin: await signVector() });
    expect(r.code, r.stdout).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ valid: true, label: 'sig', scheme: 'jwt', jkt: 'poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U' });
    expect(out.token.kind).toBe('aa-agent+jwt');
    expect(out.token.claims.sub).toBe('aauth:assistant@agent.example');
  });

  it('[§8.5] rejects it 61 s later with invalid_signature (exit 1)', async () => {
    const r = await cli(['http', 'verify', '--now', String(T0 + 61), '--jwks', `https://agent.example=${path('ap-jwks.json')}`], { stdin: await signVector() });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toBe('invalid_signature');
  });

  it('answers expired_jwt after the agent token expires (window widened)', async () => {
    const r = await cli(['http', 'verify', '--now', String(1730221201), '--window', '100000', '--jwks', `https://agent.example=${path('ap-jwks.json')}`], { stdin: await signVector() });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toBe('expired_jwt');
  });

  it('adds and covers Content-Digest on a body; a tampered body fails', async () => {
    const signed = await signVector(['--method', 'POST', '-H', 'Content-Type: application/json', '--body', '{"hello": "world"}']);
    const req = JSON.parse(signed);
    expect(req.headers['content-digest']).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    expect(req.headers['signature-input']).toContain('"content-digest" "content-type"');
    const pin = ['--now', String(T0), '--jwks', `https://agent.example=${path('ap-jwks.json')}`];
    expect((await cli(['http', 'verify', ...pin], { stdin: signed })).code).toBe(0);
    const tampered = JSON.stringify({ ...req, body: '{"hello": "there"}' });
    const bad = await cli(['http', 'verify', ...pin], { stdin: tampered });
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error).toBe('invalid_signature');
  });

  it('covers extra components with --cover, e.g. @query', async () => {
    const signed = await cli(['http', 'sign', '--key', path('agent.jwk'), '--token', VECTOR_TOKEN, '--url', 'https://resource.example/api?x=1', '--created', String(T0), '--cover', '@query']);
    const req = JSON.parse(signed.stdout);
    expect(req.headers['signature-input']).toContain('"@query"');
    const changed = JSON.stringify({ ...req, url: 'https://resource.example/api?x=2' });
    const r = await cli(['http', 'verify', '--now', String(T0), '--jwks', `https://agent.example=${path('ap-jwks.json')}`], { stdin: changed });
    expect(JSON.parse(r.stdout).error).toBe('invalid_signature');
  });

  it('--explain prints the signature base and each check in order', async () => {
    const r = await cli(['http', 'verify', '--explain', '--now', String(T0), '--jwks', `https://agent.example=${path('ap-jwks.json')}`], { stdin: await signVector() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('"@signature-params": ("@method" "@authority" "@path" "signature-key");created=1730217600');
    const order = ['signature headers', 'covered components', 'created window', 'signature-key scheme', 'token', 'algorithm', 'signature'];
    const lines = r.stderr.split('\n');
    const positions = order.map((s) => lines.findIndex((l) => l === `ok   ${s}` || l.startsWith(`ok   ${s}:`)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('[§8.3] a request without signature headers is invalid_request', async () => {
    const r = await cli(['http', 'verify'], { stdin: JSON.stringify({ method: 'GET', url: 'https://resource.example/', headers: {}, body: null }) });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error).toBe('invalid_request');
  });

  it('input errors exit 2 with one line: bad JSON, bad --now, bad -H, missing option', async () => {
    for (const argv of [['http', 'verify'], ['http', 'verify', '--now', 'soon'], ['http', 'sign', '--key', 'k', '--token', 't', '--url', 'https://x.example/', '-H', 'nocolon'], ['http', 'sign', '--url', 'https://x.example/']]) {
      const r = await cli(argv, { stdin: '{not json' });
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
    }
  });
});

describe('the built binary', () => {
  it('runs as a process: keygen prints a JWK and a usage error exits 2', async () => {
    const bin = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
    const exec = promisify(execFile);
    const { stdout } = await exec(process.execPath, [bin, 'keygen']);
    expect(JSON.parse(stdout).alg).toBe('Ed25519');
    const failed = await exec(process.execPath, [bin, 'keygen', '--alg', 'none']).catch((e: { code: number; stderr: string }) => e);
    expect((failed as { code: number }).code).toBe(2);
  });
});

describe("the thread pool of a tessera process", () => {
  it('is cores − 1 threads, at least 1 and at most 4, unless UV_THREADPOOL_SIZE is set', async () => {
    const require = createRequire(import.meta.url);
    const { threadPoolSize } = require('../bin/thread-pool.js') as { threadPoolSize: (cores: number) => number };
    expect([1, 2, 3, 4, 5, 8, 64].map(threadPoolSize)).toEqual([1, 1, 2, 3, 4, 4, 4]);
    expect(threadPoolSize(0)).toBe(1);

    // The shim sets it before the command runs; a preload reports what the process ended with.
    const dir = await mkdtemp(join(tmpdir(), 'tessera-pool-'));
    const report = join(dir, 'report.cjs');
    await writeFile(report, "process.on('exit', () => process.stderr.write('UV_THREADPOOL_SIZE=' + process.env.UV_THREADPOOL_SIZE + '\\n'));\n");
    const bin = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
    const exec = promisify(execFile);
    const env = { ...process.env };
    delete env['UV_THREADPOOL_SIZE'];
    const sized = await exec(process.execPath, ['--require', report, bin, 'keygen'], { env });
    expect(sized.stderr).toContain(`UV_THREADPOOL_SIZE=${threadPoolSize(availableParallelism())}\n`);
    const chosen = await exec(process.execPath, ['--require', report, bin, 'keygen'], { env: { ...env, UV_THREADPOOL_SIZE: '7' } });
    expect(chosen.stderr).toContain('UV_THREADPOOL_SIZE=7\n');
    await rm(dir, { recursive: true, force: true });
  });
});

describe('tessera keys rotate', () => {
  it('rotates the Access Server key (--role as) when the configuration runs one, and refuses it otherwise', async () => {
    const data = await mkdtemp(join(tmpdir(), 'tessera-rotate-'));
    const base = { ps: { issuer: 'https://ps.example' }, ap: { issuer: 'https://ap.example' }, store: { kind: 'sqlite', dataDir: data } };
    await writeFile(join(data, 'no-as.json'), JSON.stringify(base));
    await writeFile(join(data, 'with-as.json'), JSON.stringify({ ...base, as: { issuer: 'https://as.example' } }));
    const refused = await cli(['keys', 'rotate', '--config', join(data, 'no-as.json'), '--role', 'as']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('no "as" section');
    const rotated = await cli(['keys', 'rotate', '--config', join(data, 'with-as.json'), '--role', 'as']);
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({ role: 'as', kid: expect.stringMatching(/^as-/) as string });
    expect((await cli(['keys', 'rotate', '--config', join(data, 'with-as.json'), '--role', 'rs'])).code).toBe(2);
  }, 20_000);
});
