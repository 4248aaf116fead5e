/**
 * WAL checkpoints of a SQLite file store on a worker thread.
 *
 * Why: in WAL mode a COMMIT appends pages to the write-ahead log, and by default the connection that commits also
 * runs the checkpoint (copying logged pages back into the database file, with an fsync) whenever the log passes
 * 1,000 pages. On the Person Server that is the event loop: in bench:ps the checkpoint was about 40% of the cost of
 * a group COMMIT (docs/benchmarks.md). Here a worker thread with its own connection runs a PASSIVE checkpoint every
 * `intervalMs`: it copies what it can without waiting for, or blocking, the writer or any reader.
 *
 * The log stays bounded without relying on the worker: the writer keeps an automatic checkpoint, at a higher
 * threshold (`BACKSTOP_PAGES`). SQLite starts the log over from its beginning only when a write transaction begins
 * after a checkpoint that copied everything; under a steady stream of commits the worker rarely sees that moment,
 * so the log grows to the threshold, where the writer's own checkpoint copies the little the worker has not, and the
 * next transaction starts the log over. Should the worker stop, the writer checkpoints as it did before, only less
 * often. SQLite's locking makes the two safe together (a checkpoint in progress makes the other one skip its turn).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The writer's automatic checkpoint threshold with a checkpointer running (pages; 4 KiB each by default). */
export const BACKSTOP_PAGES = 10_000;

/** Cells of the shared counters: checkpoints run, pages they copied into the database file, failures. */
const RUNS = 0;
const COPIED = 1;
const FAILURES = 2;

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const { file, intervalMs, counters } = workerData;
const db = new Database(file, { fileMustExist: true });
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
// The pragma answers for the whole log as it stands: frames in it, and frames copied so far. A log shorter than at
// the last run has started over, and everything copied from it is new.
let lastLog = 0;
let lastCopied = 0;
const timer = setInterval(() => {
  try {
    const { log, checkpointed } = checkpoint.get();
    Atomics.add(counters, ${RUNS}, 1);
    if (log >= 0 && checkpointed >= 0) {
      const copied = log < lastLog ? checkpointed : checkpointed - lastCopied;
      if (copied > 0) Atomics.add(counters, ${COPIED}, copied);
      lastLog = log;
      lastCopied = checkpointed;
    }
  } catch {
    Atomics.add(counters, ${FAILURES}, 1);
  }
}, intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface CheckpointerStats {
  readonly runs: number;
  /** Log frames copied into the database file (a page logged by several commits is one frame per commit). */
  readonly pagesCopied: number;
  readonly failures: number;
}

export interface Checkpointer {
  stats(): CheckpointerStats;
  /** Stops the worker and closes its connection. */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `file` (a SQLite database in WAL mode) every `intervalMs` on a worker thread; `undefined` when
 * no worker can start (the writer's automatic checkpoint then does the work, as without one).
 */
export function startCheckpointer(file: string, options: { readonly intervalMs?: number } = {}): Checkpointer | undefined {
  const counters = new Int32Array(new SharedArrayBuffer(12));
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file, intervalMs: options.intervalMs ?? 100, counters },
    });
  } catch {
    return undefined;
  }
  // A failure inside the worker (the file gone, say) ends checkpointing; the writer's own checkpoint remains.
  worker.on('error', () => undefined);
  // The store's close stops it; until then it must not keep a process alive on its own.
  worker.unref();
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    stats: () => ({ runs: Atomics.load(counters, RUNS), pagesCopied: Atomics.load(counters, COPIED), failures: Atomics.load(counters, FAILURES) }),
    async stop() {
      // Held while stopping: an unreferenced worker's exit keeps nothing alive, so a process with nothing else to do
      // would end inside `await store.close()` (exit code 13) and never run what follows it.
      worker.ref();
      worker.postMessage('stop');
      await exited;
    },
  };
}
