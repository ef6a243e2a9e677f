// Wire compatibility with Django REST Framework + SimpleJWT, both ways:
// tokens the real SimpleJWT 5.2.2 minted (test/fixtures) open latchkey, and
// tokens latchkey mints pass SimpleJWT's own checks (the real peer, run with
// the Debian interpreter when its packages are installed).
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { claimsOf, FIXTURES, skipUnless, startServer, TEST_KEY, type TestServer } from './helpers.js';
import { peerMissing, runPeerScript } from './simplejwt-peer.js';

const OTHER_KEY = 'a-different-signing-key-0123456789abcdefgh';
const USER_IDS = FIXTURES.tokens.map((t) => t.user_id);

// The fixtures carry SimpleJWT's default lifetimes (5 minutes, 1 day), not the
// 100 years mint_fixtures.py asked for: SimpleJWT reads the lifetimes when its
// token classes are defined, so patching api_settings afterwards changed
// nothing. Every server here runs on a clock frozen just after they were minted.
const MINTED_AT = Math.max(...FIXTURES.tokens.map((t) => Number(claimsOf(t.access).iat)));
const FIXTURE_NOW = MINTED_AT + 60;
const frozen = () => FIXTURE_NOW;

const INVALID = { detail: 'Token is invalid or expired', code: 'token_not_valid' };
const NOT_VALID_FOR_ANY = {
  detail: 'Given token not valid for any token type',
  code: 'token_not_valid',
  messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token is invalid or expired' }],
};
const USER_NOT_FOUND = { detail: 'User not found', code: 'user_not_found' };
const PROTECTED = { message: 'You have accessed a protected route!' };

async function withUsers(s: TestServer, ids: number[]): Promise<void> {
  for (const id of ids) {
    const u = await s.user({ username: `user${id}`, password: `pw-user${id}-123`, id });
    assert.equal(u.id, id);
  }
}

/** An HS256 token built by hand, as another SimpleJWT version would send it. */
function mint(claims: Record<string, unknown>, key = TEST_KEY): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

const jti = () => randomBytes(16).toString('hex');

describe('interop: SimpleJWT-minted tokens on latchkey', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ now: frozen });
    await withUsers(s, USER_IDS);
  });
  after(() => s.close());

  it('the fixtures are what the tests assume (HS256, the fixture key, ids 1, 2, 42)', () => {
    assert.equal(s.config.signingKey, FIXTURES.signing_key);
    assert.deepEqual(USER_IDS, [1, 2, 42]);
    for (const t of FIXTURES.tokens) {
      assert.equal(claimsOf(t.access).user_id, t.user_id);
      assert.ok(Number(claimsOf(t.access).exp) > FIXTURE_NOW);
      assert.ok(Number(claimsOf(t.refresh).exp) > FIXTURE_NOW);
    }
  });

  for (const t of FIXTURES.tokens) {
    it(`user ${t.user_id}: the access token opens the protected route`, async () => {
      const res = await s.get('/api/protected-endpoint/', t.access);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), PROTECTED);
    });

    it(`user ${t.user_id}: the refresh token refreshes, and the new access token is for the same user`, async () => {
      const res = await s.post('/api/token/refresh/', { refresh: t.refresh });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { access: string; refresh?: string };
      assert.deepEqual(Object.keys(body), ['access']); // no rotation on the simplejwt preset by default
      const c = claimsOf(body.access);
      assert.equal(c.token_type, 'access');
      assert.equal(c.user_id, t.user_id);
      assert.equal(typeof c.user_id, 'number');
      const me = await s.get('/api/protected-endpoint/', body.access);
      assert.equal(me.statusCode, 200, me.body);
    });

    it(`user ${t.user_id}: both tokens verify`, async () => {
      for (const token of [t.refresh, t.access]) {
        const res = await s.post('/api/token/verify/', { token });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), {});
      }
    });

    it(`user ${t.user_id}: the access token is not a refresh token, nor the refresh token an access token`, async () => {
      const asRefresh = await s.post('/api/token/refresh/', { refresh: t.access });
      assert.equal(asRefresh.statusCode, 401);
      assert.deepEqual(asRefresh.json(), { detail: 'Token has wrong type', code: 'token_not_valid' });
      const asAccess = await s.get('/api/protected-endpoint/', t.refresh);
      assert.equal(asAccess.statusCode, 401);
      assert.deepEqual(asAccess.json(), {
        ...NOT_VALID_FOR_ANY,
        messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token has wrong type' }],
      });
    });
  }

  it('accepts user_id as a string of digits (SimpleJWT 5.5.1 on)', async () => {
    const access = mint({ token_type: 'access', exp: FIXTURE_NOW + 300, iat: FIXTURE_NOW, jti: jti(), user_id: '1' });
    const refresh = mint({ token_type: 'refresh', exp: FIXTURE_NOW + 86400, iat: FIXTURE_NOW, jti: jti(), user_id: '42' });

    const me = await s.get('/api/protected-endpoint/', access);
    assert.equal(me.statusCode, 200, me.body);
    assert.deepEqual(me.json(), PROTECTED);

    for (const token of [access, refresh]) {
      const v = await s.post('/api/token/verify/', { token });
      assert.equal(v.statusCode, 200, v.body);
    }

    const r = await s.post('/api/token/refresh/', { refresh });
    assert.equal(r.statusCode, 200, r.body);
    // latchkey itself mints integers, which every SimpleJWT version reads.
    assert.equal(claimsOf((r.json() as { access: string }).access).user_id, 42);
  });

  it('refuses a string user_id that is not a plain number, without a server error', async () => {
    for (const user_id of ['1 OR 1=1', '1.0', '-1', '']) {
      const access = mint({ token_type: 'access', exp: FIXTURE_NOW + 300, iat: FIXTURE_NOW, jti: jti(), user_id });
      const res = await s.get('/api/protected-endpoint/', access);
      assert.equal(res.statusCode, 401, `${user_id}: ${res.body}`);
      assert.deepEqual(res.json(), {
        ...NOT_VALID_FOR_ANY,
        messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token contained no recognizable user identification' }],
      });
    }
  });
});

describe('interop: SimpleJWT-minted tokens for a user latchkey does not have', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ now: frozen });
    await withUsers(s, [1, 2]); // no 42
  });
  after(() => s.close());

  const t42 = FIXTURES.tokens.find((t) => t.user_id === 42)!;

  it('the protected route answers 401 user_not_found', async () => {
    const res = await s.get('/api/protected-endpoint/', t42.access);
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), USER_NOT_FOUND);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
  });

  it('refresh answers 401 user_not_found', async () => {
    const res = await s.post('/api/token/refresh/', { refresh: t42.refresh });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), USER_NOT_FOUND);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"');
  });

  it('verify answers 401 user_not_found', async () => {
    for (const token of [t42.access, t42.refresh]) {
      const res = await s.post('/api/token/verify/', { token });
      assert.equal(res.statusCode, 401);
      assert.deepEqual(res.json(), USER_NOT_FOUND);
    }
  });

  it('the users that exist still get in (control)', async () => {
    const t1 = FIXTURES.tokens.find((t) => t.user_id === 1)!;
    assert.equal((await s.get('/api/protected-endpoint/', t1.access)).statusCode, 200);
  });
});

describe('interop: a server on a different key refuses the fixtures', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ now: frozen, env: { LATCHKEY_SIGNING_KEY: OTHER_KEY } });
    await withUsers(s, USER_IDS);
  });
  after(() => s.close());

  for (const t of FIXTURES.tokens) {
    it(`user ${t.user_id}: access, refresh and verify are all refused`, async () => {
      const me = await s.get('/api/protected-endpoint/', t.access);
      assert.equal(me.statusCode, 401);
      assert.deepEqual(me.json(), NOT_VALID_FOR_ANY);
      assert.equal(me.headers['www-authenticate'], 'Bearer realm="api"');

      const r = await s.post('/api/token/refresh/', { refresh: t.refresh });
      assert.equal(r.statusCode, 401);
      assert.deepEqual(r.json(), INVALID);

      for (const token of [t.access, t.refresh]) {
        const v = await s.post('/api/token/verify/', { token });
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), INVALID);
      }
    });
  }

  it('its own tokens work (control)', async () => {
    const access = mint({ token_type: 'access', exp: FIXTURE_NOW + 300, iat: FIXTURE_NOW, jti: jti(), user_id: 1 }, OTHER_KEY);
    assert.equal((await s.get('/api/protected-endpoint/', access)).statusCode, 200);
  });
});

describe('interop: a SimpleJWT refresh token under rotation (cut-over)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ now: frozen, env: { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_ROTATION_REUSE_INTERVAL: '0' } });
    await withUsers(s, USER_IDS);
  });
  after(() => s.close());

  it('rotates once; the SimpleJWT token is then refused, and so is its successor', async () => {
    const t = FIXTURES.tokens.find((x) => x.user_id === 2)!;
    const first = await s.post('/api/token/refresh/', { refresh: t.refresh });
    assert.equal(first.statusCode, 200, first.body);
    const next = (first.json() as { refresh: string }).refresh;
    assert.equal(claimsOf(next).user_id, 2);

    const again = await s.post('/api/token/refresh/', { refresh: t.refresh });
    assert.equal(again.statusCode, 401);
    assert.equal((again.json() as { code: string }).code, 'token_not_valid');

    const successor = await s.post('/api/token/refresh/', { refresh: next });
    assert.equal(successor.statusCode, 401, 'reuse of the rotated-out token revokes the family');
  });
});

// ---- the reverse direction: latchkey's tokens under the real SimpleJWT ----

/**
 * Runs on SimpleJWT 5.2.2 with its blacklist app: creates the given users
 * with the same ids, then checks each token with JWTAuthentication and the
 * token classes, reporting each check's outcome.
 */
const PEER_SCRIPT = String.raw`
import json, sys
sys.path.insert(0, sys.argv[1])
import simplejwt_peer  # configures Django
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, UntypedToken

req = json.load(sys.stdin)
for uid in req["users"]:
    User.objects.create(id=uid, username="user%d" % uid)

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__, "message": str(e)}

auth = JWTAuthentication()
out = []
for c in req["cases"]:
    a, r = c["access"], c["refresh"]
    out.append({
        "label": c["label"],
        "authenticated": attempt(lambda: auth.get_user(auth.get_validated_token(a.encode())).pk),
        "access": attempt(lambda: AccessToken(a)["user_id"]),
        "refresh": attempt(lambda: RefreshToken(r)["user_id"]),
        "refresh_access": attempt(lambda: AccessToken(str(RefreshToken(r).access_token))["user_id"]),
        "untyped": attempt(lambda: [UntypedToken(a)["token_type"], UntypedToken(r)["token_type"]]),
        "access_as_refresh": attempt(lambda: RefreshToken(a)["user_id"]),
        "refresh_as_access": attempt(lambda: AccessToken(r)["user_id"]),
    })
json.dump(out, sys.stdout)
`;

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: string;
  message?: string;
}
type PeerResult = Record<
  'authenticated' | 'access' | 'refresh' | 'refresh_access' | 'untyped' | 'access_as_refresh' | 'refresh_as_access',
  Outcome
> & { label: string };

function runPeer(key: string, users: number[], cases: { label: string; access: string; refresh: string }[]): PeerResult[] {
  return runPeerScript<PeerResult[]>(PEER_SCRIPT, { users, cases }, { REF_SIGNING_KEY: key });
}

const PEER_SUITE = 'interop: latchkey-minted tokens on the real SimpleJWT';
const missing = skipUnless(peerMissing(), PEER_SUITE);

describe(PEER_SUITE, { skip: missing }, () => {
  let s: TestServer;
  let other: TestServer;
  const cases: { label: string; user_id: number; access: string; refresh: string }[] = [];
  const foreign: { label: string; access: string; refresh: string }[] = [];

  before(async () => {
    // The real clock: the peer checks exp and iat against its own.
    s = await startServer({ env: { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' } });
    other = await startServer({ env: { LATCHKEY_SIGNING_KEY: OTHER_KEY } });
    await withUsers(s, USER_IDS);
    await withUsers(other, USER_IDS);
    for (const id of USER_IDS) {
      const login = await s.post('/api/token/', { username: `user${id}`, password: `pw-user${id}-123` });
      assert.equal(login.statusCode, 200, login.body);
      const pair = login.json() as { access: string; refresh: string };
      cases.push({ label: `login, user ${id}`, user_id: id, ...pair });
      const rotated = await s.post('/api/token/refresh/', { refresh: pair.refresh });
      assert.equal(rotated.statusCode, 200, rotated.body);
      cases.push({ label: `rotation, user ${id}`, user_id: id, ...(rotated.json() as { access: string; refresh: string }) });

      const otherLogin = await other.post('/api/token/', { username: `user${id}`, password: `pw-user${id}-123` });
      assert.equal(otherLogin.statusCode, 200, otherLogin.body);
      foreign.push({ label: `other key, user ${id}`, ...(otherLogin.json() as { access: string; refresh: string }) });
    }
  });
  after(async () => {
    await s?.close();
    await other?.close();
  });

  it('under the same key, SimpleJWT accepts every access and refresh token, for the right user', () => {
    const results = runPeer(TEST_KEY, USER_IDS, cases);
    assert.equal(results.length, cases.length);
    for (const [i, c] of cases.entries()) {
      const r = results[i]!;
      assert.equal(r.label, c.label);
      assert.deepEqual(r.authenticated, { ok: true, value: c.user_id }, `${c.label}: JWTAuthentication`);
      assert.deepEqual(r.access, { ok: true, value: c.user_id }, `${c.label}: AccessToken`);
      assert.deepEqual(r.refresh, { ok: true, value: c.user_id }, `${c.label}: RefreshToken`);
      assert.deepEqual(r.refresh_access, { ok: true, value: c.user_id }, `${c.label}: RefreshToken.access_token`);
      assert.deepEqual(r.untyped, { ok: true, value: ['access', 'refresh'] }, `${c.label}: UntypedToken`);
      assert.equal(r.access_as_refresh.ok, false, `${c.label}: an access token is not a RefreshToken`);
      assert.match(r.access_as_refresh.message ?? '', /Token has wrong type/);
      assert.equal(r.refresh_as_access.ok, false, `${c.label}: a refresh token is not an AccessToken`);
      assert.match(r.refresh_as_access.message ?? '', /Token has wrong type/);
    }
  });

  it('under a different key, SimpleJWT refuses them (control)', () => {
    const results = runPeer(TEST_KEY, USER_IDS, foreign);
    for (const r of results) {
      for (const check of ['authenticated', 'access', 'refresh', 'untyped'] as const) {
        assert.equal(r[check].ok, false, `${r.label}: ${check} should be refused, got ${JSON.stringify(r[check])}`);
      }
      assert.equal(r.authenticated.error, 'InvalidToken');
      assert.equal(r.refresh.error, 'TokenError');
      assert.match(r.refresh.message ?? '', /Token is invalid or expired/);
    }
  });
});
