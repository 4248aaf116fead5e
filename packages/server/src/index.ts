/**
 * @tessera/server — the Person Server, Agent Provider and their administration, as Hono apps over a `Store`.
 *
 * Where to start:
 * - running: `startDev` (dev.ts: `tessera dev`), `createServer` + `listen` (server.ts: `tessera serve`), `loadConfig` (config.ts);
 * - the Person Server: `createPersonServerApp` (ps/): person_token_endpoint, auth_token_endpoint, revocation, introspection;
 * - people and consent: `createInteractionApp` (ui/), `requirePerson` (auth/);
 * - deferred responses (202 + polling): `createDeferred` (deferred/);
 * - missions, permission, audit: ps/mission-endpoint.ts, ps/permission-endpoint.ts, ps/audit-endpoint.ts;
 * - four-party federation: `createFederation` (ps/federation.ts) and the Access Server `createAccessServerApp` (as/);
 * - the Agent Provider: `createAgentProviderApp` (ap/);
 * - administration and approvals: `createAdminApp`, `createApproverApp` (api/), the registry (registry/), audit (audit/);
 * - state: `openStore`, `Store` (store/), `ServerKeys` (keys/).
 */
export * from './config.js';
export * from './server.js';
export * from './dev.js';
export type { ServerContext, ServerIdentity } from './context.js';

export { openStore, Store, type StoreConfig, type AuditInput } from './store/store.js';
export type * from './store/schema.js';
export { ServerKeys, type KeyRole } from './keys/server-keys.js';

export { createDeferred } from './deferred/deferred.js';
export type * from './deferred/types.js';

export { createPersonServerApp, type PersonServerOptions } from './ps/ps-app.js';
export { createFederation, type Federation, type FederationOptions } from './ps/federation.js';
export { requireActiveMission, terminateMission, missionLog } from './ps/missions.js';
export { createAccessServerApp, AS_PATHS, type AccessPolicy, type AccessDecision, type AccessServerOptions } from './as/as-app.js';
export { personServerMetadata } from './ps/metadata.js';
export { createInteractionApp } from './ui/ui-app.js';
export { requirePerson, requirePersonPage } from './auth/person-auth.js';
export { createPerson, findPersonByUsername, verifyPassword } from './auth/people.js';
export { createApiToken } from './auth/api-tokens.js';
export { createAgentProviderApp, type AgentProviderOptions } from './ap/ap-app.js';
export { agentProviderMetadata } from './ap/metadata.js';
export { createAdminApp } from './api/admin-app.js';
export { createApproverApp } from './api/approver-app.js';
export { setAdminToken, generateAdminToken } from './api/admin-auth.js';
export { readTrustPolicy, writeTrustPolicy, type TrustPolicy } from './registry/trust-policy.js';
export { queryAudit, exportAudit, type AuditFilter } from './audit/audit-query.js';
export { createGrant, findStandingGrant, listGrants, revokeGrant } from './store/grants.js';
