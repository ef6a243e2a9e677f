// latchkey's tokens with custom claims, non-default claim names and sliding
// tokens under the real SimpleJWT 5.2.2 (test/peer/simplejwt_peer.py),
// configured with the same settings: its JWTAuthentication finds the same
// user, its RefreshToken.access_token copies the custom claims, and its
// TokenRefreshSlidingSerializer refreshes latchkey's sliding token, which
// latchkey then takes back. Skipped where the Debian packages are missing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimsOf, skipUnless, startServer, TEST_KEY, type TestServer } from './helpers.js';
import { peerMissing, runPeerScript } from './simplejwt-peer.js';

/** Creates the users, then runs each case's token through SimpleJWT's classes. */
const PEER_SCRIPT = String.raw`
import json, sys
sys.path.insert(0, sys.argv[1])
import simplejwt_peer  # configures Django
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.serializers import TokenRefreshSlidingSerializer
from rest_framework_simplejwt.tokens import RefreshToken

req = json.load(sys.stdin)
for u in req["users"]:
    User.objects.create(id=u["id"], username=u["username"], email=u["email"], is_staff=u["is_staff"])

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:
        return {"ok": False, "error": type(e).__name__, "message": str(e)}

auth = JWTAuthentication()

def who(raw):
    token = auth.get_validated_token(raw.encode())
    user = auth.get_user(token)
    return {"pk": user.pk, "username": user.username, "claims": dict(token.payload)}

def slide(raw):
    s = TokenRefreshSlidingSerializer(data={"token": raw})
    s.is_valid(raise_exception=True)
    return s.validated_data["token"]

out = []
for c in req["cases"]:
    r = {"label": c["label"], "authenticated": attempt(lambda: who(c["bearer"]))}
    if "refresh" in c:
        r["refresh_access"] = attempt(lambda: dict(RefreshToken(c["refresh"]).access_token.payload))
    if c.get("slide"):
        r["slid"] = attempt(lambda: slide(c["bearer"]))
    out.append(r)
json.dump(out, sys.stdout)
`;

interface Outcome<T> {
  ok: boolean;
  value?: T;
  error?: string;
  message?: string;
}
interface PeerResult {
  label: string;
  authenticated: Outcome<{ pk: number; username: string; claims: Record<string, unknown> }>;
  refresh_access?: Outcome<Record<string, unknown>>;
  slid?: Outcome<string>;
}
interface PeerCase {
  label: string;
  bearer: string;
  refresh?: string;
  slide?: boolean;
}

const USERS = [
  { id: 7, username: 'ada', email: 'ada@example.com', is_staff: true },
  { id: 8, username: 'bob', email: 'bob@example.com', is_staff: false },
];

function runPeer(env: Record<string, string>, cases: PeerCase[]): PeerResult[] {
  return runPeerScript<PeerResult[]>(PEER_SCRIPT, { users: USERS, cases }, { ...env, REF_SIGNING_KEY: TEST_KEY });
}

/** The same settings on both sides: latchkey's LATCHKEY_X is the peer's REF_X. */
const SETUPS: { name: string; settings: Record<string, string> }[] = [
  { name: 'custom claims, default names', settings: {} },
  {
    name: 'custom claims, USER_ID_CLAIM uid, TOKEN_TYPE_CLAIM typ, JTI_CLAIM tid',
    settings: { USER_ID_CLAIM: 'uid', TOKEN_TYPE_CLAIM: 'typ', JTI_CLAIM: 'tid' },
  },
  { name: 'USER_ID_FIELD username, USER_ID_CLAIM sub', settings: { USER_ID_FIELD: 'username', USER_ID_CLAIM: 'sub' } },
];
const prefixed = (prefix: string, o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}${k}`, v]));

const PEER_SUITE = 'interop: latchkey tokens with custom claims and claim settings on the real SimpleJWT';
const missing = skipUnless(peerMissing(), PEER_SUITE);

for (const setup of SETUPS) {
  describe(`${PEER_SUITE}: ${setup.name}`, { skip: missing }, () => {
    let s: TestServer | undefined;
    const cases: PeerCase[] = [];
    const byUser = setup.settings.USER_ID_FIELD === 'username';
    const idClaim = setup.settings.USER_ID_CLAIM ?? 'user_id';
    let peerResults: PeerResult[] | undefined;
    const peer = () => (peerResults ??= runPeer({ ...prefixed('REF_', setup.settings), REF_AUTH_TOKEN_CLASSES: 'access,sliding' }, cases));
    before(async () => {
      // The real clock: the peer checks exp against its own.
      s = await startServer({
        env: {
          LATCHKEY_PRESETS: 'simplejwt,simplejwt-sliding',
          LATCHKEY_TOKEN_CLAIMS: 'username,email,is_staff',
          LATCHKEY_AUTH_TOKEN_CLASSES: 'access,sliding',
          LATCHKEY_ROTATE_REFRESH_TOKENS: 'on',
          ...prefixed('LATCHKEY_', setup.settings),
        },
      });
      for (const u of USERS) {
        await s.user({ username: u.username, password: `pw-${u.username}-12345`, email: u.email, id: u.id });
        await s.storage.updateUser(u.id, { is_staff: u.is_staff });
        const creds = { username: u.username, password: `pw-${u.username}-12345` };
        const pair = (await s.post('/api/token/', creds)).json() as { access: string; refresh: string };
        cases.push({ label: `login, ${u.username}`, bearer: pair.access, refresh: pair.refresh });
        const rotated = (await s.post('/api/token/refresh/', { refresh: pair.refresh })).json() as { access: string; refresh: string };
        cases.push({ label: `rotation, ${u.username}`, bearer: rotated.access, refresh: rotated.refresh });
        const sliding = (await s.post('/api/token/sliding/', creds)).json() as { token: string };
        cases.push({ label: `sliding, ${u.username}`, bearer: sliding.token, slide: true });
      }
    });
    after(() => s?.close());

    it('SimpleJWT configured the same way authenticates each token as the right user and reads the same claims', async () => {
      const results = peer();
      assert.equal(results.length, cases.length);
      for (const [i, c] of cases.entries()) {
        const r = results[i]!;
        const u = USERS[Math.floor(i / 3)]!;
        assert.equal(r.label, c.label);
        assert.ok(r.authenticated.ok, `${c.label}: ${JSON.stringify(r.authenticated)}`);
        const got = r.authenticated.value!;
        assert.deepEqual([got.pk, got.username], [u.id, u.username], c.label);
        assert.deepEqual(got.claims, claimsOf(c.bearer), `${c.label}: the claims SimpleJWT reads`);
        assert.equal(got.claims[idClaim], byUser ? u.username : u.id);
        assert.deepEqual([got.claims.username, got.claims.email, got.claims.is_staff], [u.username, u.email, u.is_staff]);
        if (c.refresh !== undefined) {
          // SimpleJWT's own access token from latchkey's refresh token copies the custom claims.
          const copied = r.refresh_access!;
          assert.ok(copied.ok, `${c.label}: ${JSON.stringify(copied)}`);
          assert.deepEqual([copied.value!.username, copied.value!.email, copied.value!.is_staff], [u.username, u.email, u.is_staff]);
          assert.equal(copied.value![idClaim], byUser ? u.username : u.id);
        }
      }
    });

    it('SimpleJWT refreshes latchkey’s sliding token, and latchkey takes the result back', async () => {
      const results = peer();
      for (const [i, c] of cases.entries()) {
        if (!c.slide) continue;
        const slid = results[i]!.slid!;
        assert.ok(slid.ok, `${c.label}: ${JSON.stringify(slid)}`);
        const before = claimsOf(c.bearer);
        const after = claimsOf(slid.value!);
        const jti = setup.settings.JTI_CLAIM ?? 'jti';
        assert.deepEqual([after[jti], after.refresh_exp, after[idClaim]], [before[jti], before.refresh_exp, before[idClaim]]);
        const me = await s!.get('/api/protected-endpoint/', slid.value!);
        assert.equal(me.statusCode, 200, me.body);
        const again = await s!.post('/api/token/sliding/refresh/', { token: slid.value! });
        assert.equal(again.statusCode, 200, again.body);
      }
    });

    // (Where the settings are the defaults, the control would be the test itself.)
    it('SimpleJWT with its default settings does not take them (control)', { skip: Object.keys(setup.settings).length === 0 }, () => {
      const results = runPeer({ REF_AUTH_TOKEN_CLASSES: 'access,sliding' }, cases);
      for (const r of results) assert.equal(r.authenticated.ok, false, `${r.label}: ${JSON.stringify(r.authenticated)}`);
    });
  });
}
