// Custom claims (LATCHKEY_TOKEN_CLAIMS, a preset's `claims`) and SimpleJWT's
// claim settings (USER_ID_FIELD, USER_ID_CLAIM, TOKEN_TYPE_CLAIM, JTI_CLAIM),
// over HTTP on every dialect: what the tokens carry, that a refresh reads the
// claims again from the user, and that checking, revocation, the blacklist
// and sessions follow the claim names.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { loadConfig } from '../src/config.js';
import { mountPresets } from '../src/http/routes.js';
import { PRESETS, selectPresets } from '../src/presets/index.js';
import { checkPresetClaims } from '../src/users/claims.js';
import { claimsOf, DIALECTS, startServer, tempDir, type TestServer } from './helpers.js';

const PROTECTED = '/api/protected-endpoint/';
const pairOf = (res: { json(): unknown }) => res.json() as { access: string; refresh: string };

for (const dialect of DIALECTS) {
  describe(`custom claims (${dialect})`, () => {
    let s: TestServer | undefined;
    let id: number;
    before(async () => {
      s = await startServer({
        dialect,
        env: { LATCHKEY_TOKEN_CLAIMS: 'username,email,is_staff', LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' },
      });
      ({ id } = await s.user({ username: 'ada', password: 'pw-ada-12345', email: 'ada@example.com' }));
    });
    after(() => s?.close());

    it('are on both tokens of a login, after SimpleJWT’s claims, in the order given', async () => {
      const res = await s!.post('/api/token/', { username: 'ada', password: 'pw-ada-12345' });
      assert.equal(res.statusCode, 200, res.body);
      const { access, refresh } = pairOf(res);
      for (const [token, type] of [
        [refresh, 'refresh'],
        [access, 'access'],
      ] as const) {
        const c = claimsOf(token);
        assert.deepEqual(Object.keys(c), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'username', 'email', 'is_staff']);
        assert.equal(c.token_type, type);
        assert.equal(c.user_id, id);
        assert.equal(c.username, 'ada');
        assert.equal(c.email, 'ada@example.com');
        assert.equal(c.is_staff, false);
      }
      assert.equal((await s!.get(PROTECTED, access)).statusCode, 200);
    });

    it('are read again from the user on refresh: both new tokens carry the current values', async () => {
      const login = pairOf(await s!.post('/api/token/', { username: 'ada', password: 'pw-ada-12345' }));
      await s!.storage.updateUser(id, { email: 'ada@lovelace.org', is_staff: true });
      const res = await s!.post('/api/token/refresh/', { refresh: login.refresh });
      assert.equal(res.statusCode, 200, res.body);
      const next = pairOf(res);
      for (const token of [next.access, next.refresh]) {
        const c = claimsOf(token);
        assert.equal(c.email, 'ada@lovelace.org');
        assert.equal(c.is_staff, true);
        assert.equal(c.username, 'ada');
      }
      // The token presented still says what it said.
      assert.equal(claimsOf(login.refresh).email, 'ada@example.com');
      await s!.storage.updateUser(id, { email: 'ada@example.com', is_staff: false });
    });

    it('a refresh that does not look at the user (SimpleJWT’s own) copies them from the token when the user is gone', async () => {
      const u = await s!.user({ username: 'gone', password: 'pw-gone-12345', email: 'gone@example.com' });
      const login = pairOf(await s!.post('/api/token/', { username: 'gone', password: 'pw-gone-12345' }));
      assert.ok(await s!.storage.deleteUser(u.id));
      const refused = await s!.post('/api/token/refresh/', { refresh: login.refresh });
      assert.deepEqual(refused.json(), { detail: 'User not found', code: 'user_not_found' });
      const { access } = await s!.service.refresh(login.refresh, { rotate: false, checkUser: false });
      const c = claimsOf(access);
      assert.deepEqual([c.user_id, c.username, c.email, c.is_staff], [u.id, 'gone', 'gone@example.com', false]);
    });

    it('a preset’s claims replace the setting’s on its routes', async () => {
      const app = Fastify({ logger: false });
      try {
        mountPresets(app, [{ ...PRESETS.simplejwt!, id: 'mine', claims: ['first_name', 'is_superuser'] }], s!.service);
        await s!.storage.updateUser(id, { first_name: 'Ada' });
        const res = await app.inject({ method: 'POST', url: '/api/token/', payload: { username: 'ada', password: 'pw-ada-12345' } });
        assert.equal(res.statusCode, 200, res.body);
        const { access, refresh } = res.json<{ access: string; refresh: string }>();
        for (const token of [access, refresh]) {
          const c = claimsOf(token);
          assert.deepEqual(Object.keys(c), ['token_type', 'exp', 'iat', 'jti', 'user_id', 'first_name', 'is_superuser']);
          assert.equal(c.first_name, 'Ada');
          assert.equal(c.is_superuser, false);
        }
        const r = await app.inject({ method: 'POST', url: '/api/token/refresh/', payload: { refresh } });
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(claimsOf(r.json<{ access: string }>().access).first_name, 'Ada');
        assert.equal(claimsOf(r.json<{ access: string }>().access).email, undefined);
      } finally {
        await app.close();
      }
    });
  });

  describe(`SimpleJWT's claim names (${dialect})`, () => {
    let s: TestServer | undefined;
    let id: number;
    const env = { LATCHKEY_USER_ID_CLAIM: 'uid', LATCHKEY_TOKEN_TYPE_CLAIM: 'typ', LATCHKEY_JTI_CLAIM: 'token_id' };
    before(async () => {
      s = await startServer({ dialect, env: { ...env, LATCHKEY_PRESETS: 'simplejwt,account' } });
      ({ id } = await s.user({ username: 'bob', password: 'pw-bob-12345' }));
    });
    after(() => s?.close());
    const login = async () => pairOf(await s!.post('/api/token/', { username: 'bob', password: 'pw-bob-12345' }));

    it('the tokens carry the user, the type and the id under the names given, and work', async () => {
      const { access, refresh } = await login();
      assert.deepEqual(Object.keys(claimsOf(access)), ['typ', 'exp', 'iat', 'token_id', 'uid']);
      assert.equal(claimsOf(access).typ, 'access');
      assert.equal(claimsOf(refresh).typ, 'refresh');
      assert.equal(claimsOf(access).uid, id);
      assert.equal((await s!.get(PROTECTED, access)).statusCode, 200);
      assert.equal((await s!.post('/api/token/verify/', { token: refresh })).statusCode, 200);
      const r = await s!.post('/api/token/refresh/', { refresh });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(claimsOf(pairOf(r).access).uid, id);
    });

    it('a token with the default names is refused, as SimpleJWT with these settings refuses it', async () => {
      const { access } = await login();
      // Same signer, default names: mint one through a server with default settings on the same key.
      const plain = await startServer({ dialect });
      try {
        await plain.user({ username: 'bob', password: 'pw-bob-12345' });
        const other = pairOf(await plain.post('/api/token/', { username: 'bob', password: 'pw-bob-12345' }));
        const res = await s!.get(PROTECTED, other.access);
        assert.equal(res.statusCode, 401);
        assert.deepEqual(res.json(), {
          detail: 'Given token not valid for any token type',
          code: 'token_not_valid',
          messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has no type' }],
        });
        // And this server's token there.
        assert.equal((await plain.get(PROTECTED, access)).statusCode, 401);
      } finally {
        await plain.close();
      }
    });

    it('blacklist, sessions and revocation follow the jti claim', async () => {
      const a = await login();
      const sessions = await s!.get('/api/account/sessions/', a.access);
      assert.equal(sessions.statusCode, 200, sessions.body);
      assert.ok((sessions.json() as unknown[]).length >= 1);
      const bl = await s!.post('/api/token/blacklist/', { refresh: a.refresh });
      assert.equal(bl.statusCode, 200, bl.body);
      const again = await s!.post('/api/token/refresh/', { refresh: a.refresh });
      assert.equal(again.statusCode, 401);
      assert.deepEqual(again.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' });

      const b = await login();
      const out = await s!.post('/api/account/logout-all/', undefined, { authorization: `Bearer ${b.access}` });
      assert.ok(out.statusCode < 300, out.body);
      assert.equal((await s!.get(PROTECTED, b.access)).statusCode, 401);
      assert.equal((await s!.post('/api/token/refresh/', { refresh: b.refresh })).statusCode, 401);
      assert.equal((await s!.get(PROTECTED, (await login()).access)).statusCode, 200);
    });
  });

  describe(`USER_ID_FIELD username (${dialect})`, () => {
    let s: TestServer | undefined;
    let id: number;
    before(async () => {
      s = await startServer({ dialect, env: { LATCHKEY_USER_ID_FIELD: 'username', LATCHKEY_TOKEN_CLAIMS: 'id' } });
      ({ id } = await s.user({ username: 'carol', password: 'pw-carol-1234' }));
    });
    after(() => s?.close());

    it('the user claim carries the username, and the user is found by it', async () => {
      const { access, refresh } = pairOf(await s!.post('/api/token/', { username: 'carol', password: 'pw-carol-1234' }));
      assert.equal(claimsOf(access).user_id, 'carol');
      assert.equal(claimsOf(access).id, id);
      const me = await s!.get('/api/protected-endpoint/', access);
      assert.equal(me.statusCode, 200, me.body);
      const r = await s!.post('/api/token/refresh/', { refresh });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(claimsOf(pairOf(r).access).user_id, 'carol');
      assert.equal((await s!.get(PROTECTED, pairOf(r).access)).statusCode, 200);
    });

    it('a token naming a username nobody has is "User not found"; an inactive user "User is inactive"', async () => {
      const { access } = pairOf(await s!.post('/api/token/', { username: 'carol', password: 'pw-carol-1234' }));
      await s!.storage.updateUser(id, { username: 'carol2' });
      const gone = await s!.get(PROTECTED, access);
      assert.equal(gone.statusCode, 401);
      assert.deepEqual(gone.json(), { detail: 'User not found', code: 'user_not_found' });
      await s!.storage.updateUser(id, { username: 'carol', is_active: false });
      const inactive = await s!.get(PROTECTED, access);
      assert.deepEqual(inactive.json(), { detail: 'User is inactive', code: 'user_inactive' });
      await s!.storage.updateUser(id, { is_active: true });
    });
  });
}

describe('a preset file’s claims', () => {
  let s: TestServer | undefined;
  const dir = tempDir('latchkey-claims-preset-');
  const file = path.join(dir, 'mobile.json');
  const preset = (claims: unknown) => ({
    id: 'mobile',
    envelope: 'detail',
    rotate: false,
    claims,
    routes: [
      { method: 'POST', url: '/m/login/', op: 'login', loginField: 'username', lookup: 'username', summary: 'Log in' },
      { method: 'POST', url: '/m/slide/', op: 'login_sliding', loginField: 'username', lookup: 'username', summary: 'Log in (sliding)' },
    ],
  });
  after(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('are what its routes mint with, beside the built-in presets’ (the setting’s)', async () => {
    fs.writeFileSync(file, JSON.stringify(preset(['email', 'is_staff'])));
    s = await startServer({ env: { LATCHKEY_PRESETS: `simplejwt,${file}`, LATCHKEY_TOKEN_CLAIMS: 'username' } });
    await s.user({ username: 'dora', password: 'pw-dora-12345', email: 'dora@example.com' });
    const creds = { username: 'dora', password: 'pw-dora-12345' };
    const mine = claimsOf(pairOf(await s.post('/m/login/', creds)).access);
    assert.deepEqual([mine.email, mine.is_staff, mine.username], ['dora@example.com', false, undefined]);
    const sliding = claimsOf((await s.post('/m/slide/', creds)).json<{ token: string }>().token);
    assert.deepEqual([sliding.email, sliding.is_staff, sliding.username], ['dora@example.com', false, undefined]);
    const builtin = claimsOf(pairOf(await s.post('/api/token/', creds)).access);
    assert.deepEqual([builtin.username, builtin.email], ['dora', undefined]);
  });

  it('a field that is not a claim field stops startup with the file, the JSON path and the reason', () => {
    fs.writeFileSync(file, JSON.stringify(preset(['email', 'password'])));
    assert.throws(
      () => selectPresets([file]),
      (err: Error) => err.message.startsWith(`${file}: $.claims[1]: `),
    );
  });
});

describe('custom claims on dj-rest-auth’s form login and registration', () => {
  let s: TestServer | undefined;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'dj-rest-auth', LATCHKEY_TOKEN_CLAIMS: 'username,email' } });
    await s.user({ username: 'erin', password: 'pw-erin-12345', email: 'erin@example.com' });
  });
  after(() => s?.close());

  it('both mint with them', async () => {
    const login = await s!.post('/dj-rest-auth/login/', { username: 'erin', password: 'pw-erin-12345' });
    assert.equal(login.statusCode, 200, login.body);
    const c = claimsOf(pairOf(login).access);
    assert.deepEqual([c.username, c.email], ['erin', 'erin@example.com']);
    const reg = await s!.post('/dj-rest-auth/registration/', {
      username: 'frank',
      email: 'frank@example.com',
      password1: 'a-long-unusual-passphrase-9',
      password2: 'a-long-unusual-passphrase-9',
    });
    assert.equal(reg.statusCode, 201, reg.body);
    const r = claimsOf(pairOf(reg).refresh);
    assert.deepEqual([r.username, r.email], ['frank', 'frank@example.com']);
  });
});

describe('claim settings: bad values stop startup with a reason', () => {
  const base = { LATCHKEY_DATA_DIR: '/tmp/none' };
  const cases: [Record<string, string>, RegExp][] = [
    [{ LATCHKEY_TOKEN_CLAIMS: 'username,password' }, /LATCHKEY_TOKEN_CLAIMS: must be user fields/],
    [{ LATCHKEY_TOKEN_CLAIMS: 'tokens_revoked_ms' }, /LATCHKEY_TOKEN_CLAIMS: must be user fields/],
    [{ LATCHKEY_USER_ID_CLAIM: 'sub', LATCHKEY_TOKEN_CLAIMS: 'email,sub' }, /LATCHKEY_TOKEN_CLAIMS: must be user fields/],
    [{ LATCHKEY_USER_ID_CLAIM: 'username', LATCHKEY_TOKEN_CLAIMS: 'username' }, /LATCHKEY_TOKEN_CLAIMS: `username` is also the name/],
    [{ LATCHKEY_JTI_CLAIM: 'exp' }, /`exp` is named twice or is one of/],
    [{ LATCHKEY_USER_ID_CLAIM: 'jti' }, /`jti` is named twice/],
    [{ LATCHKEY_TOKEN_TYPE_CLAIM: 'a b' }, /LATCHKEY_TOKEN_TYPE_CLAIM: must be a claim name/],
    [{ LATCHKEY_USER_ID_FIELD: 'email' }, /LATCHKEY_USER_ID_FIELD: must be id or username/],
    [{ LATCHKEY_AUTH_TOKEN_CLASSES: 'access,refresh' }, /LATCHKEY_AUTH_TOKEN_CLASSES: must be access, sliding, or both/],
  ];
  for (const [env, reason] of cases) {
    it(JSON.stringify(env), () => assert.throws(() => loadConfig({ ...base, ...env }), reason));
  }
  it('a preset’s claims: user fields only, and none named as a standard claim', () => {
    const taken = ['user_id', 'token_type', 'jti'];
    assert.doesNotThrow(() => checkPresetClaims([{ id: 'ok', claims: ['email', 'is_staff'] }], taken));
    assert.throws(
      () => checkPresetClaims([{ id: 'mine', claims: ['password'] }], taken),
      /preset "mine": claims: `password` is not a user field/,
    );
    assert.throws(
      () => checkPresetClaims([{ id: 'mine', claims: ['username'] }], ['username', 'token_type', 'jti']),
      /preset "mine": claims: `username` is also the name of a standard claim/,
    );
  });
  it('the defaults are SimpleJWT’s', () => {
    const c = loadConfig(base);
    assert.deepEqual(
      [c.userIdField, c.userIdClaim, c.tokenTypeClaim, c.jtiClaim, c.tokenClaims, c.authTokenClasses],
      ['id', 'user_id', 'token_type', 'jti', [], ['access']],
    );
    assert.deepEqual([c.slidingTokenLifetime, c.slidingTokenRefreshLifetime], [300, 86400]);
  });
});
