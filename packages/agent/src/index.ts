/**
 * @tessera/agent — the AAuth agent SDK (draft-hardt-oauth-aauth-protocol -11, HTTP Signature Keys -08).
 *
 * ```ts
 * const agent = createAgent({ key, agentToken, onInteraction: ({ fullUrl }) => console.log(`Open ${fullUrl}`) });
 * const response = await agent.fetch('https://notes.example/notes');
 * ```
 *
 * Where to start: `createAgent` (agent.ts); the requirement state machine (requirement-handler.ts); the Person Server
 * client (person-server-client.ts); the interaction relay through the Person Server (interaction-relay.ts); missions
 * (missions.ts); polling (polling.ts); the token cache (token-cache.ts);
 * enrolment with an Agent Provider (enrolment.ts); keys (keys.ts, key-files.ts); errors (errors.ts).
 */
export { createAgent, type Agent, type AgentOptions, type ChainedAgent, type UpstreamToken } from './agent.js';
export { AgentError, isAgentError, readProblem, type AgentErrorCode, type AgentErrorOptions, type Problem } from './errors.js';
export { generateAgentKey, isSigner, keyThumbprint, toSigner, type AgentKey, type AgentKeyAlgorithm } from './keys.js';
export { loadOrCreateKeyFile, readKeyFile, writeKeyFile } from './key-files.js';
export { enrol, renewAgentToken, type AgentTokenGrant, type EnrolmentContext, type EnrolmentDetails } from './enrolment.js';
export { createInteractionRelay, relayFirst, relayInteraction, type InteractionRelayRequest, type RelayOutcome } from './interaction-relay.js';
export {
  completeMission,
  proposeMission,
  readMissionApproval,
  updateMission,
  type Mission,
  type MissionAgent,
  type MissionCompletion,
  type MissionContext,
  type MissionProposal,
  type MissionUpdate,
} from './missions.js';
export {
  PersonServerClient,
  type AuthTokenRequest,
  type IssuedToken,
  type PersonServerClientOptions,
  type PersonTokenRequest,
} from './person-server-client.js';
export {
  DEFAULT_RETRY_AFTER_SECONDS,
  SLOW_DOWN_SECONDS,
  TERMINAL_ERROR_STATUSES,
  pollDeferred,
  retryAfterSeconds,
  type ClarificationRequest,
  type InteractionRequest,
  type PollContext,
} from './polling.js';
export { callResource, type Credential, type RequirementContext, type ResourceState } from './requirement-handler.js';
export { sendSigned, type SignedRequest, type SigningContext } from './signed-fetch.js';
export { TokenCache, normalizeScope, tokenKey, type CachedToken, type TokenCacheOptions } from './token-cache.js';
export { checkAuthToken, checkPersonToken, checkResourceToken, type TokenCheckContext } from './token-checks.js';
