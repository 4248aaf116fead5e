/**
 * Ed25519 verification on a worker thread, in batches.
 *
 * A proxy or server whose event loop is its bottleneck (bench:gateway, bench:ps) gains from moving each signature
 * check off that loop. WebCrypto does so through the libuv thread pool, but Node's WebCrypto layer itself costs the
 * event loop tens of microseconds per call, and OpenSSL's Ed25519 is half libsodium's speed. Here the checks started
 * by one callback (with its microtasks) are packed into one buffer, handed to a worker thread that verifies them with
 * libsodium, and answered together: the event loop pays one copy of each message and a share of one message round
 * trip.
 *
 * Why at the end of the callback and not the end of the loop turn (`setImmediate`): waiting for the turn gathered
 * larger batches but made requests advance in convoys, each waiting for its batch's slowest neighbours, and the event
 * loop of the Person Server sat idle 20% of the time under load (bench:ps, 32 connections: utilization 0.8, against
 * 1.0 and 10–15% more tokens per second when flushed at the end of each callback).
 *
 * The answers are exactly libsodium's (`libsodium.ts`). If the worker cannot start or dies, the checks it held and
 * every later one run on the calling thread instead: a broken worker never turns a valid signature into a refusal,
 * nor an invalid one into an acceptance.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { b64urlDecode } from '../base64url.js';
import { validatePublicJwk } from '../crypto/jwk.js';
import { jwkThumbprint } from '../crypto/thumbprint.js';
import type { KeyImporter, PublicJwk, VerifyKey } from '../crypto/types.js';
import { libsodium, type Ed25519Backend } from './libsodium.js';
import { importServerVerifyKey } from './server-verify-key.js';

/** The worker's code (CommonJS, run with `eval`): unpack a batch, verify each entry, answer one byte per entry. */
export const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require(workerData.sodium);
parentPort.on('message', (buffer) => {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const count = view.getUint32(0);
  const results = new Uint8Array(count);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at);
    const publicKey = bytes.subarray(at + 4, at + 36);
    const signature = bytes.subarray(at + 36, at + 100);
    const message = bytes.subarray(at + 100, at + 100 + length);
    at += 100 + length;
    results[i] = sodium.crypto_sign_verify_detached(signature, message, publicKey) ? 1 : 0;
  }
  parentPort.postMessage(results, [results.buffer]);
});
`;

interface Check {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
  resolve(valid: boolean): void;
}

export interface VerifyThreads {
  /** A key importer: Ed25519 keys verify on the worker; others as `importServerVerifyKey` does. */
  readonly importKey: KeyImporter;
  /** Whether checks go to the worker (false: libsodium missing, or the worker failed and checks run inline). */
  readonly active: boolean;
  /** Stops the worker; later checks run on the calling thread. */
  close(): Promise<void>;
}

/** Largest batch sent at once (bytes of messages); a longer queue goes in several. */
const MAX_BATCH_BYTES = 1 << 20;

/** The process's one verification worker and how many handles use it (servers in one process share it). */
let shared: { readonly verifier: BatchedVerifier; users: number } | undefined;

/**
 * A handle on the process's verification worker, started on first use and stopped when the last handle closes.
 * It starts nothing, and `importKey` is `importServerVerifyKey` (Ed25519 inline with libsodium), without libsodium,
 * on a machine with one core (a worker would only take turns with the event loop), or when
 * `TESSERA_VERIFY_THREADS=0`. The worker keeps the process alive only while it holds checks.
 */
export function createVerifyThreads(): VerifyThreads {
  const sodium = libsodium();
  const setting = process.env['TESSERA_VERIFY_THREADS'];
  const wanted = setting === undefined ? availableParallelism() > 1 : setting !== '0';
  if (sodium === undefined || !wanted) {
    return { importKey: importServerVerifyKey, active: false, close: () => Promise.resolve() };
  }
  if (shared === undefined || !shared.verifier.active) shared = { verifier: new BatchedVerifier(sodium, WORKER_SOURCE), users: 0 };
  const entry = shared;
  entry.users++;
  let closed = false;
  return {
    importKey: entry.verifier.importKey,
    get active() {
      return !closed && entry.verifier.active;
    },
    async close() {
      if (closed) return;
      closed = true;
      entry.users--;
      if (entry.users > 0) return;
      if (shared === entry) shared = undefined;
      await entry.verifier.close();
    },
  };
}

/** Exported for tests, which give it broken worker code to check the fallbacks; use `createVerifyThreads`. */
export class BatchedVerifier implements VerifyThreads {
  readonly #sodium: Ed25519Backend;
  #worker: Worker | undefined;
  #queue: Check[] = [];
  /** Batches sent and not yet answered, oldest first (the worker answers in order). */
  readonly #inFlight: Check[][] = [];
  #scheduled = false;

  constructor(sodium: Ed25519Backend, source: string) {
    this.#sodium = sodium;
    try {
      const worker = new Worker(source, { eval: true, workerData: { sodium: createRequire(import.meta.url).resolve('sodium-native') } });
      worker.on('message', (results: Uint8Array) => this.#answer(results));
      worker.on('error', () => this.#fail());
      worker.on('exit', () => this.#fail());
      // Idle, the worker never keeps the process alive; while it holds checks, it does, so an `await key.verify()`
      // in a script with nothing else running gets its answer (#flush refs, #answer unrefs when nothing is left).
      // After the listeners: adding a 'message' listener refs the worker's port again.
      worker.unref();
      this.#worker = worker;
    } catch {
      this.#worker = undefined;
    }
  }

  get active(): boolean {
    return this.#worker !== undefined;
  }

  readonly importKey: KeyImporter = async (jwk: PublicJwk): Promise<VerifyKey> => {
    if ((jwk as { alg?: unknown }).alg !== 'Ed25519') return importServerVerifyKey(jwk);
    // The key policy checks x: 32 bytes of base64url, not of small order. Nothing else to import: the worker takes
    // the raw public key with each check.
    const checked = validatePublicJwk(jwk);
    const publicKey = b64urlDecode(checked.x as string);
    return Object.freeze({
      alg: checked.alg,
      jwk: checked,
      thumbprint: await jwkThumbprint(checked),
      verify: (message: Uint8Array, signature: Uint8Array): Promise<boolean> => this.#verify(publicKey, message, signature),
    });
  };

  #verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64) return Promise.resolve(false);
    if (this.#worker === undefined) return Promise.resolve(this.#sodium.verify(message, signature, publicKey));
    return new Promise((resolve) => {
      this.#queue.push({ publicKey, signature, message, resolve });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // When this callback and its microtasks are done: every check they started goes in one batch.
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const worker = this.#worker;
    while (this.#queue.length > 0) {
      if (worker === undefined) {
        this.#inline(this.#queue.splice(0));
        return;
      }
      let bytes = 4;
      let n = 0;
      while (n < this.#queue.length && (n === 0 || bytes + 100 + this.#queue[n]!.message.length <= MAX_BATCH_BYTES)) {
        bytes += 100 + this.#queue[n]!.message.length;
        n++;
      }
      const batch = this.#queue.splice(0, n);
      const buffer = new ArrayBuffer(bytes);
      const view = new DataView(buffer);
      const out = new Uint8Array(buffer);
      view.setUint32(0, batch.length);
      let at = 4;
      for (const check of batch) {
        view.setUint32(at, check.message.length);
        out.set(check.publicKey, at + 4);
        out.set(check.signature, at + 36);
        out.set(check.message, at + 100);
        at += 100 + check.message.length;
      }
      if (this.#inFlight.length === 0) worker.ref();
      this.#inFlight.push(batch);
      worker.postMessage(buffer, [buffer]);
    }
  }

  #answer(results: Uint8Array): void {
    const batch = this.#inFlight.shift();
    if (batch === undefined || batch.length !== results.length) {
      // Out of step with the worker: never guess an answer; stop using it.
      if (batch !== undefined) this.#inFlight.unshift(batch);
      this.#fail();
      return;
    }
    if (this.#inFlight.length === 0) this.#worker?.unref();
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i] === 1);
  }

  /** The worker is gone: what it held, and everything after, is checked on this thread. */
  #fail(): void {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) void worker.terminate().catch(() => undefined);
    this.#drainInline();
  }

  /** Answers every check the worker holds or that waits for it, on this thread, oldest first. */
  #drainInline(): void {
    this.#inline(this.#inFlight.splice(0).flat());
    this.#inline(this.#queue.splice(0));
  }

  #inline(checks: readonly Check[]): void {
    for (const check of checks) check.resolve(this.#sodium.verify(check.message, check.signature, check.publicKey));
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    this.#worker = undefined;
    worker.removeAllListeners();
    this.#drainInline();
    await worker.terminate();
  }
}
