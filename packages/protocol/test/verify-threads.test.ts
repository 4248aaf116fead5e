/** Ed25519 checks on a worker thread through shared memory (src/node/verify-threads.ts): the same answers as inline libsodium. */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign as opensslSign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PrivateJwk, PublicJwk, VerifyKey } from '../src/crypto/types.js';
import { generateKeyPair, publicJwkOf } from '../src/crypto/signer.js';
import { libsodium } from '../src/node/libsodium.js';
import { createNodeSigner } from '../src/node/signer.js';
import { BatchedVerifier, createVerifyThreads, WORKER_SOURCE, type VerifyThreads } from '../src/node/verify-threads.js';

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

/** Worker code that writes `state` into every submitted slot, then wakes the event loop, as the real one does. */
const answeringEverySlot = (state: number) => `const { control, ring, slots } = require('node:worker_threads').workerData;
  let seen = 0;
  for (;;) {
    Atomics.wait(control, 0, seen, 1000);
    const submitted = Atomics.load(control, 0);
    while (seen !== submitted) { Atomics.store(control, 4 + ring[seen & (slots - 1)], ${state}); seen++; }
    Atomics.add(control, 1, 1); Atomics.notify(control, 1);
  }`;

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

  it('keeps every answer with its check when more checks are in flight than there are slots (256)', async () => {
    threads = createVerifyThreads();
    const { publicJwk, cases } = checks(1000);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(true);
  });

  it('checks a message too long for a slot (over 8 KiB) on the calling thread, correctly, beside ones in slots', async () => {
    threads = createVerifyThreads();
    const long = checks(6, 450_000);
    const short = checks(6);
    const [longKey, shortKey] = await Promise.all([threads.importKey(long.publicJwk), threads.importKey(short.publicJwk)]);
    const [l, s] = await Promise.all([answers(longKey, long.cases), answers(shortKey, short.cases)]);
    expect(l).toEqual(long.cases.map((c) => c.valid));
    expect(s).toEqual(short.cases.map((c) => c.valid));
    expect(threads.active).toBe(true);
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
    // It dies when the first check is submitted, holding it.
    const dying = `const { control } = require('node:worker_threads').workerData; Atomics.wait(control, 0, 0); process.exit(3);`;
    threads = new BatchedVerifier(libsodium()!, dying);
    const { publicJwk, cases } = checks(40);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(false);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
  });

  it('a worker out of step (a state that is no answer) is never believed: the checks run inline', async () => {
    // It writes 7 into the state of every submitted slot.
    threads = new BatchedVerifier(libsodium()!, answeringEverySlot(7));
    const { publicJwk, cases } = checks(9);
    const key = await threads.importKey(publicJwk);
    expect(await answers(key, cases)).toEqual(cases.map((c) => c.valid));
    expect(threads.active).toBe(false);
  });
});

describe('signing on the worker (createSigner)', () => {
  let threads: VerifyThreads | undefined;
  afterEach(async () => {
    await threads?.close();
    threads = undefined;
  });

  function privateJwk(): PrivateJwk {
    const { privateKey } = generateKeyPairSync('ed25519');
    return { ...(privateKey.export({ format: 'jwk' }) as PrivateJwk), alg: 'Ed25519', kid: 'k' };
  }
  const inputs = (n: number) => Array.from({ length: n }, (_, i) => new Uint8Array(Buffer.from(`${i}.`.padEnd(200 + (i % 50), 'y'))));

  it('makes the same signatures as signing inline, many at once and with several keys', async () => {
    const verifier = new BatchedVerifier(libsodium()!, WORKER_SOURCE);
    threads = verifier;
    const [a, b] = [privateJwk(), privateJwk()];
    const [onWorkerA, onWorkerB, inlineA, inlineB] = await Promise.all([threads.createSigner(a), threads.createSigner(b), createNodeSigner(a), createNodeSigner(b)]);
    expect(onWorkerA.publicJwk).toEqual(inlineA.publicJwk);
    const messages = inputs(600);
    const signed = await Promise.all(messages.map((m, i) => (i % 2 === 0 ? onWorkerA : onWorkerB).sign(m)));
    const expected = await Promise.all(messages.map((m, i) => (i % 2 === 0 ? inlineA : inlineB).sign(m)));
    expect(signed.map((s) => Buffer.from(s).toString('hex'))).toEqual(expected.map((s) => Buffer.from(s).toString('hex')));
    expect(threads.active).toBe(true);
    expect(verifier.counts).toEqual({ signedOnWorker: 600, signedInline: 0 });
  });

  it('signs and verifies in the same rounds without mixing the answers up', async () => {
    threads = createVerifyThreads();
    const jwk = privateJwk();
    const signer = await threads.createSigner(jwk);
    const { publicJwk, cases } = checks(90);
    const key = await threads.importKey(publicJwk);
    const messages = inputs(90);
    const [verified, signatures] = await Promise.all([answers(key, cases), Promise.all(messages.map((m) => signer.sign(m)))]);
    expect(verified).toEqual(cases.map((c) => c.valid));
    const own = await threads.importKey(signer.publicJwk);
    expect(await Promise.all(messages.map((m, i) => own.verify(m, signatures[i]!)))).toEqual(messages.map(() => true));
  });

  it('refuses a key whose d does not match its x, as createNodeSigner does', async () => {
    threads = createVerifyThreads();
    const jwk = privateJwk();
    await expect(threads.createSigner({ ...jwk, x: privateJwk().x as string })).rejects.toMatchObject({ code: 'invalid_key' });
  });

  it('signs a message too long for a slot on the calling thread, and every other algorithm there too', async () => {
    threads = createVerifyThreads();
    const jwk = privateJwk();
    const [onWorker, inline] = await Promise.all([threads.createSigner(jwk), createNodeSigner(jwk)]);
    const long = new Uint8Array(20_000).fill(7);
    expect(Buffer.from(await onWorker.sign(long))).toEqual(Buffer.from(await inline.sign(long)));
    const es = await generateKeyPair('ES256', 'es');
    const esSigner = await threads.createSigner(es);
    expect(esSigner.alg).toBe('ES256');
    expect((await esSigner.sign(new Uint8Array([1, 2]))).length).toBe(64);
  });

  it('a worker that dies holding signatures to make: they are made on the calling thread, the same', async () => {
    const dying = `const { control } = require('node:worker_threads').workerData; Atomics.wait(control, 0, 0); process.exit(3);`;
    const verifier = new BatchedVerifier(libsodium()!, dying);
    threads = verifier;
    const jwk = privateJwk();
    const [onWorker, inline] = await Promise.all([threads.createSigner(jwk), createNodeSigner(jwk)]);
    const messages = inputs(20);
    const signed = await Promise.all(messages.map((m) => onWorker.sign(m)));
    expect(threads.active).toBe(false);
    expect(verifier.counts).toEqual({ signedOnWorker: 0, signedInline: 20 });
    for (const [i, m] of messages.entries()) expect(Buffer.from(signed[i]!)).toEqual(Buffer.from(await inline.sign(m)));
  });

  it('a worker that answers a signing slot as if it were a check is not believed', async () => {
    // It answers every slot VALID (2), which is no answer to a signing slot.
    threads = new BatchedVerifier(libsodium()!, answeringEverySlot(2));
    const jwk = privateJwk();
    const [onWorker, inline] = await Promise.all([threads.createSigner(jwk), createNodeSigner(jwk)]);
    const message = inputs(1)[0]!;
    expect(Buffer.from(await onWorker.sign(message))).toEqual(Buffer.from(await inline.sign(message)));
    expect(threads.active).toBe(false);
  });

  it('with TESSERA_VERIFY_THREADS=0 it is createNodeSigner', async () => {
    vi.stubEnv('TESSERA_VERIFY_THREADS', '0');
    try {
      threads = createVerifyThreads();
      const jwk = privateJwk();
      const [signer, inline] = await Promise.all([threads.createSigner(jwk), createNodeSigner(jwk)]);
      const message = inputs(1)[0]!;
      expect(Buffer.from(await signer.sign(message))).toEqual(Buffer.from(await inline.sign(message)));
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('a worker that dies at any point', () => {
  /** The real worker, made to exit when it comes to its k-th slot. */
  const dyingAt = (k: number) =>
    WORKER_SOURCE.replace('let seen = 0;', 'let seen = 0; let served = 0;').replace(
      'const slot = ring[seen & (slots - 1)];',
      `if (served++ === ${k}) process.exit(7); const slot = ring[seen & (slots - 1)];`,
    );

  it('never changes an answer: checks and signatures, in any order, come out as they do inline', async () => {
    const signingJwk = { ...(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as PrivateJwk), alg: 'Ed25519' as const, kid: 's' };
    const inline = await createNodeSigner(signingJwk);
    const { publicJwk, cases } = checks(24);
    const messages = cases.map((c) => c.message);
    const expectedSignatures = await Promise.all(messages.map((m) => inline.sign(m)));
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 40 }),
        fc.array(fc.record({ sign: fc.boolean(), i: fc.nat({ max: 23 }) }), { minLength: 1, maxLength: 40 }),
        async (k, ops) => {
          const verifier = new BatchedVerifier(libsodium()!, dyingAt(k));
          try {
            const [key, signer] = await Promise.all([verifier.importKey(publicJwk), verifier.createSigner(signingJwk)]);
            const answers = await Promise.all(
              ops.map((op) => (op.sign ? signer.sign(messages[op.i]!).then((s) => Buffer.from(s).toString('hex')) : key.verify(cases[op.i]!.message, cases[op.i]!.signature))),
            );
            expect(answers).toEqual(ops.map((op) => (op.sign ? Buffer.from(expectedSignatures[op.i]!).toString('hex') : cases[op.i]!.valid)));
          } finally {
            await verifier.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);
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
