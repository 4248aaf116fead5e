/**
 * Ed25519 verification on a worker thread, through shared memory.
 *
 * A proxy or server whose event loop is its bottleneck (bench:gateway, bench:ps) gains from moving each signature
 * check off that loop. WebCrypto does so through the libuv thread pool, but Node's WebCrypto layer itself costs the
 * event loop tens of microseconds per call, and OpenSSL's Ed25519 is half libsodium's speed. Here each check is
 * copied into a slot of a `SharedArrayBuffer`; a worker thread, asleep in `Atomics.wait` while there is nothing to
 * do, verifies the slots in the order they were submitted with libsodium and writes each answer into the slot's
 * state; the event loop learns of answers through one `Atomics.waitAsync` at a time, and takes every answer ready.
 *
 * Why shared memory and not `postMessage` (which this module used before): a message round trip cost the event
 * loop 12–13 µs per check and the process 20–25 µs of CPU beside the 46 µs of the check itself, with 32 checks in
 * flight; through shared memory the event loop pays about 3 µs and the whole process about 5 (docs/benchmarks.md).
 *
 * The answers are exactly libsodium's (`libsodium.ts`). A check whose message does not fit a slot (a signature
 * base over 8 KiB) is verified on the calling thread. If the worker cannot start, dies, or writes a state that is
 * not an answer, the checks it held and every later one run on the calling thread instead: a broken worker never
 * turns a valid signature into a refusal, nor an invalid one into an acceptance.
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

/** Slots (a power of two) and the bytes of each: length (4), public key (32), signature (64), message. */
const SLOTS = 256;
const SLOT_BYTES = 8192;
/** Longest message a slot holds. */
const MAX_MESSAGE = SLOT_BYTES - 100;

/** Cells of the control array: submissions so far, answer rounds so far, stop flag; then one state per slot. */
const SUBMITTED = 0;
const ANSWERED = 1;
const STOP = 2;
const STATES = 4;
/** Slot states. */
const FREE = 0;
const PENDING = 1;
const VALID = 2;
const INVALID = 3;
/** Counters wrap within 30 bits, a multiple of SLOTS, so `count & (SLOTS - 1)` stays the ring index. */
const WRAP = 0x3fffffff;

/** `Atomics.waitAsync` (ES2024, in Node since 16), typed here: the project compiles against an older `lib`. */
type WaitAsyncResult = { readonly async: false; readonly value: 'not-equal' | 'timed-out' } | { readonly async: true; readonly value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): WaitAsyncResult }).waitAsync.bind(Atomics);

/** What the worker gets: the shared arrays and the layout. */
export interface WorkerShared {
  readonly sodium: string;
  readonly control: Int32Array;
  readonly ring: Int32Array;
  readonly data: Uint8Array;
  readonly slots: number;
  readonly slotBytes: number;
}

/**
 * The worker's code (CommonJS, run with `eval`): wait for submissions, verify each in order, write its answer into
 * its slot's state, then count one answer round and wake the event loop. libsodium takes no views of shared memory,
 * so each check is copied into an ordinary buffer first.
 */
export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const sodium = require(workerData.sodium);
const { control, ring, data, slots, slotBytes } = workerData;
const view = new DataView(data.buffer);
let seen = 0;
for (;;) {
  if (Atomics.load(control, ${STOP}) !== 0) break;
  const submitted = Atomics.load(control, ${SUBMITTED});
  if (submitted === seen) {
    Atomics.wait(control, ${SUBMITTED}, seen, 1000);
    continue;
  }
  while (seen !== submitted) {
    const slot = ring[seen & (slots - 1)];
    seen = (seen + 1) & ${WRAP};
    const at = slot * slotBytes;
    const length = view.getUint32(at);
    const bytes = Buffer.allocUnsafe(96 + length);
    bytes.set(data.subarray(at + 4, at + 100 + length));
    const valid = sodium.crypto_sign_verify_detached(bytes.subarray(32, 96), bytes.subarray(96), bytes.subarray(0, 32));
    Atomics.store(control, ${STATES} + slot, valid ? ${VALID} : ${INVALID});
  }
  Atomics.add(control, ${ANSWERED}, 1);
  Atomics.notify(control, ${ANSWERED});
}
`;

interface Check {
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly message: Uint8Array;
  resolve(valid: boolean): void;
  /** The slot it occupies while submitted. */
  slot: number;
}

export interface VerifyThreads {
  /** A key importer: Ed25519 keys verify on the worker; others as `importServerVerifyKey` does. */
  readonly importKey: KeyImporter;
  /** Whether checks go to the worker (false: libsodium missing, or the worker failed and checks run inline). */
  readonly active: boolean;
  /** Stops the worker; later checks run on the calling thread. */
  close(): Promise<void>;
}

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
  readonly #control = new Int32Array(new SharedArrayBuffer(4 * (STATES + SLOTS)));
  readonly #ring = new Int32Array(new SharedArrayBuffer(4 * SLOTS));
  readonly #data = new Uint8Array(new SharedArrayBuffer(SLOTS * SLOT_BYTES));
  readonly #view = new DataView(this.#data.buffer);
  /** Slots not in use. */
  readonly #free: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
  /** Submitted checks, oldest first: the worker answers in that order. */
  #inFlight: Check[] = [];
  /** Checks waiting for a free slot. */
  #waiting: Check[] = [];
  #submitted = 0;
  /** Answer rounds seen when the event loop last looked; `Atomics.waitAsync` waits for the count to move on. */
  #answered = 0;
  #listening = false;

  constructor(sodium: Ed25519Backend, source: string) {
    this.#sodium = sodium;
    try {
      const workerData: WorkerShared = {
        sodium: createRequire(import.meta.url).resolve('sodium-native'),
        control: this.#control,
        ring: this.#ring,
        data: this.#data,
        slots: SLOTS,
        slotBytes: SLOT_BYTES,
      };
      const worker = new Worker(source, { eval: true, workerData });
      worker.on('error', () => this.#fail());
      worker.on('exit', () => this.#fail());
      // Idle, the worker never keeps the process alive; while it holds checks, it does, so an `await key.verify()`
      // in a script with nothing else running gets its answer (#submit refs, #collect unrefs when nothing is left).
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
    if (signature.length !== 64 || publicKey.length !== 32) return Promise.resolve(false);
    if (this.#worker === undefined || message.length > MAX_MESSAGE) return Promise.resolve(this.#sodium.verify(message, signature, publicKey));
    return new Promise((resolve) => {
      const check: Check = { publicKey, signature, message, resolve, slot: -1 };
      if (this.#free.length === 0) this.#waiting.push(check);
      else this.#submit(check);
    });
  }

  /** Copies `check` into a free slot and hands it to the worker. */
  #submit(check: Check): void {
    const worker = this.#worker!;
    const slot = this.#free.pop()!;
    const at = slot * SLOT_BYTES;
    this.#view.setUint32(at, check.message.length);
    this.#data.set(check.publicKey, at + 4);
    this.#data.set(check.signature, at + 36);
    this.#data.set(check.message, at + 100);
    check.slot = slot;
    Atomics.store(this.#control, STATES + slot, PENDING);
    this.#ring[this.#submitted & (SLOTS - 1)] = slot;
    this.#submitted = (this.#submitted + 1) & WRAP;
    if (this.#inFlight.length === 0) worker.ref();
    this.#inFlight.push(check);
    // The store publishes the slot and the ring entry (sequentially consistent) before the worker reads them.
    Atomics.store(this.#control, SUBMITTED, this.#submitted);
    Atomics.notify(this.#control, SUBMITTED);
    this.#listen();
  }

  /** Waits (without blocking the event loop) for the worker's next answer round, unless one already waits. */
  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    const wait = waitAsync(this.#control, ANSWERED, this.#answered);
    if (wait.async) void wait.value.then(() => this.#collect());
    else queueMicrotask(() => this.#collect());
  }

  /** Resolves every answered check, oldest first; frees their slots for waiting checks. */
  #collect(): void {
    this.#listening = false;
    if (this.#worker === undefined) return;
    // Read the count before the states: an answer written after this read moves the count on, so the next
    // waitAsync returns at once rather than missing it.
    this.#answered = Atomics.load(this.#control, ANSWERED);
    let done = 0;
    for (const check of this.#inFlight) {
      const state = Atomics.load(this.#control, STATES + check.slot);
      if (state === PENDING) break;
      if (state !== VALID && state !== INVALID) {
        // Not an answer: the worker is out of step with this thread. Never guess; stop using it.
        this.#inFlight = this.#inFlight.slice(done);
        this.#fail();
        return;
      }
      Atomics.store(this.#control, STATES + check.slot, FREE);
      this.#free.push(check.slot);
      check.resolve(state === VALID);
      done++;
    }
    if (done > 0) this.#inFlight = done === this.#inFlight.length ? [] : this.#inFlight.slice(done);
    while (this.#waiting.length > 0 && this.#free.length > 0) this.#submit(this.#waiting.shift()!);
    if (this.#inFlight.length > 0) this.#listen();
    else this.#worker.unref();
  }

  /** The worker is gone or broken: what it held, and everything after, is checked on this thread. */
  #fail(): void {
    void this.#stop()?.catch(() => undefined);
  }

  /**
   * Stops using the worker (which is told to stop, then terminated) and answers what it held on this thread; the
   * termination, or `undefined` when there was no worker.
   */
  #stop(): Promise<number> | undefined {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) {
      // Its answers no longer count; an error it still reports must not become an uncaught one.
      worker.removeAllListeners();
      worker.on('error', () => undefined);
      Atomics.store(this.#control, STOP, 1);
      Atomics.notify(this.#control, SUBMITTED);
    }
    this.#drainInline();
    return worker?.terminate();
  }

  /** Answers every check the worker holds or that waits for it, on this thread, oldest first. */
  #drainInline(): void {
    const checks = [...this.#inFlight, ...this.#waiting];
    this.#inFlight = [];
    this.#waiting = [];
    for (const check of checks) check.resolve(this.#sodium.verify(check.message, check.signature, check.publicKey));
  }

  async close(): Promise<void> {
    await this.#stop();
  }
}
