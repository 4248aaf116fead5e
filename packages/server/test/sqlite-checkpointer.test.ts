/**
 * WAL checkpoints on a worker thread (src/store/sqlite-checkpointer.ts): the pages the writer logs reach the database
 * file without the writer checkpointing, nothing is lost or changed by it, and closing the store stops it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BACKSTOP_PAGES } from '../src/store/sqlite-checkpointer.js';
import { openStore, type Store } from '../src/store/store.js';

async function writeEvents(store: Store, n: number): Promise<void> {
  // Large details, so the log grows by many pages.
  for (let i = 0; i < n; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => store.transaction((trx) => store.audit({ type: 'test.event', actor: 'test', detail: { i: i + j, pad: 'x'.repeat(2000) } }, trx))));
  }
}

async function until(condition: () => boolean, ms = 15_000): Promise<void> {
  for (const end = Date.now() + ms; !condition(); ) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('WAL checkpoints on a worker thread', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-ckpt-'));
    file = join(dir, 'tessera.db');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies what the writer logs into the database file, while the writer never checkpoints', async () => {
    const store = await openStore({ kind: 'sqlite', dataDir: dir });
    const before = statSync(file).size;
    await writeEvents(store, 1000);
    // The writer's own threshold is far above what was written: only the worker can have moved pages to the file.
    const logged = statSync(`${file}-wal`).size / 4096;
    expect(logged).toBeLessThan(BACKSTOP_PAGES);
    // The file grows while a checkpoint copies; the count moves when the checkpoint is done.
    await until(() => store.checkpoints()!.pagesCopied > 500);
    expect(statSync(file).size).toBeGreaterThan(before + 1000 * 2000);
    expect(store.checkpoints()!.failures).toBe(0);
    // Every event is there, whole, read by another connection after the store is closed.
    await store.close();
    const observer = new SQLite(file, { readonly: true });
    try {
      const rows = observer.prepare("select detail from audit_events where type = 'test.event'").all() as { detail: string }[];
      expect(rows).toHaveLength(1000);
      expect(new Set(rows.map((r) => (JSON.parse(r.detail) as { i: number }).i)).size).toBe(1000);
    } finally {
      observer.close();
    }
  });

  it('without it (backgroundCheckpoints: false) the pages stay in the log until the writer reaches its own threshold', async () => {
    const store = await openStore({ kind: 'sqlite', dataDir: dir, backgroundCheckpoints: false });
    expect(store.checkpoints()).toBeUndefined();
    await writeEvents(store, 120);
    // The default threshold (1,000 pages) is not reached by 120 events of ~2 KiB: the file has not grown.
    const size = statSync(file).size;
    await new Promise((r) => setTimeout(r, 300));
    expect(statSync(file).size).toBe(size);
    await store.close();
  });

  it('a store whose migration fails closes what it opened: another connection can then take the file exclusively', async () => {
    const conflicting = new SQLite(file);
    conflicting.exec('create table people (id text)');
    conflicting.close();
    await expect(openStore({ kind: 'sqlite', dataDir: dir })).rejects.toThrow(/people/);
    const exclusive = new SQLite(file);
    try {
      // Leaving WAL mode needs every other connection to the file closed (the writer, the reader, the checkpointer's).
      expect(exclusive.pragma('journal_mode = DELETE', { simple: true })).toBe('delete');
    } finally {
      exclusive.close();
    }
  });

  it('stops when the store closes', async () => {
    const store = await openStore({ kind: 'sqlite', dataDir: dir });
    await until(() => store.checkpoints()!.runs > 0);
    await store.close();
    const runs = store.checkpoints()!.runs;
    await new Promise((r) => setTimeout(r, 300));
    expect(store.checkpoints()!.runs).toBe(runs);
  });

  it('a process with nothing else to do runs on after `await store.close()` (the stopping worker holds it open)', () => {
    // Before the fix the worker, unreferenced, let such a process end inside close(): exit code 13, the rest not run.
    const store = fileURLToPath(new URL('../dist/store/store.js', import.meta.url));
    const script = `const { openStore } = await import(${JSON.stringify(store)});
const s = await openStore({ kind: 'sqlite', dataDir: ${JSON.stringify(dir)} });
await s.close();
console.log('after close');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect({ status: child.status, stdout: child.stdout.trim() }).toEqual({ status: 0, stdout: 'after close' });
  });
});
