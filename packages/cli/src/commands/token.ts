import {
  AAuthError,
  checkAgentTokenClaims,
  checkAuthTokenClaims,
  checkPersonTokenClaims,
  checkResourceTokenClaims,
  checkJktTokenClaims,
  decodeJws,
  MAX_LIFETIME,
  mintAgentToken,
  mintAuthToken,
  mintPersonToken,
  mintResourceToken,
  type MintOptions,
} from '@tessera/protocol';
import { inlineOrFile, integerOption, isObject, json, parseJson, UsageError, type CliIo } from '../io.js';
import { readSigner } from '../keys.js';

const MINTERS = {
  agent: mintAgentToken,
  person: mintPersonToken,
  resource: mintResourceToken,
  auth: mintAuthToken,
} as const;

export interface MintCommandOptions {
  readonly type: string;
  readonly key: string;
  readonly claims: string;
  readonly ttl?: string;
}

/** `tessera token mint` (a development tool): the kind's required claims and lifetime cap are enforced. */
export async function tokenMint(options: MintCommandOptions, io: CliIo): Promise<number> {
  if (!Object.hasOwn(MINTERS, options.type)) throw new UsageError(`--type must be one of ${Object.keys(MINTERS).join(', ')}, got "${options.type}"`);
  const mint = MINTERS[options.type as keyof typeof MINTERS];
  const claims = parseJson(await inlineOrFile(options.claims, io), '--claims');
  if (!isObject(claims)) throw new UsageError('--claims must be a JSON object');
  const signer = await readSigner(options.key, io);
  const mintOptions: MintOptions = { now: io.now, ...(options.ttl === undefined ? {} : { ttl: integerOption(options.ttl, '--ttl') }) };
  try {
    // The claim shapes are checked inside each mint function; the CLI passes what the user wrote.
    io.stdout(await mint(signer, claims as never, mintOptions));
  } catch (error) {
    if (error instanceof AAuthError) throw new UsageError(`cannot mint a ${options.type} token: ${error.detail ?? error.code}`);
    throw error;
  }
  return 0;
}

const CHECKERS: Readonly<Record<string, (claims: Record<string, unknown>) => unknown>> = {
  'aa-agent+jwt': checkAgentTokenClaims,
  'aa-person+jwt': checkPersonTokenClaims,
  'aa-resource+jwt': checkResourceTokenClaims,
  'aa-auth+jwt': checkAuthTokenClaims,
  'jkt-s256+jwt': checkJktTokenClaims,
};

interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail?: string;
}

const asDate = (value: unknown): string | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? new Date(value * 1000).toISOString() : undefined;

/**
 * `tessera token decode JWT`: header, claims, times as dates, and which offline checks pass. The signature is
 * not checked: that needs the issuer's keys (`tessera http verify` does it).
 */
export async function tokenDecode(jwtArg: string, io: CliIo): Promise<number> {
  const jwt = (await inlineOrFile(jwtArg, io)).trim();
  let decoded;
  try {
    decoded = decodeJws(jwt);
  } catch (error) {
    io.stdout(json({ valid: false, error: error instanceof AAuthError ? error.code : 'invalid_jwt', detail: error instanceof Error ? error.message : String(error) }));
    return 1;
  }
  const { header, payload } = decoded;
  const now = Math.floor(io.now());
  const checks: Check[] = [];
  const kindChecker = CHECKERS[header.typ];
  checks.push({ check: 'typ is an AAuth token kind', ok: kindChecker !== undefined, detail: header.typ });
  checks.push({ check: 'kid present', ok: typeof header.kid === 'string' });
  if (kindChecker) {
    try {
      kindChecker(payload);
      checks.push({ check: 'required claims of the kind', ok: true });
    } catch (error) {
      checks.push({ check: 'required claims of the kind', ok: false, detail: error instanceof AAuthError ? (error.detail ?? error.code) : String(error) });
    }
  }
  const { iat, exp } = payload;
  if (typeof iat === 'number') checks.push({ check: 'iat not in the future', ok: iat <= now + 60 });
  if (typeof exp === 'number') checks.push({ check: 'not expired', ok: exp > now, detail: exp > now ? `${exp - now} s left` : `expired ${now - exp} s ago` });
  const cap = (MAX_LIFETIME as Readonly<Record<string, number>>)[header.typ];
  if (cap !== undefined && typeof iat === 'number' && typeof exp === 'number') {
    checks.push({ check: `lifetime within ${cap} s`, ok: exp - iat <= cap, detail: `${exp - iat} s` });
  }
  const times = Object.fromEntries(
    (['iat', 'exp', 'nbf'] as const).flatMap((k) => {
      const d = asDate(payload[k]);
      return d === undefined ? [] : [[k, d]];
    }),
  );
  const valid = checks.every((c) => c.ok);
  io.stdout(json({ header, claims: payload, times, checks, signature: 'not checked offline (needs the issuer keys)', offline_checks_pass: valid }));
  return valid ? 0 : 1;
}
