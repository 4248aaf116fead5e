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
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childEnv } from './lib/child-env.mjs';
import { load } from './lib/load.mjs';
import { decodeClaims, makeAgent, resourceToken, wellKnownServer } from './lib/peers.mjs';

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

async function startHarness(root, nodeArgs = []) {
  const harness = resolve(root, 'bench/lib/tessera-harness.mjs');
  const child = spawn(process.execPath, [...nodeArgs, harness], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((ok, fail) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) ok(buffer.slice(0, nl));
    });
    child.on('exit', (code) => fail(new Error(`${harness} exited with ${code}`)));
  });
  const { issuers } = JSON.parse(line);
  const metadata = await (await fetch(`${issuers.ps}/.well-known/aauth-person.json`)).json();
  return { issuer: issuers.ps, metadata, pid: child.pid, close: () => child.kill('SIGTERM') };
}

/** As bench/ps.mjs: person token, first exchange approved "always"; returns a maker of fresh signed exchanges. */
async function prepare(ps, ap, resource) {
  const agent = await makeAgent(ap, ps.issuer);
  async function untilDone(response) {
    let r = response;
    for (let i = 0; r.status === 202 && i < 100; i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      const poll = await agent.signedGet(new URL(r.headers.get('location'), ps.issuer).href);
      r = await fetch(poll.url, { headers: poll.headers });
    }
    if (r.status !== 200) throw new Error(`${ps.issuer}: ${r.status} ${await r.text()}`);
    return r.json();
  }
  const p = await agent.signedPost(ps.metadata.person_token_endpoint, { resource: resource.issuer });
  const { person_token: personToken } = await untilDone(await fetch(p.url, { method: 'POST', headers: p.headers, body: p.body }));
  const personClaims = decodeClaims(personToken);
  const first = await agent.signedPost(ps.metadata.auth_token_endpoint, { resource_token: await resourceToken(resource, { ps: ps.issuer, personClaims, jkt: agent.jkt }) });
  await untilDone(await fetch(first.url, { method: 'POST', headers: first.headers, body: first.body }));
  return async () => {
    const exchange = await agent.signedPost(ps.metadata.auth_token_endpoint, { resource_token: await resourceToken(resource, { ps: ps.issuer, personClaims, jkt: agent.jkt }) });
    return { url: exchange.url, method: 'POST', headers: exchange.headers, body: exchange.body };
  };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const ap = await wellKnownServer('aauth-agent.json');
const resource = await wellKnownServer('aauth-resource.json');
const here = fileURLToPath(new URL('..', import.meta.url));
// --node-args "FLAGS": V8/Node flags for this build's server only (e.g. to measure a flag against the same build).
const nodeArgs = (opt('--node-args', '') ?? '').split(' ').filter(Boolean);
const servers = { baseline: await startHarness(baseline), current: await startHarness(here, nodeArgs) };
try {
  const requests = { baseline: await prepare(servers.baseline, ap, resource), current: await prepare(servers.current, ap, resource) };
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
