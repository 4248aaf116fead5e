#!/usr/bin/env node
'use strict';
// The `tessera` command. A committed shim, so npm links it at install time even before the TypeScript is built.
// CommonJS (bin/package.json) so that it runs before anything has used libuv's thread pool, which is sized once, on
// first use: an ES module entry is itself read through the pool.
const { availableParallelism } = require('node:os');
const { threadPoolSize } = require('./thread-pool.js');

if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = String(threadPoolSize(availableParallelism()));

import('../dist/bin.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('tessera: not built yet; run `npm run build` first\n');
    process.exit(2);
  }
  throw error;
});
