/**
 * The PS signer inside a transaction. `ServerKeys.signer` reads through the store's root connection; on SQLite a
 * transaction holds the only connection, so a read outside it from inside it would wait forever. Approvals run in
 * the decision's transaction, so they read the active key through that transaction instead (same selection rule
 * as `ServerKeys.signer`: the newest key whose `active_from` has passed).
 */
import { createSigner, type PrivateJwk, type Signer } from '@tessera/protocol';
import type { ServerContext } from '../context.js';
import type { Executor } from '../store/store.js';

export async function psSignerIn(ctx: ServerContext, db: Executor): Promise<Signer> {
  const now = Math.floor(ctx.now());
  const row = await db
    .selectFrom('signing_keys')
    .select('private_jwk')
    .where('role', '=', 'ps')
    .where('active_from', '<=', now)
    .orderBy('active_from', 'desc')
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!row) throw new Error('no active ps signing key; run migrations and key setup first');
  return createSigner(JSON.parse(row.private_jwk) as PrivateJwk);
}
