/** Ed25519 checks batched onto a worker thread (src/node/verify-threads.ts): the same answers as inline libsodium. */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign as opensslSign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PrivateJwk, PublicJwk, VerifyKey } from '../src/crypto/types.js';
import { generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { libsodium } from '../src/node/libsodium.js';
import { BatchedVerifier, createVerifyThreads, type VerifyThreads } from '../src/node/verify-threads.js';

function keyPair() {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as PrivateJwk), alg: 'Ed25519' as const };
  const { d: _d, ...publicJwk } = jwk;
  return { privateKey, publicJwk: publicJwk as PublicJwk };
}

/** n checks, every third tampered; each with the answer it must get. */
function checks(n: number, size = 300) {
  const { privateKey, publicJwk } = keyPair();
  return {
    publicJwk,
    cases: Array.from({ length: n }, (_, i) => {
      const message = Buffer.from(`${i}:`.padEnd(size, 'x'));
      const signature = new Uint8Array(opensslSign(null, message, privateKey));
      const valid = i % 3 !== 0;
      if (!valid) signature[i % 64] = signature[i % 64]! ^ 0x40;
      return { message: new Uint8Array(message), signature, valid };
    }),
  };
}

const answers = (key: VerifyKey, cases: ReturnType<typeof checks>['cases']) => Promise.all(cases.map((c) => key.verify(c.message, c.signature)));

describe('createVerifyThreads', () => {
  let threads: VerifyThreads | undefined;
  afterEach(async () => {
    await threads?.close();
    threads = undefined;
  });

  it('answers many concurrent checks, valid and tampered, exactly as libsodium does inline', async () => {
    threads = createVerifyThreads();
    expect(threads.active).toBe(true);
    const { publicJwk, cases } = checks(300);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    // And one at a time.
    for (const c of cases.slice(0, 6)) expect(await key.verify(c.message, c.signature)).toBe(c.valid);
  });

  it('splits a queue longer than one batch and keeps every answer with its check', async () => {
    threads = createVerifyThreads();
    const { publicJwk, cases } = checks(5, 450_000);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
  });

  it('refuses a signature of the wrong length, and keys of small order at import', async () => {
    threads = createVerifyThreads();
    const { publicJwk, cases } = checks(1);
    const key = await threads.importKey(publicJwk);
    expect(await key.verify(cases[0]!.message, new Uint8Array(63))).toBe(false);
    const identity = new Uint8Array(32);
    identity[0] = 1;
    await expect(threads.importKey({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', x: Buffer.from(identity).toString('base64url') })).rejects.toMatchObject({ code: 'invalid_key' });
  });

  it('passes other algorithms to the ordinary importer (ES256 through WebCrypto)', async () => {
    threads = createVerifyThreads();
    const es = await generateKeyPair('ES256', 'es');
    const key = await threads.importKey(publicJwkOf(es));
    expect(key.alg).toBe('ES256');
    expect(await key.verify(new Uint8Array([1]), new Uint8Array(64))).toBe(false);
  });

  it('answers what it holds on close, and checks inline after', async () => {
    threads = createVerifyThreads();
    const { publicJwk, cases } = checks(30);
    const key = await threads.importKey(publicJwk);
    const pending = answers(key, cases);
    await threads.close();
    expect(await pending).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(false);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
  });

  it('is one worker per process: handles share it, and it stops when the last one closes', async () => {
    threads = createVerifyThreads();
    const second = createVerifyThreads();
    const { publicJwk, cases } = checks(12);
    const key = await second.importKey(publicJwk);
    await second.close();
    expect(second.active).toBe(false);
    expect(threads.active).toBe(true);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    await threads.close();
    expect(threads.active).toBe(false);
    const third = createVerifyThreads();
    expect(third.active).toBe(true);
    expect(await answers(await third.importKey(publicJwk), cases)).toEqual(cases.map((c) => c.valid));
    await third.close();
  });

  it('starts no worker when TESSERA_VERIFY_THREADS=0, and answers the same inline', async () => {
    vi.stubEnv('TESSERA_VERIFY_THREADS', '0');
    try {
      threads = createVerifyThreads();
      expect(threads.active).toBe(false);
      const { publicJwk, cases } = checks(10);
      expect(await answers(await threads.importKey(publicJwk), cases)).toEqual(cases.map((c) => c.valid));
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a worker that dies: what it held and every later check are answered inline, correctly', async () => {
    threads = new BatchedVerifier(libsodium()!, `require('node:worker_threads').parentPort.on('message', () => process.exit(3));`);
    const { publicJwk, cases } = checks(40);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(false);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
  });

  it('a worker out of step (answers of the wrong count) is never believed: the checks run inline', async () => {
    const lying = `const { parentPort } = require('node:worker_threads');
      parentPort.on('message', () => { const r = new Uint8Array(1).fill(1); parentPort.postMessage(r, [r.buffer]); });`;
    threads = new BatchedVerifier(libsodium()!, lying);
    const { publicJwk, cases } = checks(9);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(false);
  });
});

describe('createVerifyThreads in a process with nothing else running', () => {
  it('keeps the process alive while it holds a check, and lets it exit when idle', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-threads-'));
    const source = pathToFileURL(join(import.meta.dirname, '../src/node/index.ts')).href;
    const script = join(dir, 'verify-once.mjs');
    await writeFile(
      script,
      `import { createVerifyThreads } from ${JSON.stringify(source)};
       import { generateKeyPairSync, sign } from 'node:crypto';
       const { privateKey, publicKey } = generateKeyPairSync('ed25519');
       const threads = createVerifyThreads();
       const key = await threads.importKey({ ...publicKey.export({ format: 'jwk' }), alg: 'Ed25519' });
       const message = Buffer.from('hello');
       console.log(JSON.stringify({ active: threads.active, valid: await key.verify(message, sign(null, message, privateKey)) }));
      `,
    );
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 15_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      // A worker unref'd while it holds the check: exit 13 (unsettled await) and no answer. One never unref'd: no exit.
      expect(JSON.parse(out.trim())).toEqual({ active: true, valid: true });
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
