// The `account` preset (issue 7): a signed-in user's profile, password and
// sessions, in DRF's shape, on every dialect. The scenario the issue asks for
// comes first: two clients sign in, the sessions are listed, one is revoked;
// the revoked client can no longer refresh, and the other still can.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { claimsOf, DIALECTS, startServer, type TestServer } from './helpers.js';
import { body, expect401, expectExact, expectToken } from './presets/expect.js';

const PASSWORD = 'correct-horse-battery-1';
const T0 = 1_800_000_000;

interface Pair {
  access: string;
  refresh: string;
}

interface Session {
  id: number;
  created_at: string;
  last_used_at: string;
  user_agent: string;
  ip_address: string;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');

/** A request from one client: its own address and User-Agent, and its access token if any. */
function as(s: TestServer, client: { address?: string; userAgent?: string; access?: string }) {
  return (method: InjectOptions['method'], url: string, payload?: unknown): Promise<LightMyRequestResponse> =>
    s.request({
      method,
      url,
      remoteAddress: client.address ?? '127.0.0.1',
      headers: {
        ...(client.userAgent ? { 'user-agent': client.userAgent } : {}),
        ...(client.access ? { authorization: `Bearer ${client.access}` } : {}),
      },
      ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }),
    });
}

async function signIn(
  s: TestServer,
  username: string,
  client: { address?: string; userAgent?: string } = {},
  password = PASSWORD,
): Promise<Pair> {
  const r = await as(s, client)('POST', '/api/token/', { username, password });
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as Pair;
}

const sessionsOf = async (s: TestServer, access: string): Promise<Session[]> => {
  const r = await s.get('/api/account/sessions/', access);
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as Session[];
};

const refreshWith = (s: TestServer, refresh: string, url = '/api/token/refresh/') => s.post(url, { refresh });

function expectBlacklisted(r: LightMyRequestResponse, label: string): void {
  assert.equal(r.statusCode, 401, `${label}: ${r.statusCode} ${r.body}`);
  assert.deepEqual(r.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' }, label);
}

for (const dialect of DIALECTS) {
  describe(`account: sessions (${dialect}, default presets, frozen clock)`, () => {
    let s: TestServer;
    let now = T0;
    before(async () => {
      s = await startServer({ dialect, now: () => now });
    });
    after(() => s.close());

    it('two clients sign in, the sessions are listed, one is revoked: it can no longer refresh, the other still can', async () => {
      now = T0;
      const { id: userId } = await s.user({ username: 'alice', password: PASSWORD });
      const laptop = await signIn(s, 'alice', { address: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' });
      now = T0 + 30;
      const phone = await signIn(s, 'alice', { address: '198.51.100.23', userAgent: 'latchkey-ios/2.1' });

      now = T0 + 60;
      assert.equal((await refreshWith(s, laptop.refresh)).statusCode, 200, 'a refresh is a use of the laptop session');

      const sessions = await sessionsOf(s, phone.access);
      assert.deepEqual(
        sessions.map(({ id: _id, ...rest }) => rest),
        [
          {
            created_at: iso(T0),
            last_used_at: iso(T0 + 60),
            user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
            ip_address: '203.0.113.7',
          },
          { created_at: iso(T0 + 30), last_used_at: iso(T0 + 30), user_agent: 'latchkey-ios/2.1', ip_address: '198.51.100.23' },
        ],
      );
      for (const session of sessions) {
        assert.deepEqual(Object.keys(session), ['id', 'created_at', 'last_used_at', 'user_agent', 'ip_address']);
        assert.equal(typeof session.id, 'number');
      }
      // The id is the session's own, never a refresh token's jti.
      const jtis = [laptop.refresh, phone.refresh].map((t) => String(claimsOf(t).jti));
      const listed = JSON.stringify(sessions);
      for (const jti of jtis) assert.ok(!listed.includes(jti), 'no jti in the session list');

      // The phone signs the laptop out.
      now = T0 + 90;
      const laptopSession = sessions[0]!;
      const del = await s.request({
        method: 'DELETE',
        url: `/api/account/sessions/${laptopSession.id}/`,
        headers: { authorization: `Bearer ${phone.access}` },
      });
      assert.equal(del.statusCode, 204, del.body);
      assert.equal(del.body, '');

      expectBlacklisted(await refreshWith(s, laptop.refresh), 'the revoked laptop refreshes');
      const still = await refreshWith(s, phone.refresh);
      assert.equal(still.statusCode, 200, still.body);
      assert.equal(claimsOf((still.json() as { access: string }).access).user_id, userId);
      assert.deepEqual(
        (await sessionsOf(s, phone.access)).map((x) => x.user_agent),
        ['latchkey-ios/2.1'],
        'only the phone is left',
      );
      // Revoking it again, or any id that names nothing: 404.
      for (const id of [String(laptopSession.id), '999999', 'abc', '0', '-1', '1.5']) {
        expectExact(
          await s.request({ method: 'DELETE', url: `/api/account/sessions/${id}/`, headers: { authorization: `Bearer ${phone.access}` } }),
          404,
          { detail: 'Not found.' },
        );
      }
    });

    it("another user's session is not found, and is left alone", async () => {
      now = T0 + 1000;
      await s.user({ username: 'bob', password: PASSWORD });
      await s.user({ username: 'mallory', password: PASSWORD });
      const bob = await signIn(s, 'bob');
      const mallory = await signIn(s, 'mallory');
      const [bobs] = await sessionsOf(s, bob.access);
      assert.ok(bobs);
      assert.deepEqual((await sessionsOf(s, mallory.access)).length, 1, 'mallory sees only her own');
      expectExact(
        await s.request({
          method: 'DELETE',
          url: `/api/account/sessions/${bobs.id}/`,
          headers: { authorization: `Bearer ${mallory.access}` },
        }),
        404,
        { detail: 'Not found.' },
      );
      assert.equal((await refreshWith(s, bob.refresh)).statusCode, 200);
      assert.deepEqual(
        (await sessionsOf(s, bob.access)).map((x) => x.id),
        [bobs.id],
      );
    });

    it('logout-all revokes every session of the user and refuses their earlier access tokens', async () => {
      now = T0 + 2000;
      await s.user({ username: 'carol', password: PASSWORD });
      await s.user({ username: 'dave', password: PASSWORD });
      const one = await signIn(s, 'carol');
      const two = await signIn(s, 'carol');
      const dave = await signIn(s, 'dave');
      now += 10;
      const r = await s.post('/api/account/logout-all/', undefined, { authorization: `Bearer ${one.access}` });
      expectExact(r, 200, { detail: 'Successfully logged out of all sessions.' });
      now += 1;
      expectBlacklisted(await refreshWith(s, one.refresh), 'first session');
      expectBlacklisted(await refreshWith(s, two.refresh), 'second session');
      expect401(await s.get('/api/account/sessions/', two.access));
      expect401(await s.get('/api/protected-endpoint/', one.access));
      assert.equal((await refreshWith(s, dave.refresh)).statusCode, 200, 'other users keep theirs');
      const again = await signIn(s, 'carol');
      assert.equal((await sessionsOf(s, again.access)).length, 1, 'a new login is a new session');
    });

    it('a SimpleJWT-minted refresh token, refreshed here, becomes a session the user can see and revoke', async () => {
      now = T0 + 3000;
      const { id } = await s.user({ username: 'erin', password: PASSWORD });
      // A refresh token this server never recorded, as one minted before a cut-over.
      const foreign = s.service.tokens.refresh(id, now - 100, now + 86_400);
      now += 5;
      assert.equal((await refreshWith(s, foreign.token)).statusCode, 200);
      const own = await signIn(s, 'erin');
      const sessions = await sessionsOf(s, own.access);
      assert.equal(sessions.length, 2);
      const imported = sessions.find((x) => x.user_agent === '')!;
      assert.deepEqual(
        { ...imported, id: 0 },
        { id: 0, created_at: iso(now - 105), last_used_at: iso(now), user_agent: '', ip_address: '' },
      );
      const del = await s.request({
        method: 'DELETE',
        url: `/api/account/sessions/${imported.id}/`,
        headers: { authorization: `Bearer ${own.access}` },
      });
      assert.equal(del.statusCode, 204);
      expectBlacklisted(await refreshWith(s, foreign.token), 'the revoked foreign token');
    });
  });

  describe(`account: sessions with rotation (${dialect}, auth-root + account)`, () => {
    let s: TestServer;
    let now = T0;
    before(async () => {
      s = await startServer({ dialect, now: () => now, env: { LATCHKEY_PRESETS: 'auth-root,account' } });
    });
    after(() => s.close());

    it('a rotating login stays one session, its last use moves, and revoking it kills its newest token', async () => {
      await s.user({ username: 'alice', password: PASSWORD });
      const login = await as(s, { userAgent: 'rotating-client' })('POST', '/auth/token', { username: 'alice', password: PASSWORD });
      const first = login.json() as Pair;
      const other = (
        await as(s, { userAgent: 'other-client' })('POST', '/auth/token', { username: 'alice', password: PASSWORD })
      ).json() as Pair;
      let refresh = first.refresh;
      for (let i = 1; i <= 3; i++) {
        now = T0 + 60 * i;
        const r = await refreshWith(s, refresh, '/auth/token/refresh');
        assert.equal(r.statusCode, 200, r.body);
        refresh = (r.json() as Pair).refresh;
      }
      const sessions = await sessionsOf(s, other.access);
      assert.equal(sessions.length, 2, 'one session per login, however often it rotates');
      const rotating = sessions.find((x) => x.user_agent === 'rotating-client')!;
      assert.equal(rotating.created_at, iso(T0));
      assert.equal(rotating.last_used_at, iso(T0 + 180));
      assert.equal(sessions[0]!.id, rotating.id, 'the most recently used first');

      const del = await s.request({
        method: 'DELETE',
        url: `/api/account/sessions/${rotating.id}/`,
        headers: { authorization: `Bearer ${other.access}` },
      });
      assert.equal(del.statusCode, 204, del.body);
      expectBlacklisted(await refreshWith(s, refresh, '/auth/token/refresh'), 'the newest token of the revoked family');
      assert.equal((await refreshWith(s, other.refresh, '/auth/token/refresh')).statusCode, 200);
    });
  });

  describe(`account: profile (${dialect})`, () => {
    let s: TestServer;
    let aliceId: number;
    let access: string;
    const patch = (payload: unknown, token = access) =>
      s.request({
        method: 'PATCH',
        url: '/api/account/me/',
        payload: payload as InjectOptions['payload'],
        headers: { authorization: `Bearer ${token}` },
      });
    before(async () => {
      s = await startServer({ dialect });
      ({ id: aliceId } = await s.user({ username: 'alice', password: PASSWORD, email: 'alice@example.com' }));
      await s.user({ username: 'bob', password: PASSWORD, phone_number: '+14155550100' });
      ({ access } = await signIn(s, 'alice'));
    });
    after(() => s.close());

    it('GET answers the SPEC §4 fields, never the password', async () => {
      const r = await s.get('/api/account/me/', access);
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r);
      const user = (await s.storage.getUserById(aliceId))!;
      assert.deepEqual(b, {
        id: aliceId,
        username: 'alice',
        email: 'alice@example.com',
        phone_number: null,
        first_name: '',
        last_name: '',
        address: '',
        postal_code: '',
        birthdate: null,
        profile_image: null,
        is_active: true,
        is_staff: false,
        is_superuser: false,
        date_joined: iso(user.date_joined),
        last_login: iso(user.last_login!),
      });
      assert.ok(!r.body.includes('argon2') && !r.body.includes('password') && !r.body.includes('tokens_valid_after'));
    });

    it('PATCH changes the editable fields and answers the whole profile', async () => {
      const r = await patch({
        email: 'alice@new.example.com',
        phone_number: '+919876543210',
        first_name: '  Alice ',
        last_name: 'Liddell',
        address: '12 MG Road, Bengaluru',
        postal_code: 560001,
        birthdate: '1990-05-17',
        profile_image: 'https://cdn.example.com/alice.png',
      });
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r);
      assert.equal(b.email, 'alice@new.example.com');
      assert.equal(b.phone_number, '+919876543210');
      assert.equal(b.first_name, 'Alice', 'trimmed, as DRF trims');
      assert.equal(b.last_name, 'Liddell');
      assert.equal(b.address, '12 MG Road, Bengaluru');
      assert.equal(b.postal_code, '560001');
      assert.equal(b.birthdate, '1990-05-17');
      assert.equal(b.profile_image, 'https://cdn.example.com/alice.png');
      assert.deepEqual(body(await s.get('/api/account/me/', access)), b, 'stored');
      // The new phone number logs in where phone logins exist, and is unique.
      assert.equal((await s.storage.getUserByPhone('+919876543210'))?.id, aliceId);
    });

    it('PATCH ignores the privileged fields, as DRF ignores read-only ones', async () => {
      const before = body(await s.get('/api/account/me/', access));
      const r = await patch({
        id: 999,
        username: 'root',
        is_active: false,
        is_staff: true,
        is_superuser: true,
        date_joined: '2000-01-01T00:00:00Z',
        last_login: null,
        password: 'Hijacked-Password-1',
        tokens_valid_after: 0,
        last_name: 'Pleasance',
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(body(r), { ...before, last_name: 'Pleasance' });
      const stored = (await s.storage.getUserById(aliceId))!;
      assert.equal(stored.is_staff, false);
      assert.equal(stored.is_superuser, false);
      assert.equal(stored.username, 'alice');
      assert.equal(await s.storage.getUserById(999), undefined);
      assert.equal(await s.service.hasher.verify(stored.password, PASSWORD), true, 'the password is not set by PATCH');
    });

    it('PATCH with null or blank clears the nullable fields', async () => {
      const r = await patch({ phone_number: null, birthdate: '', profile_image: null });
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r);
      assert.equal(b.phone_number, null);
      assert.equal(b.birthdate, null);
      assert.equal(b.profile_image, null);
      assert.equal(await s.storage.getUserByPhone('+919876543210'), undefined);
    });

    it('PATCH with an empty body changes nothing', async () => {
      const before = body(await s.get('/api/account/me/', access));
      assert.deepEqual(body(await patch({})), before);
      const bare = await s.request({ method: 'PATCH', url: '/api/account/me/', headers: { authorization: `Bearer ${access}` } });
      assert.deepEqual(body(bare), before);
    });

    it('PATCH validates as registration does, answers DRF field errors, and changes nothing', async () => {
      const before = await s.storage.getUserById(aliceId);
      const cases: [unknown, Record<string, string[]>][] = [
        [{ email: 'not-an-email' }, { email: ['Enter a valid email address.'] }],
        [{ phone_number: '12345' }, { phone_number: ['Enter a valid phone number in E.164 format, such as +919876543210.'] }],
        [{ phone_number: '+14155550100' }, { phone_number: ['A user with this phone number already exists.'] }],
        [{ phone_number: 'bob' }, { phone_number: ['Enter a valid phone number in E.164 format, such as +919876543210.'] }],
        [{ birthdate: '2999-01-01' }, { birthdate: ['Date of birth cannot be in the future.'] }],
        [{ birthdate: '1990-02-30' }, { birthdate: ['Date has wrong format. Use one of these formats instead: YYYY-MM-DD.'] }],
        [{ profile_image: 'javascript:alert(1)' }, { profile_image: ['Enter a valid URL.'] }],
        [{ first_name: null }, { first_name: ['This field may not be null.'] }],
        [{ first_name: 'x'.repeat(151) }, { first_name: ['Ensure this field has no more than 150 characters.'] }],
        [{ last_name: true }, { last_name: ['Not a valid string.'] }],
        [
          { email: 'bad', birthdate: '2999-01-01', first_name: 'Changed' },
          { email: ['Enter a valid email address.'], birthdate: ['Date of birth cannot be in the future.'] },
        ],
      ];
      for (const [payload, errors] of cases) expectExact(await patch(payload), 400, errors);
      assert.deepEqual(await s.storage.getUserById(aliceId), before);
    });

    it("a phone number that is another user's username is taken", async () => {
      await s.user({ username: '+14155550111', password: PASSWORD });
      expectExact(await patch({ phone_number: '+14155550111' }), 400, { phone_number: ['A user with this phone number already exists.'] });
    });

    it('keeping your own phone number is not a collision', async () => {
      assert.equal((await patch({ phone_number: '+14155550122' })).statusCode, 200);
      assert.equal((await patch({ phone_number: '+14155550122', first_name: 'A' })).statusCode, 200);
    });
  });

  describe(`account: password (${dialect}, frozen clock)`, () => {
    let s: TestServer;
    let now = T0;
    const NEW = 'Lantern-Harbour-42';
    const change = (access: string, payload: unknown) => s.post('/api/account/password/', payload, { authorization: `Bearer ${access}` });
    before(async () => {
      s = await startServer({ dialect, now: () => now });
      await s.user({ username: 'alice', password: PASSWORD, email: 'alice@example.com' });
    });
    after(() => s.close());

    it('refuses a wrong old password and a weak new one, with DRF field errors, and changes nothing', async () => {
      now = T0;
      const { access, refresh } = await signIn(s, 'alice');
      const before = await s.storage.getUserByUsername('alice');
      expectExact(await change(access, { old_password: 'wrong-password-1', new_password: NEW }), 400, {
        old_password: ['Your old password was entered incorrectly. Please enter it again.'],
      });
      expectExact(await change(access, { old_password: PASSWORD, new_password: 'Zq8#kd' }), 400, {
        new_password: ['This password is too short. It must contain at least 8 characters.'],
      });
      const common = await change(access, { old_password: PASSWORD, new_password: 'password123' });
      expectExact(common, 400, { new_password: ['This password is too common.'] });
      const both = body(await change(access, { old_password: 'nope', new_password: 'alice@example.com' }));
      assert.deepEqual(Object.keys(both), ['old_password', 'new_password']);
      expectExact(await change(access, { old_password: PASSWORD }), 400, { new_password: ['This field is required.'] });
      expectExact(await change(access, {}), 400, {
        old_password: ['This field is required.'],
        new_password: ['This field is required.'],
      });
      assert.deepEqual(await s.storage.getUserByUsername('alice'), before);
      assert.equal((await refreshWith(s, refresh)).statusCode, 200, 'sessions untouched');
    });

    it('a new password: every session is revoked, earlier access tokens refused, and the caller gets a fresh pair', async () => {
      now = T0 + 100;
      const mine = await signIn(s, 'alice', { userAgent: 'mine' });
      const other = await signIn(s, 'alice', { userAgent: 'other' });
      now = T0 + 110;
      const r = await as(s, { userAgent: 'mine', address: '192.0.2.1', access: mine.access })('POST', '/api/account/password/', {
        old_password: PASSWORD,
        new_password: NEW,
      });
      assert.equal(r.statusCode, 200, r.body);
      const b = body(r);
      assert.deepEqual(Object.keys(b).sort(), ['access', 'detail', 'refresh']);
      assert.equal(b.detail, 'New password has been saved.');
      const userId = claimsOf(mine.access).user_id as number;
      const fresh = { access: b.access as string, refresh: b.refresh as string };
      expectToken(fresh.access, 'access', userId);
      expectToken(fresh.refresh, 'refresh', userId);

      now = T0 + 120;
      expectBlacklisted(await refreshWith(s, other.refresh), 'the other session');
      expectBlacklisted(await refreshWith(s, mine.refresh), "the caller's old session");
      expect401(await s.get('/api/account/me/', mine.access));
      expect401(await s.get('/api/account/me/', other.access));
      assert.equal((await refreshWith(s, fresh.refresh)).statusCode, 200, 'the fresh pair works');
      const sessions = await sessionsOf(s, fresh.access);
      assert.deepEqual(
        sessions.map((x) => [x.user_agent, x.ip_address]),
        [['mine', '192.0.2.1']],
        'the fresh pair is a new session of the caller',
      );
      assert.equal((await s.post('/api/token/', { username: 'alice', password: PASSWORD })).statusCode, 401);
      await signIn(s, 'alice', {}, NEW);
    });

    it('passwords are taken exactly as typed: surrounding spaces are not trimmed', async () => {
      now = T0 + 200;
      const { access } = await signIn(s, 'alice', {}, NEW);
      expectExact(await change(access, { old_password: ` ${NEW} `, new_password: 'Quiet-Meadow-Fox-7' }), 400, {
        old_password: ['Your old password was entered incorrectly. Please enter it again.'],
      });
    });
  });

  describe(`account: wrong old passwords are throttled as failed logins (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ dialect, env: { LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '3/300' } });
      await s.user({ username: 'alice', password: PASSWORD });
    });
    after(() => s.close());

    it('past the account limit, the endpoint answers 429', async () => {
      const { access } = await signIn(s, 'alice');
      for (let i = 0; i < 3; i++) {
        const r = await s.post(
          '/api/account/password/',
          { old_password: `guess-${i}-xyz`, new_password: 'Lantern-Harbour-42' },
          { authorization: `Bearer ${access}` },
        );
        assert.equal(r.statusCode, 400, r.body);
      }
      const r = await s.post(
        '/api/account/password/',
        { old_password: PASSWORD, new_password: 'Lantern-Harbour-42' },
        { authorization: `Bearer ${access}` },
      );
      assert.equal(r.statusCode, 429, r.body);
      assert.ok(r.headers['retry-after']);
    });
  });
}

describe('account: authentication and methods (default presets)', () => {
  let s: TestServer;
  let access: string;
  let refresh: string;
  before(async () => {
    s = await startServer();
    await s.user({ username: 'alice', password: PASSWORD });
    ({ access, refresh } = await signIn(s, 'alice'));
  });
  after(() => s.close());

  const routes: [InjectOptions['method'], string][] = [
    ['GET', '/api/account/me/'],
    ['PATCH', '/api/account/me/'],
    ['POST', '/api/account/password/'],
    ['GET', '/api/account/sessions/'],
    ['DELETE', '/api/account/sessions/1/'],
    ['POST', '/api/account/logout-all/'],
  ];

  it('is mounted by default, next to simplejwt and api-auth', async () => {
    assert.equal((await s.get('/api/account/me/', access)).statusCode, 200);
    assert.equal((await s.post('/api/auth/login/', { username: 'alice', password: PASSWORD })).statusCode, 200);
  });

  it('every route answers 401 without credentials, as /api/protected-endpoint/ does', async () => {
    for (const [method, url] of routes) {
      expectExact(await s.request({ method, url }), 401, { detail: 'Authentication credentials were not provided.' });
    }
    const head = await s.request({ method: 'HEAD', url: '/api/account/sessions/' });
    assert.equal(head.statusCode, 401);
  });

  it('authenticates before it reads the body, as DRF does: a bad body without credentials is a 401', async () => {
    for (const payload of ['{"old_password": ', '[]']) {
      const r = await s.request({
        method: 'POST',
        url: '/api/account/password/',
        payload,
        headers: { 'content-type': 'application/json' },
      });
      expectExact(r, 401, { detail: 'Authentication credentials were not provided.' });
    }
    const r = await s.request({ method: 'PATCH', url: '/api/account/me/', payload: 'x', headers: { 'content-type': 'text/plain' } });
    expectExact(r, 401, { detail: 'Authentication credentials were not provided.' });
  });

  it('every route refuses a refresh token, a garbage token and a malformed header', async () => {
    for (const [method, url] of routes) {
      for (const authorization of [`Bearer ${refresh}`, 'Bearer not.a.token']) {
        const b = expect401(await s.request({ method, url, headers: { authorization } }));
        assert.equal(b.detail, 'Given token not valid for any token type', `${method} ${url}`);
        assert.equal(b.code, 'token_not_valid');
      }
      const b = expect401(await s.request({ method, url, headers: { authorization: 'Bearer a b' } }));
      assert.equal(b.code, 'bad_authorization_header');
    }
  });

  it('other methods: 405 with Allow when signed in, 401 first when not', async () => {
    const cases: [InjectOptions['method'], string, string][] = [
      ['PUT', '/api/account/me/', 'GET, HEAD, PATCH, OPTIONS'],
      ['GET', '/api/account/password/', 'POST, OPTIONS'],
      ['POST', '/api/account/sessions/', 'GET, HEAD, OPTIONS'],
      ['GET', '/api/account/sessions/1/', 'DELETE, OPTIONS'],
      ['GET', '/api/account/logout-all/', 'POST, OPTIONS'],
    ];
    for (const [method, url, allow] of cases) {
      const r = await s.request({ method, url, headers: { authorization: `Bearer ${access}` } });
      expectExact(r, 405, { detail: `Method "${method}" not allowed.` });
      assert.equal(r.headers.allow, allow, `${method} ${url}`);
      expectExact(await s.request({ method, url }), 401, { detail: 'Authentication credentials were not provided.' });
    }
  });

  it('a deactivated user is refused', async () => {
    await s.user({ username: 'zed', password: PASSWORD });
    const zed = await signIn(s, 'zed');
    await s.service.setActive((await s.storage.getUserByUsername('zed'))!.id, false);
    expect401(await s.get('/api/account/sessions/', zed.access));
  });
});
