'use strict';
/**
 * The size of libuv's thread pool for a `tessera` process. Node's default is 4 threads whatever the machine. Tessera's
 * servers check signatures with WebCrypto, which runs on that pool while the event loop goes on; on a small machine 4
 * pool threads plus the event loop outnumber the cores, and the threads preempt one another (bench:gateway on 2 cores:
 * 3,302 requests/s with 4 threads, 4,748 with 1). One core is left to the event loop: cores − 1, at least 1, at most
 * Node's own 4. `UV_THREADPOOL_SIZE`, when set, always wins.
 */
function threadPoolSize(cores) {
  const n = Number.isInteger(cores) && cores > 0 ? cores : 1;
  return Math.max(1, Math.min(4, n - 1));
}

module.exports = { threadPoolSize };
