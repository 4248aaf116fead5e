/** This Person Server's own signing keys as a `KeyResolver`: read from its JWKS in the store, never fetched. */
import { AAuthError, importVerifyKey, selectJwk, type KeyResolver, type VerifyKey } from '@tessera/protocol';
import type { ServerContext } from '../context.js';

/** Resolves keys of `ctx.ps.issuer` only; any other issuer is `unknown_key`. */
export function ownKeyResolver(ctx: ServerContext): KeyResolver {
  return async ({ iss, kid }): Promise<VerifyKey> => {
    if (iss !== ctx.ps.issuer) throw new AAuthError('unknown_key', { detail: 'not a token of this Person Server' });
    return importVerifyKey(selectJwk(await ctx.keys.jwks('ps'), kid));
  };
}
