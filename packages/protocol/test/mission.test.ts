import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { b64urlEncode, utf8 } from '../src/base64url.js';
import { AAuthError } from '../src/errors.js';
import { decodeMission, encodeMission, isMissionExpired, isS256, missionS256, verifyMissionS256 } from '../src/mission.js';

/** vectors.md §2 "Mission digest" (derived for this project; shared/spec/vectors.md). */
const BLOB =
  '{"approver":"https://ps.example","agent":"aauth:assistant@agent.example","approved_at":"2026-04-07T14:30:00Z","description":"# Plan Japan Vacation"}';
const MISSION =
  'eyJhcHByb3ZlciI6Imh0dHBzOi8vcHMuZXhhbXBsZSIsImFnZW50IjoiYWF1dGg6YXNzaXN0YW50QGFnZW50LmV4YW1wbGUiLCJhcHByb3ZlZF9hdCI6IjIwMjYtMDQtMDdUMTQ6MzA6MDBaIiwiZGVzY3JpcHRpb24iOiIjIFBsYW4gSmFwYW4gVmFjYXRpb24ifQ';
const S256 = 'oUGMvesWihE6Xaj3bgFoDEoJ5-SJvsIuIHOWdPnG6K8';

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AAuthError);
    return (error as AAuthError).code;
  }
}

describe('missions', () => {
  it('[§8.53] s256 = b64url(SHA-256(exact bytes)) — vectors.md §2', async () => {
    expect(encodeMission(utf8(BLOB))).toBe(MISSION);
    expect(await missionS256(utf8(BLOB))).toBe(S256);
  });

  it('[§8.53] hashes bytes, not a re-serialization: whitespace changes the digest', async () => {
    const spaced = BLOB.replace('"agent":', '"agent": ');
    expect(await missionS256(utf8(spaced))).not.toBe(S256);
  });

  it('decodes the mission blob and keeps its exact bytes', () => {
    const { bytes, blob } = decodeMission(MISSION);
    expect(new TextDecoder().decode(bytes)).toBe(BLOB);
    expect(blob).toEqual({
      approver: 'https://ps.example',
      agent: 'aauth:assistant@agent.example',
      approved_at: '2026-04-07T14:30:00Z',
      description: '# Plan Japan Vacation',
    });
  });

  it('[§8.54] verifies s256 against the mission', async () => {
    expect((await verifyMissionS256(MISSION, S256)).blob.agent).toBe('aauth:assistant@agent.example');
    const other = encodeMission(utf8(BLOB.replace('Japan', 'Spain')));
    expect(await codeOf(() => verifyMissionS256(other, S256))).toBe('invalid_mission');
    expect(await codeOf(() => verifyMissionS256(MISSION, `${S256.slice(0, 42)}A`))).toBe('invalid_mission');
  });

  it('[§8.53] requires approver, agent, approved_at and description', () => {
    const full = { approver: 'https://ps.example', agent: 'aauth:a@agent.example', approved_at: '2026-04-07T14:30:00Z', description: 'x' };
    for (const member of Object.keys(full)) {
      const partial: Record<string, unknown> = { ...full };
      delete partial[member];
      expect(() => decodeMission(b64urlEncode(utf8(JSON.stringify(partial)))), member).toThrowError(
        expect.objectContaining({ code: 'invalid_mission' }) as Error,
      );
    }
    for (const bad of [{ ...full, approved_at: 'yesterday' }, { ...full, agent: 5 }, { ...full, expires_at: 12 }, { ...full, approved_tools: [{ name: 'x' }] }, { ...full, approved_resources: 'https://r.example' }]) {
      expect(() => decodeMission(b64urlEncode(utf8(JSON.stringify(bad))))).toThrow(AAuthError);
    }
  });

  it('keeps optional and unknown members', () => {
    const blob = {
      approver: 'https://ps.example',
      agent: 'aauth:a@agent.example',
      approved_at: '2026-04-07T14:30:00Z',
      expires_at: '2026-05-07T14:30:00Z',
      description: 'x',
      approved_tools: [{ name: 'WebSearch', description: 'Search the web' }],
      approved_resources: ['https://flights.example'],
      x_extension: { a: 1 },
    };
    expect(decodeMission(b64urlEncode(utf8(JSON.stringify(blob)))).blob).toEqual(blob);
  });

  it('rejects malformed encodings and non-object JSON', () => {
    for (const mission of ['', 'not base64!', `${MISSION}=`, b64urlEncode(utf8('[1]')), b64urlEncode(utf8('null')), b64urlEncode(new Uint8Array([0xff, 0xfe]))]) {
      expect(() => decodeMission(mission), mission).toThrowError(expect.objectContaining({ code: 'invalid_mission' }) as Error);
    }
  });

  it('[§8.55] isS256 checks the form: 43 base64url characters of 32 bytes', () => {
    expect(isS256(S256)).toBe(true);
    expect(isS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(true);
    for (const v of ['', S256.slice(1), `${S256}A`, `${S256.slice(0, 42)}=`, `${S256.slice(0, 42)}+`, `${S256.slice(0, 42)}L`, 42, undefined]) {
      expect(isS256(v), String(v)).toBe(false);
    }
  });

  it('[§8.57] past expires_at a mission counts as terminated', () => {
    const { blob } = decodeMission(
      b64urlEncode(utf8(JSON.stringify({ approver: 'https://ps.example', agent: 'aauth:a@b.example', approved_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-02T00:00:00Z', description: 'x' }))),
    );
    const expires = Date.parse('2026-01-02T00:00:00Z') / 1000;
    expect(isMissionExpired(blob, expires - 1)).toBe(false);
    expect(isMissionExpired(blob, expires)).toBe(true);
    expect(isMissionExpired(decodeMission(MISSION).blob, 4e9)).toBe(false);
  });

  it('round-trips encode → decode → s256 for generated blobs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.string({ unit: 'binary' }), async (description, extra) => {
        const bytes = utf8(JSON.stringify({ approver: 'https://ps.example', agent: 'aauth:a@b.example', approved_at: '2026-04-07T14:30:00Z', description, extra }));
        const mission = encodeMission(bytes);
        const s256 = await missionS256(bytes);
        expect(isS256(s256)).toBe(true);
        const decoded = await verifyMissionS256(mission, s256);
        expect(decoded.bytes).toEqual(bytes);
        expect(decoded.blob.description).toBe(description);
      }),
      { numRuns: 100 },
    );
  });

  it('given any string, decodeMission and isS256 return or throw only AAuthError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.base64String().map((s) => s.replaceAll('=', '').replaceAll('+', '-').replaceAll('/', '_'))), (s) => {
        expect(typeof isS256(s)).toBe('boolean');
        try {
          decodeMission(s);
        } catch (error) {
          expect(error).toBeInstanceOf(AAuthError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
