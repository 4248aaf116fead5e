/**
 * The body of a PS token request (AAuth -11 §Person Token Endpoint, §Auth Token Request): a JSON object, and the
 * OPTIONAL parameters both token endpoints take with the same definitions — `justification`, `login_hint`, `tenant`,
 * `domain_hint`, `prompt`, `platform`, `device`, `capabilities`. Every malformed value is 400 `invalid_request`.
 */
import { AAuthError } from '@tessera/protocol';

/** `prompt` values (AAuth §Auth Token Request, per OpenID Connect Core §3.1.2.1). */
export const PROMPT_VALUES = ['none', 'login', 'consent', 'select_account'] as const;
export type PromptValue = (typeof PROMPT_VALUES)[number];

/** The AAuth Platform Value Registry (AAuth §Auth Token Request `platform`). */
export const PLATFORM_VALUES = ['web', 'mobile', 'desktop', 'workload', 'self-hosted'] as const;
export type PlatformValue = (typeof PLATFORM_VALUES)[number];

/** `device`: UTF-8 printable characters only, at most 64 characters (AAuth §Auth Token Request). */
export const MAX_DEVICE_LENGTH = 64;
/** Markdown from the agent; bounded so a consent page stays a page. */
export const MAX_JUSTIFICATION_LENGTH = 4096;
const MAX_HINT_LENGTH = 512;

export interface TokenRequestOptions {
  readonly justification?: string;
  readonly loginHint?: string;
  readonly tenant?: string;
  readonly domainHint?: string;
  readonly prompt: readonly PromptValue[];
  readonly platform?: PlatformValue;
  readonly device?: string;
  readonly capabilities?: readonly string[];
}

const invalid = (detail: string): AAuthError => new AAuthError('invalid_request', { detail });

/** Parses the signed body as a JSON object (the signature already covered `content-digest` and `content-type`). */
export function parseJsonBody(body: Uint8Array | undefined, contentType: string | undefined): Record<string, unknown> {
  const essence = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (essence !== 'application/json') throw invalid('the body must be application/json');
  if (body === undefined || body.length === 0) throw invalid('the body is empty');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw invalid('the body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('the body is not a JSON object');
  return value as Record<string, unknown>;
}

/** A string parameter, absent or a non-empty string of at most `max` characters. */
export function optionalString(body: Record<string, unknown>, name: string, max = MAX_HINT_LENGTH): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${name} must be a non-empty string`);
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  return value;
}

/** A REQUIRED string parameter. */
export function requiredString(body: Record<string, unknown>, name: string, max = 16 * 1024): string {
  const value = optionalString(body, name, max);
  if (value === undefined) throw invalid(`${name} is required`);
  return value;
}

/** Printable: no control characters (C0, DEL, C1) and no unpaired surrogates (not UTF-8 encodable). */
export function isPrintable(value: string): boolean {
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff)) return false;
  }
  return true;
}

function parsePrompt(value: unknown): PromptValue[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'string') throw invalid('prompt must be a string');
  const values = value.split(' ').filter((v) => v.length > 0);
  if (values.length === 0) throw invalid('prompt is empty');
  for (const v of values) {
    if (!(PROMPT_VALUES as readonly string[]).includes(v)) throw invalid(`prompt value ${JSON.stringify(v.slice(0, 32))} is not one of ${PROMPT_VALUES.join(', ')}`);
  }
  // OpenID Connect Core §3.1.2.1: `none` MUST NOT be combined with another value.
  if (values.includes('none') && values.length > 1) throw invalid('prompt none cannot be combined with other values');
  return [...new Set(values)] as PromptValue[];
}

/** Reads and checks the OPTIONAL parameters shared by both token endpoints. */
export function parseTokenRequestOptions(body: Record<string, unknown>): TokenRequestOptions {
  const justification = optionalString(body, 'justification', MAX_JUSTIFICATION_LENGTH);
  const loginHint = optionalString(body, 'login_hint');
  const tenant = optionalString(body, 'tenant');
  const domainHint = optionalString(body, 'domain_hint');
  const prompt = parsePrompt(body['prompt']);

  const platformValue = body['platform'];
  let platform: PlatformValue | undefined;
  if (platformValue !== undefined && platformValue !== null) {
    if (typeof platformValue !== 'string' || !(PLATFORM_VALUES as readonly string[]).includes(platformValue)) {
      throw invalid(`platform must be one of ${PLATFORM_VALUES.join(', ')}`);
    }
    platform = platformValue as PlatformValue;
  }

  const device = optionalString(body, 'device', 4 * MAX_DEVICE_LENGTH);
  if (device !== undefined && ([...device].length > MAX_DEVICE_LENGTH || !isPrintable(device))) {
    throw invalid(`device must be at most ${MAX_DEVICE_LENGTH} printable characters`);
  }

  const capabilitiesValue = body['capabilities'];
  let capabilities: string[] | undefined;
  if (capabilitiesValue !== undefined && capabilitiesValue !== null) {
    if (!Array.isArray(capabilitiesValue) || capabilitiesValue.length > 32 || !capabilitiesValue.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 64)) {
      throw invalid('capabilities must be an array of strings');
    }
    // Unrecognized capability values are ignored (AAuth §AAuth-Capabilities), so they are kept as given.
    capabilities = capabilitiesValue as string[];
  }

  return {
    prompt,
    ...(justification === undefined ? {} : { justification }),
    ...(loginHint === undefined ? {} : { loginHint }),
    ...(tenant === undefined ? {} : { tenant }),
    ...(domainHint === undefined ? {} : { domainHint }),
    ...(platform === undefined ? {} : { platform }),
    ...(device === undefined ? {} : { device }),
    ...(capabilities === undefined ? {} : { capabilities }),
  };
}

/**
 * Whether the person must be asked even with a standing grant: `prompt=consent` (and `login`, which asks the person
 * to authenticate again, and `select_account`) force the interaction.
 */
export function promptForcesInteraction(prompt: readonly PromptValue[]): boolean {
  return prompt.includes('consent') || prompt.includes('login') || prompt.includes('select_account');
}

/**
 * `prompt=none`: the agent forbids involving the person. When the PS would need the person, it answers 403
 * `user_unreachable` (terminal; AAuth §Token Endpoint Error Codes), never a 202.
 */
export function userUnreachable(): AAuthError {
  return new AAuthError('user_unreachable', { detail: 'prompt=none, and issuing needs the person' });
}

/** What the pending request keeps of the options, for the consent page (agent-asserted content). */
export function optionsForPending(options: TokenRequestOptions): Record<string, unknown> {
  return {
    ...(options.justification === undefined ? {} : { justification: options.justification }),
    ...(options.loginHint === undefined ? {} : { login_hint: options.loginHint }),
    ...(options.platform === undefined ? {} : { platform: options.platform }),
    ...(options.device === undefined ? {} : { device: options.device }),
    ...(options.prompt.length === 0 ? {} : { prompt: options.prompt.join(' ') }),
  };
}
