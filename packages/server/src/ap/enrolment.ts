/**
 * Agent enrolment, `POST /enrol` (AAuth Bootstrap §Per-Platform Enrollment Sketches: the agent posts its new public
 * key to the AP's enrolment endpoint, "signed by the new key (`hwk` scheme)"). Body `{local?, name?, ps?, description?}`.
 *
 * The AP assigns `aauth:{local}@{domain}` (`agent-identifier.ts`), records the key as a pending enrolment, and answers
 * 202 with an interaction code (AAuth -11 §Deferred Responses): the agent's person opens the PS interaction page, sees
 * "enrol agent X with key thumbprint Y" and approves; the agent polls the pending URL with `hwk`-signed GETs and gets
 * `{agent_id, agent_token, expires_in}`.
 */
import { AAuthError, parsePreferWait, parseServerIdentifier, verifyHwkRequest } from '@tessera/protocol';
import { Hono } from 'hono';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Deferred } from '../deferred/types.js';
import { errorResponse } from '../http/signed-request.js';
import { apRequestMessage, keyRequestErrorResponse, readJsonBody } from './ap-http.js';
import { agentDomain, agentIdentifier, randomLocalPart } from './agent-identifier.js';
import type { EnrolmentRequest } from './enrolment-handler.js';

/** Default lifetime of an enrolment's pending request (and of its claim on the identifier): 10 minutes. */
export const DEFAULT_ENROLMENT_TTL = 600;

const EnrolmentBody = z.object({
  local: z.string().max(64).optional(),
  name: z.string().trim().min(1).max(120).optional(),
  ps: z.string().min(1).max(2048).optional(),
  description: z.string().max(2000).optional(),
});

export interface EnrolmentOptions {
  /** Lifetime of the pending request, seconds. */
  readonly pendingTtl?: number;
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });

export function enrolmentEndpoint(ctx: ServerContext, deferred: Deferred, options: EnrolmentOptions = {}): Hono {
  const pendingTtl = options.pendingTtl ?? DEFAULT_ENROLMENT_TTL;
  const domain = agentDomain(ctx.ap.issuer, ctx.allowLoopbackHttp);
  const app = new Hono();

  app.post('/', async (c) => {
    const read = await apRequestMessage(c, ctx.ap.issuer);
    if (read instanceof Response) return read;
    // Signed by the key being enrolled; bodies cover content-digest and content-type (§8.1).
    const verified = await verifyHwkRequest(read.message, { now: ctx.now, keyCache: ctx.keyCache, requireContentDigest: true });
    if (!verified.ok) return keyRequestErrorResponse(verified.error, 'hwk');
    const { jkt, jwk } = verified.value;
    try {
      const body = readJsonBody(read.body, EnrolmentBody);
      let ps: string | undefined;
      if (body.ps !== undefined) {
        try {
          ps = parseServerIdentifier(body.ps, { allowLoopbackHttp: ctx.allowLoopbackHttp }).identifier;
        } catch (cause) {
          throw new AAuthError('invalid_request', { detail: 'ps is not a Person Server identifier', cause });
        }
      }
      const now = Math.floor(ctx.now());

      const agentId = await ctx.store.transaction(async (trx) => {
        const sameKey = await trx.selectFrom('ap_agents').select(['agent_id', 'status']).where('jkt', '=', jkt).execute();
        if (sameKey.some((r) => r.status === 'active')) throw invalid('this key is already enrolled; renew its agent token instead');
        // A key whose enrolment ended (revoked, or replaced by a key refresh) never enrols again.
        if (sameKey.some((r) => r.status === 'revoked')) throw invalid('this key has been revoked');
        // A retry with the same key and no `local` keeps the identifier of its earlier pending enrolment.
        const local = body.local ?? (sameKey[0] === undefined ? randomLocalPart() : undefined);
        const id = local === undefined ? sameKey[0]!.agent_id : agentIdentifier(local, domain).identifier;
        // Pending enrolments of this key under another identifier are superseded.
        await trx.deleteFrom('ap_agents').where('jkt', '=', jkt).where('status', '=', 'pending').where('agent_id', '!=', id).execute();
        // An identifier is never reused across keys (revoked ones included); a stale pending claim by another key lapses.
        const holders = await trx.selectFrom('ap_agents').select(['jkt', 'status', 'updated_at']).where('agent_id', '=', id).where('jkt', '!=', jkt).execute();
        const stale = (r: { status: string; updated_at: number }): boolean => r.status === 'pending' && r.updated_at + pendingTtl < now;
        if (holders.some((r) => !stale(r))) throw invalid('that agent identifier is taken');
        if (holders.length > 0) await trx.deleteFrom('ap_agents').where('agent_id', '=', id).where('jkt', '!=', jkt).where('status', '=', 'pending').execute();

        const mine = await trx.selectFrom('ap_agents').select('status').where('agent_id', '=', id).where('jkt', '=', jkt).executeTakeFirst();
        if (mine) {
          await trx.updateTable('ap_agents').set({ ps: ps ?? null, updated_at: now }).where('agent_id', '=', id).where('jkt', '=', jkt).execute();
        } else {
          await trx
            .insertInto('ap_agents')
            .values({ agent_id: id, jkt, public_jwk: JSON.stringify(jwk), person_id: null, ps: ps ?? null, parent_agent: null, status: 'pending', created_at: now, updated_at: now })
            .execute();
        }
        await ctx.store.audit({ type: 'enrolment.requested', actor: `agent:${id}`, agent: id, detail: { jkt, ps: ps ?? null } }, trx);
        return id;
      });

      const request: EnrolmentRequest = {
        agent_id: agentId,
        name: body.name ?? agentId,
        jkt,
        jwk,
        ...(body.description === undefined ? {} : { description: body.description }),
        ...(ps === undefined ? {} : { ps }),
      };
      const created = await deferred.create({
        kind: 'enrolment',
        agentId,
        agentJkt: jkt,
        personId: null,
        request: request as unknown as Record<string, unknown>,
        ttlSeconds: pendingTtl,
      });
      return await deferred.accepted(created, parsePreferWait(c.req.header('prefer')));
    } catch (error) {
      if (error instanceof AAuthError) return errorResponse(c, error);
      throw error;
    }
  });
  return app;
}
