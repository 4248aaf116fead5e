/**
 * Schemas for what an administrator sends to the registry (agents, resources, trust policy). Identifiers are
 * checked with the protocol's validators (AAuth -11 §Server Identifiers, §Agent Identifiers); URLs must be
 * `https` (loopback `http` only when the server runs with `allowLoopbackHttp`, i.e. in development); JWK Sets
 * must pass the AAuth key policy and hold public keys only.
 */
import { isAgentIdentifier, isEndpointUrl, isServerIdentifier, jwksDocument, jwksKeys, type JwkSet } from '@tessera/protocol';
import { z } from 'zod';

export interface ValidationOptions {
  readonly allowLoopbackHttp: boolean;
}

/** A validation failure, naming the field (`scopes.1.scope: ...`). */
export type Validated<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly detail: string };

/** What a registry write returns: the row, or why not (the admin API answers 400 / 404 / 409). */
export type RegistryResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: 'invalid' | 'not_found' | 'conflict'; readonly detail: string };

/** The access modes a resource may require (AAuth -11 §Resource Metadata `access_mode`). */
export const ACCESS_MODES = ['agent-token', 'person-token', 'session-token', 'auth-token'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];

/** Scope tokens (RFC 6749 §3.3 `scope-token`): printable ASCII without space, `"` or `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

const text = (max: number) => z.string().max(max, `at most ${max} characters`);
const name = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
const scope = z.string().regex(SCOPE_TOKEN, 'not a scope token (printable ASCII, no spaces or quotes)');

function schemas(options: ValidationOptions) {
  const url = z.string().refine((v) => isEndpointUrl(v, options), {
    message: options.allowLoopbackHttp ? 'must be an https URL (or http://localhost in development) without query or fragment' : 'must be an https URL without query or fragment',
  });
  const serverId = z.string().refine((v) => isServerIdentifier(v, options), { message: 'not a server identifier (https://host, lowercase, no port, path or trailing slash)' });
  const agentId = z.string().refine((v) => isAgentIdentifier(v), { message: 'not an agent identifier (aauth:local@domain)' });
  const jwks = z.unknown().transform((v, ctx): JwkSet => {
    try {
      return jwksDocument(jwksKeys(v));
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'not a JWK Set' });
      return z.NEVER;
    }
  });
  const scopes = z.array(scope).max(200);
  const scopeDescriptions = z
    .array(z.strictObject({ scope, description: text(1000).default('') }))
    .max(200)
    .refine((list) => new Set(list.map((s) => s.scope)).size === list.length, { message: 'duplicate scope' });

  const agentFields = {
    name,
    description: text(2000),
    agent_provider: serverId,
    jwks: jwks.nullable(),
    jwks_uri: url.nullable(),
    allowed_scopes: scopes,
    requires_authorization: z.boolean(),
    delegation_allowed: z.boolean(),
  };
  const resourceFields = {
    name,
    description: text(10_000),
    logo_uri: url.nullable(),
    metadata_uri: url.nullable(),
    jwks_uri: url.nullable(),
    scopes: scopeDescriptions,
    default_requirement: z.enum(ACCESS_MODES),
  };
  const notBoth =
    (a: string, b: string) =>
    (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
      if (value[a] != null && value[b] != null) ctx.addIssue({ code: 'custom', path: [b], message: `give ${a} or ${b}, not both` });
    };

  return {
    agentCreate: z
      .strictObject({ identifier: agentId, ...agentFields })
      .partial({ name: true, description: true, jwks: true, jwks_uri: true, allowed_scopes: true, requires_authorization: true, delegation_allowed: true })
      .superRefine(notBoth('jwks', 'jwks_uri')),
    agentUpdate: z.strictObject(agentFields).partial(),
    resourceCreate: z
      .strictObject({ identifier: serverId, ...resourceFields })
      .partial({ name: true, description: true, logo_uri: true, metadata_uri: true, jwks_uri: true, scopes: true, default_requirement: true })
      .superRefine(notBoth('metadata_uri', 'jwks_uri')),
    resourceUpdate: z.strictObject(resourceFields).partial(),
    trustPolicy: z.strictObject({
      mode: z.enum(['open', 'allowlist']),
      agent_providers: z.array(serverId).max(1000).default([]),
      resources: z.array(serverId).max(1000).default([]),
    }),
  };
}

type Schemas = ReturnType<typeof schemas>;
export type AgentCreateInput = z.output<Schemas['agentCreate']>;
export type AgentUpdateInput = z.output<Schemas['agentUpdate']>;
export type ResourceCreateInput = z.output<Schemas['resourceCreate']>;
export type ResourceUpdateInput = z.output<Schemas['resourceUpdate']>;
export type TrustPolicyInput = z.output<Schemas['trustPolicy']>;

/** One line naming the first few offending fields: `identifier: not an agent identifier; jwks_uri: ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const field = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.join(', ')}`;
      return field === '' ? issue.message : `${field}: ${issue.message}`;
    })
    .join('; ');
}

/** The validators, bound to the server's identifier options. */
export class RegistryValidator {
  readonly #schemas: Schemas;

  constructor(options: ValidationOptions) {
    this.#schemas = schemas(options);
  }

  agentCreate(body: unknown): Validated<AgentCreateInput> {
    return run(this.#schemas.agentCreate, body);
  }

  agentUpdate(body: unknown): Validated<AgentUpdateInput> {
    return run(this.#schemas.agentUpdate, body);
  }

  resourceCreate(body: unknown): Validated<ResourceCreateInput> {
    return run(this.#schemas.resourceCreate, body);
  }

  resourceUpdate(body: unknown): Validated<ResourceUpdateInput> {
    return run(this.#schemas.resourceUpdate, body);
  }

  trustPolicy(body: unknown): Validated<TrustPolicyInput> {
    return run(this.#schemas.trustPolicy, body);
  }
}

function run<S extends z.ZodType>(schema: S, body: unknown): Validated<z.output<S>> {
  const parsed = schema.safeParse(body);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, detail: describeIssues(parsed.error) };
}
