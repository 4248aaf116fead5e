#!/usr/bin/env node
// Compares two builds of the Tessera Person Server on bench:ps's exchange, in the same run: a baseline checkout
// (another directory with its own node_modules and build, e.g. `git worktree` or a copy at an earlier commit) and
// this one. On this noisy two-core host a change of a few percent is lost between two bench:ps runs; here both
// servers run side by side and are measured in short alternating phases (the order swapped every round), and the
// figures reported are medians over rounds of this build's figure divided by the baseline's.
//
//   node bench/compare-ps.mjs --baseline DIR [--node-args "FLAGS"] [--rounds N] [--seconds N] [--connections N] [--json]
//
// Last output line: {"rounds","tokens_per_s_ratio","event_loop_us_ratio","baseline_event_loop_us","event_loop_us"}:
// a ratio above 1 for tokens/s, or below 1 for event-loop µs per token, is this build doing better.
import { resolve } from 'node:path';
import { load } from './lib/load.mjs';
import { wellKnownServer } from './lib/peers.mjs';
import { median, prepareExchange, startTesseraHarness } from './lib/ps-exchange.mjs';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const baseline = opt('--baseline', undefined);
if (baseline === undefined) {
  console.error('usage: node bench/compare-ps.mjs --baseline DIR [--rounds N] [--seconds N] [--connections N] [--json]');
  process.exit(2);
}
const rounds = Number(opt('--rounds', 10));
const seconds = Number(opt('--seconds', 2));
const connections = Number(opt('--connections', 32));
const log = (...m) => (args.includes('--json') ? console.error(...m) : console.log(...m));

const ap = await wellKnownServer('aauth-agent.json');
const resource = await wellKnownServer('aauth-resource.json');
// --node-args "FLAGS": V8/Node flags for this build's server only (e.g. to measure a flag against the same build).
const nodeArgs = (opt('--node-args', '') ?? '').split(' ').filter(Boolean);
const servers = { baseline: await startTesseraHarness({ harness: resolve(baseline, 'bench/lib/tessera-harness.mjs') }), current: await startTesseraHarness({ nodeArgs }) };
try {
  const requests = { baseline: await prepareExchange(servers.baseline, ap, resource), current: await prepareExchange(servers.current, ap, resource) };
  for (const name of ['baseline', 'current']) await load(await requests[name](), { connections, seconds: 2 });
  const rows = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['baseline', 'current'] : ['current', 'baseline'];
    const r = {};
    for (const name of order) r[name] = await load(await requests[name](), { connections, seconds, meter: { server: servers[name].pid } });
    const loop = (x) => x.cpu?.server?.event_loop?.us_per_request;
    rows.push({ rps: r.current.rps / r.baseline.rps, loop: loop(r.current) / loop(r.baseline), loopBaseline: loop(r.baseline), loopCurrent: loop(r.current) });
    log(`round ${round + 1}/${rounds}: baseline ${r.baseline.rps} tokens/s, ${loop(r.baseline)} µs/token; current ${r.current.rps} tokens/s, ${loop(r.current)} µs/token`);
  }
  const round2 = (x) => Math.round(x * 1000) / 1000;
  console.log(
    JSON.stringify({
      rounds,
      tokens_per_s_ratio: round2(median(rows.map((r) => r.rps))),
      event_loop_us_ratio: round2(median(rows.map((r) => r.loop))),
      baseline_event_loop_us: median(rows.map((r) => r.loopBaseline)),
      event_loop_us: median(rows.map((r) => r.loopCurrent)),
    }),
  );
} finally {
  servers.baseline.close();
  servers.current.close();
  await ap.close();
  await resource.close();
}
