/**
 * Default authentication of requests to a pending URL (AAuth -11 §Deferred Responses, §Security
 * Considerations: the signature is verified on every poll). The agent signs its GET, POST and DELETE with its
 * agent token (`sig=jwt`, `aa-agent+jwt`); a POST body must be covered by `content-digest` and `content-type`
 * (PS requests with a body, §8.1). Returns the signing key's RFC 7638 thumbprint, which the Deferred service
 * compares with the pending request's `agent_jkt`, or the response to send (401 + `Signature-Error`).
 */
import { toErrorResponse, verifyAAuthRequest } from '@tessera/protocol';
import type { Context } from 'hono';
import type { ServerContext } from '../context.js';
import { MAX_BODY_BYTES, requestMessage } from '../http/signed-request.js';

export interface PollIdentity {
  /** RFC 7638 thumbprint of the key that signed the request. */
  readonly jkt: string;
}

/** Authenticates a request to a pending URL of `issuer` as signed by an agent with its agent token. */
export async function authenticateAgentPoll(ctx: ServerContext, issuer: string, c: Context): Promise<PollIdentity | Response> {
  const read = await requestMessage(c, issuer);
  if ('tooLarge' in read) {
    return new Response(JSON.stringify({ error: 'invalid_request', detail: `body larger than ${MAX_BODY_BYTES} bytes` }), {
      status: 413,
      headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' },
    });
  }
  const result = await verifyAAuthRequest(read.message, {
    accept: ['aa-agent+jwt'],
    resolveKey: ctx.resolveKey,
    now: ctx.now,
    keyCache: ctx.keyCache,
    requireContentDigest: true,
  });
  if (!result.ok) {
    // §Verification: every failure of the signature or of the token in Signature-Key is a 401 + Signature-Error,
    // a missing signature header included (§8.3), hence `duringVerification`.
    const { status, headers, body } = toErrorResponse(result.error, { duringVerification: true });
    return new Response(JSON.stringify(body), { status, headers: { ...headers, 'cache-control': 'no-store' } });
  }
  return { jkt: result.value.jkt };
}
