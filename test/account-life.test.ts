// An account's life by mail (issue 13), through HTTP on each database: the
// account preset's password reset and email verification, and djoser's
// routes beside it. Mails go over real SMTP to an smtp-server on localhost,
// and the links in them are followed. A reset link works once, and dies when
// the password, the email or last_login changes, or when it expires.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { freePort, linkOf, mailEnv } from './account-life-support.js';
import { DIALECTS, startServer, type TestServer } from './helpers.js';
import { smtpServer, type TestSmtp } from './mail/helpers.js';

const PASSWORD = 'quartz-lantern-8812';

const recipients = (m: ParsedMail) => (Array.isArray(m.to) ? m.to : [m.to!]).flatMap((a) => a.value.map((v) => v.address));

for (const dialect of DIALECTS) {
  describe(`account life by mail (${dialect})`, () => {
    let s: TestServer;
    let smtp: TestSmtp;
    let seen = 0;
    /** The next `n` mails after the ones already taken. */
    const next = async (n = 1) => {
      const all = await smtp.waitFor(seen + n);
      const got = all.slice(seen, seen + n);
      seen += n;
      return got;
    };
    /** No mail beyond the ones taken once every answered request's work is done. */
    const noMore = async () => {
      await s.service.settled();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(smtp.received.length, seen, `unexpected mail to ${smtp.received.slice(seen).map(recipients).join(', ')}`);
    };
    const json = (method: 'POST' | 'PATCH', url: string, body: unknown, token?: string, scheme = 'Bearer') =>
      s.request({
        method,
        url,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `${scheme} ${token}` } : {}) },
      });
    const login = async (username: string, password: string) => json('POST', '/api/token/', { username, password });

    before(async () => {
      smtp = smtpServer(await freePort());
      await smtp.start();
      s = await startServer({
        dialect,
        env: {
          LATCHKEY_PRESETS: 'simplejwt,account,djoser',
          ...mailEnv(smtp.port),
        },
      });
    });
    after(async () => {
      await s?.close();
      await smtp?.stop();
    });

    it('password reset (account preset): 204 for any address, a link that works once, then the new password logs in', async () => {
      const { id } = await s.user({ username: 'rhea', password: PASSWORD, email: 'rhea@example.com' });
      const r = await json('POST', '/api/account/password/reset/', { email: 'rhea@example.com' });
      assert.equal(r.statusCode, 204, r.body);
      assert.equal(r.body, '');
      const [mail] = await next();
      assert.deepEqual(recipients(mail!), ['rhea@example.com']);
      const link = linkOf(mail!, 'password/reset/confirm');
      assert.equal(Buffer.from(link.uid, 'base64url').toString(), String(id));
      assert.ok(typeof mail!.html === 'string' && mail!.html.includes(link.token), 'an HTML alternative with the link');

      const unknown = await json('POST', '/api/account/password/reset/', { email: 'nobody@example.com' });
      assert.equal(unknown.statusCode, 204);
      assert.equal(unknown.body, '');

      const confirm = { uid: link.uid, token: link.token, new_password: 'fresh-pass-word-77' };
      assert.equal((await json('POST', '/api/account/password/reset/confirm/', confirm)).statusCode, 204);
      const [changed] = await next();
      assert.deepEqual(recipients(changed!), ['rhea@example.com']);
      const again = await json('POST', '/api/account/password/reset/confirm/', { ...confirm, new_password: 'fresh-pass-word-78' });
      assert.equal(again.statusCode, 400);
      assert.deepEqual(again.json(), { token: ['Invalid token for given user.'] });
      assert.equal((await login('rhea', PASSWORD)).statusCode, 401);
      assert.equal((await login('rhea', 'fresh-pass-word-77')).statusCode, 200);
      await noMore();
    });

    it("the mail routes refuse a NUL or a lone surrogate with DRF's messages, and send nothing", async () => {
      await s.user({ username: 'nul', password: PASSWORD, email: 'nul@example.com' });
      const cases: [string, unknown, Record<string, string[]>][] = [
        [
          '/api/account/password/reset/',
          { email: 'nul@exa\u0000mple.com' },
          { email: ['Enter a valid email address.', 'Null characters are not allowed.'] },
        ],
        [
          '/auth/users/reset_password/',
          { email: 'x\ud800y@example.com' },
          { email: ['Enter a valid email address.', 'Surrogate characters are not allowed: U+D800.'] },
        ],
        [
          '/auth/users/reset_password_confirm/',
          { uid: 'M\u0000', token: 't', new_password: 'fresh-pass-word-77' },
          { uid: ['Null characters are not allowed.'] },
        ],
      ];
      for (const [url, body, errors] of cases) {
        const r = await json('POST', url, body);
        assert.equal(r.statusCode, 400, `${url}: ${r.body}`);
        assert.deepEqual(r.json(), errors, url);
      }
      await noMore();
    });

    it('a reset link dies when the password, the email or last_login changes', async () => {
      const { id } = await s.user({ username: 'sven', password: PASSWORD, email: 'sven@example.com' });
      const link = async () => {
        assert.equal(
          (await json('POST', '/api/account/password/reset/', { email: (await s.storage.getUserById(id))!.email })).statusCode,
          204,
        );
        return linkOf((await next())[0]!, 'password/reset/confirm');
      };
      const refused = async (l: { uid: string; token: string }) => {
        const r = await json('POST', '/api/account/password/reset/confirm/', { ...l, new_password: 'fresh-pass-word-90' });
        assert.equal(r.statusCode, 400, r.body);
        assert.deepEqual(r.json(), { token: ['Invalid token for given user.'] });
      };
      // The password (a change through the account preset).
      let l = await link();
      const tokens = (await login('sven', PASSWORD)).json() as { access: string };
      const changed = await json(
        'POST',
        '/api/account/password/',
        { old_password: PASSWORD, new_password: 'other-pass-word-12' },
        tokens.access,
      );
      assert.equal(changed.statusCode, 200, changed.body);
      await refused(l);
      // The email.
      l = await link();
      await s.storage.updateUser(id, { email: 'sven.new@example.com' });
      await refused(l);
      // last_login (a login that records it: the simplejwt preset's).
      l = await link();
      await s.storage.updateUser(id, { last_login: s.service.now() + 1 });
      await refused(l);
      // A login on the djoser preset (SimpleJWT's UPDATE_LAST_LOGIN off) leaves the link alone.
      l = await link();
      assert.equal((await json('POST', '/auth/jwt/create/', { username: 'sven', password: 'other-pass-word-12' })).statusCode, 200);
      assert.equal(
        (await json('POST', '/api/account/password/reset/confirm/', { ...l, new_password: 'fresh-pass-word-91' })).statusCode,
        204,
      );
      await next(); // the password-changed mail
      await noMore();
    });

    it('a link of one purpose is refused for another, and a link of one account for another', async () => {
      const a = await s.user({ username: 'tara', password: PASSWORD, email: 'tara@example.com' });
      await s.user({ username: 'ugo', password: PASSWORD, email: 'ugo@example.com' });
      await json('POST', '/api/account/password/reset/', { email: 'tara@example.com' });
      const tara = linkOf((await next())[0]!, 'password/reset/confirm');
      await json('POST', '/api/account/password/reset/', { email: 'ugo@example.com' });
      const ugo = linkOf((await next())[0]!, 'password/reset/confirm');
      const swapped = await json('POST', '/api/account/password/reset/confirm/', {
        uid: tara.uid,
        token: ugo.token,
        new_password: 'fresh-pass-word-92',
      });
      assert.deepEqual(swapped.json(), { token: ['Invalid token for given user.'] });
      await json('POST', '/auth/users/reset_username/', { email: 'tara@example.com' });
      const username = linkOf((await next())[0]!, 'username/reset/confirm');
      assert.equal(Buffer.from(username.uid, 'base64url').toString(), String(a.id));
      const crossed = await json('POST', '/api/account/password/reset/confirm/', { ...username, new_password: 'fresh-pass-word-93' });
      assert.deepEqual(crossed.json(), { token: ['Invalid token for given user.'] });
      await noMore();
    });

    it('email verification (account preset): an inactive account is mailed a link that activates it; 204 whatever the address', async () => {
      const { id } = await s.user({ username: 'vera', password: PASSWORD, email: 'vera@example.com' });
      await s.storage.updateUser(id, { is_active: false });
      for (const email of ['vera@example.com', 'nobody@example.com', 'rhea@example.com']) {
        const r = await json('POST', '/api/account/email/verify/', { email });
        assert.equal(r.statusCode, 204, `${email}: ${r.body}`);
        assert.equal(r.body, '');
      }
      const [mail] = await next();
      assert.deepEqual(recipients(mail!), ['vera@example.com']);
      const link = linkOf(mail!, 'activate');
      assert.equal((await login('vera', PASSWORD)).statusCode, 401);
      assert.equal((await json('POST', '/api/account/email/verify/confirm/', link)).statusCode, 204);
      await next(); // the confirmation
      const stale = await json('POST', '/api/account/email/verify/confirm/', link);
      assert.equal(stale.statusCode, 403);
      assert.deepEqual(stale.json(), { detail: 'Stale token for given user.' });
      assert.equal((await login('vera', PASSWORD)).statusCode, 200);
      // That login recorded last_login: the link is now simply invalid.
      assert.deepEqual((await json('POST', '/api/account/email/verify/confirm/', link)).json(), {
        token: ['Invalid token for given user.'],
      });
      await noMore();
    });

    it('two accounts sharing an address (djoser #716): 204, one mail each, each link for its own account only', async () => {
      const a = await s.user({ username: 'wes1', password: PASSWORD, email: 'shared@example.com' });
      const b = await s.user({ username: 'wes2', password: PASSWORD, email: 'shared@example.com' });
      for (const url of ['/auth/users/reset_password/', '/api/account/password/reset/']) {
        const r = await json('POST', url, { email: 'shared@example.com' });
        assert.equal(r.statusCode, 204, r.body);
        const mails = await next(2);
        assert.deepEqual(mails.map(recipients), [['shared@example.com'], ['shared@example.com']]);
        const ids = mails.map((m) => Number(Buffer.from(linkOf(m, 'password/reset/confirm').uid, 'base64url').toString()));
        assert.deepEqual(ids.sort(), [a.id, b.id].sort());
      }
      await noMore();
    });

    it('djoser: registration makes an inactive account; activation, then JWT-scheme access', async () => {
      const r = await json('POST', '/auth/users/', { username: 'xena', email: 'xena@example.com', password: PASSWORD });
      assert.equal(r.statusCode, 201, r.body);
      assert.deepEqual(Object.keys(r.json()), ['email', 'username', 'id']);
      const link = linkOf((await next())[0]!, 'activate');
      assert.deepEqual((await json('POST', '/auth/jwt/create/', { username: 'xena', password: PASSWORD })).json(), {
        detail: 'No active account found with the given credentials',
      });
      assert.equal((await json('POST', '/auth/users/activation/', link)).statusCode, 204);
      await next();
      const { access } = (await json('POST', '/auth/jwt/create/', { username: 'xena', password: PASSWORD })).json() as { access: string };
      const me = await s.request({ method: 'GET', url: '/auth/users/me/', headers: { authorization: `JWT ${access}` } });
      assert.equal(me.statusCode, 200, me.body);
      const bearer = await s.request({ method: 'GET', url: '/auth/users/me/', headers: { authorization: `Bearer ${access}` } });
      assert.equal(bearer.statusCode, 401);
      assert.equal(bearer.headers['www-authenticate'], 'JWT realm="api"');
      // The simplejwt preset, mounted beside, keeps its Bearer scheme.
      const other = await s.request({ method: 'GET', url: '/api/protected-endpoint/', headers: { authorization: `Bearer ${access}` } });
      assert.equal(other.statusCode, 200, other.body);
      await noMore();
    });
  });
}

describe('account life: links expire (LATCHKEY_PASSWORD_RESET_TIMEOUT)', () => {
  it('a reset link older than the timeout is refused', async (t) => {
    const smtp = smtpServer(await freePort());
    await smtp.start();
    t.after(() => smtp.stop());
    const s = await startServer({
      env: { LATCHKEY_PRESETS: 'account', LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`, LATCHKEY_PASSWORD_RESET_TIMEOUT: '1' },
    });
    t.after(() => s.close());
    await s.user({ username: 'yuri', password: PASSWORD, email: 'yuri@example.com' });
    await s.post('/api/account/password/reset/', { email: 'yuri@example.com' });
    const [mail] = await smtp.waitFor(1);
    const link = linkOf(mail!, 'password/reset/confirm');
    // Django compares whole seconds: a token is refused once more than the timeout has passed.
    await new Promise((r) => setTimeout(r, 2_100));
    const r = await s.post('/api/account/password/reset/confirm/', { ...link, new_password: 'fresh-pass-word-95' });
    assert.equal(r.statusCode, 400);
    assert.deepEqual(r.json(), { token: ['Invalid token for given user.'] });
  });
});

describe('account life: through the service alone (no HTTP)', () => {
  it('registration with activation, activation, a reset and its confirmation, each mailing what it should', async (t) => {
    const smtp = smtpServer(await freePort());
    await smtp.start();
    t.after(() => smtp.stop());
    const s = await startServer({ env: { LATCHKEY_PRESETS: 'account', LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${smtp.port}` } });
    t.after(() => s.close());
    const origin = { host: 'accounts.example.com', protocol: 'https' as const };
    const user = await s.service.createAccount(
      { username: 'ada', email: 'ada@example.com', password: PASSWORD },
      { sendActivation: true, origin },
    );
    assert.equal(user.is_active, false);
    const [activation] = await smtp.waitFor(1);
    assert.match(activation!.text ?? '', /https:\/\/accounts\.example\.com\/#\/activate\//);
    await s.service.activate(linkOf(activation!, 'activate'), origin);
    assert.equal((await s.storage.getUserById(user.id))!.is_active, true);
    await smtp.waitFor(2); // the confirmation
    await s.service.requestLink('password_reset', { email: 'ada@example.com' }, origin);
    await s.service.settled();
    const reset = (await smtp.waitFor(3))[2]!;
    await s.service.confirmPasswordReset({ ...linkOf(reset, 'password/reset/confirm'), new_password: 'fresh-pass-word-96' }, origin);
    assert.equal((await s.service.login('ada', 'fresh-pass-word-96', 'username')).access.split('.').length, 3);
    await assert.rejects(
      s.service.confirmPasswordReset({ ...linkOf(reset, 'password/reset/confirm'), new_password: 'fresh-pass-word-97' }, origin),
      (err: { fields?: unknown }) => {
        assert.deepEqual(err.fields, { token: ['Invalid token for given user.'] });
        return true;
      },
    );
  });
});

describe('account life: link requests are throttled per address asked for', () => {
  it('past LATCHKEY_THROTTLE_LINK_ACCOUNT, 429 for that address, known or not; other addresses still answer', async (t) => {
    const s = await startServer({
      env: { LATCHKEY_PRESETS: 'djoser', LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_THROTTLE_LINK_ACCOUNT: '2/3600' },
    });
    t.after(() => s.close());
    await s.user({ username: 'bea', password: PASSWORD, email: 'bea@example.com' });
    for (const email of ['bea@example.com', 'ghost@example.com']) {
      assert.equal((await s.post('/auth/users/reset_password/', { email })).statusCode, 204);
      assert.equal((await s.post('/auth/users/reset_username/', { email: email.toUpperCase() })).statusCode, 204);
      const r = await s.post('/auth/users/reset_password/', { email });
      assert.equal(r.statusCode, 429, r.body);
      assert.match((r.json() as { detail: string }).detail, /^Request was throttled\./);
    }
    assert.equal((await s.post('/auth/users/reset_password/', { email: 'other@example.com' })).statusCode, 204);
    await s.service.settled();
  });
});
