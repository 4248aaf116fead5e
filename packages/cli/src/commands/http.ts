import {
  AAuthError,
  importVerifyKey,
  selectJwk,
  signAAuthRequest,
  verifyAAuthRequest,
  createKeyResolver,
  type HttpRequestMessage,
  type KeyResolver,
  type VerificationStep,
} from '@tessera/protocol';
import { createNodeEgressFetch } from '@tessera/protocol/node';
import { inlineOrFile, integerOption, isObject, json, parseJson, readSource, UsageError, type CliIo } from '../io.js';
import { readSigner } from '../keys.js';

/** The request shape `http sign` prints and `http verify` reads. */
export interface RequestJson {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string | null;
}

export interface SignCommandOptions {
  readonly key: string;
  readonly token: string;
  readonly method: string;
  readonly url: string;
  readonly header: readonly string[];
  readonly body?: string;
  readonly created?: string;
  readonly cover?: string;
}

function parseHeaderArg(value: string): [string, string] {
  const colon = value.indexOf(':');
  const name = colon > 0 ? value.slice(0, colon).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new UsageError(`-H must be 'Name: value', got "${value}"`);
  return [name, value.slice(colon + 1).trim()];
}

function parseUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url is not an absolute URL: "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError('--url must be http or https');
  return url;
}

/** Components given as `"@query" content-type` or `@query,content-type`. */
function parseComponents(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(/[\s,]+/)
    .map((c) => c.replace(/^"|"$/g, ''))
    .filter((c) => c.length > 0);
}

/** `tessera http sign`: signs a request as an AAuth agent and prints it as JSON. */
export async function httpSign(options: SignCommandOptions, io: CliIo): Promise<number> {
  const url = parseUrl(options.url);
  if (!/^[A-Za-z]+$/.test(options.method)) throw new UsageError(`--method must be an HTTP method, got "${options.method}"`);
  const method = options.method.toUpperCase();
  const headers: Array<[string, string]> = options.header.map(parseHeaderArg);
  const body = options.body === undefined ? null : await inlineOrFile(options.body, io);
  const token = (await inlineOrFile(options.token, io)).trim();
  if (token.length === 0) throw new UsageError('--token is empty');
  const signer = await readSigner(options.key, io);
  const request: HttpRequestMessage = {
    method,
    url: url.href,
    headers,
    ...(body === null ? {} : { body: new TextEncoder().encode(body) }),
  };
  let signed;
  try {
    signed = await signAAuthRequest(request, {
      signer,
      token,
      ...(options.created === undefined ? { now: io.now } : { created: integerOption(options.created, '--created') }),
      components: parseComponents(options.cover),
    });
  } catch (error) {
    if (error instanceof AAuthError) throw new UsageError(`cannot sign: ${error.message}`);
    throw error;
  }
  const out: RequestJson = { method, url: url.href, headers: { ...Object.fromEntries(headers), ...signed.headers }, body };
  io.stdout(json(out));
  return 0;
}

export interface VerifyCommandOptions {
  readonly now?: string;
  readonly window?: string;
  readonly jwks: readonly string[];
  readonly audience?: string;
  readonly explain?: boolean;
  readonly dev?: boolean;
}

function readRequestJson(text: string): HttpRequestMessage {
  const value = parseJson(text, 'request');
  if (!isObject(value)) throw new UsageError('request must be a JSON object {method, url, headers, body}');
  const { method, url, headers, body } = value;
  if (typeof method !== 'string' || typeof url !== 'string') throw new UsageError('request needs string "method" and "url"');
  parseUrl(url);
  if (!isObject(headers) || !Object.values(headers).every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')))) {
    throw new UsageError('request "headers" must be an object of strings');
  }
  if (body !== null && body !== undefined && typeof body !== 'string') throw new UsageError('request "body" must be a string or null');
  return {
    method,
    url,
    headers: headers as Record<string, string | string[]>,
    ...(typeof body === 'string' ? { body: new TextEncoder().encode(body) } : {}),
  };
}

/** `--jwks ISSUER=FILE`: the issuer's keys pinned, so verification works offline. */
async function pinnedResolver(specs: readonly string[], io: CliIo): Promise<KeyResolver> {
  const sets = new Map<string, unknown>();
  for (const spec of specs) {
    const eq = spec.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--jwks must be ISSUER=FILE, got "${spec}"`);
    const issuer = spec.slice(0, eq);
    const file = spec.slice(eq + 1);
    const jwks = parseJson(await readSource(file, io), `JWKS file ${file}`);
    // A single JWK is accepted as a one-key set.
    sets.set(issuer, isObject(jwks) && !Array.isArray(jwks['keys']) ? { keys: [jwks] } : jwks);
  }
  return async ({ iss, kid }) => {
    const jwks = sets.get(iss);
    if (jwks === undefined) throw new AAuthError('unknown_key', { detail: `no --jwks pinned for issuer ${iss}` });
    return importVerifyKey(selectJwk(jwks, kid));
  };
}

/**
 * `tessera http verify`: verifies a request as an AAuth resource would (agent, person or auth token in
 * `Signature-Key`; person and auth tokens must name this resource — the URL's origin unless `--audience`).
 * Exit 0 valid, 1 invalid, 2 usage or input error.
 */
export async function httpVerify(file: string | undefined, options: VerifyCommandOptions, io: CliIo): Promise<number> {
  const request = readRequestJson(await readSource(file ?? '-', io));
  const fixedNow = options.now === undefined ? undefined : integerOption(options.now, '--now');
  const now = fixedNow === undefined ? io.now : () => fixedNow;
  const window = options.window === undefined ? undefined : integerOption(options.window, '--window');
  const resolveKey =
    options.jwks.length > 0
      ? await pinnedResolver(options.jwks, io)
      : createKeyResolver({
          fetch: createNodeEgressFetch(options.dev ? { allowHttp: true, allowLoopback: true } : {}),
          now,
          ...(options.dev ? { allowLoopbackHttp: true } : {}),
        });
  const steps: VerificationStep[] = [];
  const result = await verifyAAuthRequest(request, {
    accept: ['aa-agent+jwt', 'aa-person+jwt', 'aa-auth+jwt'],
    resolveKey,
    now,
    audience: options.audience ?? new URL(request.url).origin,
    ...(window === undefined ? {} : { window }),
    trace: (step) => steps.push(step),
  });
  if (options.explain) {
    for (const step of steps) {
      if (step.step === 'signature base') io.stderr(`signature base:\n${step.detail ?? ''}`);
      else io.stderr(`${step.ok ? 'ok  ' : 'FAIL'} ${step.step}${step.detail ? `: ${step.detail}` : ''}`);
    }
  }
  if (result.ok) {
    const v = result.value;
    io.stdout(json({ valid: true, label: v.label, scheme: v.scheme, jkt: v.jkt, token: { kind: v.token.kind, claims: v.token.claims } }));
    return 0;
  }
  io.stdout(json({ valid: false, error: result.error.code, detail: result.error.detail ?? result.error.message }));
  return 1;
}
