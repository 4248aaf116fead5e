// Child process for the benchmarks: runs `tessera dev` (PS, AP, demo resource on loopback, SQLite in a temp dir)
// and plays the person — every pending request is approved with "approve always" through the Deferred service, so
// later exchanges hit the standing grant with no human in the loop. Prints one JSON line with the URLs when ready.
import { startDev } from '@tessera/server';

const dev = await startDev({ temporary: true, ports: { ps: 0, ap: 0, resource: 0 }, print: () => {}, env: { TESSERA_LOG_LEVEL: 'error', TESSERA_RATE_LIMIT: 'false' } });
const { server } = dev.running;
const person = await server.ctx.store.db.selectFrom('people').select('id').where('username', '=', dev.username).executeTakeFirstOrThrow();

let stopping = false;
async function approveLoop() {
  while (!stopping) {
    const pending = await server.ctx.store.db
      .selectFrom('pending_requests')
      .select('id')
      .where('status', 'in', ['pending', 'interacting'])
      .execute()
      .catch(() => []);
    for (const { id } of pending) {
      try {
        await server.deferred.interacting(id, person.id);
        await server.deferred.approve(id, { personId: person.id, always: true });
      } catch (error) {
        if (!stopping) process.stderr.write(`harness: approve ${id}: ${error.message}\n`);
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
void approveLoop();
process.stdout.write(`${JSON.stringify({ issuers: dev.issuers })}\n`);
const stop = async () => {
  stopping = true;
  await dev.close();
  // Let a --cpu-prof run write its profile: exit normally rather than with process.exit in the signal handler.
  process.exitCode = 0;
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
