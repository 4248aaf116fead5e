/**
 * The Deferred service contract (`deferred/types.ts`) in memory, for the endpoint tests of the Person Server and the
 * Agent Provider, so they exercise only their own side of the contract (the real service has its own tests):
 * create, accepted (202 + Location + the interaction requirement), approve (runs the kind's handler in a store
 * transaction; a handler's refusal fails the request and is thrown, as the real service does), refuse, and
 * pending-URL GETs authenticated with the kind's `authenticatePoll`.
 *
 * The UI tests keep their own recorder (`ui-fixtures.ts`), which runs no handler: they test the pages' calls.
 */
import { randomBytes } from 'node:crypto';
import { AAuthError } from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import type { ServerContext } from '../src/context.js';
import { newPendingRow } from '../src/deferred/pending-row.js';
import type { ApprovalDecision, CreatedPending, CreatePendingInput, DeferredService, PendingHandler, PendingKind, RefusalCode } from '../src/deferred/types.js';
import type { PendingRequest } from '../src/store/schema.js';
import { toJson } from '../src/store/store.js';

export class FakeDeferred implements DeferredService {
  readonly handlers = new Map<string, PendingHandler>();
  readonly rows = new Map<string, PendingRequest>();
  readonly codes = new Map<string, string>();
  /** The `Prefer: wait` of the last 202 answered. */
  lastWait: number | undefined;
  readonly #ctx: ServerContext;

  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  register(kind: PendingKind, handler: PendingHandler): void {
    if (this.handlers.has(kind)) throw new Error(`${kind} registered twice`);
    this.handlers.set(kind, handler);
  }
  handler(kind: string): PendingHandler | undefined {
    return this.handlers.get(kind);
  }
  create(input: CreatePendingInput): Promise<CreatedPending> {
    const now = Math.floor(this.#ctx.now());
    const pending = newPendingRow(input, { now, ttlSeconds: input.ttlSeconds ?? 600, codeHash: null });
    this.rows.set(pending.id, pending);
    const hex = randomBytes(4).toString('hex').toUpperCase(); // Crockford-safe: 0-9 and A-F
    const code = `C${hex.slice(0, 3)}-${hex.slice(3, 7)}`;
    this.codes.set(code, pending.id);
    return Promise.resolve({ pending, code, interactionUrl: `${this.#ctx.ps.issuer}/interaction` });
  }
  #issuerOf(row: PendingRequest): string {
    return this.handlers.get(row.kind)?.issuer === 'ap' ? this.#ctx.ap.issuer : this.#ctx.ps.issuer;
  }
  accepted(created: CreatedPending, preferWait?: number): Promise<Response> {
    this.lastWait = preferWait;
    return Promise.resolve(
      new Response(JSON.stringify({ status: 'pending' }), {
        status: 202,
        headers: {
          location: `${this.#issuerOf(created.pending)}/pending/${created.pending.id}`,
          'retry-after': '5',
          'cache-control': 'no-store',
          'aauth-requirement': `requirement=interaction; url="${created.interactionUrl}"; code="${created.code}"`,
          'content-type': 'application/json',
        },
      }),
    );
  }
  findByCode(code: string): Promise<PendingRequest | undefined> {
    const id = this.codes.get(code);
    return Promise.resolve(id === undefined ? undefined : this.rows.get(id));
  }
  get(id: string): Promise<PendingRequest | undefined> {
    return Promise.resolve(this.rows.get(id));
  }
  interacting(id: string, personId: string): Promise<void> {
    const row = this.rows.get(id);
    if (row) this.rows.set(id, { ...row, status: 'interacting', person_id: personId });
    return Promise.resolve();
  }
  async approve(id: string, decision: ApprovalDecision): Promise<PendingRequest> {
    const row = this.rows.get(id);
    const handler = row && this.handlers.get(row.kind);
    if (!row || !handler) throw new Error('no such pending request');
    try {
      const result = await this.#ctx.store.transaction((trx) => handler.approve(row, decision, trx));
      const approved: PendingRequest = { ...row, status: 'approved', person_id: decision.personId, result: toJson(result) };
      this.rows.set(id, approved);
      return approved;
    } catch (error) {
      if (error instanceof AAuthError) this.rows.set(id, { ...row, status: 'failed', error: error.code, person_id: decision.personId });
      throw error;
    }
  }
  refuse(id: string, code: RefusalCode, personId: string | null = null): Promise<PendingRequest> {
    const row = this.rows.get(id);
    if (!row) throw new Error('no such pending request');
    const refused: PendingRequest = { ...row, status: code, error: code, person_id: personId };
    this.rows.set(id, refused);
    return Promise.resolve(refused);
  }
  listForPerson(personId: string): Promise<PendingRequest[]> {
    return Promise.resolve([...this.rows.values()].filter((r) => r.person_id === personId || r.person_id === null));
  }
  routes(owner: 'ps' | 'ap'): Hono {
    const app = new Hono();
    app.get('/:id', async (c: Context) => {
      const row = this.rows.get(c.req.param('id') ?? '');
      const handler = row && this.handlers.get(row.kind);
      if (!row || !handler || (handler.issuer ?? 'ps') !== owner || !handler.authenticatePoll) return c.json({ error: 'invalid_request' }, 404);
      const identity = await handler.authenticatePoll(c);
      if (identity instanceof Response) return identity;
      if (identity.jkt !== row.agent_jkt) return c.json({ error: 'invalid_request' }, 404);
      if (row.status === 'approved') return c.json(JSON.parse(row.result!) as object, 200);
      if (row.status === 'pending' || row.status === 'interacting') return c.json({ status: row.status }, 202);
      return c.json({ error: row.error }, row.status === 'expired' ? 408 : 403);
    });
    return app;
  }
  /** The only pending request created so far, or the last one. */
  last(): PendingRequest {
    const rows = [...this.rows.values()];
    const row = rows[rows.length - 1];
    if (!row) throw new Error('no pending request');
    return row;
  }
}
