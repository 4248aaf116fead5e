/**
 * Server signing keys (AAuth §Key Rotation): a new key is published at once and signs from `active_from`; the old one
 * stays published until what it signed has expired. Keys are re-read at most every KEY_REREAD_SECONDS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PUBLISH_AHEAD_SECONDS, KEY_REREAD_SECONDS, MAX_SIGNED_LIFETIME_SECONDS, ServerKeys } from '../src/keys/server-keys.js';
import { STORE_KINDS, testStore, type TestStore } from './helpers.js';

const T0 = 1_800_000_000;

for (const kind of STORE_KINDS) {
  describe(`server keys on ${kind}`, () => {
    let t: TestStore | undefined;
    afterEach(async () => {
      await t?.close();
      t = undefined;
    });

    async function setup() {
      const clock = { now: T0 };
      const now = (): number => clock.now;
      t = await testStore(kind, now);
      const keys = new ServerKeys(t.store, now);
      await keys.ensure('ps');
      return { clock, keys, store: t.store, now };
    }

    const kidOf = async (keys: ServerKeys) => (await keys.signer('ps')).publicJwk.kid;

    it('publishes a rotated key at once, signs with it from active_from, and keeps the old one published 24 h after', async () => {
      const { clock, keys } = await setup();
      const first = await kidOf(keys);
      const { kid, activeFrom } = await keys.rotate('ps');
      expect(activeFrom).toBe(T0 + DEFAULT_PUBLISH_AHEAD_SECONDS);
      expect((await keys.jwks('ps')).keys.map((k) => k.kid)).toEqual([first, kid]);
      expect(await kidOf(keys)).toBe(first);
      clock.now = activeFrom - 1;
      expect(await kidOf(keys)).toBe(first);
      clock.now = activeFrom;
      expect(await kidOf(keys)).toBe(kid);
      clock.now = activeFrom + MAX_SIGNED_LIFETIME_SECONDS - 1;
      expect((await keys.jwks('ps')).keys.map((k) => k.kid)).toEqual([first, kid]);
      clock.now = activeFrom + MAX_SIGNED_LIFETIME_SECONDS;
      expect((await keys.jwks('ps')).keys.map((k) => k.kid)).toEqual([kid]);
    });

    it('signs with a key rotated by this process from its active_from, even an immediate one', async () => {
      const { keys } = await setup();
      const first = await kidOf(keys);
      const { kid } = await keys.rotate('ps', 0);
      expect(kid).not.toBe(first);
      expect(await kidOf(keys)).toBe(kid);
    });

    it('sees a rotation made by another process (another ServerKeys on the same store) before the new key signs', async () => {
      const { clock, keys, store, now } = await setup();
      const first = await kidOf(keys);
      const other = new ServerKeys(store, now);
      const { kid, activeFrom } = await other.rotate('ps');
      // Not yet re-read: still the first key, which is right, since the new one does not sign before activeFrom.
      expect(await kidOf(keys)).toBe(first);
      clock.now = activeFrom;
      expect(await kidOf(keys)).toBe(kid);
    });

    it('reads its keys at most once per KEY_REREAD_SECONDS: an immediate rotation elsewhere is seen within that time', async () => {
      const { clock, keys, store, now } = await setup();
      const first = await kidOf(keys);
      const { kid } = await new ServerKeys(store, now).rotate('ps', 0);
      clock.now = T0 + KEY_REREAD_SECONDS - 1;
      expect(await kidOf(keys)).toBe(first); // cached; the old key is still published, so its tokens verify
      expect((await keys.jwks('ps')).keys.map((k) => k.kid)).toContain(first);
      clock.now = T0 + KEY_REREAD_SECONDS;
      expect(await kidOf(keys)).toBe(kid);
    });

    it('finds the active key when more keys are due within the window than one read returns', async () => {
      const { clock, keys, store, now } = await setup();
      const first = await kidOf(keys);
      const other = new ServerKeys(store, now);
      // Five keys, due at T0 + 30 … T0 + 34: a read at T0 + 30 returns the newest four, none of them active yet.
      for (let i = 1; i <= 5; i++) {
        clock.now = T0 + i;
        await other.rotate('ps', KEY_REREAD_SECONDS - 1);
      }
      const kids = (await keys.jwks('ps')).keys.map((k) => k.kid);
      expect(kids).toHaveLength(6);
      expect(kids[0]).toBe(first);
      // At T0 + 30 the first of the five (active_from T0 + 30) signs, though the newest four read are not active yet.
      clock.now = T0 + KEY_REREAD_SECONDS;
      expect(await kidOf(keys)).toBe(kids[1]);
      clock.now = T0 + KEY_REREAD_SECONDS + 2;
      expect(await kidOf(keys)).toBe(kids[3]);
      clock.now = T0 + 2 * KEY_REREAD_SECONDS;
      expect(await kidOf(keys)).toBe(kids[5]);
    });
  });
}
