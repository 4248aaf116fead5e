/**
 * Mission blobs and their digests (AAuth -11 §Mission Approval, §Mission Identifier).
 *
 * A mission is identified by `s256` = base64url(SHA-256(exact blob bytes)), unpadded. The blob travels
 * as `mission` = base64url(blob bytes), unpadded. The digest is over bytes, never over a re-serialized
 * JSON value: a PS MUST hash exactly the bytes it persists and returns (§8.53), and an agent SHOULD
 * verify `s256` against the decoded bytes before first use (§8.54).
 */

import { b64urlDecode, b64urlEncode, fromUtf8 } from './base64url.js';
import { AAuthError } from './errors.js';

/** A tool entry of `approved_tools`. */
export interface MissionTool {
  readonly name: string;
  readonly description: string;
  readonly [member: string]: unknown;
}

/**
 * The mission blob. Required members per AAuth -11 §Mission Approval (as pinned by this project):
 * `approver`, `agent`, `approved_at`, `description`. Unknown members are kept: they are part of the
 * digested bytes and a reader MUST ignore, not drop, what it does not recognize.
 */
export interface MissionBlob {
  readonly approver: string;
  readonly agent: string;
  /** ISO 8601 / RFC 3339 timestamp. */
  readonly approved_at: string;
  /** Markdown; sanitize before rendering. */
  readonly description: string;
  readonly expires_at?: string;
  readonly approved_tools?: readonly MissionTool[];
  readonly approved_resources?: readonly string[];
  readonly [member: string]: unknown;
}

export interface DecodedMission {
  /** The exact blob bytes (what `s256` is computed over). */
  readonly bytes: Uint8Array;
  readonly blob: MissionBlob;
}

/** Largest `mission` string accepted by {@link decodeMission} (base64url of a 256 KiB blob). */
const MAX_MISSION_LENGTH = Math.ceil((256 * 1024 * 4) / 3);

const invalid = (detail: string, cause?: unknown): AAuthError =>
  new AAuthError('invalid_mission', cause === undefined ? { detail } : { detail, cause });

/** `s256` of a mission blob: unpadded base64url of SHA-256 over the exact bytes (§Mission Identifier, §8.53). */
export async function missionS256(blobBytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', blobBytes as Uint8Array<ArrayBuffer>);
  return b64urlEncode(new Uint8Array(digest));
}

/** `mission` member of an approval response: the blob bytes, base64url without padding. */
export function encodeMission(blobBytes: Uint8Array): string {
  return b64urlEncode(blobBytes);
}

/** True when `value` has the form of an `s256` / `mission_s256`: 43 base64url characters encoding 32 bytes (§8.55). */
export function isS256(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 43) return false;
  try {
    return b64urlDecode(value).length === 32;
  } catch {
    return false;
  }
}

function isTimestamp(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 64 && !Number.isNaN(Date.parse(value));
}

function isTool(value: unknown): value is MissionTool {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const tool = value as Record<string, unknown>;
  return typeof tool['name'] === 'string' && typeof tool['description'] === 'string';
}

/** Checks a parsed blob's REQUIRED members and the types of the OPTIONAL ones; throws `invalid_mission`. */
export function checkMissionBlob(value: unknown): MissionBlob {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('mission blob is not a JSON object');
  const blob = value as Record<string, unknown>;
  for (const member of ['approver', 'agent', 'description'] as const) {
    if (typeof blob[member] !== 'string') throw invalid(`mission blob member ${member} is missing or not a string`);
  }
  if (!isTimestamp(blob['approved_at'])) throw invalid('mission blob member approved_at is missing or not a timestamp');
  if (blob['expires_at'] !== undefined && !isTimestamp(blob['expires_at'])) throw invalid('mission blob member expires_at is not a timestamp');
  const tools = blob['approved_tools'];
  if (tools !== undefined && !(Array.isArray(tools) && tools.every(isTool))) {
    throw invalid('mission blob member approved_tools is not an array of {name, description}');
  }
  const resources = blob['approved_resources'];
  if (resources !== undefined && !(Array.isArray(resources) && resources.every((r) => typeof r === 'string'))) {
    throw invalid('mission blob member approved_resources is not an array of strings');
  }
  return blob as MissionBlob;
}

/**
 * Decodes a `mission` string into its exact bytes and its checked blob (§Mission Approval): strict
 * unpadded base64url, strict UTF-8, a JSON object with the REQUIRED members. Throws `invalid_mission`.
 */
export function decodeMission(mission: string): DecodedMission {
  if (typeof mission !== 'string' || mission.length === 0 || mission.length > MAX_MISSION_LENGTH) {
    throw invalid('mission is empty, too long or not a string');
  }
  let bytes: Uint8Array;
  let parsed: unknown;
  try {
    bytes = b64urlDecode(mission);
    parsed = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw invalid('mission is not base64url-encoded UTF-8 JSON', cause);
  }
  return { bytes, blob: checkMissionBlob(parsed) };
}

/**
 * Decodes `mission` and verifies that `s256` is the digest of its exact bytes (§8.54; a PS checks the
 * same before returning them, §8.53). Throws `invalid_mission` on a malformed `s256`, a malformed
 * blob, or a mismatch.
 */
export async function verifyMissionS256(mission: string, s256: string): Promise<DecodedMission> {
  if (!isS256(s256)) throw invalid('s256 is not 43 base64url characters of a SHA-256 digest');
  const decoded = decodeMission(mission);
  if ((await missionS256(decoded.bytes)) !== s256) throw invalid('s256 does not match the mission bytes');
  return decoded;
}

/**
 * True when the mission is past its `expires_at` at `now` (epoch seconds). Past `expires_at` a mission
 * counts as terminated (§Mission Approval, §8.57). A blob without `expires_at` never expires by time.
 */
export function isMissionExpired(blob: MissionBlob, now: number): boolean {
  if (blob.expires_at === undefined) return false;
  return now * 1000 >= Date.parse(blob.expires_at);
}
