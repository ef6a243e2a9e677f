// Preset `users`: seed document 002 (MyEcommerce). Registration takes a full
// profile with a unique E.164 phone; login takes a username or a phone number.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { expectAccessOnly, expectErrorEnvelope, expectExact, expectPair, FORM, form } from './expect.js';

const REGISTER = '/api/users/register/';
const LOGIN = '/api/users/login/';
const TOKEN = '/api/token/';
const REFRESH = '/api/token/refresh/';
const BAD_CREDENTIALS = { error: 'Invalid credentials' };

/** 2025-06-15T12:00:00Z: a fixed "today" for the birthdate rules. */
const NOW = Date.UTC(2025, 5, 15, 12, 0, 0) / 1000;

/** The document's register body, with overrides. */
const registration = (over: Record<string, string | undefined> = {}) => {
  const b: Record<string, string | undefined> = {
    username: 'ravi',
    password: 'mango-lassi-2291',
    email: 'ravi@example.com',
    phone_number: '+919876543210',
    address: '12 MG Road, Bengaluru',
    postal_code: '560001',
    birthdate: '1990-05-17',
    ...over,
  };
  return Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined)) as Record<string, string>;
};

describe('preset users (document 002)', () => {
  let s: TestServer;
  let raviId: number;
  let uId: number;
  /** The access token authenticates as this user (the preset has no protected route of its own). */
  const accessWorks = async (access: string, userId: number) => {
    const user = await s.service.authenticate(`Bearer ${access}`);
    assert.equal(user?.id, userId);
  };
  /** A refused registration: 400 {"error": string} matching `reason`, and no user named `username`. */
  const refusedRegistration = async (body: Record<string, string>, reason: RegExp, nameTaken = false) => {
    const error = expectErrorEnvelope(await s.post(REGISTER, body), 400);
    assert.match(error, reason, `${JSON.stringify(body)} -> ${error}`);
    if (body.username && !nameTaken)
      assert.equal(await s.storage.getUserByUsername(body.username), undefined, `${body.username} was created`);
  };

  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'users' }, now: () => NOW });
    ({ id: uId } = await s.user({ username: 'user', password: 'pass', phone_number: '+14155550100' }));
    const res = await s.post(REGISTER, registration());
    assert.equal(res.statusCode, 201, res.body);
    raviId = (res.json() as { id: number }).id;
  });
  after(() => s.close());

  describe('POST /api/users/register/', () => {
    it('answered the document body with 201 {"id": <int>, "username"} and stored the profile', async () => {
      const stored = await s.storage.getUserByUsername('ravi');
      assert.ok(stored);
      assert.equal(raviId, stored.id);
      assert.ok(Number.isInteger(raviId));
      assert.equal(stored.email, 'ravi@example.com');
      assert.equal(stored.phone_number, '+919876543210');
      assert.equal(stored.address, '12 MG Road, Bengaluru');
      assert.equal(stored.postal_code, '560001');
      assert.equal(stored.birthdate, '1990-05-17');
      assert.equal(stored.is_staff, false);
    });

    it('answers exactly {id, username} for another new user', async () => {
      const res = await s.post(REGISTER, registration({ username: 'meera', phone_number: '+919812345678' }));
      const stored = await s.storage.getUserByUsername('meera');
      assert.ok(stored);
      expectExact(res, 201, { id: stored.id, username: 'meera' });
    });

    it('accepts a form-encoded registration', async () => {
      const res = await s.post(REGISTER, form(registration({ username: 'formy', phone_number: '+442071838750' })), FORM);
      const stored = await s.storage.getUserByUsername('formy');
      assert.ok(stored);
      expectExact(res, 201, { id: stored.id, username: 'formy' });
    });

    it('refuses the same phone number under another username with the document error', async () => {
      const res = await s.post(REGISTER, registration({ username: 'ravi2' }));
      expectExact(res, 400, { error: 'A user with this phone number already exists.' });
      assert.equal(await s.storage.getUserByUsername('ravi2'), undefined);
    });

    it('refuses a taken username', async () => {
      await refusedRegistration(registration({ phone_number: '+919800000001' }), /already exists/, true);
      assert.equal(await s.storage.getUserByPhone('+919800000001'), undefined);
    });

    it('refuses phone numbers that are not E.164', async () => {
      for (const phone of ['9876543210', '+0123', '+91 98765', '+91-9876543210', '919876543210', '+', '+1234567890123456']) {
        await refusedRegistration(registration({ username: 'badphone', phone_number: phone }), /phone/i);
      }
    });

    it('refuses a missing or blank phone number', async () => {
      await refusedRegistration(registration({ username: 'nophone', phone_number: undefined }), /phone_number/);
      await refusedRegistration(registration({ username: 'nophone', phone_number: '' }), /phone_number/);
    });

    it('refuses an invalid email', async () => {
      for (const email of ['not-an-email', 'a@b', 'ravi@@example.com']) {
        await refusedRegistration(registration({ username: 'bademail', phone_number: '+919800000002', email }), /email/i);
      }
    });

    it('refuses a birthdate in the future, and accepts today', async () => {
      for (const birthdate of ['2025-06-16', '2999-01-01']) {
        await refusedRegistration(registration({ username: 'future', phone_number: '+919800000003', birthdate }), /future/i);
      }
      const res = await s.post(REGISTER, registration({ username: 'newborn', phone_number: '+919800000004', birthdate: '2025-06-15' }));
      assert.equal(res.statusCode, 201, res.body);
    });

    it('refuses a birthdate that is not an ISO calendar date', async () => {
      for (const birthdate of ['17/05/1990', '1990-02-30', '1990-5-17', '1990-13-01', 'yesterday']) {
        await refusedRegistration(registration({ username: 'baddate', phone_number: '+919800000005', birthdate }), /date/i);
      }
    });

    it('refuses missing username or password', async () => {
      await refusedRegistration(registration({ username: undefined, phone_number: '+919800000006' }), /username/);
      await refusedRegistration(registration({ username: 'nopass', password: undefined, phone_number: '+919800000006' }), /password/);
      assert.equal(await s.storage.getUserByPhone('+919800000006'), undefined);
    });

    it('refuses a weak password', async () => {
      await refusedRegistration(
        registration({ username: 'weakling', phone_number: '+919800000007', password: 'password123' }),
        /too common/,
      );
    });

    it('answers GET with 405 in the error envelope', async () => {
      const res = await s.get(REGISTER);
      expectExact(res, 405, { error: 'Method "GET" not allowed.' });
      assert.match(String(res.headers.allow), /\bPOST\b/);
    });
  });

  describe('POST /api/users/login/', () => {
    it('logs in with login = username', async () => {
      const { access, refresh } = expectPair(await s.post(LOGIN, { login: 'ravi', password: 'mango-lassi-2291' }), raviId);
      await accessWorks(access, raviId);
      expectAccessOnly(await s.post(REFRESH, { refresh }), raviId);
    });

    it('logs in with login = the phone number', async () => {
      const { access, refresh } = expectPair(await s.post(LOGIN, { login: '+919876543210', password: 'mango-lassi-2291' }), raviId);
      await accessWorks(access, raviId);
      expectAccessOnly(await s.post(REFRESH, { refresh }), raviId);
    });

    it('accepts form-encoded login', async () => {
      expectPair(await s.post(LOGIN, form({ login: '+919876543210', password: 'mango-lassi-2291' }), FORM), raviId);
    });

    it('answers a wrong password, unknown login or unknown phone with 401 {"error": "Invalid credentials"}', async () => {
      expectExact(await s.post(LOGIN, { login: 'ravi', password: 'wrong' }), 401, BAD_CREDENTIALS);
      expectExact(await s.post(LOGIN, { login: '+919876543210', password: 'wrong' }), 401, BAD_CREDENTIALS);
      expectExact(await s.post(LOGIN, { login: 'nobody', password: 'mango-lassi-2291' }), 401, BAD_CREDENTIALS);
      expectExact(await s.post(LOGIN, { login: '+919999999999', password: 'mango-lassi-2291' }), 401, BAD_CREDENTIALS);
    });

    it("does not let a username equal to another user's phone number take over that phone's login", async () => {
      // '+919876543210' is a valid Django username (letters, digits, @/./+/-/_) and ravi's phone number.
      const res = await s.post(
        REGISTER,
        registration({ username: '+919876543210', phone_number: '+919800000008', password: 'squatter-pw-5521' }),
      );
      if (res.statusCode === 201) {
        const squatterId = (res.json() as { id: number }).id;
        expectPair(await s.post(LOGIN, { login: '+919876543210', password: 'mango-lassi-2291' }), raviId);
        expectPair(await s.post(LOGIN, { login: '+919876543210', password: 'squatter-pw-5521' }), squatterId);
      } else {
        expectErrorEnvelope(res, 400); // or such usernames are refused outright
        expectPair(await s.post(LOGIN, { login: '+919876543210', password: 'mango-lassi-2291' }), raviId);
      }
    });

    it('answers missing fields with 400 {"error": string}', async () => {
      expectErrorEnvelope(await s.post(LOGIN, {}), 400);
      assert.match(expectErrorEnvelope(await s.post(LOGIN, { password: 'mango-lassi-2291' }), 400), /login/);
      // The field is `login`, not `username`.
      assert.match(expectErrorEnvelope(await s.post(LOGIN, { username: 'ravi', password: 'mango-lassi-2291' }), 400), /login/);
    });
  });

  describe('POST /api/token/', () => {
    it('answers the document example with 200 {refresh, access}', async () => {
      const { access } = expectPair(await s.post(TOKEN, { username: 'user', password: 'pass' }), uId);
      await accessWorks(access, uId);
    });

    it('answers bad credentials with the document error, as 401', async () => {
      expectExact(await s.post(TOKEN, { username: 'user', password: 'wrong' }), 401, BAD_CREDENTIALS);
      expectExact(await s.post(TOKEN, { username: 'ghost', password: 'pass' }), 401, BAD_CREDENTIALS);
    });

    it('answers missing fields with 400 {"error": string}', async () => {
      assert.match(expectErrorEnvelope(await s.post(TOKEN, { username: 'user' }), 400), /password/);
    });
  });

  describe('POST /api/token/refresh/', () => {
    it('answers the document example with {access} only, and the access token works', async () => {
      const { refresh } = expectPair(await s.post(TOKEN, { username: 'user', password: 'pass' }), uId);
      const access = expectAccessOnly(await s.post(REFRESH, { refresh }), uId);
      await accessWorks(access, uId);
      expectAccessOnly(await s.post(REFRESH, { refresh }), uId); // no rotation
    });

    it('answers a bad or wrong-type token with 401 {"error": string}', async () => {
      expectErrorEnvelope(await s.post(REFRESH, { refresh: 'refresh_token' }), 401);
      const { access } = expectPair(await s.post(TOKEN, { username: 'user', password: 'pass' }), uId);
      expectErrorEnvelope(await s.post(REFRESH, { refresh: access }), 401);
    });

    it('answers a missing refresh with 400 {"error": string}', async () => {
      assert.match(expectErrorEnvelope(await s.post(REFRESH, {}), 400), /refresh/);
    });
  });
});
