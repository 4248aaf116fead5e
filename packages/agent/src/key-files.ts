/**
 * JWK files for agent keys and tokens (Node only: `node:fs`). Private keys are written with mode 0600 and never
 * overwritten unless asked.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { publicJwkOf, type PrivateJwk } from '@tessera/protocol';
import { generateAgentKey, type AgentKeyAlgorithm } from './keys.js';

/** Reads a private JWK file and checks it against the key policy (fully specified `alg`, `d` present). */
export async function readKeyFile(path: string): Promise<PrivateJwk> {
  const json = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (typeof json !== 'object' || json === null || typeof (json as Record<string, unknown>)['d'] !== 'string') {
    throw new TypeError(`${path} does not hold a private JWK`);
  }
  publicJwkOf(json as PrivateJwk); // throws AAuthError invalid_key on a key the policy refuses
  return json as PrivateJwk;
}

/** Writes a private JWK file (mode 0600; creates the directory). `overwrite: false` (default) refuses an existing file. */
export async function writeKeyFile(path: string, jwk: PrivateJwk, options: { overwrite?: boolean } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600, flag: options.overwrite === true ? 'w' : 'wx' });
}

/** Reads the key at `path`, or generates one (Ed25519 by default) and writes it there. */
export async function loadOrCreateKeyFile(path: string, options: { alg?: AgentKeyAlgorithm } = {}): Promise<PrivateJwk> {
  try {
    return await readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const jwk = await generateAgentKey(options.alg ?? 'Ed25519');
  try {
    await writeKeyFile(path, jwk);
    return jwk;
  } catch (error) {
    // Another process created it meanwhile: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path);
    throw error;
  }
}
