// Preset `api-auth`: seed document 004. Its routes answer every error in the
// {"error": "..."} envelope the document writes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimsOf, startServer, type TestServer } from '../helpers.js';
import { expectAccessOnly, expectErrorEnvelope, expectExact, expectPair, expectToken, FORM, form } from './expect.js';

const REGISTER = '/api/auth/register/';
const LOGIN = '/api/auth/login/';
const REFRESH = '/api/auth/refresh/';
const LOGOUT = '/api/auth/logout/';

const NO_ACCOUNT = { error: 'No active account found with the given credentials' };
const REQUIRED = { error: 'Refresh token required.' };
const INVALID_REFRESH = { error: 'Invalid or expired refresh token.' };

describe('preset api-auth (document 004)', () => {
  let s: TestServer;
  let aliceId: number;
  const login = (username = 'alice', password = 'alice-pw-123') => s.post(LOGIN, { username, password });
  /** The access token authenticates as this user (the preset has no protected route of its own). */
  const accessWorks = async (access: string, userId: number) => {
    const user = await s.service.authenticate(`Bearer ${access}`);
    assert.equal(user?.id, userId);
  };

  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'api-auth' } });
    ({ id: aliceId } = await s.user({ username: 'alice', password: 'alice-pw-123' }));
  });
  after(() => s.close());

  describe('POST /api/auth/register/', () => {
    it('answers the document example with 201 and the wrapped profile and working tokens', async () => {
      const res = await s.post(REGISTER, {
        username: 'your_username',
        password: 'your_password',
        email: 'your_email@example.com',
        first_name: 'YourFirstName',
        last_name: 'YourLastName',
      });
      assert.equal(res.statusCode, 201, res.body);
      const stored = await s.storage.getUserByUsername('your_username');
      assert.ok(stored);
      const b = res.json() as { content: { tokens: { refresh: string; access: string } } };
      const { tokens } = b.content;
      assert.deepEqual(b, {
        content: {
          pk: stored.id,
          username: 'your_username',
          email: 'your_email@example.com',
          first_name: 'YourFirstName',
          last_name: 'YourLastName',
          profile_image: null,
          tokens: { refresh: tokens.refresh, access: tokens.access },
        },
      });
      assert.ok(Number.isInteger((b.content as unknown as { pk: unknown }).pk));
      expectToken(tokens.refresh, 'refresh', stored.id);
      expectToken(tokens.access, 'access', stored.id);
      await accessWorks(tokens.access, stored.id);
      expectAccessOnly(await s.post(REFRESH, { refresh: tokens.refresh }), stored.id);
      // The stored profile is what was sent.
      assert.equal(stored.email, 'your_email@example.com');
      assert.equal(stored.first_name, 'YourFirstName');
      assert.equal(stored.last_name, 'YourLastName');
      // And the new user can log in.
      expectPair(await login('your_username', 'your_password'), stored.id);
    });

    it('registers with only username and password (profile fields blank)', async () => {
      const res = await s.post(REGISTER, { username: 'minimal', password: 'minimal-pw-987' });
      assert.equal(res.statusCode, 201, res.body);
      const b = res.json() as { content: Record<string, unknown> };
      const stored = await s.storage.getUserByUsername('minimal');
      assert.equal(b.content.pk, stored?.id);
      assert.equal(b.content.username, 'minimal');
      assert.equal(b.content.email, '');
      assert.equal(b.content.first_name, '');
      assert.equal(b.content.last_name, '');
      assert.equal(b.content.profile_image, null);
    });

    it('accepts a form-encoded registration', async () => {
      const res = await s.post(REGISTER, form({ username: 'formuser', password: 'kiwi-banana-73' }), FORM);
      assert.equal(res.statusCode, 201, res.body);
      const stored = await s.storage.getUserByUsername('formuser');
      assert.equal((res.json() as { content: { pk: number } }).content.pk, stored?.id);
    });

    it('ignores is_staff, is_superuser, is_active and id in the body', async () => {
      const res = await s.post(REGISTER, {
        username: 'sneaky',
        password: 'sneaky-pw-4821',
        is_staff: true,
        is_superuser: true,
        is_active: false,
        id: 4242,
        pk: 4242,
      });
      assert.equal(res.statusCode, 201, res.body);
      const stored = await s.storage.getUserByUsername('sneaky');
      assert.ok(stored);
      assert.equal(stored.is_staff, false);
      assert.equal(stored.is_superuser, false);
      assert.equal(stored.is_active, true);
      assert.notEqual(stored.id, 4242);
      assert.equal((res.json() as { content: { pk: number } }).content.pk, stored.id);
      assert.equal(await s.storage.getUserById(4242), undefined);
      expectPair(await login('sneaky', 'sneaky-pw-4821'), stored.id);
    });

    it('refuses a taken username with 400 {"error": string}', async () => {
      const error = expectErrorEnvelope(await s.post(REGISTER, { username: 'alice', password: 'another-pw-77' }), 400);
      assert.match(error, /already exists/);
      // The original account is untouched.
      expectPair(await login(), aliceId);
    });

    it('refuses weak passwords with the reason in {"error": string}', async () => {
      const cases: [string, string, RegExp][] = [
        ['weak-common', 'password123', /too common/],
        ['weak-numeric', '12345678901', /entirely numeric/],
        ['weak-short', 'short', /too short/],
        ['lookalike', 'lookalike1', /too similar to the username/],
      ];
      for (const [username, password, reason] of cases) {
        const error = expectErrorEnvelope(await s.post(REGISTER, { username, password }), 400);
        assert.match(error, reason, `${password}: ${error}`);
        assert.equal(await s.storage.getUserByUsername(username), undefined, `${username} was created`);
      }
    });

    it('refuses an invalid email and an invalid username with {"error": string}', async () => {
      assert.match(
        expectErrorEnvelope(await s.post(REGISTER, { username: 'bademail', password: 'zq-93-lorikeet', email: 'nope' }), 400),
        /email/i,
      );
      assert.match(expectErrorEnvelope(await s.post(REGISTER, { username: 'has space', password: 'zq-94-lorikeet' }), 400), /username/i);
      assert.equal(await s.storage.getUserByUsername('bademail'), undefined);
    });

    it('refuses missing fields with {"error": string}', async () => {
      expectErrorEnvelope(await s.post(REGISTER, {}), 400);
      assert.match(expectErrorEnvelope(await s.post(REGISTER, { username: 'nopass' }), 400), /password/);
      assert.match(expectErrorEnvelope(await s.post(REGISTER, { password: 'no-user-pw-1' }), 400), /username/);
    });
  });

  describe('POST /api/auth/login/', () => {
    it('answers the document example with 200 {refresh, access}, and the tokens work', async () => {
      const { refresh, access } = expectPair(await login(), aliceId);
      await accessWorks(access, aliceId);
      expectAccessOnly(await s.post(REFRESH, { refresh }), aliceId);
    });

    it('answers a wrong password or unknown user with 401 {"error": ...}', async () => {
      expectExact(await login('alice', 'wrong-password'), 401, NO_ACCOUNT);
      expectExact(await login('nobody', 'alice-pw-123'), 401, NO_ACCOUNT);
    });

    it('answers missing fields with 400 {"error": string}', async () => {
      expectErrorEnvelope(await s.post(LOGIN, {}), 400);
      assert.match(expectErrorEnvelope(await s.post(LOGIN, { username: 'alice' }), 400), /password/);
    });

    it('accepts form-encoded credentials', async () => {
      expectPair(await s.post(LOGIN, form({ username: 'alice', password: 'alice-pw-123' }), FORM), aliceId);
    });
  });

  describe('POST /api/auth/refresh/', () => {
    it('answers the document example with {access} only', async () => {
      const { refresh } = expectPair(await login(), aliceId);
      const access = expectAccessOnly(await s.post(REFRESH, { refresh }), aliceId);
      await accessWorks(access, aliceId);
      // No rotation: the same refresh token still works.
      expectAccessOnly(await s.post(REFRESH, { refresh }), aliceId);
    });

    it('answers a bad token with 401 {"error": "Token is invalid or expired"}', async () => {
      expectExact(await s.post(REFRESH, { refresh: 'garbage' }), 401, { error: 'Token is invalid or expired' });
    });

    it('answers an access token with 401 in the error envelope', async () => {
      const { access } = expectPair(await login(), aliceId);
      expectErrorEnvelope(await s.post(REFRESH, { refresh: access }), 401);
    });

    it('answers a missing refresh with 400 {"error": string}', async () => {
      assert.match(expectErrorEnvelope(await s.post(REFRESH, {}), 400), /refresh/);
    });
  });

  describe('POST /api/auth/logout/', () => {
    it('answers the document example, then the logged-out token no longer refreshes', async () => {
      const { refresh } = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, { refresh_token: refresh }), 200, { detail: 'Successfully logged out.' });
      expectErrorEnvelope(await s.post(REFRESH, { refresh }), 401);
    });

    it('logs out only the given login', async () => {
      const one = expectPair(await login(), aliceId);
      const two = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, { refresh_token: one.refresh }), 200, { detail: 'Successfully logged out.' });
      expectAccessOnly(await s.post(REFRESH, { refresh: two.refresh }), aliceId);
    });

    it('answers a missing refresh_token with 400 "Refresh token required."', async () => {
      expectExact(await s.post(LOGOUT, {}), 400, REQUIRED);
      // The DRF name `refresh` is not this document's field.
      const { refresh } = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, { refresh }), 400, REQUIRED);
    });

    it('answers an invalid token with 400 "Invalid or expired refresh token."', async () => {
      expectExact(await s.post(LOGOUT, { refresh_token: 'garbage' }), 400, INVALID_REFRESH);
      const { access } = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, { refresh_token: access }), 400, INVALID_REFRESH);
    });

    it('answers an already logged-out token with 400 "Invalid or expired refresh token."', async () => {
      const { refresh } = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, { refresh_token: refresh }), 200, { detail: 'Successfully logged out.' });
      expectExact(await s.post(LOGOUT, { refresh_token: refresh }), 400, INVALID_REFRESH);
    });

    it('accepts a form-encoded logout', async () => {
      const { refresh } = expectPair(await login(), aliceId);
      expectExact(await s.post(LOGOUT, form({ refresh_token: refresh }), FORM), 200, { detail: 'Successfully logged out.' });
    });
  });

  describe('errors on these routes use the {"error": string} envelope', () => {
    it('answers GET with 405 {"error": ...} and an Allow header', async () => {
      for (const url of [REGISTER, LOGIN, REFRESH, LOGOUT]) {
        const res = await s.get(url);
        expectExact(res, 405, { error: 'Method "GET" not allowed.' });
        assert.match(String(res.headers.allow), /\bPOST\b/);
      }
    });

    it('answers malformed JSON with 400 {"error": "JSON parse error - ..."}', async () => {
      const res = await s.post(LOGIN, '{"username": "alice", ', { 'content-type': 'application/json' });
      assert.match(expectErrorEnvelope(res, 400), /^JSON parse error - /);
    });

    it('answers an unsupported media type with 415 {"error": ...}', async () => {
      const res = await s.post(LOGIN, 'username=alice', { 'content-type': 'text/plain' });
      expectExact(res, 415, { error: 'Unsupported media type "text/plain" in request.' });
    });

    it('answers a JSON array body with 400 {"error": string}', async () => {
      expectErrorEnvelope(await s.post(LOGIN, '[]', { 'content-type': 'application/json' }), 400);
    });
  });

  it("does not mount the other presets' routes", async () => {
    expectExact(await s.post('/api/token/', { username: 'alice', password: 'alice-pw-123' }), 404, { detail: 'Not found.' });
    assert.equal(claimsOf(expectPair(await login(), aliceId).access).user_id, aliceId);
  });
});
