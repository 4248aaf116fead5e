/** `tessera grants list|revoke ID`: your standing grants ("approve always") at the Person Server's approver API. */
import type { Command } from 'commander';
import { json, type CliIo } from '../io.js';
import { callApi, printList, resolveTarget, runApi, segment, withTargetOptions, type ApiCommandDeps, type TargetOptions } from './approvals.js';

interface GrantRow {
  readonly id: string;
  readonly agent_id: string;
  readonly resource: string;
  readonly kind: string;
  readonly scopes: readonly string[];
  readonly revoked_at: number | null;
}

export function registerGrantsCommands(program: Command, io: CliIo, exit: { code: number }, deps: ApiCommandDeps = {}): void {
  const grants = program.command('grants').description('list and revoke your standing grants (personal API token)');

  withTargetOptions(
    grants.command('list').description('your live standing grants').option('--all', 'include revoked grants').option('--table', 'a compact table instead of JSON'),
    'person',
  ).action(async (opts: TargetOptions & { all?: boolean; table?: boolean }) => {
    const target = resolveTarget(opts, deps, 'person');
    await runApi(io, exit, async () => {
      const body = await callApi(deps, target, 'GET', opts.all === true ? '/api/grants?all=true' : '/api/grants');
      printList<GrantRow>(
        io,
        body,
        'grants',
        [
          ['ID', (g) => g.id],
          ['AGENT', (g) => g.agent_id],
          ['RESOURCE', (g) => g.resource],
          ['KIND', (g) => g.kind],
          ['SCOPES', (g) => g.scopes],
          ...(opts.all === true ? [['REVOKED', (g: GrantRow) => (g.revoked_at === null ? '' : 'yes')] as const] : []),
        ],
        opts.table,
      );
    });
  });

  withTargetOptions(grants.command('revoke').description('revoke a standing grant').argument('<id>', 'the grant id'), 'person').action(async (id: string, opts: TargetOptions) => {
    const target = resolveTarget(opts, deps, 'person');
    await runApi(io, exit, async () => {
      await callApi(deps, target, 'DELETE', `/api/grants/${segment(id)}`);
      io.stdout(json({ revoked: id }));
    });
  });
}
