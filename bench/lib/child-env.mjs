// The environment the benches start their server processes with: libuv's thread pool sized as the `tessera` command
// sizes it (packages/cli/bin/thread-pool.js), so a bench measures the servers as they ship. Every server process of a
// bench — Tessera's and the baselines alike — gets the same size. UV_THREADPOOL_SIZE, when set, wins.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';

const { threadPoolSize } = createRequire(import.meta.url)('../../packages/cli/bin/thread-pool.js');

export const threadPool = process.env.UV_THREADPOOL_SIZE ?? String(threadPoolSize(availableParallelism()));

/** `process.env` with `UV_THREADPOOL_SIZE` set, plus `extra`. */
export function childEnv(extra = {}) {
  return { ...process.env, UV_THREADPOOL_SIZE: threadPool, ...extra };
}
