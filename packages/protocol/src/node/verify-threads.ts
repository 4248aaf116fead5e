/**
 * Ed25519 verification and signing on a worker thread, through shared memory.
 *
 * A proxy or server whose event loop is its bottleneck (bench:gateway, bench:ps) gains from moving each signature
 * check, and each signature it makes, off that loop. WebCrypto does so through the libuv thread pool, but Node's
 * WebCrypto layer itself costs the event loop tens of microseconds per call, and OpenSSL's Ed25519 is half
 * libsodium's speed. Here each check is copied into a slot of a `SharedArrayBuffer`; a worker thread, asleep in
 * `Atomics.wait` while there is nothing to do, verifies the slots in the order they were submitted with libsodium and
 * writes each answer into the slot's state; the event loop learns of answers through one `Atomics.waitAsync` at a
 * time, and takes every answer ready.
 *
 * Why shared memory and not `postMessage` (which this module used before): a message round trip cost the event
 * loop 12–13 µs per check and the process 20–25 µs of CPU beside the 46 µs of the check itself, with 32 checks in
 * flight; through shared memory the event loop pays about 3 µs and the whole process about 5 (docs/benchmarks.md).
 *
 * The answers are exactly libsodium's (`libsodium.ts`). A check whose message does not fit a slot (a signature
 * base over 8 KiB) is verified on the calling thread. If the worker cannot start, dies, or writes a state that is
 * not an answer, the checks it held and every later one run on the calling thread instead: a broken worker never
 * turns a valid signature into a refusal, nor an invalid one into an acceptance.
 *
 * Signing (`createSigner`): the private key goes to the worker once, over a `MessagePort` the worker reads
 * synchronously (`receiveMessageOnPort`); its expanded secret key lives there in libsodium's guarded memory, as the
 * calling thread's copy does (`createNodeSigner`, kept for the fallbacks above). A slot then carries the key's index
 * and the signing input, and comes back with the 64-byte signature (Ed25519 is deterministic: the same bytes as
 * signing inline). A signer must not be awaited while a store transaction holds its lock, unless the wait is rare:
 * the round trip is short but not free (see the token endpoints, which sign before their transaction).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { b64urlDecode } from '../base64url.js';
import { validatePublicJwk } from '../crypto/jwk.js';
import { jwkThumbprint } from '../crypto/thumbprint.js';
import type { KeyImporter, PrivateJwk, PublicJwk, Signer, VerifyKey } from '../crypto/types.js';
import { libsodium, type Ed25519Backend } from './libsodium.js';
import { importServerVerifyKey } from './server-verify-key.js';
import { createNodeSigner } from './signer.js';

/**
 * Slots (a power of two) and the bytes of each: length (4), public key (32), signature (64), message. A signing slot
 * has the `SIGN` bit in its length word, the key's index where a check has its public key, and gets the signature
 * back where a check has its signature.
 */
const SLOTS = 256;
const SLOT_BYTES = 8192;
/** Longest message a slot holds. */
const MAX_MESSAGE = SLOT_BYTES - 100;
/** The length word's flag for a signing slot. */
const SIGN = 0x80000000;

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
/** A signing slot's answers: its signature is in the slot; or the worker had no such key. */
const SIGNED = 4;
const NO_KEY = 5;
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
  /** Signing keys: `{ index, seed }` messages, read with `receiveMessageOnPort`. */
  readonly keyPort: MessagePort;
}

/**
 * The worker's code (CommonJS, run with `eval`): wait for submissions, verify each in order, write its answer into
 * its slot's state, then count one answer round and wake the event loop. libsodium takes no views of shared memory,
 * so each check is copied into an ordinary buffer first.
 */
export const WORKER_SOURCE = `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const sodium = require(workerData.sodium);
const { control, ring, data, slots, slotBytes, keyPort } = workerData;
const view = new DataView(data.buffer);
const keys = [];
function takeKeys() {
  for (let m = receiveMessageOnPort(keyPort); m !== undefined; m = receiveMessageOnPort(keyPort)) {
    const { index, seed } = m.message;
    const secretKey = sodium.sodium_malloc(64);
    sodium.crypto_sign_seed_keypair(Buffer.alloc(32), secretKey, seed);
    sodium.sodium_memzero(seed);
    keys[index] = secretKey;
  }
}
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
    const word = view.getUint32(at);
    if (word >= ${SIGN}) {
      const length = word - ${SIGN};
      const index = view.getUint32(at + 4);
      if (keys[index] === undefined) takeKeys();
      const key = keys[index];
      let state = ${NO_KEY};
      if (key !== undefined) {
        const message = Buffer.allocUnsafe(length);
        message.set(data.subarray(at + 100, at + 100 + length));
        const signature = Buffer.allocUnsafe(64);
        sodium.crypto_sign_detached(signature, message, key);
        data.set(signature, at + 36);
        state = ${SIGNED};
      }
      Atomics.store(control, ${STATES} + slot, state);
      continue;
    }
    const bytes = Buffer.allocUnsafe(96 + word);
    bytes.set(data.subarray(at + 4, at + 100 + word));
    const valid = sodium.crypto_sign_verify_detached(bytes.subarray(32, 96), bytes.subarray(96), bytes.subarray(0, 32));
    Atomics.store(control, ${STATES} + slot, valid ? ${VALID} : ${INVALID});
  }
  Atomics.add(control, ${ANSWERED}, 1);
  Atomics.notify(control, ${ANSWERED});
}
`;

/** A signature check, or a signature to make; `slot` is the slot it occupies while submitted. */
type Check =
  | { readonly kind: 'verify'; readonly publicKey: Uint8Array; readonly signature: Uint8Array; readonly message: Uint8Array; resolve(valid: boolean): void; slot: number }
  | {
      readonly kind: 'sign';
      readonly keyIndex: number;
      readonly message: Uint8Array;
      /** The same key on the calling thread: for the fallbacks. */
      readonly inline: Signer;
      resolve(signature: Uint8Array | Promise<Uint8Array>): void;
      slot: number;
    };

export interface VerifyThreads {
  /** A key importer: Ed25519 keys verify on the worker; others as `importServerVerifyKey` does. */
  readonly importKey: KeyImporter;
  /** A signer: Ed25519 keys sign on the worker; others (and every key without a worker) as `createNodeSigner` does. */
  readonly createSigner: (privateJwk: PrivateJwk) => Promise<Signer>;
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
    return { importKey: importServerVerifyKey, createSigner: createNodeSigner, active: false, close: () => Promise.resolve() };
  }
  if (shared === undefined || !shared.verifier.active) shared = { verifier: new BatchedVerifier(sodium, WORKER_SOURCE), users: 0 };
  const entry = shared;
  entry.users++;
  let closed = false;
  return {
    importKey: entry.verifier.importKey,
    createSigner: entry.verifier.createSigner,
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
  /** Where signing keys go to the worker; how many have gone. */
  readonly #keyPort: MessagePort;
  #keys = 0;
  /** Signatures made on the worker and, for an Ed25519 key it was given, on the calling thread (tests, metrics). */
  readonly counts = { signedOnWorker: 0, signedInline: 0 };

  constructor(sodium: Ed25519Backend, source: string) {
    this.#sodium = sodium;
    const { port1, port2 } = new MessageChannel();
    this.#keyPort = port1;
    port1.unref();
    try {
      const workerData: WorkerShared = {
        sodium: createRequire(import.meta.url).resolve('sodium-native'),
        control: this.#control,
        ring: this.#ring,
        data: this.#data,
        slots: SLOTS,
        slotBytes: SLOT_BYTES,
        keyPort: port2,
      };
      const worker = new Worker(source, { eval: true, workerData, transferList: [port2] });
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

  readonly createSigner = async (privateJwk: PrivateJwk): Promise<Signer> => {
    // The calling thread's signer checks the key (d and x agree) and is the fallback; other algorithms use it alone.
    const inline = await createNodeSigner(privateJwk);
    if (inline.alg !== 'Ed25519' || this.#worker === undefined) return inline;
    const keyIndex = this.#keys++;
    const seed = b64urlDecode(privateJwk.d);
    this.#keyPort.postMessage({ index: keyIndex, seed });
    seed.fill(0); // the worker has its own copy
    return Object.freeze({
      alg: inline.alg,
      publicJwk: inline.publicJwk,
      sign: (data: Uint8Array): Promise<Uint8Array> => {
        if (this.#worker === undefined || data.length > MAX_MESSAGE) return this.#signInline(inline, data);
        return new Promise<Uint8Array>((resolve) => this.#enqueue({ kind: 'sign', keyIndex, message: data, inline, resolve, slot: -1 }));
      },
    });
  };

  #verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
    if (signature.length !== 64 || publicKey.length !== 32) return Promise.resolve(false);
    if (this.#worker === undefined || message.length > MAX_MESSAGE) return Promise.resolve(this.#sodium.verify(message, signature, publicKey));
    return new Promise((resolve) => this.#enqueue({ kind: 'verify', publicKey, signature, message, resolve, slot: -1 }));
  }

  #signInline(inline: Signer, data: Uint8Array): Promise<Uint8Array> {
    this.counts.signedInline++;
    return inline.sign(data);
  }

  #enqueue(check: Check): void {
    if (this.#free.length === 0) this.#waiting.push(check);
    else this.#submit(check);
  }

  /** Copies `check` into a free slot and hands it to the worker. */
  #submit(check: Check): void {
    const worker = this.#worker!;
    const slot = this.#free.pop()!;
    const at = slot * SLOT_BYTES;
    if (check.kind === 'verify') {
      this.#view.setUint32(at, check.message.length);
      this.#data.set(check.publicKey, at + 4);
      this.#data.set(check.signature, at + 36);
    } else {
      this.#view.setUint32(at, SIGN + check.message.length);
      this.#view.setUint32(at + 4, check.keyIndex);
    }
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
      const answer = check.kind === 'verify' ? state === VALID || state === INVALID : state === SIGNED || state === NO_KEY;
      if (!answer) {
        // Not an answer (to this kind of slot): the worker is out of step with this thread. Never guess; stop using it.
        this.#inFlight = this.#inFlight.slice(done);
        this.#fail();
        return;
      }
      if (check.kind === 'verify') check.resolve(state === VALID);
      else if (state === SIGNED) {
        this.counts.signedOnWorker++;
        check.resolve(this.#data.slice(check.slot * SLOT_BYTES + 36, check.slot * SLOT_BYTES + 100));
      } else check.resolve(this.#signInline(check.inline, check.message));
      Atomics.store(this.#control, STATES + check.slot, FREE);
      this.#free.push(check.slot);
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
    this.#keyPort.close();
    return worker?.terminate();
  }

  /** Answers every check the worker holds or that waits for it, on this thread, oldest first. */
  #drainInline(): void {
    const checks = [...this.#inFlight, ...this.#waiting];
    this.#inFlight = [];
    this.#waiting = [];
    for (const check of checks) {
      if (check.kind === 'verify') check.resolve(this.#sodium.verify(check.message, check.signature, check.publicKey));
      else check.resolve(this.#signInline(check.inline, check.message));
    }
  }

  async close(): Promise<void> {
    await this.#stop();
  }
}
