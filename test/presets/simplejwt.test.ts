// Preset `simplejwt`: seed document 003 (DRF + SimpleJWT's stock views), plus
// the SimpleJWT/DRF behaviours SPEC §2-§3 add where the document is silent.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { claimsOf, headerOf, startServer, TEST_KEY, type TestServer } from '../helpers.js';
import { expect401, expectAccessOnly, expectExact, expectPair, FORM, form, WWW_AUTHENTICATE } from './expect.js';

const PROTECTED = '/api/protected-endpoint/';
const GREETING = { message: 'You have accessed a protected route!' };
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const BAD_HEADER = {
  detail: 'Authorization header must contain two space-delimited values',
  code: 'bad_authorization_header',
};
const INVALID = { detail: 'Token is invalid or expired', code: 'token_not_valid' };
const WRONG_TYPE = { detail: 'Token has wrong type', code: 'token_not_valid' };
const BLACKLISTED = { detail: 'Token is blacklisted', code: 'token_not_valid' };
const givenTokenNotValid = (message: string) => ({
  detail: 'Given token not valid for any token type',
  code: 'token_not_valid',
  messages: [{ token_class: 'AccessToken', token_type: 'access', message }],
});
const NO_ACCOUNT = { detail: 'No active account found with the given credentials' };

/** An HS256 JWT over `payload`, signed with `key`. */
function signHs256(payload: Record<string, unknown>, key: string): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

describe('preset simplejwt (document 003)', () => {
  let s: TestServer;
  let clock = Math.floor(Date.now() / 1000);
  let testuserId: number;
  const auth = (value: string) => s.request({ method: 'GET', url: PROTECTED, headers: { authorization: value } });
  const login = (username = 'testuser', password = 'testpassword') => s.post('/api/token/', { username, password });

  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt' }, now: () => clock });
    ({ id: testuserId } = await s.user({ username: 'testuser', password: 'testpassword' }));
  });
  after(() => s.close());

  describe('POST /api/token/ (obtain pair)', () => {
    it('answers the document example with 200 {access, refresh}', async () => {
      const res = await s.post(
        '/api/token/',
        { username: 'testuser', password: 'testpassword' },
        {
          'content-type': 'application/json',
        },
      );
      expectPair(res, testuserId);
    });

    it('issues an access token that opens the protected route', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await s.get(PROTECTED, access), 200, GREETING);
    });

    it('refuses a wrong password with 401 and SimpleJWT detail', async () => {
      expectExact(await login('testuser', 'wrong-password'), 401, NO_ACCOUNT);
    });

    it('refuses an unknown user with the same 401', async () => {
      expectExact(await login('nobody-here', 'testpassword'), 401, NO_ACCOUNT);
    });

    it('answers missing fields with DRF field errors', async () => {
      expectExact(await s.post('/api/token/', {}), 400, {
        username: ['This field is required.'],
        password: ['This field is required.'],
      });
      expectExact(await s.post('/api/token/', { username: 'testuser' }), 400, {
        password: ['This field is required.'],
      });
    });

    it('answers a blank field with "This field may not be blank."', async () => {
      expectExact(await s.post('/api/token/', { username: '', password: 'testpassword' }), 400, {
        username: ['This field may not be blank.'],
      });
    });

    it('accepts form-encoded credentials like JSON', async () => {
      const res = await s.post('/api/token/', form({ username: 'testuser', password: 'testpassword' }), FORM);
      const { access } = expectPair(res, testuserId);
      expectExact(await s.get(PROTECTED, access), 200, GREETING);
      expectExact(await s.post('/api/token/', form({ username: 'testuser', password: 'nope' }), FORM), 401, NO_ACCOUNT);
      expectExact(await s.post('/api/token/', form({ username: 'testuser' }), FORM), 400, {
        password: ['This field is required.'],
      });
    });
  });

  describe('token wire format', () => {
    it('mints HS256 JWTs with exactly SimpleJWT claims and lifetimes', async () => {
      const { access, refresh } = expectPair(await login(), testuserId);
      for (const [token, type, lifetime] of [
        [access, 'access', 300],
        [refresh, 'refresh', 86400],
      ] as const) {
        // SimpleJWT's header, plus the kid naming latchkey's key.
        const { kid, ...header } = headerOf(token);
        assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
        assert.equal(typeof kid, 'string');
        const c = claimsOf(token);
        assert.deepEqual(Object.keys(c).sort(), ['exp', 'iat', 'jti', 'token_type', 'user_id']);
        assert.equal(c.token_type, type);
        assert.equal(c.user_id, testuserId);
        assert.ok(Number.isInteger(c.user_id));
        assert.match(c.jti as string, /^[0-9a-f]{32}$/);
        assert.equal(c.iat, clock);
        assert.equal((c.exp as number) - (c.iat as number), lifetime);
      }
      assert.notEqual(claimsOf(access).jti, claimsOf(refresh).jti);
    });

    it('signs with the configured key (HMAC-SHA256 over header.payload)', async () => {
      const { access } = expectPair(await login(), testuserId);
      const [h, p, sig] = access.split('.');
      assert.equal(createHmac('sha256', TEST_KEY).update(`${h}.${p}`).digest('base64url'), sig);
    });

    it('gives every login fresh jtis', async () => {
      const a = expectPair(await login(), testuserId);
      const b = expectPair(await login(), testuserId);
      assert.notEqual(claimsOf(a.refresh).jti, claimsOf(b.refresh).jti);
      assert.notEqual(claimsOf(a.access).jti, claimsOf(b.access).jti);
    });
  });

  describe('POST /api/token/refresh/', () => {
    it('answers the document example with {access} only (no rotation by default)', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      const access = expectAccessOnly(await s.post('/api/token/refresh/', { refresh }), testuserId);
      expectExact(await s.get(PROTECTED, access), 200, GREETING);
      // Without rotation the same refresh token keeps working.
      expectAccessOnly(await s.post('/api/token/refresh/', { refresh }), testuserId);
    });

    it('accepts a form-encoded refresh', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      expectAccessOnly(await s.post('/api/token/refresh/', form({ refresh }), FORM), testuserId);
    });

    it('refuses garbage with 401 token_not_valid', async () => {
      expectExact(await s.post('/api/token/refresh/', { refresh: 'not-a-token' }), 401, INVALID);
    });

    it('refuses an access token with "Token has wrong type"', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/refresh/', { refresh: access }), 401, WRONG_TYPE);
    });

    it('answers a missing refresh with DRF field errors', async () => {
      expectExact(await s.post('/api/token/refresh/', {}), 400, { refresh: ['This field is required.'] });
    });

    it('refuses a refresh token signed with another key', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      const forged = signHs256(claimsOf(refresh), 'x'.repeat(64));
      expectExact(await s.post('/api/token/refresh/', { refresh: forged }), 401, INVALID);
    });

    it('refuses an expired refresh token', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      const saved = clock;
      try {
        clock = saved + 86400 - 1;
        expectAccessOnly(await s.post('/api/token/refresh/', { refresh }), testuserId);
        clock = saved + 86400;
        expectExact(await s.post('/api/token/refresh/', { refresh }), 401, INVALID);
      } finally {
        clock = saved;
      }
    });
  });

  describe('POST /api/token/verify/', () => {
    it('answers 200 {} for a valid access token and a valid refresh token', async () => {
      const { access, refresh } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/verify/', { token: access }), 200, {});
      expectExact(await s.post('/api/token/verify/', { token: refresh }), 200, {});
    });

    it('answers the document 401 for an invalid token', async () => {
      expectExact(await s.post('/api/token/verify/', { token: 'your_access_or_refresh_token' }), 401, INVALID);
    });

    it('answers 401 for a token with a tampered payload', async () => {
      const { access } = expectPair(await login(), testuserId);
      const [h, , sig] = access.split('.');
      const p = Buffer.from(JSON.stringify({ ...claimsOf(access), user_id: 999 })).toString('base64url');
      expectExact(await s.post('/api/token/verify/', { token: `${h}.${p}.${sig}` }), 401, INVALID);
    });

    it('answers 401 for an unsigned (alg none) token', async () => {
      const { access } = expectPair(await login(), testuserId);
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const none = `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claimsOf(access))}.`;
      expectExact(await s.post('/api/token/verify/', { token: none }), 401, INVALID);
    });

    it('answers 401 for an expired access token', async () => {
      const { access } = expectPair(await login(), testuserId);
      const saved = clock;
      try {
        clock = saved + 300;
        expectExact(await s.post('/api/token/verify/', { token: access }), 401, INVALID);
      } finally {
        clock = saved;
      }
    });

    it('answers a missing token with DRF field errors', async () => {
      expectExact(await s.post('/api/token/verify/', {}), 400, { token: ['This field is required.'] });
    });

    it('accepts a form-encoded token', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/verify/', form({ token: access }), FORM), 200, {});
    });
  });

  describe('POST /api/token/blacklist/', () => {
    it('blacklists a refresh token: 200 {}, then refresh and verify of it are 401', async () => {
      const { refresh, access } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/blacklist/', { refresh }), 200, {});
      expectExact(await s.post('/api/token/refresh/', { refresh }), 401, BLACKLISTED);
      const v = expect401(await s.post('/api/token/verify/', { token: refresh }));
      assert.equal(v.code, 'token_not_valid');
      // Blacklisting a refresh token does not touch the access token of the same login.
      expectExact(await s.get(PROTECTED, access), 200, GREETING);
    });

    it('leaves other logins of the same user working', async () => {
      const first = expectPair(await login(), testuserId);
      const second = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/blacklist/', { refresh: first.refresh }), 200, {});
      expectAccessOnly(await s.post('/api/token/refresh/', { refresh: second.refresh }), testuserId);
    });

    it('refuses to blacklist the same token twice', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/blacklist/', { refresh }), 200, {});
      expectExact(await s.post('/api/token/blacklist/', { refresh }), 401, BLACKLISTED);
    });

    it('refuses an access token, garbage, and a missing field', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await s.post('/api/token/blacklist/', { refresh: access }), 401, WRONG_TYPE);
      expectExact(await s.post('/api/token/blacklist/', { refresh: 'garbage' }), 401, INVALID);
      expectExact(await s.post('/api/token/blacklist/', {}), 400, { refresh: ['This field is required.'] });
    });
  });

  describe('GET /api/protected-endpoint/', () => {
    it('answers the document example with the access token as Bearer', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await auth(`Bearer ${access}`), 200, GREETING);
    });

    it('answers 401 "not provided" with no Authorization header', async () => {
      expectExact(await s.get(PROTECTED), 401, NOT_PROVIDED);
    });

    it('treats another scheme, or a lowercase "bearer", as no credentials (as SimpleJWT does)', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await auth(`bearer ${access}`), 401, NOT_PROVIDED);
      expectExact(await auth(`JWT ${access}`), 401, NOT_PROVIDED);
      expectExact(await auth('Basic dGVzdHVzZXI6dGVzdHBhc3N3b3Jk'), 401, NOT_PROVIDED);
    });

    it('answers bad_authorization_header for "Bearer" alone or with three parts', async () => {
      const { access } = expectPair(await login(), testuserId);
      expectExact(await auth('Bearer'), 401, BAD_HEADER);
      expectExact(await auth(`Bearer ${access} extra`), 401, BAD_HEADER);
    });

    it('splits the header on any run of ASCII whitespace, as SimpleJWT does', async () => {
      const { access } = expectPair(await login(), testuserId);
      for (const value of [`Bearer  ${access}`, `Bearer ${access} `, `Bearer\t${access}`, ` Bearer ${access}\r\n`.trim() + '\t']) {
        expectExact(await auth(value), 200, GREETING);
      }
      // A valid token with a third part after it, or inside it, is a bad header, not a bad token.
      expectExact(await auth(`Bearer ${access}\vx`), 401, BAD_HEADER);
      expectExact(await auth(`Bearer ${access.slice(0, 20)} ${access.slice(20)}`), 401, BAD_HEADER);
      expectExact(await auth(`Bearer  not-a-jwt`), 401, givenTokenNotValid('Token is invalid or expired'));
    });

    it('answers "Given token not valid for any token type" for a bad token', async () => {
      expectExact(await auth('Bearer not-a-jwt'), 401, givenTokenNotValid('Token is invalid or expired'));
    });

    it('refuses a refresh token used as Bearer with "Token has wrong type"', async () => {
      const { refresh } = expectPair(await login(), testuserId);
      expectExact(await auth(`Bearer ${refresh}`), 401, givenTokenNotValid('Token has wrong type'));
    });

    it('refuses an access token signed with another key', async () => {
      const { access } = expectPair(await login(), testuserId);
      const forged = signHs256(claimsOf(access), 'y'.repeat(64));
      expectExact(await auth(`Bearer ${forged}`), 401, givenTokenNotValid('Token is invalid or expired'));
    });

    it('refuses an access token once it expires (lifetime 300 s, leeway 0)', async () => {
      const { access } = expectPair(await login(), testuserId);
      const saved = clock;
      try {
        clock = saved + 299;
        expectExact(await s.get(PROTECTED, access), 200, GREETING);
        clock = saved + 300;
        expectExact(await s.get(PROTECTED, access), 401, givenTokenNotValid('Token is invalid or expired'));
      } finally {
        clock = saved;
      }
    });

    it('accepts a token whose user_id is a string (SimpleJWT 5.5.1 on)', async () => {
      const token = signHs256(
        { token_type: 'access', exp: clock + 300, iat: clock, jti: 'a'.repeat(32), user_id: String(testuserId) },
        TEST_KEY,
      );
      expectExact(await auth(`Bearer ${token}`), 200, GREETING);
    });

    it('sends WWW-Authenticate: Bearer realm="api" on every 401', async () => {
      for (const value of [undefined, 'Bearer', 'Bearer x y', 'Bearer not-a-jwt']) {
        const res = await s.request({ method: 'GET', url: PROTECTED, headers: value ? { authorization: value } : {} });
        assert.equal(res.statusCode, 401);
        assert.equal(res.headers['www-authenticate'], WWW_AUTHENTICATE);
      }
    });
  });

  describe('DRF CharField semantics where the document is silent (SPEC §1)', () => {
    it('coerces a numeric username to a string, as DRF CharField does', async () => {
      const { id } = await s.user({ username: '12345', password: 'numeric-name-pw' });
      expectPair(await s.post('/api/token/', { username: 12345, password: 'numeric-name-pw' }), id);
    });

    it('refuses non-string values with "Not a valid string." and null with "may not be null"', async () => {
      expectExact(await s.post('/api/token/', { username: true, password: 'testpassword' }), 400, {
        username: ['Not a valid string.'],
      });
      expectExact(await s.post('/api/token/', { username: ['testuser'], password: 'testpassword' }), 400, {
        username: ['Not a valid string.'],
      });
      expectExact(await s.post('/api/token/', { username: null, password: 'testpassword' }), 400, {
        username: ['This field may not be null.'],
      });
    });

    it('trims surrounding whitespace from the username (CharField trim_whitespace=True)', async () => {
      expectPair(await s.post('/api/token/', { username: '  testuser ', password: 'testpassword' }), testuserId);
    });

    // A deliberate departure from SimpleJWT, whose PasswordField trims: latchkey
    // checks a password exactly as typed (OWASP ASVS 6.2), so spaces count.
    it('checks the password exactly as typed: surrounding whitespace is part of it', async () => {
      expectExact(await s.post('/api/token/', { username: 'testuser', password: ' testpassword  ' }), 401, NO_ACCOUNT);
    });

    it('answers an overlong password like any wrong password (PasswordField has no max_length)', async () => {
      expectExact(await s.post('/api/token/', { username: 'testuser', password: 'x'.repeat(5000) }), 401, NO_ACCOUNT);
    });

    it('takes the last value of a repeated form field, as a Django QueryDict does', async () => {
      const raw = 'username=someone-else&username=testuser&password=testpassword';
      expectPair(await s.post('/api/token/', raw, FORM), testuserId);
    });

    it('answers a whitespace-only field as blank', async () => {
      expectExact(await s.post('/api/token/', { username: '   ', password: 'testpassword' }), 400, {
        username: ['This field may not be blank.'],
      });
    });

    it('authenticates before dispatching on the method: POST to the protected route without credentials is 401', async () => {
      // DRF's APIView.dispatch runs initial() (authentication, permissions) before it looks up the handler.
      expectExact(await s.post(PROTECTED, {}), 401, NOT_PROVIDED);
      const { access } = expectPair(await login(), testuserId);
      const res = await s.request({ method: 'POST', url: PROTECTED, headers: { authorization: `Bearer ${access}` }, payload: {} });
      expectExact(res, 405, { detail: 'Method "POST" not allowed.' });
      assert.match(String(res.headers.allow), /\bGET\b/);
    });
  });

  describe('users that go away', () => {
    it('refuses a valid token of an inactive user with user_inactive, and their login', async () => {
      const { id } = await s.user({ username: 'soon-inactive', password: 'inactive-pw-1' });
      const { access } = expectPair(await login('soon-inactive', 'inactive-pw-1'), id);
      await s.storage.updateUser(id, { is_active: false });
      expectExact(await s.get(PROTECTED, access), 401, { detail: 'User is inactive', code: 'user_inactive' });
      expectExact(await login('soon-inactive', 'inactive-pw-1'), 401, NO_ACCOUNT);
    });

    it('refuses a valid token of a deleted user with user_not_found', async () => {
      const { id } = await s.user({ username: 'soon-deleted', password: 'deleted-pw-1' });
      const { access, refresh } = expectPair(await login('soon-deleted', 'deleted-pw-1'), id);
      assert.equal(await s.storage.deleteUser(id), true);
      expectExact(await s.get(PROTECTED, access), 401, { detail: 'User not found', code: 'user_not_found' });
      expect401(await s.post('/api/token/refresh/', { refresh }));
      expect401(await s.post('/api/token/verify/', { token: access }));
    });
  });
});

describe('preset simplejwt with LATCHKEY_ROTATE_REFRESH_TOKENS=on', () => {
  let s: TestServer;
  let id: number;
  before(async () => {
    s = await startServer({
      env: { LATCHKEY_PRESETS: 'simplejwt', LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_ROTATION_REUSE_INTERVAL: '0' },
    });
    ({ id } = await s.user({ username: 'rotator', password: 'rotator-pw-1' }));
  });
  after(() => s.close());

  it('returns both access and refresh, the new ones work and the old refresh fails', async () => {
    const first = expectPair(await s.post('/api/token/', { username: 'rotator', password: 'rotator-pw-1' }), id);
    const second = expectPair(await s.post('/api/token/refresh/', { refresh: first.refresh }), id);
    assert.notEqual(second.refresh, first.refresh);
    expectExact(await s.get(PROTECTED, second.access), 200, GREETING);
    const old = expect401(await s.post('/api/token/refresh/', { refresh: first.refresh }));
    assert.equal(old.code, 'token_not_valid');
    assert.equal(expect401(await s.post('/api/token/verify/', { token: first.refresh })).code, 'token_not_valid');
    // Reusing a rotated-out token revokes the family (SPEC §2): the newer refresh token stops working too.
    assert.equal(expect401(await s.post('/api/token/refresh/', { refresh: second.refresh })).code, 'token_not_valid');
  });
});
