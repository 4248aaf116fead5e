/**
 * In-process wake-ups for long-polls (`Prefer: wait=N` on a pending URL, AAuth -11 §Deferred Responses): a
 * poll waits on its pending id; a decision on that id wakes it at once. An object the Deferred service owns
 * (no module-level state), bounded in total and per pending request: a wait beyond the bounds answers `busy`
 * at once, so the poll simply answers without waiting.
 *
 * Wake-ups reach only this process. The service therefore waits in short slices and re-reads the store
 * between them, so a decision taken on another instance (PostgreSQL scale-out) is seen within one slice.
 */

export type WaitOutcome = 'changed' | 'timeout' | 'busy' | 'aborted';

export interface PendingWaitersOptions {
  /** Most concurrent waits in this process; default 10 000. */
  readonly maxWaiters?: number;
  /** Most concurrent waits on one pending request; default 8 (one agent polls one pending URL). */
  readonly maxPerPending?: number;
}

interface Waiter {
  readonly resolve: (outcome: WaitOutcome) => void;
}

export class PendingWaiters {
  readonly #maxWaiters: number;
  readonly #maxPerPending: number;
  readonly #byId = new Map<string, Set<Waiter>>();
  #count = 0;
  #closed = false;

  constructor(options: PendingWaitersOptions = {}) {
    this.#maxWaiters = options.maxWaiters ?? 10_000;
    this.#maxPerPending = options.maxPerPending ?? 8;
  }

  /** Waiting polls right now. */
  get size(): number {
    return this.#count;
  }

  /**
   * Resolves `changed` when `notify(id)` is called, `timeout` after `ms`, `aborted` when `signal` aborts
   * (the client went away), or `busy` at once when the bounds are reached or the waiters are closed.
   */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.#closed || ms <= 0) return Promise.resolve(ms <= 0 ? 'timeout' : 'busy');
    if (signal?.aborted === true) return Promise.resolve('aborted');
    let set = this.#byId.get(id);
    if (this.#count >= this.#maxWaiters || (set !== undefined && set.size >= this.#maxPerPending)) return Promise.resolve('busy');
    if (set === undefined) {
      set = new Set();
      this.#byId.set(id, set);
    }
    const waiters = set;
    return new Promise<WaitOutcome>((resolve) => {
      const finish = (outcome: WaitOutcome): void => {
        if (!waiters.delete(waiter)) return;
        this.#count--;
        if (waiters.size === 0 && this.#byId.get(id) === waiters) this.#byId.delete(id);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const waiter: Waiter = { resolve: finish };
      const onAbort = (): void => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), ms);
      waiters.add(waiter);
      this.#count++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wakes every wait on `id` (the pending request changed). */
  notify(id: string): void {
    const set = this.#byId.get(id);
    if (set === undefined) return;
    for (const waiter of [...set]) waiter.resolve('changed');
  }

  /** Wakes every wait (`busy`) and refuses new ones: for shutdown. */
  close(): void {
    this.#closed = true;
    for (const set of [...this.#byId.values()]) for (const waiter of [...set]) waiter.resolve('busy');
  }
}
