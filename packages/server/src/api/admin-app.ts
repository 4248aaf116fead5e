/**
 * The admin API (JSON, `Authorization: Bearer <admin token>`), mounted by the Person Server host under `/admin`:
 *
 * - agents: `GET /agents`, `GET|PATCH|DELETE /agents/:id`, `POST /agents`, `POST /agents/:id/disable|enable`;
 * - resources: the same shape under `/resources`;
 * - `GET|PUT /trust-policy`;
 * - `GET /audit` (one page `{events, next_cursor}`) and `GET /audit.jsonl` (JSON Lines, streamed).
 *
 * Agent and resource identifiers in paths are URL-encoded (`/resources/https%3A%2F%2Fres.example`). Every write is
 * audited with actor `admin` in the write's transaction. Errors are problem+json: `invalid_request` (400, naming
 * the field), `unauthorized` (401), `not_found` (404), `conflict` (409).
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { auditExportStream, parseAuditFilter, queryAudit } from '../audit/audit-query.js';
import type { ServerContext } from '../context.js';
import { agentView, createAgent, deleteAgent, getAgent, listAgents, setAgentStatus, updateAgent } from '../registry/agents.js';
import { createResource, deleteResource, getResource, listResources, resourceView, setResourceStatus, updateResource } from '../registry/resources.js';
import { readTrustPolicy, writeTrustPolicy } from '../registry/trust-policy.js';
import { RegistryValidator, type RegistryResult } from '../registry/validation.js';
import { apiProblem, requireAdmin } from './admin-auth.js';

const ACTOR = 'admin';
const MAX_ADMIN_BODY = 256 * 1024;

type JsonBody = { ok: true; value: unknown } | { ok: false; response: Response };

/** Reads a JSON body; a missing or malformed one is a 400. */
async function jsonBody(c: Context): Promise<JsonBody> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    return { ok: false, response: apiProblem(c, 400, 'invalid_request', 'the body must be application/json') };
  }
  try {
    return { ok: true, value: JSON.parse(await c.req.text()) as unknown };
  } catch {
    return { ok: false, response: apiProblem(c, 400, 'invalid_request', 'the body is not valid JSON') };
  }
}

/** Answers a registry result: the view, or 400 / 404 / 409. */
function answer<T>(c: Context, result: RegistryResult<T>, view: (value: T) => unknown, status: 200 | 201 = 200): Response {
  if (!result.ok) {
    const status = result.reason === 'invalid' ? 400 : result.reason === 'not_found' ? 404 : 409;
    const code = result.reason === 'invalid' ? 'invalid_request' : result.reason;
    return apiProblem(c, status, code, result.detail);
  }
  return c.json(view(result.value) as object, status);
}

const statusFilter = (value: string | undefined): 'active' | 'disabled' | undefined | null =>
  value === undefined || value === '' ? undefined : value === 'active' || value === 'disabled' ? value : null;

export function createAdminApp(ctx: ServerContext): Hono {
  const app = new Hono();
  const validate = new RegistryValidator({ allowLoopbackHttp: ctx.allowLoopbackHttp });

  app.use('*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use('*', requireAdmin(ctx));
  app.use('*', bodyLimit({ maxSize: MAX_ADMIN_BODY, onError: (c) => apiProblem(c, 413, 'invalid_request', `request body larger than ${MAX_ADMIN_BODY} bytes`) }));

  // Agents
  app.get('/agents', async (c) => {
    const status = statusFilter(c.req.query('status'));
    if (status === null) return apiProblem(c, 400, 'invalid_request', 'status: active or disabled');
    const rows = await listAgents(ctx.store.db, status === undefined ? {} : { status });
    return c.json({ agents: rows.map(agentView) });
  });
  app.get('/agents/:id', async (c) => {
    const row = await getAgent(ctx.store.db, c.req.param('id'));
    return row === undefined ? apiProblem(c, 404, 'not_found', `no agent ${c.req.param('id')}`) : c.json(agentView(row));
  });
  app.post('/agents', async (c) => {
    const body = await jsonBody(c);
    if (!body.ok) return body.response;
    const input = validate.agentCreate(body.value);
    if (!input.ok) return apiProblem(c, 400, 'invalid_request', input.detail);
    const result = await createAgent(ctx, input.value, ACTOR);
    if (result.ok) c.header('Location', `${c.req.path.replace(/\/$/, '')}/${encodeURIComponent(result.value.id)}`);
    return answer(c, result, agentView, 201);
  });
  app.patch('/agents/:id', async (c) => {
    const body = await jsonBody(c);
    if (!body.ok) return body.response;
    const patch = validate.agentUpdate(body.value);
    if (!patch.ok) return apiProblem(c, 400, 'invalid_request', patch.detail);
    return answer(c, await updateAgent(ctx, c.req.param('id'), patch.value, ACTOR), agentView);
  });
  app.post('/agents/:id/disable', async (c) => answer(c, await setAgentStatus(ctx, c.req.param('id'), 'disabled', ACTOR), agentView));
  app.post('/agents/:id/enable', async (c) => answer(c, await setAgentStatus(ctx, c.req.param('id'), 'active', ACTOR), agentView));
  app.delete('/agents/:id', async (c) => {
    const result = await deleteAgent(ctx, c.req.param('id'), ACTOR);
    return result.ok ? c.body(null, 204) : answer(c, result, () => null);
  });

  // Resources
  app.get('/resources', async (c) => {
    const status = statusFilter(c.req.query('status'));
    if (status === null) return apiProblem(c, 400, 'invalid_request', 'status: active or disabled');
    const rows = await listResources(ctx.store.db, status === undefined ? {} : { status });
    return c.json({ resources: rows.map(resourceView) });
  });
  app.get('/resources/:id', async (c) => {
    const row = await getResource(ctx.store.db, c.req.param('id'));
    return row === undefined ? apiProblem(c, 404, 'not_found', `no resource ${c.req.param('id')}`) : c.json(resourceView(row));
  });
  app.post('/resources', async (c) => {
    const body = await jsonBody(c);
    if (!body.ok) return body.response;
    const input = validate.resourceCreate(body.value);
    if (!input.ok) return apiProblem(c, 400, 'invalid_request', input.detail);
    const result = await createResource(ctx, input.value, ACTOR);
    if (result.ok) c.header('Location', `${c.req.path.replace(/\/$/, '')}/${encodeURIComponent(result.value.id)}`);
    return answer(c, result, resourceView, 201);
  });
  app.patch('/resources/:id', async (c) => {
    const body = await jsonBody(c);
    if (!body.ok) return body.response;
    const patch = validate.resourceUpdate(body.value);
    if (!patch.ok) return apiProblem(c, 400, 'invalid_request', patch.detail);
    return answer(c, await updateResource(ctx, c.req.param('id'), patch.value, ACTOR), resourceView);
  });
  app.post('/resources/:id/disable', async (c) => answer(c, await setResourceStatus(ctx, c.req.param('id'), 'disabled', ACTOR), resourceView));
  app.post('/resources/:id/enable', async (c) => answer(c, await setResourceStatus(ctx, c.req.param('id'), 'active', ACTOR), resourceView));
  app.delete('/resources/:id', async (c) => {
    const result = await deleteResource(ctx, c.req.param('id'), ACTOR);
    return result.ok ? c.body(null, 204) : answer(c, result, () => null);
  });

  // Trust policy
  app.get('/trust-policy', async (c) => c.json(await readTrustPolicy(ctx.store.db)));
  app.put('/trust-policy', async (c) => {
    const body = await jsonBody(c);
    if (!body.ok) return body.response;
    const policy = validate.trustPolicy(body.value);
    if (!policy.ok) return apiProblem(c, 400, 'invalid_request', policy.detail);
    return c.json(await writeTrustPolicy(ctx, policy.value, ACTOR));
  });

  // Audit log
  app.get('/audit', async (c) => {
    const filter = parseAuditFilter(c.req.query());
    if (!filter.ok) return apiProblem(c, 400, 'invalid_request', filter.detail);
    return c.json(await queryAudit(ctx.store.db, filter.value));
  });
  app.get('/audit.jsonl', (c) => {
    const filter = parseAuditFilter(c.req.query());
    if (!filter.ok) return apiProblem(c, 400, 'invalid_request', filter.detail);
    return c.body(auditExportStream(ctx.store.db, filter.value), 200, { 'Content-Type': 'application/jsonl; charset=utf-8' });
  });

  app.notFound((c) => apiProblem(c, 404, 'not_found', 'no such admin endpoint'));
  app.onError((error, c) => {
    ctx.log.error({ err: error, path: c.req.path }, 'admin API error');
    return apiProblem(c, 500, 'server_error');
  });
  return app;
}
