// Preset `dj-rest-auth` (issue 16): dj-rest-auth 7.1.1's JWT mode with the tokens in the body, on every
// database: every route's success body and its error bodies exactly (DRF's field errors, dj-rest-auth's and
// Django's wording), the password reset over real SMTP with the link in the mail followed, and the login
// response shapes (the pair with the user, with the tokens' expiry) on a route of their own.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { PRESETS } from '../../src/presets/index.js';
import type { Preset } from '../../src/presets/types.js';
import { freePort, linkOf, mailEnv } from '../account-life-support.js';
import { claimsOf, DIALECTS, startServer, type TestServer } from '../helpers.js';
import { smtpServer, type TestSmtp } from '../mail/helpers.js';
import { body, expectExact, expectToken, FORM, form } from './expect.js';

const PASSWORD = 'quartz-lantern-8812';
const NEW_PASSWORD = 'harbour-violet-5531';
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

const recipients = (m: ParsedMail) => (Array.isArray(m.to) ? m.to : [m.to!]).flatMap((a) => a.value.map((v) => v.address));

/** An ISO expiry names exactly the token's `exp`. */
function expectExpiry(iso: unknown, token: string): void {
  assert.match(String(iso), ISO_UTC);
  assert.equal(Date.parse(String(iso)) / 1000, claimsOf(token).exp);
}

for (const dialect of DIALECTS) {
  describe(`preset dj-rest-auth (${dialect})`, () => {
    let s: TestServer;
    let smtp: TestSmtp;
    let seen = 0;
    const next = async () => {
      const all = await smtp.waitFor(seen + 1);
      return all[seen++]!;
    };
    const noMore = async () => {
      await s.service.settled();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.received.length, seen, `unexpected mail to ${smtp.received.slice(seen).map(recipients).join(', ')}`);
    };
    const send = (method: 'POST' | 'PUT' | 'PATCH' | 'GET', url: string, payload?: unknown, token?: string) =>
      s.request({
        method,
        url,
        ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    const post = (url: string, payload?: unknown, token?: string) => send('POST', `/dj-rest-auth/${url}`, payload, token);
    const login = async (username: string, password = PASSWORD) => {
      const r = await post('login/', { username, password });
      assert.equal(r.statusCode, 200, r.body);
      return body(r) as { access: string; refresh: string; user: Record<string, unknown> };
    };

    before(async () => {
      smtp = smtpServer(await freePort());
      await smtp.start();
      s = await startServer({
        dialect,
        env: {
          LATCHKEY_PRESETS: 'dj-rest-auth',
          ...mailEnv(smtp.port),
        },
      });
    });
    after(async () => {
      await s?.close();
      await smtp?.stop();
    });

    it('login/: by username or by email, the pair and the user, in that order; with or without the slash', async () => {
      const { id } = await s.user({ username: 'ada', password: PASSWORD, email: 'ada@example.com' });
      const r = await post('login/', { username: 'ada', password: PASSWORD });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers.allow, 'POST, OPTIONS');
      const b = body(r);
      assert.deepEqual(Object.keys(b), ['access', 'refresh', 'user']);
      assert.deepEqual(b.user, { pk: id, username: 'ada', email: 'ada@example.com', first_name: '', last_name: '' });
      expectToken(b.access as string, 'access', id);
      expectToken(b.refresh as string, 'refresh', id);

      const byEmail = body(await post('login/', { email: 'ada@example.com', password: PASSWORD }));
      assert.deepEqual(byEmail.user, b.user);
      expectToken(byEmail.access as string, 'access', id);
      // The email wins over the username when both are given (allauth's username_email).
      expectExact(await post('login/', { username: 'nobody', email: 'ada@example.com', password: 'wrong-one-1' }), 400, {
        non_field_errors: ['Unable to log in with provided credentials.'],
      });
      const form_ = await s.request({
        method: 'POST',
        url: '/dj-rest-auth/login',
        payload: form({ username: 'ada', password: PASSWORD }),
        headers: FORM,
      });
      assert.equal(form_.statusCode, 200, form_.body);
      assert.deepEqual(body(form_).user, b.user);
    });

    it('login/: a wrong password, an unknown or inactive user are one 400 non-field error; field errors as DRF gives them', async () => {
      const { id } = await s.user({ username: 'bea', password: PASSWORD, email: 'bea@example.com' });
      const bad = { non_field_errors: ['Unable to log in with provided credentials.'] };
      expectExact(await post('login/', { username: 'bea', password: 'not-her-password' }), 400, bad);
      expectExact(await post('login/', { username: 'nobody-here', password: PASSWORD }), 400, bad);
      expectExact(await post('login/', { email: 'nobody@example.com', password: PASSWORD }), 400, bad);
      await s.storage.updateUser(id, { is_active: false });
      expectExact(await post('login/', { username: 'bea', password: PASSWORD }), 400, bad);

      expectExact(await post('login/', { password: PASSWORD }), 400, {
        non_field_errors: ['Must include either "username" or "email" and "password".'],
      });
      expectExact(await post('login/', { username: '', email: '', password: PASSWORD }), 400, {
        non_field_errors: ['Must include either "username" or "email" and "password".'],
      });
      expectExact(await post('login/', { username: 'bea' }), 400, { password: ['This field is required.'] });
      expectExact(await post('login/', { email: 'not-an-address', password: '' }), 400, {
        email: ['Enter a valid email address.'],
        password: ['This field may not be blank.'],
      });
      expectExact(await post('login/', ['a list']), 400, { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] });
      expectExact(await send('GET', '/dj-rest-auth/login/'), 405, { detail: 'Method "GET" not allowed.' });
    });

    it('logout/: blacklists the refresh token in the body; a missing or dead one is a 401 without a code; no GET', async () => {
      await s.user({ username: 'cyd', password: PASSWORD });
      const { refresh, access } = await login('cyd');
      expectExact(await post('logout/', { refresh }), 200, { detail: 'Successfully logged out.' });
      // The refresh token is dead; the access token lives until it expires, as in SimpleJWT.
      expectExact(await post('token/refresh/', { refresh }), 401, { detail: 'Token is blacklisted', code: 'token_not_valid' });
      expectExact(await post('logout/', { refresh }), 401, { detail: 'Token is blacklisted' });
      expectExact(await post('logout/', { refresh: access }), 401, { detail: 'Token has wrong type' });
      expectExact(await post('logout/', { refresh: 'not-a-token' }), 401, { detail: 'Token is invalid or expired' });
      expectExact(await post('logout/', {}), 401, { detail: 'Refresh token was not included in request data.' });
      expectExact(await post('logout', {}), 401, { detail: 'Refresh token was not included in request data.' });
      const get = await send('GET', '/dj-rest-auth/logout/');
      expectExact(get, 405, { detail: 'Method "GET" not allowed.' });
      assert.equal(get.headers.allow, 'POST, OPTIONS');
    });

    it('user/: GET, PUT and PATCH of username and names; pk and email read-only; 401 without a token', async () => {
      const { id } = await s.user({ username: 'dot', password: PASSWORD, email: 'dot@example.com' });
      await s.user({ username: 'eve', password: PASSWORD });
      const { access } = await login('dot');
      const me = { pk: id, username: 'dot', email: 'dot@example.com', first_name: '', last_name: '' };
      const got = await send('GET', '/dj-rest-auth/user/', undefined, access);
      expectExact(got, 200, me);
      assert.equal(got.headers.allow, 'GET, PUT, PATCH, HEAD, OPTIONS');
      expectExact(await send('GET', '/dj-rest-auth/user/'), 401, { detail: 'Authentication credentials were not provided.' });
      expectExact(await send('PATCH', '/dj-rest-auth/user/', { first_name: 'Dorothy' }), 401, {
        detail: 'Authentication credentials were not provided.',
      });

      const patched = { ...me, first_name: 'Dorothy' };
      expectExact(
        await send('PATCH', '/dj-rest-auth/user/', { first_name: 'Dorothy', email: 'x@example.com', pk: 99 }, access),
        200,
        patched,
      );
      expectExact(await send('PUT', '/dj-rest-auth/user/', { first_name: 'Dora' }, access), 400, { username: ['This field is required.'] });
      // Keeping one's own username is no collision; taking another's is.
      expectExact(await send('PUT', '/dj-rest-auth/user/', { username: 'dot', last_name: 'Lane' }, access), 200, {
        ...patched,
        last_name: 'Lane',
      });
      expectExact(await send('PATCH', '/dj-rest-auth/user/', { username: 'eve' }, access), 400, {
        username: ['A user with that username already exists.'],
      });
      expectExact(await send('PATCH', '/dj-rest-auth/user/', { username: 'dot lane', first_name: 'x'.repeat(151) }, access), 400, {
        username: ['Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.'],
        first_name: ['Ensure this field has no more than 150 characters.'],
      });
      expectExact(await send('PATCH', '/dj-rest-auth/user/', { username: 'dotty' }, access), 200, {
        ...patched,
        username: 'dotty',
        last_name: 'Lane',
      });
      expectExact(await send('GET', '/dj-rest-auth/user', undefined, access), 200, { ...patched, username: 'dotty', last_name: 'Lane' });
      assert.equal((await login('dotty')).user.pk, id);
    });

    it('password/change/: new_password1 and new_password2 with Django\u2019s wording; the session goes on', async () => {
      await s.user({ username: 'fay', password: PASSWORD, email: 'fay@example.com' });
      const { access, refresh } = await login('fay');
      const change = (b: unknown) => post('password/change/', b, access);
      expectExact(await post('password/change/', { new_password1: NEW_PASSWORD, new_password2: NEW_PASSWORD }), 401, {
        detail: 'Authentication credentials were not provided.',
      });
      expectExact(await change({}), 400, { new_password1: ['This field is required.'], new_password2: ['This field is required.'] });
      expectExact(await change({ new_password1: NEW_PASSWORD, new_password2: `${NEW_PASSWORD}x` }), 400, {
        new_password2: ['The two password fields didn\u2019t match.'],
      });
      expectExact(await change({ new_password1: '12345678', new_password2: '12345678' }), 400, {
        new_password2: ['This password is too common.', 'This password is entirely numeric.'],
      });
      expectExact(await change({ new_password1: 'fay@example', new_password2: 'fay@example' }), 400, {
        new_password2: ['The password is too similar to the email address.'],
      });
      expectExact(await change({ new_password1: 'x'.repeat(129), new_password2: NEW_PASSWORD }), 400, {
        new_password1: ['Ensure this field has no more than 128 characters.'],
      });
      expectExact(await change({ new_password1: NEW_PASSWORD, new_password2: NEW_PASSWORD }), 200, {
        detail: 'New password has been saved.',
      });
      expectExact(await post('login/', { username: 'fay', password: PASSWORD }), 400, {
        non_field_errors: ['Unable to log in with provided credentials.'],
      });
      await login('fay', NEW_PASSWORD);
      // LOGOUT_ON_PASSWORD_CHANGE is off: the tokens held stay good.
      assert.equal((await send('GET', '/dj-rest-auth/user/', undefined, access)).statusCode, 200);
      assert.equal((await post('token/refresh/', { refresh })).statusCode, 200);
    });

    it('password/reset/ and reset/confirm/: a link by real SMTP, dj-rest-auth\u2019s answers, the link works once', async () => {
      const { id } = await s.user({ username: 'gil', password: PASSWORD, email: 'gil@example.com' });
      const before = await login('gil');
      const sent = { detail: 'Password reset e-mail has been sent.' };
      expectExact(await post('password/reset/', { email: 'gil@example.com' }), 200, sent);
      const mail = await next();
      assert.deepEqual(recipients(mail), ['gil@example.com']);
      const link = linkOf(mail, 'password/reset/confirm');
      assert.equal(Buffer.from(link.uid, 'base64url').toString(), String(id));
      // Any other address hears the same, and nothing is mailed.
      expectExact(await post('password/reset/', { email: 'nobody@example.com' }), 200, sent);
      await noMore();
      expectExact(await post('password/reset/', { email: 'not-an-address' }), 400, { email: ['Enter a valid email address.'] });
      expectExact(await post('password/reset/', {}), 400, { email: ['This field is required.'] });

      const confirm = (over: Record<string, string>) =>
        post('password/reset/confirm/', {
          uid: link.uid,
          token: link.token,
          new_password1: NEW_PASSWORD,
          new_password2: NEW_PASSWORD,
          ...over,
        });
      expectExact(await post('password/reset/confirm/', {}), 400, {
        new_password1: ['This field is required.'],
        new_password2: ['This field is required.'],
        uid: ['This field is required.'],
        token: ['This field is required.'],
      });
      expectExact(await confirm({ uid: 'OTk5OTk' }), 400, { uid: ['Invalid value'] });
      expectExact(await confirm({ token: 'cz5x1b-0123456789abcdef0123456789abcdef' }), 400, { token: ['Invalid value'] });
      expectExact(await confirm({ new_password2: 'something-else-77' }), 400, {
        new_password2: ['The two password fields didn\u2019t match.'],
      });
      expectExact(await confirm({ new_password1: 'gil', new_password2: 'gil' }), 400, {
        new_password2: [
          'The password is too similar to the username.',
          'This password is too short. It must contain at least 8 characters.',
        ],
      });
      expectExact(await confirm({}), 200, { detail: 'Password has been reset with the new password.' });
      expectExact(await confirm({}), 400, { token: ['Invalid value'] });
      await login('gil', NEW_PASSWORD);
      // The reset ends every earlier session.
      expectExact(await post('token/refresh/', { refresh: before.refresh }), 401, {
        detail: 'Token is blacklisted',
        code: 'token_not_valid',
      });
      await noMore();
    });

    it('token/verify/ and token/refresh/: SimpleJWT\u2019s answers, the refresh with the access token\u2019s expiry', async () => {
      const { id } = await s.user({ username: 'hal', password: PASSWORD });
      const { access, refresh } = await login('hal');
      expectExact(await post('token/verify/', { token: access }), 200, {});
      expectExact(await post('token/verify/', { token: refresh }), 200, {});
      expectExact(await post('token/verify/', { token: 'nope' }), 401, { detail: 'Token is invalid or expired', code: 'token_not_valid' });
      expectExact(await post('token/verify/', {}), 400, { token: ['This field is required.'] });

      const r = await post('token/refresh/', { refresh });
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r);
      assert.deepEqual(Object.keys(b), ['access', 'access_expiration']);
      expectToken(b.access as string, 'access', id);
      expectExpiry(b.access_expiration, b.access as string);
      const noSlash = await post('token/refresh', { refresh });
      assert.equal(noSlash.statusCode, 200, noSlash.body);
      const missing = { detail: 'No valid refresh token found.', code: 'token_not_valid' };
      expectExact(await post('token/refresh/', {}), 401, missing);
      expectExact(await post('token/refresh/', { refresh: '' }), 401, missing);
      expectExact(await post('token/refresh/', { refresh: access }), 401, { detail: 'Token has wrong type', code: 'token_not_valid' });
    });

    it('registration/: username, email, password1, password2; 201 with the pair and the user, signed in', async () => {
      await s.user({ username: 'ivy', password: PASSWORD });
      const reg = (b: unknown) => post('registration/', b);
      expectExact(await reg({}), 400, {
        username: ['This field is required.'],
        password1: ['This field is required.'],
        password2: ['This field is required.'],
      });
      expectExact(await reg({ username: 'ivy', email: '', password1: '123', password2: '123' }), 400, {
        username: ['A user with that username already exists.'],
        email: ['This field may not be blank.'],
        password1: [
          'This password is too short. It must contain at least 8 characters.',
          'This password is too common.',
          'This password is entirely numeric.',
        ],
      });
      expectExact(await reg({ username: 'jo', password1: NEW_PASSWORD, password2: PASSWORD }), 400, {
        non_field_errors: ["The two password fields didn't match."],
      });
      expectExact(await reg({ username: 'jonathan1', email: 'jon@example.com', password1: 'jonathan1x', password2: 'jonathan1x' }), 400, {
        non_field_errors: ['The password is too similar to the username.'],
      });
      const r = await reg({ username: 'jon', email: 'jon@example.com', password1: NEW_PASSWORD, password2: NEW_PASSWORD });
      assert.equal(r.statusCode, 201, r.body);
      const b = body(r);
      assert.deepEqual(Object.keys(b), ['access', 'refresh', 'user']);
      const user = b.user as { pk: number };
      assert.deepEqual(b.user, { pk: user.pk, username: 'jon', email: 'jon@example.com', first_name: '', last_name: '' });
      expectToken(b.access as string, 'access', user.pk);
      expectToken(b.refresh as string, 'refresh', user.pk);
      expectExact(await send('GET', '/dj-rest-auth/user/', undefined, b.access as string), 200, b.user);
      assert.equal((await login('jon', NEW_PASSWORD)).user.pk, user.pk);
      // Mounted as path(""): the slash is required.
      assert.equal((await post('registration', {})).statusCode, 404);
    });
  });
}

// A login route's answer shapes (issue 16): the pair with the user and/or the tokens' expiry, on a preset of
// this test's own (every built-in login answers the pair, or dj-rest-auth's pair and user).
describe('login response shapes', () => {
  const shapes: Preset = {
    id: 'test-login-shapes',
    document: 'test/presets/dj-rest-auth.test.ts',
    envelope: 'detail',
    rotate: true,
    routes: [
      { method: 'POST', url: '/shapes/pair/', op: 'login', loginField: 'username', lookup: 'username', summary: 'pair' },
      {
        method: 'POST',
        url: '/shapes/expiry/',
        op: 'login',
        loginField: 'username',
        lookup: 'username',
        withExpiration: true,
        summary: 'pair and expiry',
      },
      {
        method: 'POST',
        url: '/shapes/both/',
        op: 'login',
        loginField: 'email',
        lookup: 'email',
        withUser: true,
        withExpiration: true,
        summary: 'pair, user and expiry',
      },
      { method: 'POST', url: '/shapes/refresh/', op: 'refresh', tokenField: 'refresh', withExpiration: true, summary: 'refresh' },
    ],
  };
  let s: TestServer | undefined;
  before(async () => {
    PRESETS[shapes.id] = shapes;
    s = await startServer({ env: { LATCHKEY_PRESETS: shapes.id, LATCHKEY_REFRESH_TOKEN_LIFETIME: '3600' } });
  });
  after(async () => {
    delete PRESETS[shapes.id];
    await s?.close();
  });

  it('answers the pair, the pair with the expiry, or dj-rest-auth\u2019s pair, user and expiry; a rotated refresh gives both expiries', async () => {
    const { id } = await s!.user({ username: 'kit', password: PASSWORD, email: 'kit@example.com' });
    const pair = body(await s!.post('/shapes/pair/', { username: 'kit', password: PASSWORD }));
    assert.deepEqual(Object.keys(pair), ['refresh', 'access']);

    const expiry = body(await s!.post('/shapes/expiry/', { username: 'kit', password: PASSWORD }));
    assert.deepEqual(Object.keys(expiry), ['access', 'refresh', 'access_expiration', 'refresh_expiration']);
    expectExpiry(expiry.access_expiration, expiry.access as string);
    expectExpiry(expiry.refresh_expiration, expiry.refresh as string);

    const both = await s!.post('/shapes/both/', { email: 'kit@example.com', password: PASSWORD });
    assert.equal(both.statusCode, 200, both.body);
    const b = body(both);
    assert.deepEqual(Object.keys(b), ['access', 'refresh', 'user', 'access_expiration', 'refresh_expiration']);
    assert.deepEqual(b.user, { pk: id, username: 'kit', email: 'kit@example.com', first_name: '', last_name: '' });
    expectExpiry(b.access_expiration, b.access as string);
    expectExpiry(b.refresh_expiration, b.refresh as string);
    expectExact(await s!.post('/shapes/both/', { email: 'kit@example.com', password: 'wrong-password-1' }), 401, {
      detail: 'No active account found with the given credentials',
    });

    const rotated = body(await s!.post('/shapes/refresh/', { refresh: b.refresh }));
    assert.deepEqual(Object.keys(rotated), ['access', 'refresh', 'access_expiration', 'refresh_expiration']);
    expectExpiry(rotated.access_expiration, rotated.access as string);
    expectExpiry(rotated.refresh_expiration, rotated.refresh as string);
  });
});
