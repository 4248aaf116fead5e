/** The row of a new pending request: nothing decided, nothing asked yet (AAuth -11 §Deferred Responses). */
import type { PendingRequest } from '../store/schema.js';
import { toJson } from '../store/store.js';
import { newPendingId } from './pending-id.js';
import type { CreatePendingInput } from './types.js';

/** `codeHash`: the interaction code's hash, when the request has one; `ttlSeconds`: how long it may stay pending. */
export function newPendingRow(input: CreatePendingInput, at: { readonly now: number; readonly ttlSeconds: number; readonly codeHash: string | null }): PendingRequest {
  return {
    id: newPendingId(),
    kind: input.kind,
    agent_id: input.agentId,
    agent_jkt: input.agentJkt,
    person_id: input.personId ?? null,
    status: 'pending',
    request: toJson(input.request),
    result: null,
    error: null,
    code_hash: at.codeHash,
    code_failures: 0,
    clarification_rounds: 0,
    clarification: null,
    callback: input.callback ?? null,
    created_at: at.now,
    updated_at: at.now,
    expires_at: at.now + at.ttlSeconds,
  };
}
