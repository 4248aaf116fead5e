/**
 * Test fixtures for the people, sign-in and interaction pages: a ServerContext over a test store, a fake
 * Deferred service implementing the contract in memory, and a browser-like sign-in helper.
 */
import { normalizeInteractionCode } from '@tessera/protocol';
import { pino } from 'pino';
import type { ServerContext } from '../src/context.js';
import type { ApprovalDecision, ConsentView, CreatePendingInput, CreatedPending, Deferred, PendingHandler, PendingKind, RefusalCode } from '../src/deferred/types.js';
import type { PendingRequest } from '../src/store/schema.js';
import type { Store } from '../src/store/store.js';

export const T0 = 1_800_000_000;

export interface Clock {
  t: number;
}

export function testContext(store: Store, clock: Clock, opts: { mode?: 'development' | 'production'; issuer?: string } = {}): ServerContext {
  const mode = opts.mode ?? 'production';
  const issuer = opts.issuer ?? (mode === 'production' ? 'https://ps.example' : 'http://localhost:8080');
  return {
    mode,
    ps: { issuer, name: 'Example Person Server' },
    ap: { issuer: 'https://ap.example', name: 'Example Agent Provider' },
    store,
    keys: undefined as unknown as ServerContext['keys'],
    now: () => clock.t,
    resolveKey: () => Promise.reject(new Error('not used')),
    keyCache: undefined as unknown as ServerContext['keyCache'],
    log: pino({ level: 'silent' }),
    allowLoopbackHttp: mode === 'development',
  };
}

export interface Call {
  readonly method: 'interacting' | 'approve' | 'refuse';
  readonly id: string;
  readonly personId: string | null;
  readonly decision?: ApprovalDecision;
  readonly code?: RefusalCode;
}

/** An in-memory Deferred: pending requests by id and by normalized code; records decisions. */
export class FakeDeferred implements Deferred {
  readonly pendings = new Map<string, PendingRequest>();
  readonly codes = new Map<string, string>();
  readonly calls: Call[] = [];
  readonly handlers = new Map<string, PendingHandler>();
  approveError: Error | undefined;
  #n = 0;

  constructor(private readonly clock: Clock) {}

  register(kind: PendingKind, handler: PendingHandler): void {
    this.handlers.set(kind, handler);
  }
  handler(kind: string): PendingHandler | undefined {
    return this.handlers.get(kind);
  }
  create(input: CreatePendingInput): Promise<CreatedPending> {
    this.#n += 1;
    const id = `pnd_${this.#n}`;
    const code = `ABCD${String(this.#n).padStart(4, '0')}`;
    const pending: PendingRequest = {
      id,
      kind: input.kind,
      agent_id: input.agentId,
      agent_jkt: input.agentJkt,
      person_id: input.personId ?? null,
      status: 'pending',
      request: JSON.stringify(input.request),
      result: null,
      error: null,
      code_hash: code,
      code_failures: 0,
      clarification_rounds: 0,
      clarification: null,
      callback: input.callback ?? null,
      created_at: this.clock.t,
      updated_at: this.clock.t,
      expires_at: this.clock.t + (input.ttlSeconds ?? 600),
    };
    this.pendings.set(id, pending);
    this.codes.set(code, id);
    return Promise.resolve({ pending, code, interactionUrl: 'https://ps.example/interaction' });
  }
  accepted(): Promise<Response> {
    return Promise.resolve(new Response(null, { status: 202 }));
  }
  findByCode(code: string): Promise<PendingRequest | undefined> {
    let normalized: string;
    try {
      normalized = normalizeInteractionCode(code);
    } catch {
      return Promise.resolve(undefined);
    }
    const id = this.codes.get(normalized);
    return Promise.resolve(id === undefined ? undefined : this.pendings.get(id));
  }
  get(id: string): Promise<PendingRequest | undefined> {
    return Promise.resolve(this.pendings.get(id));
  }
  interacting(id: string, personId: string): Promise<void> {
    this.calls.push({ method: 'interacting', id, personId });
    const p = this.pendings.get(id);
    if (p) this.pendings.set(id, { ...p, status: 'interacting', person_id: personId });
    return Promise.resolve();
  }
  approve(id: string, decision: ApprovalDecision): Promise<PendingRequest> {
    this.calls.push({ method: 'approve', id, personId: decision.personId, decision });
    if (this.approveError) return Promise.reject(this.approveError);
    const p = { ...this.pendings.get(id)!, status: 'approved' as const };
    this.pendings.set(id, p);
    return Promise.resolve(p);
  }
  refuse(id: string, code: RefusalCode, personId: string | null): Promise<PendingRequest> {
    this.calls.push({ method: 'refuse', id, personId, code });
    const p = { ...this.pendings.get(id)!, status: code };
    this.pendings.set(id, p);
    return Promise.resolve(p);
  }
  listForPerson(personId: string): Promise<PendingRequest[]> {
    return Promise.resolve([...this.pendings.values()].filter((p) => p.person_id === personId || p.person_id === null));
  }
}

/** A handler whose consent view comes from the stored request (`view` member). */
export function viewHandler(): PendingHandler {
  return {
    describe: (pending) => Promise.resolve((JSON.parse(pending.request) as { view: ConsentView }).view),
    approve: () => Promise.resolve({ auth_token: 'x', expires_in: 3600 }),
  };
}

export const CSRF_INPUT = /name="csrf" value="([^"]+)"/;

export function csrfFrom(html: string): string {
  const m = CSRF_INPUT.exec(html);
  if (!m) throw new Error('no csrf field in page');
  return m[1]!;
}

/** `name=value` pairs of the response's Set-Cookie headers. */
export function cookiesFrom(res: Response): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    out.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
  }
  return out;
}

export function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams(fields);
}

/** Anything with Hono's `request`. */
export interface RequestApp {
  request(input: string, init?: RequestInit): Response | Promise<Response>;
}

export interface Browser {
  /** The `Cookie` header value of the session. */
  readonly cookie: string;
  /** The session's CSRF token (from a page). */
  readonly csrf: string;
}

/** Signs in like a browser: GET /login (pre-session cookie + token), POST /login with the PS Origin. */
export async function signIn(app: RequestApp, ctx: ServerContext, username: string, password: string): Promise<Browser> {
  const origin = new URL(ctx.ps.issuer).origin;
  const page = await app.request(`${origin}/login`);
  const loginCookies = cookiesFrom(page);
  const loginCookie = [...loginCookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const res = await app.request(`${origin}/login`, {
    method: 'POST',
    headers: { origin, cookie: loginCookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: form({ username, password, csrf: csrfFrom(await page.text()) }),
  });
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
  const session = [...cookiesFrom(res)].find(([k, v]) => k.endsWith('tessera') && v !== '');
  if (!session) throw new Error('no session cookie');
  const cookie = `${session[0]}=${session[1]}`;
  const account = await app.request(`${origin}/account`, { headers: { cookie } });
  return { cookie, csrf: csrfFrom(await account.text()) };
}
