/**
 * The database schema, as Kysely types. One schema and one set of queries serve SQLite and PostgreSQL:
 * times are epoch seconds (BIGINT, parsed to numbers), JSON is TEXT, booleans are 0/1 integers.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export type Epoch = number;
/** A JSON document stored as text. */
export type JsonText = string;
export type Flag = 0 | 1;

/** A person who approves for agents; local accounts (scrypt password hashes). */
export interface PeopleTable {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  created_at: Epoch;
}

/** Personal API tokens for the approver API; only a SHA-256 hash is stored. */
export interface PersonApiTokensTable {
  token_hash: string;
  person_id: string;
  name: string;
  created_at: Epoch;
  last_used_at: Epoch | null;
  revoked_at: Epoch | null;
}

/** Browser sessions of people on the interaction and approval pages; only a hash of the cookie value is stored. */
export interface WebSessionsTable {
  id_hash: string;
  person_id: string;
  csrf_token: string;
  created_at: Epoch;
  expires_at: Epoch;
}

/** The agent registry. `id` is the agent identifier `aauth:local@domain`. */
export interface AgentsTable {
  id: string;
  name: string;
  description: string;
  /** The Agent Provider identifier (agent-token `iss`). */
  agent_provider: string;
  jwks_uri: string | null;
  jwks: JsonText | null;
  /** JSON array of scope strings; `[]` = any scope the resource offers. */
  allowed_scopes: JsonText;
  /** 1: every use needs the person's authorization (no standing grants). */
  requires_authorization: Flag;
  delegation_allowed: Flag;
  status: 'active' | 'disabled';
  /** The one person this agent is bound to (AAuth §Security: bind each agent to exactly one person). */
  person_id: string | null;
  created_at: Epoch;
  updated_at: Epoch;
}

/** The resource registry. `id` is the resource's server identifier. */
export interface ResourcesTable {
  id: string;
  name: string;
  description: string;
  logo_uri: string | null;
  metadata_uri: string | null;
  jwks_uri: string | null;
  /** JSON array of `{scope, description}`. */
  scopes: JsonText;
  default_requirement: string;
  status: 'active' | 'disabled';
  created_at: Epoch;
  updated_at: Epoch;
}

/** Key/value settings (trust policy, the directed-subject secret, ...), values as JSON. */
export interface SettingsTable {
  key: string;
  value: JsonText;
  updated_at: Epoch;
}

/** Standing grants ("approve always"), revocable by the person. */
export interface GrantsTable {
  id: string;
  person_id: string;
  agent_id: string;
  resource: string;
  /** JSON array of scopes granted (auth tokens); `[]` for person-token grants. */
  scopes: JsonText;
  kind: 'person_token' | 'auth_token';
  created_at: Epoch;
  revoked_at: Epoch | null;
}

/** What the PS keeps of each person token, past its `exp`, for `presented_jti` checks (AAuth §Person Token Endpoint). */
export interface PersonTokenRecordsTable {
  jti: string;
  ps: string;
  sub: string;
  resource: string;
  agent_id: string;
  agent_jkt: string;
  person_id: string;
  mission_s256: string | null;
  tenant: string | null;
  exp: Epoch;
  retain_until: Epoch;
}

/** Deferred requests (202 + polling): consent, approvals, enrolment. */
export interface PendingRequestsTable {
  /** Unguessable id, the last segment of the `Location` URL. */
  id: string;
  kind: string;
  agent_id: string;
  /** Polls must be signed by this key (RFC 7638 thumbprint). */
  agent_jkt: string;
  person_id: string | null;
  status: 'pending' | 'interacting' | 'approved' | 'denied' | 'abandoned' | 'expired' | 'cancelled' | 'failed';
  /** The original request, JSON. */
  request: JsonText;
  /** Terminal success body, JSON. */
  result: JsonText | null;
  /** Terminal error code. */
  error: string | null;
  /** SHA-256 of the normalized interaction code. */
  code_hash: string | null;
  code_failures: number;
  clarification_rounds: number;
  /** JSON: the open clarification question, if any. */
  clarification: JsonText | null;
  callback: string | null;
  created_at: Epoch;
  updated_at: Epoch;
  expires_at: Epoch;
}

/** Tokens this server issued, for revocation and introspection; keyed by `(iss, jti)`. */
export interface IssuedTokensTable {
  iss: string;
  jti: string;
  kind: string;
  sub: string;
  agent_id: string | null;
  aud: string | null;
  scope: string | null;
  person_id: string | null;
  exp: Epoch;
  revoked_at: Epoch | null;
}

/** Revocations of tokens (ours or other issuers'), keyed by `(iss, jti)` (AAuth §Token Revocation). */
export interface RevocationsTable {
  iss: string;
  jti: string;
  revoked_at: Epoch;
  /** Kept until then; afterwards the token is expired anyway. */
  exp: Epoch;
}

/** Server signing keys, rotated with overlap. */
export interface SigningKeysTable {
  kid: string;
  /** Which identifier signs with it: `ps`, `ap` or `as` (an Access Server, as/). */
  role: 'ps' | 'ap' | 'as';
  alg: string;
  private_jwk: JsonText;
  public_jwk: JsonText;
  created_at: Epoch;
  /** Published in JWKS from `created_at`; signs from `active_from` (publish before signing). */
  active_from: Epoch;
  /** Stops signing from then (a newer key took over); still published until `expires_at`. */
  retired_at: Epoch | null;
  /** Removed from JWKS after this: every token it signed has expired. */
  expires_at: Epoch | null;
}

/** The audit log: every decision, append-only. */
export interface AuditEventsTable {
  id: string;
  at: Epoch;
  /** e.g. `token.issued`, `token.denied`, `token.revoked`, `approval.given`, `grant.created`, `enrolment.approved`, `admin.agent.updated`. */
  type: string;
  actor: string;
  agent: string | null;
  person: string | null;
  resource: string | null;
  scope: string | null;
  request_id: string | null;
  /** JSON with event-specific details; never a whole token, key or secret. */
  detail: JsonText;
}

/** Agents enrolled at this Agent Provider: one row per agent key. */
export interface ApAgentsTable {
  /** The agent identifier `aauth:local@domain`. */
  agent_id: string;
  jkt: string;
  public_jwk: JsonText;
  person_id: string | null;
  ps: string | null;
  parent_agent: string | null;
  status: 'pending' | 'active' | 'revoked';
  created_at: Epoch;
  updated_at: Epoch;
}

/**
 * Missions this PS approved (AAuth -11 §Mission): the blob exactly as persisted (its UTF-8 bytes are what `s256`
 * digests), the owning agent, the approving person, and the state — `active` or `terminated`, never back.
 */
export interface MissionsTable {
  /** b64url(SHA-256(blob bytes)), unpadded. */
  s256: string;
  agent_id: string;
  /** Thumbprint of the key that proposed it (informational: ownership is by agent identifier). */
  agent_jkt: string | null;
  person_id: string;
  /** The exact JSON text of the blob; never re-serialized. */
  blob: string;
  status: 'active' | 'terminated';
  /** `completed` | `revoked` | `expired` | `superseded` | `administrative` (an open set). */
  termination_reason: string | null;
  /** The blob's `expires_at` in epoch seconds, when it has one. */
  expires_at: Epoch | null;
  created_at: Epoch;
  updated_at: Epoch;
}

/** The mission log (AAuth -11 §Mission Log): updates, completions, audit records, permissions, tokens, in order. */
export interface MissionLogTable {
  /** Time-sortable id. */
  id: string;
  mission_s256: string;
  /** Position in the mission's log (1, 2, …), assigned in the appending transaction. */
  seq: number;
  at: Epoch;
  /** e.g. `update`, `completion.proposed`, `completion.accepted`, `audit`, `permission`, `token.person`. */
  type: string;
  actor: string;
  /** The entry's JSON text exactly as persisted. */
  entry: JsonText;
  /** For updates: b64url(SHA-256(entry bytes)), the digest returned to the agent. */
  s256: string | null;
}

export interface Database {
  people: PeopleTable;
  person_api_tokens: PersonApiTokensTable;
  web_sessions: WebSessionsTable;
  agents: AgentsTable;
  resources: ResourcesTable;
  settings: SettingsTable;
  grants: GrantsTable;
  person_token_records: PersonTokenRecordsTable;
  pending_requests: PendingRequestsTable;
  issued_tokens: IssuedTokensTable;
  revocations: RevocationsTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  ap_agents: ApAgentsTable;
  missions: MissionsTable;
  mission_log: MissionLogTable;
}

export type Person = Selectable<PeopleTable>;
export type Agent = Selectable<AgentsTable>;
export type NewAgent = Insertable<AgentsTable>;
export type AgentUpdate = Updateable<AgentsTable>;
export type Resource = Selectable<ResourcesTable>;
export type Grant = Selectable<GrantsTable>;
export type PendingRequest = Selectable<PendingRequestsTable>;
export type AuditEvent = Selectable<AuditEventsTable>;
export type SigningKey = Selectable<SigningKeysTable>;
export type ApAgent = Selectable<ApAgentsTable>;
export type Mission = Selectable<MissionsTable>;
export type MissionLogEntry = Selectable<MissionLogTable>;
export type { Generated };
