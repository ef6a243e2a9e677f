import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it, mock } from 'node:test';
import { buildLink, decodeUid, encodeUid, LinkTokens, validateUrlTemplate, type LinkUser } from '../../src/mail/links.js';
import { ConfigError } from '../../src/errors.js';

const EPOCH_2001_MS = Date.UTC(2001, 0, 1);
const SECRET = 'kat-secret-0123456789';

function user(over: Partial<LinkUser> = {}): LinkUser {
  return {
    id: 42,
    password: 'argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA',
    email: 'ana@example.com',
    last_login: Date.UTC(2024, 4, 6, 7, 8, 9) / 1000,
    username: 'ana',
    is_active: true,
    ...over,
  };
}

function clock(ms: number) {
  const c = { ms, now: () => c.ms };
  return c;
}

describe('link tokens', () => {
  it("matches Django 3.2's PasswordResetTokenGenerator for password reset (vectors computed by Django)", () => {
    // Django: _make_token_with_timestamp(user, 757479845) with SECRET_KEY=SECRET.
    const c = clock(EPOCH_2001_MS + 757479845 * 1000);
    const tokens = new LinkTokens({ secrets: [SECRET], now: c.now });
    assert.equal(tokens.make('password_reset', user()), 'cizf6t-909a92eff79abd4081a4cf915c720301');
    assert.equal(tokens.make('password_reset', user({ last_login: null, email: '' })), 'cizf6t-ecf50acff8aea221ecc5cccc3ae0f7e8');
    // And Django's token is accepted here.
    assert.equal(tokens.check('password_reset', user(), 'cizf6t-909a92eff79abd4081a4cf915c720301'), 'ok');
  });

  it('encodes the uid as Django does', () => {
    assert.equal(encodeUid(42), 'NDI');
    assert.equal(encodeUid(1234567), 'MTIzNDU2Nw');
    assert.equal(decodeUid('NDI'), 42);
    assert.equal(decodeUid('MTIzNDU2Nw'), 1234567);
    assert.equal(decodeUid('MTIzNDU2Nw=='), 1234567);
    for (let id = 1; id < 2000; id += 37) assert.equal(decodeUid(encodeUid(id)), id);
    assert.equal(decodeUid(encodeUid(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  });

  it('refuses hostile uids without throwing', () => {
    const b = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
    const hostile: unknown[] = [
      '',
      '!!!',
      'NDI!',
      'N DI',
      'NDI\u0000',
      '\u0000',
      'ＮＤＩ',
      '😀',
      'NDI/',
      'NDI+',
      'N',
      'NDI===',
      'A'.repeat(100_000),
      b('1e3'),
      b('-1'),
      b('0x10'),
      b(' 1'),
      b('1 '),
      b('9'.repeat(17)),
      b('99999999999999999'),
      b('１２'),
      b('4\u00002'),
      b('NaN'),
      b('Infinity'),
      b(''),
      'NDJ', // NDJ: "42" with stray low bits
      42,
      null,
      undefined,
      {},
      ['NDI'],
      { toString: () => 'NDI' },
    ];
    for (const uid of hostile) assert.equal(decodeUid(uid), undefined, `uid ${JSON.stringify(String(uid)).slice(0, 40)}`);
  });

  it('round-trips, and refuses a token for another user or a mangled one', () => {
    const tokens = new LinkTokens({ secrets: [SECRET] });
    for (const purpose of ['activation', 'password_reset', 'username_reset'] as const) {
      const u = user({ is_active: purpose !== 'activation' });
      const t = tokens.make(purpose, u);
      assert.match(t, /^[0-9a-z]+-[0-9a-f]{32}$/);
      assert.equal(tokens.check(purpose, u, t), 'ok', purpose);
      assert.equal(tokens.check(purpose, { ...u, id: 43 }, t), 'invalid');
      const last = t.at(-1) === '0' ? '1' : '0';
      assert.equal(tokens.check(purpose, u, t.slice(0, -1) + last), 'invalid');
      for (const bad of [
        '',
        '-',
        t + 'x',
        t.toUpperCase(),
        `${t}-x`,
        'zzzzzzzzzzzzzz-' + t.split('-')[1],
        `-${t}`,
        'x'.repeat(10_000),
        7,
        null,
        undefined,
      ]) {
        assert.equal(tokens.check(purpose, u, bad), 'invalid', String(bad).slice(0, 30));
      }
    }
  });

  it('expires after LATCHKEY_PASSWORD_RESET_TIMEOUT seconds (3 days by default)', () => {
    const c = clock(Date.UTC(2025, 0, 1));
    const tokens = new LinkTokens({ secrets: [SECRET], now: c.now });
    assert.equal(tokens.timeoutSeconds, 259200);
    const u = user();
    const t = tokens.make('password_reset', u);
    c.ms += 259200 * 1000;
    assert.equal(tokens.check('password_reset', u, t), 'ok');
    c.ms += 1000;
    assert.equal(tokens.check('password_reset', u, t), 'expired');

    const short = new LinkTokens({ secrets: [SECRET], timeoutSeconds: 60, now: c.now });
    const t2 = short.make('password_reset', u);
    c.ms += 60_000;
    assert.equal(short.check('password_reset', u, t2), 'ok');
    c.ms += 1000;
    assert.equal(short.check('password_reset', u, t2), 'expired');
  });

  it('dies when the password, the email or last_login changes', () => {
    const tokens = new LinkTokens({ secrets: [SECRET] });
    for (const purpose of ['activation', 'password_reset', 'username_reset'] as const) {
      const u = user({ is_active: false });
      const t = tokens.make(purpose, u);
      assert.equal(tokens.check(purpose, { ...u, password: u.password + 'x' }, t), 'invalid', `${purpose} password`);
      assert.equal(tokens.check(purpose, { ...u, email: 'ana2@example.com' }, t), 'invalid', `${purpose} email`);
      assert.equal(tokens.check(purpose, { ...u, last_login: u.last_login! + 1 }, t), 'invalid', `${purpose} last_login`);
      assert.equal(tokens.check(purpose, { ...u, last_login: null }, t), 'invalid', `${purpose} first login`);
    }
  });

  it('an activation link is stale once the user is active; a username-reset link dies with the username', () => {
    const tokens = new LinkTokens({ secrets: [SECRET] });
    const inactive = user({ is_active: false });
    const act = tokens.make('activation', inactive);
    assert.equal(tokens.check('activation', inactive, act), 'ok');
    assert.equal(tokens.check('activation', { ...inactive, is_active: true }, act), 'stale');

    const u = user();
    const ur = tokens.make('username_reset', u);
    assert.equal(tokens.check('username_reset', { ...u, username: 'ana2' }, ur), 'invalid');
    // A password-reset link does not depend on the username.
    const pr = tokens.make('password_reset', u);
    assert.equal(tokens.check('password_reset', { ...u, username: 'ana2' }, pr), 'ok');
  });

  it('keeps purposes apart', () => {
    const tokens = new LinkTokens({ secrets: [SECRET] });
    const u = user({ is_active: false });
    const purposes = ['activation', 'password_reset', 'username_reset'] as const;
    for (const a of purposes) {
      const t = tokens.make(a, u);
      for (const b of purposes) assert.equal(tokens.check(b, u, t), a === b ? 'ok' : 'invalid', `${a} token as ${b}`);
    }
  });

  it('signs with the first secret and still accepts retired ones', () => {
    const u = user();
    const old = new LinkTokens({ secrets: ['old-secret-0123456789'] }).make('password_reset', u);
    const rotated = new LinkTokens({ secrets: ['new-secret-0123456789', 'old-secret-0123456789'] });
    assert.equal(rotated.check('password_reset', u, old), 'ok');
    assert.equal(new LinkTokens({ secrets: ['new-secret-0123456789'] }).check('password_reset', u, old), 'invalid');
    assert.equal(
      new LinkTokens({ secrets: ['old-secret-0123456789'] }).check('password_reset', u, rotated.make('password_reset', u)),
      'invalid',
    );
  });

  it('decides through crypto.timingSafeEqual', (t) => {
    const tokens = new LinkTokens({ secrets: [SECRET] });
    const u = user();
    const good = tokens.make('password_reset', u);
    const wrong = good.slice(0, -4) + (good.endsWith('0000') ? '1111' : '0000');
    const spy = t.mock.method(crypto, 'timingSafeEqual');
    assert.equal(tokens.check('password_reset', u, wrong), 'invalid');
    assert.ok(spy.mock.callCount() >= 1);
    for (const call of spy.mock.calls) {
      const [a, b] = call.arguments as [Buffer, Buffer];
      assert.equal(a.length, b.length);
    }
    // The answer is the comparison's: forced to say "equal", the wrong token passes.
    spy.mock.mockImplementation(() => true);
    assert.equal(tokens.check('password_reset', u, wrong), 'ok');
    mock.restoreAll();
  });

  it('builds links from the templates', () => {
    const { url, link } = buildLink('#/password/reset/confirm/{uid}/{token}', 'NDI', 'abc-123', {
      protocol: 'https',
      domain: 'app.example.com',
    });
    assert.equal(url, '#/password/reset/confirm/NDI/abc-123');
    assert.equal(link, 'https://app.example.com/#/password/reset/confirm/NDI/abc-123');
    validateUrlTemplate('LATCHKEY_ACTIVATION_URL', 'activate?u={uid}&t={token}');
    assert.throws(
      () => validateUrlTemplate('LATCHKEY_ACTIVATION_URL', '#/activate/{uid}'),
      (e: Error) => e instanceof ConfigError && /LATCHKEY_ACTIVATION_URL.*\{token\}/.test(e.message),
    );
    assert.throws(
      () => validateUrlTemplate('LATCHKEY_ACTIVATION_URL', '#/{uid}/{token}/{user}'),
      (e: Error) => e instanceof ConfigError && /\{user\}/.test(e.message),
    );
  });

  it('refuses a missing secret or a bad timeout', () => {
    assert.throws(() => new LinkTokens({ secrets: [] as unknown as [string] }), /secrets/);
    assert.throws(() => new LinkTokens({ secrets: [''] }), /secrets/);
    assert.throws(() => new LinkTokens({ secrets: [SECRET], timeoutSeconds: 0 }), /timeoutSeconds/);
  });
});
