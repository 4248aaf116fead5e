// The Person Server side of bench:ps and compare-ps: a Tessera harness process, and the exchange measured on a PS.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childEnv } from './child-env.mjs';
import { decodeClaims, makeAgent, resourceToken } from './peers.mjs';

/**
 * Starts `harness` (a tessera-harness.mjs; default this checkout's) in its own process with `nodeArgs` and waits for
 * its PS: {issuer, metadata, pid, close}.
 */
export async function startTesseraHarness({ harness = fileURLToPath(new URL('./tessera-harness.mjs', import.meta.url)), nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, harness], { env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.on('data', (d) => {
      buffer += d;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    child.on('exit', (code) => reject(new Error(`${harness} exited with ${code}`)));
  });
  const { issuers } = JSON.parse(line);
  const metadata = await (await fetch(`${issuers.ps}/.well-known/aauth-person.json`)).json();
  return { issuer: issuers.ps, metadata, pid: child.pid, close: () => child.kill('SIGTERM') };
}

/**
 * Prepares one PS: person token, resource token bound to it, the first exchange approved (Tessera's harness approves
 * "always"; mockin auto-approves). Returns a maker of the measured request: signed afresh, with a new resource token
 * (they live 5 minutes; a run with many rounds lasts longer) and a new signature (60 s window), checked to answer 200
 * from the standing grant.
 */
export async function prepareExchange(ps, ap, resource) {
  const agent = await makeAgent(ap, ps.issuer);
  async function untilDone(response) {
    let r = response;
    for (let i = 0; r.status === 202 && i < 100; i++) {
      await new Promise((res) => setTimeout(res, 100));
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
    const fresh = await resourceToken(resource, { ps: ps.issuer, personClaims, jkt: agent.jkt });
    const exchange = await agent.signedPost(ps.metadata.auth_token_endpoint, { resource_token: fresh });
    const check = await fetch(exchange.url, { method: 'POST', headers: exchange.headers, body: exchange.body });
    if (check.status !== 200) throw new Error(`${ps.issuer}: the standing grant did not apply: ${check.status} ${await check.text()}`);
    return { url: exchange.url, method: 'POST', headers: exchange.headers, body: exchange.body };
  };
}

/** The median of a list of numbers. */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
