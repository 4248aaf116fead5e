#!/usr/bin/env node
// bench:verify — full AAuth request verification against the physical limit and a peer implementation.
//
//   npm run bench:verify -- --json [--seconds N] [--quick]     (BENCH_ROUNDS=1 prints every round)
//
// Measures in one run, on this machine:
//   (a) raw node:crypto Ed25519 verifications per second on one core (synchronous loop): the physical limit;
//   (b) Tessera's full verification of an AAuth request (HTTP signature + agent-token JWT, keys already cached);
//   (c) the same with a verified-token cache (the agent token's verification cached until its exp; the request
//       signature, and so the cnf-to-signer binding, is still checked every time);
//   (d) @hellocoop/httpsig verifying the same request;
//   (e) raw libsodium Ed25519 verifications per second on one core (sodium-native, which Tessera's Node importer uses
//       for Ed25519 when it loads): the limit for the crypto Tessera actually runs. OpenSSL 3's EVP layer costs
//       about as much per call as the curve arithmetic, so (e) is about twice (a); ratio_to_raw_libsodium (limit 0.5)
//       says how much of the time Tessera spends outside the two verifications.
// A request costs two Ed25519 verifications in (b), so ratio_to_raw has a limit of 0.5; (c) and (d) cost one.
// Each phase runs requests one after another (concurrency 1), so no phase gains from the second core.
// The last output line is one JSON object with the figures.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  createSigner,
  VerifyKeyCache,
  mintAgentToken,
  publicJwkOf,
  signAAuthRequest,
  verifyAAuthRequest,
  VerifiedTokenCache,
} from '@tessera/protocol';
import { cryptoBackend, importNodeVerifyKey } from '@tessera/protocol/node';
import { createRequire } from 'node:module';
import { verify as httpsigVerify } from '@hellocoop/httpsig';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const secondsArg = args.indexOf('--seconds');
const seconds = secondsArg >= 0 ? Number(args[secondsArg + 1]) : quick ? 0.4 : 14; // per phase, in total
const asJson = args.includes('--json');
const log = (...m) => {
  if (!asJson) console.log(...m);
  else console.error(...m);
};

// Keys from ../shared/spec/vectors.md (RFC 9421 B.1.4 agent key; the derived AP key).
const agentJwk = { kty: 'OKP', crv: 'Ed25519', kid: 'test-key-ed25519', alg: 'Ed25519', d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' };
const apJwk = { kty: 'OKP', crv: 'Ed25519', kid: 'ap-key-1', alg: 'Ed25519', d: 'wDM88T93YS50ZtT04y1ZoJcjdZYaVNE-OOWjhHX51t8', x: 'VoxBeCMiopjaYqTA-jH8h-9axnCqXdA5h0hRoTukI_U' };

const now = () => Math.floor(Date.now() / 1000);
const apSigner = await createSigner(apJwk);
const agentSigner = await createSigner(agentJwk);
const agentToken = await mintAgentToken(
  apSigner,
  { iss: 'https://agent.example', sub: 'aauth:assistant@agent.example', cnf: { jwk: publicJwkOf(agentJwk) } },
  { now, ttl: 3600 },
);
// Keys already cached: the AP key as a resolver would hold it, the agent's cnf key in a VerifyKeyCache.
const keyCache = new VerifyKeyCache({ importKey: importNodeVerifyKey });
const apKey = await importNodeVerifyKey(publicJwkOf(apJwk));
const resolveKey = async ({ iss, kid }) => {
  if (iss !== 'https://agent.example' || kid !== 'ap-key-1') throw new Error('unexpected key lookup');
  return apKey;
};

const base = { method: 'GET', url: 'https://resource.example/api/documents', headers: [['host', 'resource.example']] };
const signed = await signAAuthRequest(base, { signer: agentSigner, token: agentToken, now });
const request = { ...base, headers: [...base.headers, ...Object.entries(signed.headers)] };

// Each phase runs requests one after another (concurrency 1). Phases are interleaved in short rounds: each rate is the
// median over rounds, and each ratio the median of the per-round ratios, so two phases are compared only with each
// other's measurement from the same moment and a change in the machine's speed during the run (a shared virtual
// machine drifts by tens of percent) cancels out of the ratios instead of landing on one phase.
const rounds = quick ? 2 : 28;
const slice = (seconds * 1000) / rounds;

async function measureAsync(fn) {
  const deadline = performance.now() + slice;
  let n = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 25; i++) await fn();
    n += 25;
  }
  return n / ((performance.now() - start) / 1000);
}

function measureSync(fn) {
  const deadline = performance.now() + slice;
  let n = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

// (a) raw node:crypto Ed25519 verify, synchronous on one core.
const rawKey = createPublicKey({ key: publicJwkOf(agentJwk), format: 'jwk' });
const rawData = new TextEncoder().encode(signed.signatureBase);
const rawSig = nodeSign(null, rawData, createPrivateKey({ key: agentJwk, format: 'jwk' }));
const raw = () => {
  if (!nodeVerify(null, rawData, rawKey, rawSig)) throw new Error('raw verify failed');
};

// (e) raw libsodium Ed25519 verify (when sodium-native is installed), synchronous on one core.
let sodium;
try {
  sodium = createRequire(import.meta.resolve('@tessera/protocol/node'))('sodium-native');
} catch {
  sodium = undefined;
}
const rawPublic = Buffer.from(publicJwkOf(agentJwk).x, 'base64url');
const rawSodium = () => {
  if (!sodium.crypto_sign_verify_detached(rawSig, rawData, rawPublic)) throw new Error('raw libsodium verify failed');
};

const options = { accept: ['aa-agent+jwt'], resolveKey, now, window: 3600, keyCache };
const full = async () => {
  const r = await verifyAAuthRequest(request, options);
  if (!r.ok) throw r.error;
};
const tokenCache = new VerifiedTokenCache({ now, maxEntries: 1000 });
const cachedOptions = { ...options, tokenCache };
const cachedFull = async () => {
  const r = await verifyAAuthRequest(request, cachedOptions);
  if (!r.ok) throw r.error;
};
const httpsigRequest = { method: 'GET', authority: 'resource.example', path: '/api/documents', headers: Object.fromEntries(request.headers) };
const peer = async () => {
  const r = await httpsigVerify(httpsigRequest, { maxClockSkew: 3600 });
  if (!r.verified) throw new Error(`httpsig: ${r.error}`);
};

// Warm-up (JIT, caches), then the rounds.
for (let i = 0; i < 300; i++) {
  raw();
  if (sodium) rawSodium();
  await full();
  await cachedFull();
  await peer();
}
const samples = { raw: [], tessera: [], cached: [], httpsig: [], sodium: [] };
for (let r = 0; r < rounds; r++) {
  samples.raw.push(measureSync(raw));
  samples.tessera.push(await measureAsync(full));
  samples.cached.push(await measureAsync(cachedFull));
  samples.httpsig.push(await measureAsync(peer));
  if (sodium) samples.sodium.push(measureSync(rawSodium));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rawPerS = median(samples.raw);
const tessera = median(samples.tessera);
const cached = median(samples.cached);
const httpsig = median(samples.httpsig);
log(`Ed25519 in Tessera's Node importer: ${cryptoBackend()}`);
log(`(a) raw node:crypto Ed25519 verify   ${rawPerS.toFixed(0).padStart(8)} /s`);
log(`(b) tessera full verify              ${tessera.toFixed(0).padStart(8)} /s`);
log(`(c) tessera verify, token cached     ${cached.toFixed(0).padStart(8)} /s`);
log(`(d) @hellocoop/httpsig verify        ${httpsig.toFixed(0).padStart(8)} /s`);
if (sodium) log(`(e) raw libsodium Ed25519 verify     ${median(samples.sodium).toFixed(0).padStart(8)} /s`);

const ratio = (a, b) => median(samples[a].map((x, i) => x / samples[b][i]));
const round = (x, d = 3) => Number(x.toFixed(d));
const result = {
  raw_verify_per_s: Math.round(rawPerS),
  tessera_verify_per_s: Math.round(tessera),
  tessera_cached_verify_per_s: Math.round(cached),
  httpsig_verify_per_s: Math.round(httpsig),
  ratio_to_raw: round(ratio('tessera', 'raw')),
  cached_ratio_to_raw: round(ratio('cached', 'raw')),
  ratio_to_httpsig: round(ratio('tessera', 'httpsig')),
  ...(sodium
    ? {
        raw_libsodium_verify_per_s: Math.round(median(samples.sodium)),
        ratio_to_raw_libsodium: round(ratio('tessera', 'sodium')),
        cached_ratio_to_raw_libsodium: round(ratio('cached', 'sodium')),
      }
    : {}),
  ed25519: cryptoBackend(),
};
// Best-of figures (fastest round of each phase): interference only ever slows a round, so on a noisy machine these
// show what the code itself does. Informative, on stderr; the JSON keeps the medians.
const best = (k) => Math.max(...samples[k]);
log(`best-of rounds: ratio_to_raw ${(best('tessera') / best('raw')).toFixed(3)}, cached ${(best('cached') / best('raw')).toFixed(3)}, to httpsig ${(best('tessera') / best('httpsig')).toFixed(3)}`);
if (process.env.BENCH_ROUNDS) log(samples.raw.map((x, i) => `round ${i + 1}: raw ${x.toFixed(0)}/s, tessera ${(samples.tessera[i] / x).toFixed(3)}, cached ${(samples.cached[i] / x).toFixed(3)}`).join('\n'));
console.log(JSON.stringify(result));
