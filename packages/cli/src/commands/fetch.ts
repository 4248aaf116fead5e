/**
 * `tessera fetch URL`: a curl-like AAuth agent. It signs the request, answers the resource's challenges (person
 * token, resource token, auth token from the person's Person Server), prints the interaction URL and code when the
 * person has to approve, retries, and prints the response. The key, the agent token and the tokens it obtained
 * persist in a config directory (`--home`, `$TESSERA_HOME`, default `~/.tessera`), so a second call reuses them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createAgent, isAgentError, loadOrCreateKeyFile, type AgentTokenGrant, type CachedToken } from '@tessera/agent';
import { createSignatureBase, decodeJws, headerLines, parseSignatures, redact, type HttpRequestMessage } from '@tessera/protocol';
import { inlineOrFile, UsageError, type CliIo } from '../io.js';

export interface FetchCommandOptions {
  readonly request?: string;
  readonly header: readonly string[];
  readonly data?: string;
  readonly key?: string;
  readonly agentToken?: string;
  readonly enrol?: string;
  readonly ps?: string;
  readonly name?: string;
  readonly home?: string;
  readonly include?: boolean;
  readonly explain?: boolean;
  readonly dev?: boolean;
}

interface SavedAgent {
  agent_token: string;
  exp: number;
  agent_id?: string | undefined;
  ap?: string | undefined;
  ps?: string | undefined;
}

const isLoopbackUrl = (url: URL): boolean => url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
}

/** A short description of a JWT for --explain: kind, issuer, audience, subject, scope, expiry — never the token itself. */
function describeToken(jwt: string): string {
  try {
    const { header, payload } = decodeJws(jwt);
    const fields = ['iss', 'aud', 'sub', 'scope', 'ps', 'agent_jkt', 'presented_jti']
      .filter((k) => payload[k] !== undefined)
      .map((k) => `${k}=${JSON.stringify(payload[k])}`);
    const exp = typeof payload['exp'] === 'number' ? ` exp=${new Date(payload['exp'] * 1000).toISOString()}` : '';
    return `${header.typ} ${fields.join(' ')}${exp}`;
  } catch {
    return '(not a JWT)';
  }
}

/** A compact JWS anywhere in a text. */
const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

function signatureKeyToken(value: string | null): string | undefined {
  if (value === null) return undefined;
  const m = /jwt="([^"]+)"/.exec(value);
  return m?.[1];
}

/** Wraps fetch to print each exchange for --explain: the request, its signature base, the answer and any tokens. */
function explainingFetch(io: CliIo): (url: string, init?: RequestInit) => Promise<Response> {
  let n = 0;
  return async (url, init) => {
    n += 1;
    const method = init?.method ?? 'GET';
    const headers = new Headers(init?.headers);
    io.stderr(`\n── ${n}. ${method} ${url}`);
    const token = signatureKeyToken(headers.get('signature-key'));
    if (token !== undefined) io.stderr(`   signed with: ${describeToken(token)}`);
    if (headers.has('signature-input')) {
      try {
        const lines: [string, string][] = [];
        headers.forEach((v, k) => lines.push([k, v]));
        const body = typeof init?.body === 'string' ? new TextEncoder().encode(init.body) : init?.body instanceof Uint8Array ? init.body : undefined;
        const message: HttpRequestMessage = { method, url, headers: lines, ...(body === undefined ? {} : { body }) };
        for (const parsed of parseSignatures(headerLines(lines)).values()) {
          // The base carries the token in its signature-key line: shown shortened, never whole.
          const base = createSignatureBase(message, parsed.components, parsed.signatureParams).replace(JWT, (jwt) => redact(jwt));
          io.stderr(`   signature base:\n${base.replace(/^/gm, '     ')}`);
        }
      } catch {
        // not an AAuth-signed request (metadata, JWKS)
      }
    }
    const response = await globalThis.fetch(url, init);
    io.stderr(`   → ${response.status} ${response.statusText}`);
    for (const name of ['aauth-requirement', 'signature-error', 'location', 'retry-after', 'aauth-access']) {
      const value = response.headers.get(name);
      if (value === null) continue;
      const shown = name === 'aauth-requirement' ? value.replace(/resource-token="([^"]+)"/, (_m, jwt: string) => `resource-token=<${describeToken(jwt)}>`) : name === 'aauth-access' ? '<session token>' : value;
      io.stderr(`   ${name}: ${shown}`);
    }
    if (response.headers.get('content-type')?.includes('json') && response.status === 200) {
      const body = (await response.clone().json().catch(() => undefined)) as Record<string, unknown> | undefined;
      for (const k of ['person_token', 'auth_token', 'agent_token']) {
        if (typeof body?.[k] === 'string') io.stderr(`   ${k}: ${describeToken(body[k])}`);
      }
    }
    return response;
  };
}

function parseHeader(value: string): [string, string] {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new UsageError(`-H must be 'Name: value', got "${value}"`);
  return [value.slice(0, colon).trim(), value.slice(colon + 1).trim()];
}

export async function fetchCommand(target: string, options: FetchCommandOptions, io: CliIo, env: Readonly<Record<string, string | undefined>> = process.env): Promise<number> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new UsageError(`not an absolute URL: "${target}"`);
  }
  const home = options.home ?? env['TESSERA_HOME'] ?? join(homedir(), '.tessera');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const keyPath = options.key ?? join(home, 'agent.jwk');
  const agentPath = join(home, 'agent.json');
  const tokensPath = join(home, 'tokens.json');
  const key = await loadOrCreateKeyFile(keyPath);
  const now = (): number => Date.now() / 1000;

  // The agent token: given, saved from an earlier run, or obtained by enrolling with an Agent Provider.
  let agentToken: string | undefined = options.agentToken === undefined ? undefined : (await inlineOrFile(options.agentToken, io)).trim();
  const saved = await readJson<SavedAgent>(agentPath);
  if (agentToken === undefined && saved !== undefined && saved.exp - 60 > now() && (options.enrol === undefined || options.enrol === saved.ap)) {
    agentToken = saved.agent_token;
  }
  if (agentToken === undefined && options.enrol === undefined) {
    throw new UsageError('no agent token: pass --agent-token FILE|JWT, or --enrol AGENT_PROVIDER_URL (e.g. http://localhost:4101 under tessera dev)');
  }
  const allowLoopbackHttp = options.dev === true || isLoopbackUrl(url);
  const method = (options.request ?? (options.data === undefined ? 'GET' : 'POST')).toUpperCase();
  const headers = new Headers(options.header.map(parseHeader));
  const body = options.data === undefined ? undefined : await inlineOrFile(options.data, io);
  if (body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');

  const agent = createAgent({
    key,
    ...(agentToken === undefined ? { enrolWith: options.enrol! } : { agentToken }),
    enrolment: { ...(options.name === undefined ? {} : { name: options.name }), ...(options.ps === undefined ? {} : { ps: options.ps }) },
    ...(options.ps === undefined ? {} : { personServer: options.ps }),
    onAgentToken: async (grant: AgentTokenGrant) => {
      await writeJson(agentPath, { agent_token: grant.agentToken, exp: grant.exp, agent_id: grant.agentId, ap: options.enrol, ps: options.ps } satisfies SavedAgent);
      io.stderr(`tessera: enrolled as ${grant.agentId}`);
    },
    onInteraction: ({ fullUrl, code }) => {
      io.stderr(`tessera: approval needed. Open ${fullUrl}\n         (code ${code}); waiting…`);
    },
    onInteractionRelayed: ({ url }) => {
      io.stderr(`tessera: ${new URL(url).host} needs the person; sent to your Person Server (see your account page there); waiting…`);
    },
    allowLoopbackHttp,
    ...(options.explain ? { fetch: explainingFetch(io) } : {}),
  });
  for (const [k, entry] of (await readJson<[string, CachedToken][]>(tokensPath)) ?? []) agent.tokens.set(k, entry);

  let response: Response;
  try {
    response = await agent.fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  } catch (error) {
    if (isAgentError(error)) {
      io.stderr(`tessera: ${error.code}${error.error ? ` (${error.error})` : ''}: ${error.detail ?? error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await writeJson(tokensPath, agent.tokens.snapshot());
  }
  if (options.include) {
    io.stdout(`HTTP ${response.status} ${response.statusText}`);
    response.headers.forEach((v, k) => io.stdout(`${k}: ${v}`));
    io.stdout('');
  }
  io.stdout(await response.text());
  return response.ok ? 0 : 1;
}
