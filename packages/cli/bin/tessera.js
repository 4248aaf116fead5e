#!/usr/bin/env node
// The `tessera` command. A committed shim, so npm links it at install time even before the TypeScript is built.
import('../dist/bin.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('tessera: not built yet; run `npm run build` first\n');
    process.exit(2);
  }
  throw error;
});
