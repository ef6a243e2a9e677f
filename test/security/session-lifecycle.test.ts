// Session lifecycle: a stolen refresh token must die when the owner changes
// their password or is deactivated (through the service and through the CLI),
// rotation must never stretch a login past its absolute lifetime, and a
// logout must outlive the user it belonged to.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DIALECTS, startServer, type TestServer } from '../helpers.js';
import { childEnv, runCli } from './support.js';

const PASSWORD = 'correct-horse-battery-1';
const NEW_PASSWORD = 'a-brand-new-passphrase-9';
const T0 = 1_800_000_000;

const refreshWith = (s: TestServer, refresh: string) => s.post('/api/token/refresh/', { refresh });

async function loginPair(s: TestServer, username: string, password = PASSWORD) {
  const r = await s.post('/api/token/', { username, password });
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { access: string; refresh: string };
}

function assertRevoked(r: { statusCode: number; body: string }, label: string) {
  assert.equal(r.statusCode, 401, `${label}: ${r.statusCode} ${r.body}`);
  const body = JSON.parse(r.body) as { detail: string; code: string };
  assert.equal(typeof body.detail, 'string', label);
}

for (const dialect of DIALECTS) {
  describe(`session lifecycle: service (${dialect}, frozen clock)`, () => {
    let s: TestServer;
    let now = T0;
    before(async () => {
      s = await startServer({
        dialect,
        now: () => now,
        env: {
          LATCHKEY_ROTATE_REFRESH_TOKENS: 'on',
          LATCHKEY_REFRESH_TOKEN_LIFETIME: '60',
          LATCHKEY_REFRESH_FAMILY_LIFETIME: '100',
          LATCHKEY_ROTATION_REUSE_INTERVAL: '0', // reuse revokes at once: no retry grace
        },
      });
    });
    after(() => s?.close());

    it('password change (service.setPassword) revokes refresh tokens issued before it', async () => {
      now = T0;
      await s.user({ username: 'pwchange', password: PASSWORD });
      const stolen = await loginPair(s, 'pwchange');
      now = T0 + 10;
      await s.service.setPassword((await s.storage.getUserByUsername('pwchange'))!, NEW_PASSWORD);
      now = T0 + 20;
      assertRevoked(await refreshWith(s, stolen.refresh), 'refresh issued before the change');
      assertRevoked(await s.post('/api/token/verify/', { token: stolen.refresh }), 'verify of the old refresh');
      assertRevoked(await s.get('/api/protected-endpoint/', stolen.access), 'access issued before the change');
      // The owner's new login is unaffected.
      assert.equal((await s.post('/api/token/', { username: 'pwchange', password: PASSWORD })).statusCode, 401);
      const fresh = await loginPair(s, 'pwchange', NEW_PASSWORD);
      assert.equal((await refreshWith(s, fresh.refresh)).statusCode, 200);
    });

    it('password change in the same second as a login still revokes that login', async () => {
      now = T0 + 1000;
      await s.user({ username: 'samesecond', password: PASSWORD });
      const stolen = await loginPair(s, 'samesecond');
      await s.service.setPassword((await s.storage.getUserByUsername('samesecond'))!, NEW_PASSWORD);
      assertRevoked(await refreshWith(s, stolen.refresh), 'refresh issued in the same second');
    });

    it('password change revokes every refresh token of every rotation family, including rotated descendants', async () => {
      now = T0 + 2000;
      await s.user({ username: 'manyfamilies', password: PASSWORD });
      const a = await loginPair(s, 'manyfamilies');
      const b = await loginPair(s, 'manyfamilies');
      now += 5;
      const rotated = await refreshWith(s, a.refresh);
      assert.equal(rotated.statusCode, 200, rotated.body);
      const a2 = (rotated.json() as { refresh: string }).refresh;
      now += 5;
      await s.service.setPassword((await s.storage.getUserByUsername('manyfamilies'))!, NEW_PASSWORD);
      now += 5;
      assertRevoked(await refreshWith(s, a2), 'rotated descendant');
      assertRevoked(await refreshWith(s, b.refresh), 'second family');
    });

    it('deactivation (service.setActive) revokes refresh tokens, and reactivation does not revive them', async () => {
      now = T0 + 3000;
      const { id } = await s.user({ username: 'deact', password: PASSWORD });
      const stolen = await loginPair(s, 'deact');
      now += 10;
      await s.service.setActive(id, false);
      assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after deactivation');
      assertRevoked(await s.get('/api/protected-endpoint/', stolen.access), 'access after deactivation');
      assert.equal((await s.post('/api/token/', { username: 'deact', password: PASSWORD })).statusCode, 401);
      now += 10;
      await s.service.setActive(id, true);
      assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after reactivation');
      assertRevoked(await s.get('/api/protected-endpoint/', stolen.access), 'access after reactivation');
      assert.equal((await refreshWith(s, (await loginPair(s, 'deact')).refresh)).statusCode, 200);
    });

    it('rotation never extends a refresh family past its absolute lifetime', async () => {
      now = T0 + 4000;
      await s.user({ username: 'rotator', password: PASSWORD });
      const start = now;
      let { refresh } = await loginPair(s, 'rotator');
      // Rotate every 30 s: each new token alone would live 60 s, but the family ends at start + 100.
      for (const at of [30, 60, 90]) {
        now = start + at;
        const r = await refreshWith(s, refresh);
        assert.equal(r.statusCode, 200, `rotation at +${at}: ${r.body}`);
        refresh = (r.json() as { refresh: string }).refresh;
        const { exp } = JSON.parse(Buffer.from(refresh.split('.')[1]!, 'base64url').toString()) as { exp: number };
        assert.ok(exp <= start + 100, `rotation at +${at} issued a token expiring at +${exp - start}`);
      }
      now = start + 101;
      assertRevoked(await refreshWith(s, refresh), 'refresh past the family lifetime');
    });

    it('replaying a rotated-out refresh token revokes the whole family (stolen-token detection)', async () => {
      now = T0 + 5000;
      await s.user({ username: 'replayed', password: PASSWORD });
      const { refresh: first } = await loginPair(s, 'replayed');
      now += 1;
      const r1 = await refreshWith(s, first);
      assert.equal(r1.statusCode, 200);
      const legit = (r1.json() as { refresh: string }).refresh;
      now += 1;
      assertRevoked(await refreshWith(s, first), 'replay of the rotated-out token');
      assertRevoked(await refreshWith(s, legit), 'the family after a replay');
    });

    it('concurrent rotation of one refresh token (race) yields exactly one new token', async () => {
      now = T0 + 6000;
      await s.user({ username: 'racer', password: PASSWORD });
      const { refresh } = await loginPair(s, 'racer');
      now += 1;
      const results = await Promise.all(Array.from({ length: 10 }, () => refreshWith(s, refresh)));
      const ok = results.filter((r) => r.statusCode === 200);
      const answers = results.map((r) => `${r.statusCode} ${r.body}`).join('\n');
      // One request wins the token; every other one is told it was already used.
      assert.equal(ok.length, 1, `${ok.length} of 10 concurrent rotations succeeded:\n${answers}`);
      const won = ok[0]!.json() as { access?: unknown; refresh?: unknown };
      assert.equal(typeof won.access, 'string', ok[0]!.body);
      assert.equal(typeof won.refresh, 'string', ok[0]!.body);
      for (const r of results.filter((x) => x.statusCode !== 200)) {
        assertRevoked(r, 'a losing concurrent rotation');
        assert.deepEqual(r.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' }, r.body);
      }
    });

    it('blacklist records survive user deletion, and a re-created user with the same id cannot revive them', async () => {
      now = T0 + 7000;
      const id = 4242;
      await s.user({ username: 'deleted', password: PASSWORD, id });
      const pair = await loginPair(s, 'deleted');
      const out = await s.post('/api/token/blacklist/', { refresh: pair.refresh });
      assert.equal(out.statusCode, 200, out.body);
      assert.ok(await s.storage.deleteUser(id));
      const { jti } = JSON.parse(Buffer.from(pair.refresh.split('.')[1]!, 'base64url').toString()) as { jti: string };
      const state = await s.storage.getTokenState(jti);
      assert.ok(state?.blacklisted, `blacklist record gone after deleting the user: ${JSON.stringify(state)}`);
      await s.user({ username: 'impostor', password: PASSWORD, id });
      assertRevoked(await refreshWith(s, pair.refresh), 'logged-out token of a deleted user, id re-used');
      const body = (await refreshWith(s, pair.refresh)).json() as { detail: string };
      assert.equal(body.detail, 'Token is blacklisted');
    });
  });
}

describe('session lifecycle: the CLI (latchkey changepassword, latchkey users deactivate)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s?.close());

  const cli = (args: string[], stdin?: string) => runCli(args, childEnv(s.dir, { LATCHKEY_DATABASE_URL: s.config.databaseUrl }), stdin);

  it('latchkey changepassword USERNAME revokes refresh tokens issued before it', async () => {
    await s.user({ username: 'clipw', password: PASSWORD });
    const stolen = await loginPair(s, 'clipw');
    const r = await cli(['changepassword', 'clipw', '--password', NEW_PASSWORD]);
    assert.equal(r.code, 0, `changepassword failed: ${r.stderr}`);
    assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after CLI changepassword');
    assertRevoked(await s.post('/api/token/verify/', { token: stolen.refresh }), 'verify after CLI changepassword');
    assert.equal((await s.post('/api/token/', { username: 'clipw', password: PASSWORD })).statusCode, 401);
    const fresh = await loginPair(s, 'clipw', NEW_PASSWORD);
    assert.equal((await refreshWith(s, fresh.refresh)).statusCode, 200);
  });

  it('latchkey changepassword with the new password on standard input also revokes', async () => {
    await s.user({ username: 'clipw2', password: PASSWORD });
    const stolen = await loginPair(s, 'clipw2');
    const r = await cli(['changepassword', 'clipw2'], `${NEW_PASSWORD}\n`);
    assert.equal(r.code, 0, `changepassword failed: ${r.stderr}`);
    assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after CLI changepassword (stdin)');
  });

  it('latchkey changepassword refuses a weak password and then revokes nothing', async () => {
    await s.user({ username: 'clipw3', password: PASSWORD });
    const pair = await loginPair(s, 'clipw3');
    const r = await cli(['changepassword', 'clipw3', '--password', 'password1']);
    assert.notEqual(r.code, 0, 'a common password was accepted by changepassword');
    assert.equal((await s.post('/api/token/verify/', { token: pair.refresh })).statusCode, 200);
  });

  it('latchkey users deactivate USERNAME revokes refresh tokens and blocks login', async () => {
    await s.user({ username: 'clideact', password: PASSWORD });
    const stolen = await loginPair(s, 'clideact');
    const r = await cli(['users', 'deactivate', 'clideact']);
    assert.equal(r.code, 0, `deactivate failed: ${r.stderr}`);
    assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after CLI deactivate');
    assertRevoked(await s.post('/api/token/verify/', { token: stolen.refresh }), 'verify after CLI deactivate');
    assertRevoked(await s.get('/api/protected-endpoint/', stolen.access), 'access after CLI deactivate');
    assert.equal((await s.post('/api/token/', { username: 'clideact', password: PASSWORD })).statusCode, 401);
    const re = await cli(['users', 'activate', 'clideact']);
    assert.equal(re.code, 0, re.stderr);
    assertRevoked(await refreshWith(s, stolen.refresh), 'refresh after CLI re-activate');
  });
});
