/**
 * The approver API (JSON), mounted by the Person Server host under `/api`, for people and their tools (the
 * `tessera approvals` and `tessera grants` commands, a phone app): authenticated with a session cookie or a
 * personal API token (`requirePerson`, which also refuses cross-origin unsafe requests of cookie sessions).
 *
 * - `GET /pending`: the pending requests this person may decide, each with what the consent page would show, and
 *   for a request an agent relayed through the interaction endpoint (kind `interaction`) its `relay`: type, `url`,
 *   `code` and the `link` to open (`{url}?code={code}`), or the question;
 * - `POST /pending/:id/approve` `{always?: boolean}`, `POST /pending/:id/deny`; approving a relayed interaction or
 *   payment says the person took it up (the agent keeps polling the resource); a relayed question is answered with
 *   `POST /pending/:id/answer` `{answer}` (its pending URL then answers `200 {answer}`), not approved;
 * - `GET /grants` (`?all=true` with revoked ones), `DELETE /grants/:id`;
 * - `GET /agents`: the agents bound to this person.
 *
 * AAuth -11 §Security Considerations: the PS binds each agent to exactly one person. A pending request of an
 * agent bound to another person (or addressed to another person) is answered 404, like one that does not exist.
 */
import { isAAuthError } from '@tessera/protocol';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { requirePerson, type PersonVariables } from '../auth/person-auth.js';
import type { ServerContext } from '../context.js';
import type { Deferred } from '../deferred/types.js';
import { errorResponse } from '../http/signed-request.js';
import { answerQuestion, RELAY_KIND, relayView } from '../ps/interaction-endpoint.js';
import { agentView, getAgent, listAgents } from '../registry/agents.js';
import { describeIssues } from '../registry/validation.js';
import { listGrants, revokeGrant } from '../store/grants.js';
import type { Grant, PendingRequest, Person } from '../store/schema.js';
import { fromJson } from '../store/store.js';
import { apiProblem } from './admin-auth.js';

type ApproverEnv = { Variables: PersonVariables };

const OPEN_STATUSES: ReadonlySet<PendingRequest['status']> = new Set(['pending', 'interacting']);
const approveBody = z.strictObject({ always: z.boolean().optional() });
const answerBody = z.strictObject({ answer: z.string() });

/** A standing grant as the approver API shows it. */
export interface GrantView {
  readonly id: string;
  readonly agent_id: string;
  readonly resource: string;
  readonly kind: Grant['kind'];
  readonly scopes: readonly string[];
  readonly created_at: number;
  readonly revoked_at: number | null;
}

export function grantView(row: Grant): GrantView {
  return {
    id: row.id,
    agent_id: row.agent_id,
    resource: row.resource,
    kind: row.kind,
    scopes: fromJson<string[]>(row.scopes, []),
    created_at: row.created_at,
    revoked_at: row.revoked_at,
  };
}

/** The person who runs an action, as the audit log names them. */
export const personActor = (person: Pick<Person, 'id'>): string => `person:${person.id}`;

export function createApproverApp(ctx: ServerContext, deferred: Deferred): Hono<ApproverEnv> {
  const app = new Hono<ApproverEnv>();

  /** Whether `person` may see and decide `pending`: addressed to them or to nobody, and its agent not bound to someone else. */
  async function mayDecide(person: Person, pending: PendingRequest): Promise<boolean> {
    if (pending.person_id !== null && pending.person_id !== person.id) return false;
    const agent = await getAgent(ctx.store.db, pending.agent_id);
    return agent?.person_id == null || agent.person_id === person.id;
  }

  /** The pending request `id` if this person may decide it, else a 404 / 409 answer. */
  async function decidable(c: Context<ApproverEnv>, id: string): Promise<{ pending: PendingRequest } | { response: Response }> {
    const pending = await deferred.get(id);
    if (pending === undefined || !(await mayDecide(c.var.person, pending))) return { response: apiProblem(c, 404, 'not_found', 'no such pending request') };
    if (!OPEN_STATUSES.has(pending.status)) return { response: apiProblem(c, 409, 'conflict', `the request is already ${pending.status}`) };
    if (pending.expires_at <= ctx.now()) return { response: apiProblem(c, 409, 'conflict', 'the request has expired') };
    return { pending };
  }

  app.use('*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use('*', requirePerson(ctx));

  app.get('/pending', async (c) => {
    const person = c.var.person;
    const now = ctx.now();
    const out = [];
    for (const pending of await deferred.listForPerson(person.id)) {
      if (!OPEN_STATUSES.has(pending.status) || pending.expires_at <= now || !(await mayDecide(person, pending))) continue;
      const handler = deferred.handler(pending.kind);
      let view = null;
      try {
        view = handler === undefined ? null : await handler.describe(pending);
      } catch (error) {
        ctx.log.warn({ err: error, pending: pending.id, kind: pending.kind }, 'cannot describe a pending request');
      }
      let relay = null;
      if (pending.kind === RELAY_KIND) {
        const { type, url, code, link, question, description } = await relayView(ctx, pending);
        relay = { type, url, code, link, question, description };
      }
      out.push({
        id: pending.id,
        kind: pending.kind,
        status: pending.status,
        agent_id: pending.agent_id,
        created_at: pending.created_at,
        expires_at: pending.expires_at,
        view,
        ...(relay === null ? {} : { relay }),
      });
    }
    return c.json({ pending: out });
  });

  app.post('/pending/:id/approve', async (c) => {
    let body: unknown = {};
    const text = await c.req.text();
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        return apiProblem(c, 400, 'invalid_request', 'the body is not valid JSON');
      }
    }
    const parsed = approveBody.safeParse(body);
    if (!parsed.success) return apiProblem(c, 400, 'invalid_request', describeIssues(parsed.error));
    const always = parsed.data.always ?? false;
    const found = await decidable(c, c.req.param('id'));
    if ('response' in found) return found.response;
    if (found.pending.kind === RELAY_KIND && (await relayView(ctx, found.pending)).type === 'question') {
      return apiProblem(c, 400, 'invalid_request', `a question is answered: POST /api/pending/${found.pending.id}/answer {"answer": "…"}`);
    }
    if (always) {
      const view = await deferred.handler(found.pending.kind)?.describe(found.pending);
      if (view?.allowAlways !== true) return apiProblem(c, 400, 'invalid_request', 'always: approve always is not offered for this request');
    }
    try {
      const decided = await deferred.approve(found.pending.id, { personId: c.var.person.id, always });
      return c.json({ id: decided.id, status: decided.status, ...(decided.error === null ? {} : { error: decided.error }) });
    } catch (error) {
      if (isAAuthError(error)) return errorResponse(c, error);
      throw error;
    }
  });

  app.post('/pending/:id/answer', async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text()) as unknown;
    } catch {
      return apiProblem(c, 400, 'invalid_request', 'the body is not valid JSON');
    }
    const parsed = answerBody.safeParse(body);
    if (!parsed.success) return apiProblem(c, 400, 'invalid_request', describeIssues(parsed.error));
    const found = await decidable(c, c.req.param('id'));
    if ('response' in found) return found.response;
    if (found.pending.kind !== RELAY_KIND) return apiProblem(c, 400, 'invalid_request', 'only a question relayed by an agent takes an answer');
    try {
      const decided = await answerQuestion(ctx, deferred, found.pending.id, c.var.person.id, parsed.data.answer);
      return c.json({ id: decided.id, status: decided.status });
    } catch (error) {
      if (isAAuthError(error)) return errorResponse(c, error);
      throw error;
    }
  });

  app.post('/pending/:id/deny', async (c) => {
    const found = await decidable(c, c.req.param('id'));
    if ('response' in found) return found.response;
    try {
      const decided = await deferred.refuse(found.pending.id, 'denied', c.var.person.id);
      return c.json({ id: decided.id, status: decided.status });
    } catch (error) {
      if (isAAuthError(error)) return errorResponse(c, error);
      throw error;
    }
  });

  app.get('/grants', async (c) => {
    const all = c.req.query('all');
    const rows = await listGrants(ctx.store.db, c.var.person.id, all === 'true' || all === '1');
    return c.json({ grants: rows.map(grantView) });
  });

  app.delete('/grants/:id', async (c) => {
    const person = c.var.person;
    const id = c.req.param('id');
    const revoked = await ctx.store.transaction(async (trx) => {
      const grant = await trx.selectFrom('grants').selectAll().where('id', '=', id).where('person_id', '=', person.id).executeTakeFirst();
      if (grant === undefined || !(await revokeGrant(trx, person.id, id, ctx.now()))) return false;
      await ctx.store.audit({ type: 'grant.revoked', actor: personActor(person), person: person.id, agent: grant.agent_id, resource: grant.resource, detail: { grant: id, kind: grant.kind } }, trx);
      return true;
    });
    return revoked ? c.body(null, 204) : apiProblem(c, 404, 'not_found', 'no such live grant');
  });

  app.get('/agents', async (c) => {
    const rows = await listAgents(ctx.store.db, { personId: c.var.person.id });
    return c.json({ agents: rows.map(agentView) });
  });

  app.onError((error, c) => {
    ctx.log.error({ err: error, path: c.req.path }, 'approver API error');
    return apiProblem(c, 500, 'server_error');
  });
  return app;
}
