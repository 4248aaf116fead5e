/**
 * `tessera admin agents|resources|policy ...`: the Person Server's registry and trust policy through the admin API
 * (`--admin-token` or `TESSERA_ADMIN_TOKEN`, `--server` or `TESSERA_URL`).
 *
 *   tessera admin agents list [--status S] [--table] | show ID | add ID --provider URL [...] | update ID [...]
 *                        | disable ID | enable ID | remove ID
 *   tessera admin resources list | show ID | add ID [...] | update ID [...] | disable ID | enable ID | remove ID
 *   tessera admin policy get | set --mode open|allowlist [--agent-provider URL ...] [--resource URL ...]
 *
 * `add` and `update` take flags, or a JSON body with `--body JSON|@FILE` that the flags override.
 */
import type { Command } from 'commander';
import { inlineOrFile, isObject, json, parseJson, UsageError, type CliIo } from '../io.js';
import { callApi, printList, resolveTarget, runApi, segment, withTargetOptions, type ApiCommandDeps, type TargetOptions } from './approvals.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface AgentFlags extends TargetOptions {
  readonly body?: string;
  readonly provider?: string;
  readonly name?: string;
  readonly description?: string;
  /** A JWK Set (JSON or @FILE), or false for `--no-jwks`. */
  readonly jwks?: string | false;
  /** A URL, or false for `--no-jwks-uri`. */
  readonly jwksUri?: string | false;
  readonly scope?: string[];
  readonly anyScope?: boolean;
  readonly requiresAuthorization?: boolean;
  readonly delegationAllowed?: boolean;
}

interface ResourceFlags extends TargetOptions {
  readonly body?: string;
  readonly name?: string;
  readonly description?: string;
  readonly logoUri?: string | false;
  readonly metadataUri?: string | false;
  readonly jwksUri?: string | false;
  readonly scope?: string[];
  readonly defaultRequirement?: string;
}

interface ListFlags extends TargetOptions {
  readonly status?: string;
  readonly table?: boolean;
}

/** The `--body` object, or `{}`. */
async function baseBody(body: string | undefined, io: CliIo): Promise<Record<string, unknown>> {
  if (body === undefined) return {};
  const value = parseJson(await inlineOrFile(body, io), '--body');
  if (!isObject(value)) throw new UsageError('--body must be a JSON object');
  return value;
}

const nullable = (value: string | false): string | null => (value === false ? null : value);

async function agentBody(flags: AgentFlags, io: CliIo): Promise<Record<string, unknown>> {
  const body = await baseBody(flags.body, io);
  if (flags.provider !== undefined) body['agent_provider'] = flags.provider;
  if (flags.name !== undefined) body['name'] = flags.name;
  if (flags.description !== undefined) body['description'] = flags.description;
  if (flags.jwks !== undefined) body['jwks'] = flags.jwks === false ? null : parseJson(await inlineOrFile(flags.jwks, io), '--jwks');
  if (flags.jwksUri !== undefined) body['jwks_uri'] = nullable(flags.jwksUri);
  if (flags.scope !== undefined && flags.anyScope === true) throw new UsageError('give --scope or --any-scope, not both');
  if (flags.scope !== undefined) body['allowed_scopes'] = flags.scope;
  if (flags.anyScope === true) body['allowed_scopes'] = [];
  if (flags.requiresAuthorization !== undefined) body['requires_authorization'] = flags.requiresAuthorization;
  if (flags.delegationAllowed !== undefined) body['delegation_allowed'] = flags.delegationAllowed;
  return body;
}

/** `--scope read` or `--scope "read=Read your calendar"`. */
function scopeDescription(value: string): { scope: string; description: string } {
  const eq = value.indexOf('=');
  return eq < 0 ? { scope: value, description: '' } : { scope: value.slice(0, eq), description: value.slice(eq + 1) };
}

async function resourceBody(flags: ResourceFlags, io: CliIo): Promise<Record<string, unknown>> {
  const body = await baseBody(flags.body, io);
  if (flags.name !== undefined) body['name'] = flags.name;
  if (flags.description !== undefined) body['description'] = flags.description;
  if (flags.logoUri !== undefined) body['logo_uri'] = nullable(flags.logoUri);
  if (flags.metadataUri !== undefined) body['metadata_uri'] = nullable(flags.metadataUri);
  if (flags.jwksUri !== undefined) body['jwks_uri'] = nullable(flags.jwksUri);
  if (flags.scope !== undefined) body['scopes'] = flags.scope.map(scopeDescription);
  if (flags.defaultRequirement !== undefined) body['default_requirement'] = flags.defaultRequirement;
  return body;
}

function statusQuery(status: string | undefined): string {
  if (status === undefined) return '';
  if (status !== 'active' && status !== 'disabled') throw new UsageError(`--status must be active or disabled, got "${status}"`);
  return `?status=${status}`;
}

interface AgentRow {
  readonly id: string;
  readonly name: string;
  readonly agent_provider: string;
  readonly status: string;
  readonly person_id: string | null;
  readonly allowed_scopes: readonly string[];
}

interface ResourceRow {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly default_requirement: string;
  readonly scopes: readonly { readonly scope: string }[];
}

/** The commands every registry collection has: list, show, disable, enable, remove. */
function collectionCommands<T>(
  parent: Command,
  io: CliIo,
  exit: { code: number },
  deps: ApiCommandDeps,
  spec: { readonly path: string; readonly what: string; readonly listKey: string; readonly columns: readonly (readonly [string, (row: T) => unknown])[] },
): void {
  withTargetOptions(
    parent.command('list').description(`list ${spec.what}s`).option('--status <status>', 'active or disabled').option('--table', 'a compact table instead of JSON'),
    'admin',
  ).action(async (opts: ListFlags) => {
    const query = statusQuery(opts.status);
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => printList<T>(io, await callApi(deps, target, 'GET', `${spec.path}${query}`), spec.listKey, spec.columns, opts.table));
  });
  withTargetOptions(parent.command('show').description(`show one ${spec.what}`).argument('<id>', `the ${spec.what} identifier`), 'admin').action(async (id: string, opts: TargetOptions) => {
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'GET', `${spec.path}/${segment(id)}`))));
  });
  for (const action of ['disable', 'enable'] as const) {
    withTargetOptions(parent.command(action).description(`${action} a ${spec.what}`).argument('<id>', `the ${spec.what} identifier`), 'admin').action(async (id: string, opts: TargetOptions) => {
      const target = resolveTarget(opts, deps, 'admin');
      await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'POST', `${spec.path}/${segment(id)}/${action}`))));
    });
  }
  withTargetOptions(parent.command('remove').description(`remove a ${spec.what}`).argument('<id>', `the ${spec.what} identifier`), 'admin').action(async (id: string, opts: TargetOptions) => {
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => {
      await callApi(deps, target, 'DELETE', `${spec.path}/${segment(id)}`);
      io.stdout(json({ removed: id }));
    });
  });
}

function agentFlags(command: Command, adding: boolean): Command {
  command
    .option('--body <json>', 'the JSON body (or @FILE); flags override its fields')
    .option('--provider <url>', 'the Agent Provider identifier (agent-token iss)')
    .option('--name <name>', 'display name')
    .option('--description <text>', 'description')
    .option('--jwks <json>', 'pinned JWK Set (JSON or @FILE)')
    .option('--jwks-uri <url>', 'pinned JWKS URL')
    .option('--scope <scope>', 'an allowed scope (repeatable; none = any scope)', collect)
    .option('--requires-authorization', 'every use needs the person (no standing grants)')
    .option('--delegation-allowed', 'the agent may delegate to sub-agents');
  if (!adding) {
    command
      .option('--no-jwks', 'remove the pinned JWK Set')
      .option('--no-jwks-uri', 'remove the pinned JWKS URL')
      .option('--any-scope', 'allow any scope the resource offers')
      .option('--no-requires-authorization', 'standing grants allowed')
      .option('--no-delegation-allowed', 'no delegation to sub-agents');
  }
  return withTargetOptions(command, 'admin');
}

function resourceFlags(command: Command, adding: boolean): Command {
  command
    .option('--body <json>', 'the JSON body (or @FILE); flags override its fields')
    .option('--name <name>', 'display name')
    .option('--description <text>', 'description (Markdown)')
    .option('--logo-uri <url>', 'logo URL')
    .option('--metadata-uri <url>', 'resource metadata URL')
    .option('--jwks-uri <url>', 'JWKS URL (instead of metadata)')
    .option('--scope <scope=description>', 'a scope and its description (repeatable)', collect)
    .option('--default-requirement <mode>', 'agent-token | person-token | session-token | auth-token');
  if (!adding) command.option('--no-logo-uri', 'remove the logo').option('--no-metadata-uri', 'remove the metadata URL').option('--no-jwks-uri', 'remove the JWKS URL');
  return withTargetOptions(command, 'admin');
}

export function registerAdminCommands(program: Command, io: CliIo, exit: { code: number }, deps: ApiCommandDeps = {}): void {
  const admin = program.command('admin').description('administer the Person Server: agents, resources, trust policy (admin token)');

  const agents = admin.command('agents').description('the agent registry');
  collectionCommands<AgentRow>(agents, io, exit, deps, {
    path: '/admin/agents',
    what: 'agent',
    listKey: 'agents',
    columns: [
      ['ID', (a) => a.id],
      ['NAME', (a) => a.name],
      ['PROVIDER', (a) => a.agent_provider],
      ['STATUS', (a) => a.status],
      ['PERSON', (a) => a.person_id],
      ['SCOPES', (a) => (a.allowed_scopes.length === 0 ? '*' : a.allowed_scopes)],
    ],
  });
  agentFlags(agents.command('add').description('register an agent').argument('<id>', 'the agent identifier aauth:local@domain'), true).action(async (id: string, flags: AgentFlags) => {
    const body: Record<string, unknown> = { ...(await agentBody(flags, io)), identifier: id };
    if (body['agent_provider'] === undefined) throw new UsageError('--provider is required');
    const target = resolveTarget(flags, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'POST', '/admin/agents', body))));
  });
  agentFlags(agents.command('update').description("change an agent's settings").argument('<id>', 'the agent identifier'), false).action(async (id: string, flags: AgentFlags) => {
    const body = await agentBody(flags, io);
    if (Object.keys(body).length === 0) throw new UsageError('nothing to update: give a flag or --body');
    const target = resolveTarget(flags, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'PATCH', `/admin/agents/${segment(id)}`, body))));
  });

  const resources = admin.command('resources').description('the resource registry');
  collectionCommands<ResourceRow>(resources, io, exit, deps, {
    path: '/admin/resources',
    what: 'resource',
    listKey: 'resources',
    columns: [
      ['ID', (r) => r.id],
      ['NAME', (r) => r.name],
      ['STATUS', (r) => r.status],
      ['REQUIREMENT', (r) => r.default_requirement],
      ['SCOPES', (r) => r.scopes.map((s) => s.scope)],
    ],
  });
  resourceFlags(resources.command('add').description('register a resource').argument('<id>', 'the resource server identifier https://host'), true).action(async (id: string, flags: ResourceFlags) => {
    const body: Record<string, unknown> = { ...(await resourceBody(flags, io)), identifier: id };
    const target = resolveTarget(flags, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'POST', '/admin/resources', body))));
  });
  resourceFlags(resources.command('update').description("change a resource's settings").argument('<id>', 'the resource identifier'), false).action(async (id: string, flags: ResourceFlags) => {
    const body = await resourceBody(flags, io);
    if (Object.keys(body).length === 0) throw new UsageError('nothing to update: give a flag or --body');
    const target = resolveTarget(flags, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'PATCH', `/admin/resources/${segment(id)}`, body))));
  });

  const policy = admin.command('policy').description('the trust policy');
  withTargetOptions(policy.command('get').description('print the trust policy'), 'admin').action(async (opts: TargetOptions) => {
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'GET', '/admin/trust-policy'))));
  });
  withTargetOptions(
    policy
      .command('set')
      .description('replace the trust policy')
      .option('--body <json>', 'the policy as JSON (or @FILE)')
      .option('--mode <mode>', 'open (any agent provider and resource, with consent) or allowlist')
      .option('--agent-provider <url>', 'a trusted Agent Provider (repeatable)', collect)
      .option('--resource <url>', 'a trusted resource (repeatable)', collect),
    'admin',
  ).action(async (opts: TargetOptions & { body?: string; mode?: string; agentProvider?: string[]; resource?: string[] }) => {
    const body = await baseBody(opts.body, io);
    if (opts.mode !== undefined) body['mode'] = opts.mode;
    if (opts.agentProvider !== undefined) body['agent_providers'] = opts.agentProvider;
    if (opts.resource !== undefined) body['resources'] = opts.resource;
    if (body['mode'] === undefined) throw new UsageError('--mode (open or allowlist) is required');
    const target = resolveTarget(opts, deps, 'admin');
    await runApi(io, exit, async () => io.stdout(json(await callApi(deps, target, 'PUT', '/admin/trust-policy', body))));
  });
}
