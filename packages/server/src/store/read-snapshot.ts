/**
 * Read snapshots shared by the reads of one turn of the event loop, on a read-only SQLite connection.
 *
 * Why: outside a transaction every statement is a read transaction of its own, and each begins by taking the WAL's
 * read locks and checking the log for new commits — after any commit, with its page cache thrown away. A token
 * request makes about seven reads, and those reads were a sixth of its cost. Here the first read of a turn opens a
 * read transaction (`BEGIN`) that the reads after it join, until the turn ends (`setImmediate`), `maxMs` has passed,
 * or the owner calls `release()` — the group-commit driver does after each of its own commits, so this process reads
 * its own writes at once. A read therefore sees everything committed before the snapshot began: at most `maxMs`
 * before it, and never before a commit of this process that had completed.
 */
import type { StatementCache } from './sqlite-group-commit.js';

/** The longest a snapshot serves reads (ms): how far behind another process's commits a read can be. */
export const SNAPSHOT_MAX_MS = 1;

export class ReadSnapshot {
  /** When the open snapshot began (performance.now()); undefined when none is open. */
  #openedAt: number | undefined;
  #scheduled = false;

  /**
   * `onOpen` runs each time a snapshot opens (the group-commit driver checks there whether another connection has
   * committed since, for its read cache: read-cache.ts).
   */
  constructor(
    private readonly reader: StatementCache,
    private readonly maxMs: number = SNAPSHOT_MAX_MS,
    private readonly onOpen?: () => void,
  ) {}

  /** Call before each read: opens a snapshot, or renews one older than `maxMs`. */
  enter(): void {
    const now = performance.now();
    if (this.#openedAt !== undefined) {
      if (now - this.#openedAt <= this.maxMs) return;
      this.reader.prepare('COMMIT').run();
    }
    this.reader.prepare('BEGIN').run();
    this.#openedAt = now;
    this.onOpen?.();
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#endOfTurn);
    }
  }

  /** Ends the open snapshot, if any: the next read sees every commit up to now. */
  release(): void {
    if (this.#openedAt === undefined) return;
    this.#openedAt = undefined;
    if (this.reader.database.open && this.reader.database.inTransaction) this.reader.prepare('COMMIT').run();
  }

  readonly #endOfTurn = (): void => {
    this.#scheduled = false;
    this.release();
  };
}
