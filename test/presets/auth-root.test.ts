// Preset `auth-root`: seed document 001. Paths have no trailing slash, refresh
// rotates by default, and register answers 409 on a taken name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimsOf, startServer, type TestServer } from '../helpers.js';
import { expect401, expectExact, expectPair, FORM, form } from './expect.js';

const TOKEN = '/auth/token';
const REFRESH = '/auth/token/refresh';
const VERIFY = '/auth/token/verify';
const REGISTER = '/auth/register';
const GETUSER = '/auth/getuser';

const NO_ACCOUNT = { detail: 'No active account found with the given credentials' };
const INVALID = { detail: 'Token is invalid or expired', code: 'token_not_valid' };
const REQUIRED = ['This field is required.'];
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };

describe('preset auth-root (document 001)', () => {
  let s: TestServer;
  let bobId: number;
  const login = (username = 'bob', password = 'bob-pw-2024') => s.post(TOKEN, { username, password });
  /** A refused refresh: 401, the header, code token_not_valid, a SimpleJWT message. */
  const refused = async (refresh: string) => {
    const b = expect401(await s.post(REFRESH, { refresh }));
    assert.equal(b.code, 'token_not_valid');
    assert.ok(b.detail === 'Token is blacklisted' || b.detail === 'Token is invalid or expired', `unexpected detail ${String(b.detail)}`);
    assert.deepEqual(Object.keys(b).sort(), ['code', 'detail']);
  };

  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'auth-root', LATCHKEY_ROTATION_REUSE_INTERVAL: '0' } }); // reuse revokes at once: no retry grace
    ({ id: bobId } = await s.user({ username: 'bob', password: 'bob-pw-2024' }));
  });
  after(() => s.close());

  describe('POST /auth/token', () => {
    it('answers 200 {refresh, access}, and the access token opens /auth/getuser', async () => {
      const { access } = expectPair(await login(), bobId);
      expectExact(await s.get(GETUSER, access), 200, { username: 'bob' });
    });

    it('accepts form-encoded data params', async () => {
      expectPair(await s.post(TOKEN, form({ username: 'bob', password: 'bob-pw-2024' }), FORM), bobId);
    });

    it('answers bad credentials with the document 401', async () => {
      expectExact(await login('bob', 'not-bobs-password'), 401, NO_ACCOUNT);
      expectExact(await login('robert', 'bob-pw-2024'), 401, NO_ACCOUNT);
    });

    it('answers missing fields with the document 400 in DRF wording', async () => {
      expectExact(await s.post(TOKEN, {}), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post(TOKEN), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post(TOKEN, { password: 'x' }), 400, { username: REQUIRED });
    });

    it('is not served with a trailing slash', async () => {
      expectExact(await s.post(`${TOKEN}/`, { username: 'bob', password: 'bob-pw-2024' }), 404, { detail: 'Not found.' });
    });
  });

  describe('POST /auth/token/refresh (rotates)', () => {
    it('answers 200 with both refresh and access; the new tokens work', async () => {
      const first = expectPair(await login(), bobId);
      const second = expectPair(await s.post(REFRESH, { refresh: first.refresh }), bobId);
      assert.notEqual(second.refresh, first.refresh);
      assert.notEqual(claimsOf(second.refresh).jti, claimsOf(first.refresh).jti);
      expectExact(await s.get(GETUSER, second.access), 200, { username: 'bob' });
      expectPair(await s.post(REFRESH, { refresh: second.refresh }), bobId);
    });

    it('refuses the rotated-out refresh token with 401 token_not_valid', async () => {
      const first = expectPair(await login(), bobId);
      expectPair(await s.post(REFRESH, { refresh: first.refresh }), bobId);
      await refused(first.refresh);
    });

    it('revokes the whole family when a rotated-out token is reused', async () => {
      const r0 = expectPair(await login(), bobId).refresh;
      const r1 = expectPair(await s.post(REFRESH, { refresh: r0 }), bobId).refresh;
      const r2 = expectPair(await s.post(REFRESH, { refresh: r1 }), bobId).refresh;
      await refused(r0); // reuse: someone else holds a copy
      await refused(r2); // the newest token of the family is gone too
      assert.equal(expect401(await s.post(VERIFY, { token: r2 })).code, 'token_not_valid');
    });

    it('leaves other logins alone when one family is revoked', async () => {
      const other = expectPair(await login(), bobId).refresh;
      const r0 = expectPair(await login(), bobId).refresh;
      expectPair(await s.post(REFRESH, { refresh: r0 }), bobId);
      await refused(r0);
      expectPair(await s.post(REFRESH, { refresh: other }), bobId);
    });

    it('answers a missing refresh with the document 400', async () => {
      expectExact(await s.post(REFRESH, {}), 400, { refresh: REQUIRED });
    });

    it('answers a bad token with the document 401', async () => {
      expectExact(await s.post(REFRESH, { refresh: '<refresh-token>' }), 401, INVALID);
    });

    it('refuses an access token with "Token has wrong type"', async () => {
      const { access } = expectPair(await login(), bobId);
      expectExact(await s.post(REFRESH, { refresh: access }), 401, { detail: 'Token has wrong type', code: 'token_not_valid' });
    });
  });

  describe('POST /auth/token/verify', () => {
    it('answers 200 {} for an access token and a refresh token', async () => {
      const { access, refresh } = expectPair(await login(), bobId);
      expectExact(await s.post(VERIFY, { token: access }), 200, {});
      expectExact(await s.post(VERIFY, { token: refresh }), 200, {});
    });

    it('answers the document 400 when token is missing (also when only "refresh" is sent)', async () => {
      expectExact(await s.post(VERIFY, {}), 400, { token: REQUIRED });
      const { refresh } = expectPair(await login(), bobId);
      expectExact(await s.post(VERIFY, { refresh }), 400, { token: REQUIRED });
    });

    it('answers the document 401 for a bad token', async () => {
      expectExact(await s.post(VERIFY, { token: 'not.a.token' }), 401, INVALID);
    });
  });

  describe('POST /auth/register', () => {
    it('answers 201 {refresh, access} for a new user; the tokens work', async () => {
      const res = await s.post(REGISTER, { username: 'carol', password: 'carol-secret-9931' });
      const stored = await s.storage.getUserByUsername('carol');
      assert.ok(stored, 'carol was not stored');
      const { access, refresh } = expectPair(res, stored.id, 201);
      expectExact(await s.get(GETUSER, access), 200, { username: 'carol' });
      expectPair(await s.post(REFRESH, { refresh }), stored.id);
      expectPair(await login('carol', 'carol-secret-9931'), stored.id);
    });

    it('accepts a form-encoded registration', async () => {
      const res = await s.post(REGISTER, form({ username: 'dave', password: 'dave-secret-4417' }), FORM);
      const stored = await s.storage.getUserByUsername('dave');
      assert.ok(stored, 'dave was not stored');
      expectPair(res, stored.id, 201);
    });

    it('answers a taken name with 409 {"detail": "User already exists"}', async () => {
      expectExact(await s.post(REGISTER, { username: 'bob', password: 'some-other-pw-8' }), 409, {
        detail: 'User already exists',
      });
      expectPair(await login(), bobId); // bob's password did not change
    });

    it('answers missing fields with the document 400 in DRF wording', async () => {
      expectExact(await s.post(REGISTER, {}), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post(REGISTER, { username: 'erin' }), 400, { password: REQUIRED });
      assert.equal(await s.storage.getUserByUsername('erin'), undefined);
    });

    it('answers a weak password with DRF field errors and creates nobody', async () => {
      const res = await s.post(REGISTER, { username: 'frank', password: 'password123' });
      assert.equal(res.statusCode, 400, res.body);
      const b = res.json() as { password?: string[] };
      assert.ok(Array.isArray(b.password), res.body);
      assert.ok(b.password.includes('This password is too common.'), res.body);
      assert.equal(await s.storage.getUserByUsername('frank'), undefined);
    });

    it('ignores is_staff and is_active in the body', async () => {
      const res = await s.post(REGISTER, { username: 'grace', password: 'grace-secret-5510', is_staff: true, is_active: false });
      const stored = await s.storage.getUserByUsername('grace');
      assert.ok(stored);
      expectPair(res, stored.id, 201);
      assert.equal(stored.is_staff, false);
      assert.equal(stored.is_active, true);
    });
  });

  describe('GET /auth/getuser', () => {
    it('answers {username} with a Bearer access token', async () => {
      const { access } = expectPair(await login(), bobId);
      expectExact(await s.get(GETUSER, access), 200, { username: 'bob' });
    });

    it('answers 401 without credentials', async () => {
      expectExact(await s.get(GETUSER), 401, NOT_PROVIDED);
    });

    it('answers 401 for a bad token and for a refresh token', async () => {
      const { refresh } = expectPair(await login(), bobId);
      expectExact(await s.get(GETUSER, 'garbage'), 401, {
        detail: 'Given token not valid for any token type',
        code: 'token_not_valid',
        messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token is invalid or expired' }],
      });
      expectExact(await s.get(GETUSER, refresh), 401, {
        detail: 'Given token not valid for any token type',
        code: 'token_not_valid',
        messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' }],
      });
    });

    it('answers an authenticated POST with 405 and an Allow header naming GET', async () => {
      const { access } = expectPair(await login(), bobId);
      const res = await s.request({ method: 'POST', url: GETUSER, headers: { authorization: `Bearer ${access}` }, payload: {} });
      expectExact(res, 405, { detail: 'Method "POST" not allowed.' });
      assert.match(String(res.headers.allow), /\bGET\b/);
    });

    it('answers an unauthenticated POST with 401, as DRF authenticates before dispatching on the method', async () => {
      expectExact(await s.post(GETUSER, {}), 401, NOT_PROVIDED);
    });
  });
});
