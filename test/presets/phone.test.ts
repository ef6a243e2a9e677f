// Preset `phone`: seed document 000. The login field is called `username` but
// holds the phone number ("actually it is phone number").
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { expectAccessOnly, expectErrorEnvelope, expectExact, expectPair, FORM, form } from './expect.js';

const LOGIN = '/api/login/';
const REFRESH = '/api/token/refresh/';
const BAD_LOGIN = { error: 'Invalid username or password' };
const BAD_REFRESH = { error: 'Invalid or expired refresh token' };
const PHONE = '+15551234567';
const PASSWORD = 'example_password';

describe('preset phone (document 000)', () => {
  let s: TestServer;
  let id: number;
  let clock = Math.floor(Date.now() / 1000);
  const login = (username: string, password = PASSWORD) => s.post(LOGIN, { username, password });
  /** The access token authenticates as this user (the preset has no protected route of its own). */
  const accessWorks = async (access: string) => {
    const user = await s.service.authenticate(`Bearer ${access}`);
    assert.equal(user?.id, id);
  };

  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'phone' }, now: () => clock });
    ({ id } = await s.user({ username: 'example_user', password: PASSWORD, phone_number: PHONE }));
    // A second account whose *username* is the first one's phone number must not be reachable by it.
    await s.user({ username: '+15559876543', password: PASSWORD });
  });
  after(() => s.close());

  describe('POST /api/login/', () => {
    it('answers 200 {refresh, access} when username is the phone number; the tokens work', async () => {
      const { access, refresh } = expectPair(await login(PHONE), id);
      await accessWorks(access);
      expectAccessOnly(await s.post(REFRESH, { refresh }), id);
    });

    it('accepts form-encoded login', async () => {
      expectPair(await s.post(LOGIN, form({ username: PHONE, password: PASSWORD }), FORM), id);
    });

    it('answers the document 401 for the username itself (not the phone)', async () => {
      expectExact(await login('example_user'), 401, BAD_LOGIN);
    });

    it('looks users up by phone only, never by username', async () => {
      // '+15559876543' is a username here, not anybody's phone number.
      expectExact(await login('+15559876543'), 401, BAD_LOGIN);
    });

    it('answers the document 401 for a wrong password or an unknown phone', async () => {
      expectExact(await login(PHONE, 'wrong_password'), 401, BAD_LOGIN);
      expectExact(await login('+15550000000'), 401, BAD_LOGIN);
    });

    it('answers missing fields with 400 {"error": string}', async () => {
      expectErrorEnvelope(await s.post(LOGIN, {}), 400);
      assert.match(expectErrorEnvelope(await s.post(LOGIN, { username: PHONE }), 400), /password/);
      // The document's field is `username`; `phone_number` is not read.
      assert.match(expectErrorEnvelope(await s.post(LOGIN, { phone_number: PHONE, password: PASSWORD }), 400), /username/);
    });

    it('answers GET with 405 in the error envelope', async () => {
      const res = await s.get(LOGIN);
      expectExact(res, 405, { error: 'Method "GET" not allowed.' });
      assert.match(String(res.headers.allow), /\bPOST\b/);
    });
  });

  describe('POST /api/token/refresh/', () => {
    it('answers 200 {access} only', async () => {
      const { refresh } = expectPair(await login(PHONE), id);
      const access = expectAccessOnly(await s.post(REFRESH, { refresh }), id);
      await accessWorks(access);
      expectAccessOnly(await s.post(REFRESH, { refresh }), id); // no rotation
    });

    it('answers the document 401 for a bad refresh token', async () => {
      expectExact(await s.post(REFRESH, { refresh: '<refresh_token>' }), 401, BAD_REFRESH);
    });

    it('answers the document 401 for an access token', async () => {
      const { access } = expectPair(await login(PHONE), id);
      expectExact(await s.post(REFRESH, { refresh: access }), 401, BAD_REFRESH);
    });

    it('answers the document 401 for an expired refresh token', async () => {
      const { refresh } = expectPair(await login(PHONE), id);
      const saved = clock;
      try {
        clock = saved + 86400;
        expectExact(await s.post(REFRESH, { refresh }), 401, BAD_REFRESH);
      } finally {
        clock = saved;
      }
    });

    it('answers a missing refresh with 400 {"error": string}', async () => {
      assert.match(expectErrorEnvelope(await s.post(REFRESH, {}), 400), /refresh/);
    });
  });
});
