/**
 * Agent token, `aa-agent+jwt` (AAuth -11 §Agent Token): issued by an Agent Provider, binds the agent
 * identifier (`sub`) to the agent's signing key (`cnf.jwk`).
 */
import type { ErrorCode } from '../errors.js';
import type { Signer } from '../crypto/types.js';
import type { CommonClaims, Confirmation, MintClaims, MintOptions } from './claims.js';
import { ClaimReader, DWK, MAX_LIFETIME, assemblePayload, issueTimes, requireKid } from './claims.js';
import { signJws } from './jws.js';

export const AGENT_TOKEN_TYP = 'aa-agent+jwt';

export interface AgentTokenClaims extends CommonClaims {
  /** The Agent Provider. */
  readonly iss: string;
  readonly dwk: typeof DWK.agent;
  /** The agent identifier `aauth:local@domain`, stable across key rotations. */
  readonly sub: string;
  readonly cnf: Confirmation;
  /** The agent's Person Server, when it has one. */
  readonly ps?: string;
  /** Present only in a sub-agent's token: the parent agent's identifier. */
  readonly parent_agent?: string;
}

/**
 * Checks the claims of an agent token: `iss`, `dwk` = `aauth-agent.json`, `sub`, `jti`, `cnf.jwk`, `iat`, `exp`
 * required; `ps`, `parent_agent` strings when present (digest §4; §8.17).
 */
export function checkAgentTokenClaims(claims: Record<string, unknown>, code: ErrorCode = 'invalid_jwt'): AgentTokenClaims {
  const r = new ClaimReader(claims, code, 'agent token');
  r.string('iss');
  r.exact('dwk', DWK.agent);
  r.string('sub');
  r.string('jti');
  r.lifetime();
  r.optionalString('ps');
  r.optionalString('parent_agent');
  r.confirmation();
  return claims as AgentTokenClaims;
}

/** Default agent-token lifetime: one hour (the cap is 24 h). */
export const AGENT_TOKEN_DEFAULT_TTL = 3600;

/**
 * Mints an agent token. Header `{alg, typ: "aa-agent+jwt", kid}`; `exp` ≤ 24 h after `iat`
 * (AAuth §Agent Token Structure: SHOULD NOT exceed 24 hours) and ≤ `notAfter`.
 */
export async function mintAgentToken(signer: Signer, claims: MintClaims<AgentTokenClaims>, options: MintOptions): Promise<string> {
  const kid = requireKid(signer);
  const times = issueTimes(options, AGENT_TOKEN_DEFAULT_TTL, MAX_LIFETIME[AGENT_TOKEN_TYP]);
  const payload = assemblePayload(claims, DWK.agent, times);
  checkAgentTokenClaims(payload, 'invalid_argument');
  return signJws({ typ: AGENT_TOKEN_TYP, kid }, payload, signer);
}
