/**
 * End to end across real OS processes on 127.0.0.1 (issue 4): every party is its own `node` process, started with
 * `child_process.spawn`, and every call crosses a loopback socket.
 *
 * - `tessera dev --json` (Person Server, Agent Provider, demo notes resource): its URLs and the person's approver
 *   token read from its one JSON line;
 * - the agent: `tessera fetch … --explain` processes, with a temporary home directory (key, agent token, tokens);
 * - the person: approves each request the agent announces with `tessera approvals list` / `approve` processes,
 *   authenticated with that personal API token;
 * - a plain upstream that knows nothing of AAuth (test/support/processes/upstream.mjs) behind `tessera gateway`
 *   (agent-token mode, trusting the dev Agent Provider). The SSE and tampered-body checks sign in the test process
 *   with @tessera/protocol (the agent's own key and agent token, read from its home directory); the gateway and the
 *   upstream stay separate processes.
 *
 * Every child is tracked (test/support/processes/children.ts) and stopped in afterAll — SIGTERM, then SIGKILL —
 * and the temporary directory removed, whatever the tests did. Ports are always 0, read back from the output.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, jwkThumbprint, publicJwkOf, signAAuthRequest, type PrivateJwk } from '@tessera/protocol';
import type { DevBanner } from '@tessera/server';
import { DEMO_NOTES } from '../../packages/server/src/demo/demo-resource.js';
import { childProcesses, type Child, type ChildProcesses } from '../support/processes/children.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TESSERA = join(ROOT, 'packages/cli/bin/tessera.js');
const UPSTREAM = join(ROOT, 'test/support/processes/upstream.mjs');

/** A server process prints its banner (`tessera dev` opens SQLite and runs migrations first). */
const START_MS = 30_000;
/** A short CLI command (`tessera approvals …`, a `tessera fetch` that needs no approval). */
const CLI_MS = 20_000;
/** One step of a `tessera fetch` that waits for approvals: the agent polls after the PS's `Retry-After` of 5 s. */
const STEP_MS = 25_000;

/** `tessera dev --json`: one line with the URLs and the development person's credentials (packages/server/src/dev.ts). */
function parseBanner(text: string): DevBanner | undefined {
  const line = text.split('\n').find((l) => l.startsWith('{'));
  return line === undefined ? undefined : (JSON.parse(line) as DevBanner);
}

/** One exchange `tessera fetch --explain` printed: `── n. METHOD URL`, then its signature base, status and headers. */
interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly text: string;
}

function exchanges(stderr: string): Exchange[] {
  return stderr
    .split(/^── \d+\. /m)
    .slice(1)
    .map((text) => {
      const [method = '', url = ''] = text.slice(0, text.indexOf('\n')).split(' ');
      return { method, url, status: Number(/^\s+→ (\d{3}) /m.exec(text)?.[1] ?? 0), text };
    });
}

const header = (exchange: Exchange, name: string): string | undefined => new RegExp(`^\\s+${name}: (.*)$`, 'm').exec(exchange.text)?.[1];

/**
 * The `n`-th approval prompt of `tessera fetch` (1-based), once both of its lines are out: the URL to open, the
 * code, and the pending URL (`Location`) of the 202 that caused it.
 */
function prompt(stderr: string, n: number): { url: string; code: string; pendingUrl: string } | undefined {
  const marker = /^tessera: approval needed\. Open (\S+)\n\s+\(code (\S+)\); waiting…$/gm;
  let match: RegExpExecArray | null = null;
  for (let i = 0; i < n; i++) {
    match = marker.exec(stderr);
    if (match === null) return undefined;
  }
  const before = exchanges(stderr.slice(0, match!.index));
  const pendingUrl = before.length === 0 ? undefined : header(before[before.length - 1]!, 'location');
  return pendingUrl === undefined ? undefined : { url: match![1]!, code: match![2]!, pendingUrl };
}

const lastSegment = (url: string): string => new URL(url).pathname.split('/').pop()!;
const noteTexts = (stdout: string): string[] => (JSON.parse(stdout) as { notes: { text: string }[] }).notes.map((n) => n.text);

describe('across real processes on 127.0.0.1: tessera dev, tessera fetch, tessera approvals, tessera gateway, a plain upstream', () => {
  let tmp: string;
  let procs: ChildProcesses;
  let dev: Child;
  let upstream: Child;
  let gateway: Child;
  let banner: DevBanner;
  let upstreamUrl: string;
  let gatewayUrl: string;
  /** `tessera approvals` authenticates with a personal API token from the environment. */
  let asPerson: Record<string, string>;
  /** The agent's home directory: its key, agent token and tokens persist here between `tessera fetch` processes. */
  let home: string;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tessera-processes-'));
    home = join(tmp, 'agent-home');
    // A minimal environment: no TESSERA_* of the developer, and HOME inside the temporary directory.
    procs = childProcesses({ PATH: process.env['PATH'] ?? '', HOME: tmp, TMPDIR: tmp, TESSERA_LOG_LEVEL: 'silent', TESSERA_RATE_LIMIT: 'false' }, ROOT);
    dev = procs.start('tessera dev', TESSERA, ['dev', '--data', join(tmp, 'dev-data'), '--ps-port', '0', '--ap-port', '0', '--resource-port', '0', '--json']);
    upstream = procs.start('upstream', UPSTREAM, []);
    [banner, upstreamUrl] = await Promise.all([
      dev.waitFor('stdout', parseBanner, START_MS, 'the banner'),
      upstream.waitFor('stdout', (text) => /^upstream listening on (http:\/\/127\.0\.0\.1:\d+)\n/m.exec(text)?.[1], START_MS, 'its URL'),
    ]);

    const config = join(tmp, 'gateway.json');
    await writeFile(
      config,
      JSON.stringify({
        // agent-token mode: the identifier is only published in the gateway's metadata (no token names it).
        issuer: 'https://gateway.test',
        development: true,
        trustedAgentProviders: [banner.ap],
        routes: [{ pathPrefix: '/api', upstream: upstreamUrl, policy: { mode: 'agent-token' } }],
      }),
    );
    gateway = procs.start('tessera gateway', TESSERA, ['gateway', '--config', config, '--host', '127.0.0.1', '--port', '0']);
    gatewayUrl = await gateway.waitFor('stdout', (text) => / listening on (http:\/\/127\.0\.0\.1:\d+) \(/.exec(text)?.[1], START_MS, 'its URL');
    // The person approves from the shell with the personal API token tessera dev made for them.
    asPerson = { TESSERA_URL: banner.ps, TESSERA_TOKEN: banner.approverToken };
  }, 60_000);

  afterAll(async () => {
    await procs?.stopAll();
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }, 20_000);

  const approvals = async (args: string[]) => {
    const r = await procs.run(`tessera approvals ${args[0]}`, TESSERA, ['approvals', ...args], CLI_MS, { env: asPerson });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  describe('the agent and the person, each in their own processes', () => {
    it('§8.25 §8.42 §8.43 §8.45 a tessera fetch process enrols, is challenged, waits while the person approves each request with tessera approvals, and prints the notes', async () => {
      const notes = `${banner.resource}/notes`;
      const fetching = procs.start('tessera fetch #1', TESSERA, ['fetch', notes, '--enrol', banner.ap, '--ps', banner.ps, '--name', 'Processes test agent', '--home', home, '--explain']);
      try {
        // The person decides exactly what the agent announced: the pending request of the 202 that prompted.
        const kinds: unknown[] = [];
        for (let n = 1; n <= 3; n++) {
          const asked = await fetching.waitFor('stderr', (text) => prompt(text, n), STEP_MS, `approval prompt ${n}`);
          expect(new URL(asked.url).origin).toBe(banner.ps); // the interaction page is the person's PS
          expect(new URL(asked.url).searchParams.get('code')).toBe(asked.code);
          expect(asked.code.replace(/-/g, '')).toMatch(/^[0-9A-HJKMNP-TV-Z]{8,}$/); // §8.45: ≥ 8 Crockford symbols
          const id = lastSegment(asked.pendingUrl);
          const listed = (await approvals(['list'])) as { pending: { id: string; kind: string }[] };
          const entry = listed.pending.find((p) => p.id === id);
          expect(entry, `pending ${id} in ${JSON.stringify(listed.pending.map((p) => p.id))}`).toBeDefined();
          kinds.push(entry!.kind);
          expect(await approvals(['approve', id])).toMatchObject({ id, status: 'approved' });
        }
        expect(kinds).toEqual(['enrolment', 'person_token', 'auth_token']);

        const exit = await fetching.waitForExit(STEP_MS);
        const stderr = fetching.output('stderr');
        expect(exit.code, stderr).toBe(0);
        expect(noteTexts(fetching.output('stdout'))).toEqual(DEMO_NOTES.map((n) => n.text));

        const seen = exchanges(stderr);
        const atResource = seen.filter((e) => e.url === notes);
        expect(atResource.map((e) => [e.status, header(e, 'aauth-requirement')?.split(';')[0]])).toEqual([
          [401, 'requirement=person-token'],
          [401, 'requirement=auth-token'],
          [200, undefined],
        ]);
        expect(header(atResource[1]!, 'aauth-requirement')).toMatch(/^requirement=auth-token; ?resource-token=<aa-resource\+jwt /);
        // §8.42: every 202 carries a same-origin Location and a Retry-After.
        const deferred = seen.filter((e) => e.status === 202);
        expect(deferred).toHaveLength(3);
        for (const e of deferred) {
          expect(new URL(header(e, 'location')!).origin).toBe(new URL(e.url).origin);
          expect(header(e, 'retry-after')).toMatch(/^\d+$/);
        }
        // §8.43: after each prompt the agent polls the pending URL with a signed GET.
        for (let n = 1; n <= 3; n++) {
          const asked = prompt(stderr, n)!;
          const next = exchanges(stderr.slice(stderr.indexOf(`(code ${asked.code})`)))[0]!;
          expect([next.method, next.url]).toEqual(['GET', asked.pendingUrl]);
          expect(next.text).toContain('signature base:');
        }
        expect(stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\./); // tokens described, never whole
        expect((await stat(join(home, 'agent.jwk'))).mode & 0o777).toBe(0o600);
        expect(((await approvals(['list'])) as { pending: unknown[] }).pending).toEqual([]);
      } finally {
        await procs.stop(fetching); // a failed step must not leave the agent polling into the next test
      }
    }, 90_000);

    it('a second tessera fetch process reuses the persisted key, agent token, person token and auth token: no approval, nothing asked of the PS or the AP', async () => {
      const notes = `${banner.resource}/notes`;
      const key = await readFile(join(home, 'agent.jwk'), 'utf8');
      const second = await procs.run('tessera fetch #2', TESSERA, ['fetch', notes, '--home', home, '--explain'], CLI_MS);
      expect(second.code, second.stderr).toBe(0);
      expect(noteTexts(second.stdout)).toEqual(DEMO_NOTES.map((n) => n.text));
      expect(second.stderr).not.toContain('approval needed');
      // The agent presents the auth token it kept at once: one request, no challenge, nothing else asked of anyone.
      const seen = exchanges(second.stderr);
      expect(seen.filter((e) => new URL(e.url).origin !== banner.resource)).toEqual([]);
      expect(seen.filter((e) => e.status === 202)).toEqual([]);
      const signedWith = seen.filter((e) => e.url === notes).map((e) => [/signed with: (\S+) /.exec(e.text)?.[1], e.status]);
      expect(signedWith).toEqual([['aa-auth+jwt', 200]]);
      expect(seen).toHaveLength(1);
      expect(await readFile(join(home, 'agent.jwk'), 'utf8')).toBe(key);
    }, 30_000);
  });

  describe('tessera gateway in front of a plain upstream, each its own process', () => {
    const agentOf = async () => {
      const saved = JSON.parse(await readFile(join(home, 'agent.json'), 'utf8')) as { agent_token: string; agent_id: string };
      const key = JSON.parse(await readFile(join(home, 'agent.jwk'), 'utf8')) as PrivateJwk;
      return { ...saved, key, signer: await createSigner(key), jkt: await jwkThumbprint(publicJwkOf(key)) };
    };
    const received = async () => ((await (await fetch(`${upstreamUrl}/__control/requests`)).json()) as { requests: { url: string }[] }).requests;

    it('a tessera fetch process through the gateway: 200, the upstream sees the verified identity and no credentials; spoofed x-aauth-* headers are stripped', async () => {
      const agent = await agentOf();
      const r = await procs.run(
        'tessera fetch (gateway)',
        TESSERA,
        ['fetch', `${gatewayUrl}/api/whoami?q=1`, '--home', home, '-H', 'X-AAuth-Agent: aauth:mallory@evil.example', '-H', 'X-AAuth-Person-Sub: mallory', '-H', 'x-aauth-scope: admin'],
        CLI_MS,
      );
      expect(r.code, r.stderr).toBe(0);
      const echo = JSON.parse(r.stdout) as { method: string; url: string; headers: Record<string, string>; rawHeaderNames: string[] };
      expect([echo.method, echo.url]).toEqual(['GET', '/api/whoami?q=1']);
      expect(echo.headers['x-aauth-agent']).toBe(agent.agent_id);
      expect(echo.headers['x-aauth-agent-jkt']).toBe(agent.jkt);
      expect(echo.headers['x-aauth-mode']).toBe('agent-token');
      expect(echo.headers['x-aauth-person-sub']).toBeUndefined();
      expect(echo.headers['x-aauth-scope']).toBeUndefined();
      expect(echo.rawHeaderNames.filter((name) => name === 'x-aauth-agent')).toHaveLength(1);
      for (const credential of ['signature', 'signature-input', 'signature-key']) expect(echo.headers[credential]).toBeUndefined();
    });

    it('an SSE response streams through the gateway process: the first event arrives while the upstream still holds the stream open', async () => {
      const agent = await agentOf();
      const url = `${gatewayUrl}/api/events`;
      const signed = await signAAuthRequest({ method: 'GET', url, headers: {} }, { signer: agent.signer, token: agent.agent_token });
      // Bounded below the upstream's own 20 s end of the stream: a buffering gateway fails here, not by luck.
      const res = await fetch(url, { headers: signed.headers, signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('\n\n')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      expect(text).toBe(`event: first\ndata: ${JSON.stringify({ agent: agent.agent_id })}\n\n`);
      // Only now does the upstream end the stream: the first event cannot have waited for the end.
      const finished = (await (await fetch(`${upstreamUrl}/__control/finish`, { method: 'POST' })).json()) as { finished: number };
      expect(finished.finished).toBe(1);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      expect(text).toMatch(/event: last\ndata: bye\n\n$/);
    }, 30_000);

    it('a body whose Content-Digest matches is forwarded; a tampered body is refused by the gateway process (401 invalid_signature) and never reaches the upstream', async () => {
      const agent = await agentOf();
      const send = async (path: string, signedBody: string, sentBody: string) => {
        const url = `${gatewayUrl}${path}`;
        const headers = { 'content-type': 'application/json' };
        const signed = await signAAuthRequest({ method: 'POST', url, headers, body: new TextEncoder().encode(signedBody) }, { signer: agent.signer, token: agent.agent_token });
        expect(signed.components).toEqual(expect.arrayContaining(['content-digest', 'content-type'])); // what the gateway checks
        return fetch(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body: sentBody });
      };

      const ok = await send('/api/transfers/intact', '{"amount":1}', '{"amount":1}');
      expect(ok.status).toBe(200);
      const echo = (await ok.json()) as { body: string; headers: Record<string, string> };
      expect(echo.body).toBe('{"amount":1}');
      expect(echo.headers['content-digest']).toMatch(/^sha-256=:/);

      const before = (await received()).length;
      const tampered = await send('/api/transfers/tampered', '{"amount":1}', '{"amount":9}');
      expect(tampered.status).toBe(401);
      expect(tampered.headers.get('signature-error')).toMatch(/invalid_signature/);
      const after = await received();
      expect(after).toHaveLength(before);
      expect(after.map((r) => r.url)).not.toContain('/api/transfers/tampered');
    });
  });

  it('every server process stops on SIGTERM with exit code 0; no other process is left', async () => {
    expect(procs.running().map((child) => child.name)).toEqual(['tessera dev', 'upstream', 'tessera gateway']);
    const exits = await Promise.all([gateway, upstream, dev].map(async (child) => [child.name, await procs.stop(child, 10_000)] as const));
    expect(exits).toEqual([
      ['tessera gateway', { code: 0, signal: null }],
      ['upstream', { code: 0, signal: null }],
      ['tessera dev', { code: 0, signal: null }],
    ]);
  }, 20_000);
});
