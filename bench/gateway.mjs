#!/usr/bin/env node
// bench:gateway — what AAuth verification costs in front of an upstream, 32 connections, auth-token mode.
//
//   npm run bench:gateway -- --json [--seconds N] [--connections N] [--quick]
//
// In one run on the same machine, the same GET (a request with an auth token, signed afresh for each round, so each
// round is inside the 60 s signature window) is sent for N seconds in all to each of (b), (c) and (d), in alternating
// rounds of about 2 s (the figures are medians over rounds; see main()), and for up to 5 s to (a):
//   (a) the upstream directly,
//   (b) a plain undici reverse proxy with no verification (node:http + undici Pool, hop-by-hop headers removed,
//       the response streamed through undici's dispatch handler API as the gateway does: the floor any proxy pays),
//   (c) the Tessera gateway (@tessera/gateway: route match, body check, `verifyRequest` in auth-token mode with the
//       verified-token cache, identity headers, the same undici forwarding as (b)). No replay cache: the same signed
//       request is repeated on purpose.
//   (d) the floor: (b) plus one Ed25519 signature check per request on the verification worker the gateway uses, and
//       nothing else. Every request of an AAuth resource carries a signature that must be checked (each is new: its
//       `created` moves), so no gateway can do better than this on the same machine; (d) shows what share of (b) that
//       check alone leaves, and how close (c) comes to it. Reported in the log lines, not in the last line.
// Processes: the upstream, the plain proxy, the gateway and the floor each run in their own child process; the load generator
// (wrk when installed, else autocannon in this process; see lib/load.mjs) drives them. The machine has 2 cores, so the processes cannot have one core each: during (b) and (c) the
// proxy, the upstream and the load generator share both cores alike, which keeps the comparison fair.
// The gateway resolves the Person Server key with a key-resolver double (keys are cached in production after the
// first request anyway); the auth token's verification is cached, the request signature is verified every time.
// Last output line: {"direct_rps","plain_proxy_rps","gateway_rps","gateway_p99_ms","ratio_to_plain_proxy"}.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { childEnv, threadPool } from './lib/child-env.mjs';
import { load, loadGenerator } from './lib/load.mjs';

const args = process.argv.slice(2);
const childRole = args[0] === '--child' ? args[1] : undefined;

function listening(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

// ---------------------------------------------------------------- children
async function upstreamChild() {
  const body = JSON.stringify({ ok: true, notes: ['one', 'two'] });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return listening(server);
}

/**
 * The plain proxy, or with `check` ({jwk, data, signature} base64url) the floor any AAuth gateway pays: the same
 * proxy making one Ed25519 signature check per request, on the verification worker the gateway uses, and nothing else
 * (no header parsing, no signature base, no token, no identity headers).
 */
async function plainProxyChild(upstream, check) {
  const { Pool } = await import('undici');
  let verifyOne;
  if (check !== undefined) {
    const { createVerifyThreads } = await import('@tessera/protocol/node');
    const { jwk, data, signature } = JSON.parse(check);
    const key = await createVerifyThreads().importKey(jwk);
    const bytes = Buffer.from(data, 'base64url');
    const sig = Buffer.from(signature, 'base64url');
    verifyOne = () => key.verify(bytes, sig);
  }
  const pool = new Pool(upstream, { connections: 256, pipelining: 1 });
  const HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'proxy-connection']);
  // The same forwarding as the gateway's (undici's dispatch handler API, each chunk straight to res.write, the
  // upstream paused while res buffers), so the ratio measures what verification costs, not a difference in streaming.
  const server = createServer(async (req, res) => {
    if (verifyOne !== undefined && !(await verifyOne())) {
      res.writeHead(401);
      res.end();
      return;
    }
    const headers = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
    let controller;
    res.once('close', () => {
      if (!res.writableFinished) controller?.abort(new Error('the client went away'));
    });
    pool.dispatch(
      { path: req.url, method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req },
      {
        onRequestStart(c) {
          controller = c;
        },
        onResponseStart(c, statusCode, responseHeaders) {
          if (statusCode < 200) return;
          const out = {};
          for (const name in responseHeaders) if (!HOP.has(name)) out[name] = responseHeaders[name];
          res.writeHead(statusCode, out);
          res.on('drain', () => c.resume());
        },
        onResponseData(c, chunk) {
          if (!res.write(chunk)) c.pause();
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError() {
          if (res.headersSent) res.destroy();
          else {
            res.writeHead(502);
            res.end();
          }
        },
      },
    );
  });
  return listening(server);
}

async function gatewayChild(upstream, setup) {
  const { createGateway, parseGatewayConfig } = await import('@tessera/gateway');
  const { createSigner, importVerifyKey } = await import('@tessera/protocol');
  const { psJwk, resourceJwk } = JSON.parse(setup);
  const psKey = await importVerifyKey(psJwk);
  const config = parseGatewayConfig(
    {
      issuer: 'https://resource.example',
      signingKeyFile: 'unused.jwk', // the signer is passed in below
      trustedPersonServers: ['https://ps.example'],
      replayCache: false,
      tokenCache: true,
      routes: [{ pathPrefix: '/api', upstream, policy: { mode: 'auth-token', scopes: ['notes.read'] } }],
    },
    'bench-gateway.json',
  );
  const gateway = await createGateway(config, {
    signer: await createSigner(resourceJwk),
    resolveKey: async ({ iss, kid }) => {
      if (iss !== 'https://ps.example' || kid !== psJwk.kid) throw new Error('unexpected key lookup');
      return psKey;
    },
  });
  return (await gateway.listen(0, '127.0.0.1')).port;
}

if (childRole !== undefined) {
  const port =
    childRole === 'upstream'
      ? await upstreamChild()
      : childRole === 'plain'
        ? await plainProxyChild(args[2], args[3])
        : await gatewayChild(args[2], args[3]);
  process.stdout.write(`${port}\n`);
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

// ---------------------------------------------------------------- parent
function startChild(role, ...extra) {
  // TESSERA_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=DIR") goes to the gateway's process, for profiling.
  const nodeArgs = role === 'gateway' ? (process.env['TESSERA_BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean) : [];
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(import.meta.url), '--child', role, ...extra], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve({ port: Number(buffer.slice(0, nl)), pid: child.pid, close: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
    process.on('exit', () => child.kill('SIGTERM'));
  });
}

async function main() {
  const quick = args.includes('--quick');
  const opt = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const seconds = opt('--seconds', quick ? 1 : 10);
  const connections = opt('--connections', 32);
  const warm = Math.min(2, seconds);
  const log = (...m) => (args.includes('--json') ? console.error(...m) : console.log(...m));
  log(`load generator: ${loadGenerator}; server processes with UV_THREADPOOL_SIZE=${threadPool}`);
  const { createSigner, generateKeyPair, mintAuthToken, signAAuthRequest } = await import('@tessera/protocol');

  const [agentJwk, psJwk, resourceJwk] = await Promise.all([generateKeyPair('Ed25519', 'agent-1'), generateKeyPair('Ed25519', 'ps-1'), generateKeyPair('Ed25519', 'resource-1')]);
  const [agent, ps] = await Promise.all([createSigner(agentJwk), createSigner(psJwk)]);
  const publicPs = { ...psJwk };
  delete publicPs.d;

  const children = [];
  try {
    const upstream = await startChild('upstream');
    children.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
    const plain = await startChild('plain', upstreamUrl);
    children.push(plain);
    const gateway = await startChild('gateway', upstreamUrl, JSON.stringify({ psJwk: publicPs, resourceJwk }));
    children.push(gateway);
    // (d) the floor: the plain proxy plus one Ed25519 check per request (a message the size of a signature base).
    const checked = new TextEncoder().encode('x'.repeat(400));
    const floorCheck = { jwk: agent.publicJwk, data: Buffer.from(checked).toString('base64url'), signature: Buffer.from(await agent.sign(checked)).toString('base64url') };
    const floor = await startChild('plain', upstreamUrl, JSON.stringify(floorCheck));
    children.push(floor);

    const now = () => Math.floor(Date.now() / 1000);
    const token = await mintAuthToken(ps, { iss: 'https://ps.example', ps: 'https://ps.example', aud: 'https://resource.example', sub: 'person-1', cnf: { jwk: agent.publicJwk }, scope: 'notes.read' }, { now, ttl: 3600 });
    const request = async (port) => {
      const url = `http://127.0.0.1:${port}/api/notes`;
      const signed = await signAAuthRequest({ method: 'GET', url, headers: [] }, { signer: agent, token, now });
      return { url, method: 'GET', headers: { ...signed.headers } };
    };
    const direct = await request(upstream.port);
    const viaGateway = await request(gateway.port);
    const check = await fetch(viaGateway.url, { headers: viaGateway.headers });
    if (check.status !== 200) throw new Error(`the gateway refused the bench request: ${check.status} ${await check.text()}`);

    // The plain proxy, the gateway and the floor are measured in alternating rounds (the order rotated every round),
    // each request signed afresh per round: a shared virtual machine drifts by tens of percent within
    // a minute, and a ratio of two phases measured at different moments carries that drift; the median of per-round
    // ratios does not. rps and p99 are the medians over rounds.
    // Whole seconds: wrk takes its duration in seconds.
    const rounds = quick ? 1 : Math.max(1, Math.floor(seconds / 2));
    const slice = Math.max(1, Math.round(seconds / rounds));
    const meter = { upstream: upstream.pid, 'plain proxy': plain.pid, gateway: gateway.pid, floor: floor.pid };
    const ports = { 'plain proxy': plain.port, gateway: gateway.port, floor: floor.port };
    await load(direct, { connections, seconds: warm });
    const directResult = await load(direct, { connections, seconds: Math.min(seconds, 5), meter });
    const samples = { 'plain proxy': [], gateway: [], floor: [] };
    const orders = [
      ['plain proxy', 'gateway', 'floor'],
      ['gateway', 'floor', 'plain proxy'],
      ['floor', 'plain proxy', 'gateway'],
    ];
    for (let r = 0; r < rounds; r++) {
      for (const name of orders[r % orders.length]) {
        const req = await request(ports[name]);
        await load(req, { connections, seconds: r === 0 ? warm : 1 });
        samples[name].push(await load(req, { connections, seconds: slice, meter }));
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const line = (name, r) => {
      const proxy = name === 'direct' ? undefined : r.cpu?.[name];
      const m =
        (r.machine === undefined ? '' : `  machine ${r.machine.busy_cores}/${r.machine.cores} cores busy, ${r.machine.cpu_us_per_request} µs CPU/request`) +
        (proxy === undefined ? '' : `; ${name} process ${proxy.us_per_request} µs/request (${proxy.cores} cores`) +
        (proxy?.event_loop === undefined ? (proxy === undefined ? '' : ')') : `; event loop ${proxy.event_loop.us_per_request} µs/request, ${proxy.event_loop.cores} of a core)`);
      return `${name.padEnd(12)} ${String(r.rps).padStart(9)} req/s  p99 ${r.p99_ms} ms  (non-2xx ${r.non2xx}, errors ${r.errors})${m}`;
    };
    log(line('direct', directResult));
    for (let r = 0; r < rounds; r++) {
      log(`round ${r + 1}/${rounds}, ratio ${(samples.gateway[r].rps / samples['plain proxy'][r].rps).toFixed(2)}, floor ratio ${(samples.floor[r].rps / samples['plain proxy'][r].rps).toFixed(2)}`);
      for (const name of ['plain proxy', 'gateway', 'floor']) log(`  ${line(name, samples[name][r])}`);
    }
    const all = [directResult, ...samples['plain proxy'], ...samples.gateway, ...samples.floor];
    if (all.some((r) => r.non2xx > 0 || r.errors > 0)) log('warning: some answers were not 2xx; only 2xx are counted');
    const ratios = samples.gateway.map((g, i) => g.rps / samples['plain proxy'][i].rps);
    const floorRatio = median(samples.floor.map((f, i) => f.rps / samples['plain proxy'][i].rps));
    log(`floor (plain proxy + one Ed25519 check per request): ${Math.round(median(samples.floor.map((r) => r.rps)))} req/s, ${floorRatio.toFixed(2)} of the plain proxy; the gateway reaches ${(median(ratios) / floorRatio).toFixed(2)} of the floor`);
    console.log(
      JSON.stringify({
        direct_rps: Math.round(directResult.rps),
        plain_proxy_rps: Math.round(median(samples['plain proxy'].map((r) => r.rps))),
        gateway_rps: Math.round(median(samples.gateway.map((r) => r.rps))),
        gateway_p99_ms: median(samples.gateway.map((r) => r.p99_ms)),
        ratio_to_plain_proxy: Math.round(median(ratios) * 100) / 100,
      }),
    );
  } finally {
    for (const c of children) c.close();
  }
}
