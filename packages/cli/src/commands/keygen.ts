import { generateKeyPair, publicJwkOf } from '@tessera/protocol';
import { json, UsageError, type CliIo } from '../io.js';
import { readPrivateJwk } from '../keys.js';

export interface KeygenOptions {
  readonly alg?: string;
  readonly kid?: string;
  readonly public?: string;
}

/** `tessera keygen`: a private JWK with `alg` and `kid`; `--public FILE` prints the public JWK of a private one. */
export async function keygen(options: KeygenOptions, io: CliIo): Promise<number> {
  if (options.public !== undefined) {
    if (options.alg !== undefined || options.kid !== undefined) throw new UsageError('--public takes no --alg or --kid');
    io.stdout(json(publicJwkOf(await readPrivateJwk(options.public, io))));
    return 0;
  }
  const alg = options.alg ?? 'Ed25519';
  if (alg !== 'Ed25519' && alg !== 'ES256') throw new UsageError(`--alg must be Ed25519 or ES256, got "${alg}"`);
  if (options.kid !== undefined && options.kid.length === 0) throw new UsageError('--kid must not be empty');
  io.stdout(json(await generateKeyPair(alg, options.kid)));
  return 0;
}
