/**
 * Migrations as code (Kysely `Migrator` with an in-code provider). The same migrations run on SQLite and
 * PostgreSQL; on PostgreSQL the Migrator holds an advisory lock, so concurrent instances migrate once.
 */
import type { Kysely, Migration, MigrationProvider } from 'kysely';

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('people')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('username', 'text', (c) => c.notNull().unique())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('person_api_tokens')
      .addColumn('token_hash', 'text', (c) => c.primaryKey())
      .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('last_used_at', 'bigint')
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema
      .createTable('web_sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
      .addColumn('csrf_token', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('agents')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('agent_provider', 'text', (c) => c.notNull())
      .addColumn('jwks_uri', 'text')
      .addColumn('jwks', 'text')
      .addColumn('allowed_scopes', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('requires_authorization', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('delegation_allowed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('person_id', 'text', (c) => c.references('people.id').onDelete('set null'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('resources')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('logo_uri', 'text')
      .addColumn('metadata_uri', 'text')
      .addColumn('jwks_uri', 'text')
      .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('default_requirement', 'text', (c) => c.notNull().defaultTo('auth-token'))
      .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('grants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('person_id', 'text', (c) => c.notNull().references('people.id').onDelete('cascade'))
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
    await db.schema.createIndex('grants_lookup').on('grants').columns(['agent_id', 'resource', 'kind']).execute();
    await db.schema
      .createTable('person_token_records')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('ps', 'text', (c) => c.notNull())
      .addColumn('sub', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('agent_jkt', 'text', (c) => c.notNull())
      .addColumn('person_id', 'text', (c) => c.notNull())
      .addColumn('mission_s256', 'text')
      .addColumn('tenant', 'text')
      .addColumn('exp', 'bigint', (c) => c.notNull())
      .addColumn('retain_until', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('pending_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('agent_jkt', 'text', (c) => c.notNull())
      .addColumn('person_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('request', 'text', (c) => c.notNull())
      .addColumn('result', 'text')
      .addColumn('error', 'text')
      .addColumn('code_hash', 'text')
      .addColumn('code_failures', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('clarification_rounds', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('clarification', 'text')
      .addColumn('callback', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('pending_code').on('pending_requests').column('code_hash').execute();
    await db.schema
      .createTable('issued_tokens')
      .addColumn('iss', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('sub', 'text', (c) => c.notNull())
      .addColumn('agent_id', 'text')
      .addColumn('aud', 'text')
      .addColumn('scope', 'text')
      .addColumn('person_id', 'text')
      .addColumn('exp', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .addPrimaryKeyConstraint('issued_tokens_pk', ['iss', 'jti'])
      .execute();
    await db.schema
      .createTable('revocations')
      .addColumn('iss', 'text', (c) => c.notNull())
      .addColumn('jti', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint', (c) => c.notNull())
      .addColumn('exp', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('revocations_pk', ['iss', 'jti'])
      .execute();
    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('private_jwk', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('active_from', 'bigint', (c) => c.notNull())
      .addColumn('retired_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .execute();
    await db.schema
      .createTable('audit_events')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('agent', 'text')
      .addColumn('person', 'text')
      .addColumn('resource', 'text')
      .addColumn('scope', 'text')
      .addColumn('request_id', 'text')
      .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute();
    await db.schema.createIndex('audit_at').on('audit_events').columns(['at', 'id']).execute();
    await db.schema
      .createTable('ap_agents')
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('jkt', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('person_id', 'text')
      .addColumn('ps', 'text')
      .addColumn('parent_agent', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('ap_agents_pk', ['agent_id', 'jkt'])
      .execute();
  },
};

/** Missions and the mission log (AAuth -11 §Mission, §Mission Log). */
const missions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('missions')
      .addColumn('s256', 'text', (c) => c.primaryKey())
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('agent_jkt', 'text')
      .addColumn('person_id', 'text', (c) => c.notNull())
      .addColumn('blob', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('termination_reason', 'text')
      .addColumn('expires_at', 'bigint')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('missions_agent').on('missions').columns(['agent_id', 'status']).execute();
    await db.schema
      .createTable('mission_log')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('mission_s256', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('entry', 'text', (c) => c.notNull())
      .addColumn('s256', 'text')
      .execute();
    await db.schema.createIndex('mission_log_mission').on('mission_log').columns(['mission_s256', 'seq']).execute();
  },
};

/** The migrations, in order. Add new ones at the end; never edit one that has shipped. */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
  '0002_missions': missions,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...MIGRATIONS }),
};
