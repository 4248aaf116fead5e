#!/usr/bin/env node
// bench:ps — auth-token issuance over HTTP with a standing grant (no human in the loop), 32 connections, for the
// Tessera Person Server and, in the same run on the same machine, @hellocoop/mockin's auth_token_endpoint doing
// the same exchange.
//
//   npm run bench:ps -- --json [--rounds N] [--seconds N] [--connections N] [--quick]
//
// Each PS runs in its own process (Tessera: `tessera dev` with SQLite; mockin: its server.js). The bench process
// hosts the Agent Provider and the resource (metadata + JWKS on loopback); the load comes from wrk when installed,
// else autocannon (lib/load.mjs).
// For each PS: the agent gets a person token for the resource, the resource mints a resource token bound to it,
// the first exchange is approved "always" (Tessera; mockin auto-approves), then a signed exchange request is sent
// over and over for N seconds (signed afresh for each phase, so it stays inside its 60 s created window). Only 200
// answers count. The two servers are measured in alternating phases — rounds of Tessera then mockin, the order
// swapped every round — and each round gives one ratio; the figures reported are the medians over the rounds. This
// two-core virtual machine drifts by tens of percent within a minute: one long phase per server compared two
// moments of the host as much as two servers (the ratio of one run moved between 1.2 and 2.0 in an hour).
// Tessera's per-client rate limiter is turned off for the run (TESSERA_RATE_LIMIT=false): all 32 connections come
// from one address, and mockin has no limiter, so with it on the bench would measure the limit, not issuance.
// Last output line: {"tessera_auth_tokens_per_s","mockin_auth_tokens_per_s","ratio","tessera_p99_ms"}.
import { startMockin, wellKnownServer } from './lib/peers.mjs';
import { threadPool } from './lib/child-env.mjs';
import { load, loadGenerator } from './lib/load.mjs';
import { median, prepareExchange, startTesseraHarness } from './lib/ps-exchange.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = opt('--seconds', quick ? 1 : 5);
const rounds = opt('--rounds', quick ? 1 : 6);
const connections = opt('--connections', 32);
const log = (...m) => (args.includes('--json') ? console.error(...m) : console.log(...m));
log(`load generator: ${loadGenerator}; server processes with UV_THREADPOOL_SIZE=${threadPool}`);

function describe(name, r) {
  const server = r.cpu?.server;
  const loop = server?.event_loop === undefined ? '' : `; event loop ${server.event_loop.us_per_request} µs/token, ${server.event_loop.cores} of a core`;
  const cpu = server === undefined ? '' : `  server CPU ${server.us_per_request} µs/token (${server.cores} cores${loop})`;
  const m = r.machine === undefined ? '' : `, machine ${r.machine.busy_cores}/${r.machine.cores} cores busy`;
  return `${name.padEnd(12)} ${String(r.rps).padStart(8)} auth tokens/s  p99 ${r.p99_ms} ms  (non-2xx ${r.non2xx}, errors ${r.errors})${cpu}${m}`;
}

const ap = await wellKnownServer('aauth-agent.json');
const resource = await wellKnownServer('aauth-resource.json');
const tessera = await startTesseraHarness({ nodeArgs: (process.env['TESSERA_BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean) });
const mockin = await startMockin();
try {
  const tesseraRequest = await prepareExchange(tessera, ap, resource);
  const mockinRequest = await prepareExchange(mockin, ap, resource);
  // Warm-up, then the rounds.
  await load(await tesseraRequest(), { connections, seconds: Math.min(2, seconds) });
  await load(await mockinRequest(), { connections, seconds: Math.min(2, seconds) });
  const results = [];
  for (let round = 0; round < rounds; round++) {
    const phase = async (name) =>
      name === 'tessera'
        ? load(await tesseraRequest(), { connections, seconds, meter: { server: tessera.pid } })
        : load(await mockinRequest(), { connections, seconds, meter: { server: mockin.pid } });
    const order = round % 2 === 0 ? ['tessera', 'mockin'] : ['mockin', 'tessera'];
    const r = {};
    for (const name of order) r[name] = await phase(name);
    results.push(r);
    log(`round ${round + 1}/${rounds}: ratio ${(r.tessera.rps / r.mockin.rps).toFixed(2)}`);
    log(`  ${describe('tessera', r.tessera)}`);
    log(`  ${describe('mockin', r.mockin)}`);
  }
  if (results.some((r) => r.tessera.non2xx + r.mockin.non2xx > 0)) log('warning: some answers were not 2xx; only 200s are counted');
  log(`metadata/JWKS fetches seen: agent provider ${JSON.stringify(ap.hits)}, resource ${JSON.stringify(resource.hits)}`);
  const ratios = results.map((r) => r.tessera.rps / r.mockin.rps);
  log(`ratio per round: ${ratios.map((x) => x.toFixed(2)).join(', ')}; best round ${Math.max(...ratios).toFixed(2)}, worst ${Math.min(...ratios).toFixed(2)}`);
  console.log(
    JSON.stringify({
      tessera_auth_tokens_per_s: Math.round(median(results.map((r) => r.tessera.rps))),
      mockin_auth_tokens_per_s: Math.round(median(results.map((r) => r.mockin.rps))),
      ratio: Math.round(median(ratios) * 100) / 100,
      tessera_p99_ms: Math.max(...results.map((r) => r.tessera.p99_ms)),
    }),
  );
} finally {
  tessera.close();
  mockin.close();
  await ap.close();
  await resource.close();
}
