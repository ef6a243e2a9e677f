// latchkey/client against real servers, in-process, over real sockets: one
// server per preset. Each server's clock and each client's clock can be
// moved forward, so expiry is exercised without sleeping.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createClient,
  decodeJwtPayload,
  LatchkeyError,
  memoryStorage,
  webStorage,
  type FetchLike,
  type Tokens,
} from '../src/client/index.js';
import { startServer, type TestServer } from './helpers.js';

const PASSWORD = 'correct-horse-42';

interface Served {
  s: TestServer;
  base: string;
  /** Seconds added to the server's clock. */
  shift: { seconds: number };
}

async function serve(presets: string): Promise<Served> {
  const shift = { seconds: 0 };
  const s = await startServer({
    env: { LATCHKEY_PRESETS: presets, LATCHKEY_ROTATION_REUSE_INTERVAL: '0' }, // reuse revokes at once: no retry grace
    now: () => Math.floor(Date.now() / 1000) + shift.seconds,
  });
  const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
  return { s, base, shift };
}

/** A fetch that counts requests per path and can answer some itself. */
function countingFetch(intercept?: (url: URL) => Response | undefined) {
  const counts = new Map<string, number>();
  const authorizations: (string | null)[] = [];
  const f: FetchLike = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    const headers = new Headers(input instanceof Request ? input.headers : init?.headers);
    authorizations.push(headers.get('authorization'));
    const fake = intercept?.(url);
    if (fake) return fake;
    return fetch(input, init);
  };
  return { fetch: f, count: (path: string) => counts.get(path) ?? 0, authorizations };
}

/** A client clock that can be moved forward. */
function movableClock() {
  const state = { ms: 0 };
  return { now: () => Date.now() + state.ms, state };
}

function expOf(token: string): number {
  return decodeJwtPayload(token)!.exp as number;
}

async function rejectsWith(p: Promise<unknown>, status: number, check?: (e: LatchkeyError) => void): Promise<LatchkeyError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LatchkeyError, `expected a LatchkeyError, got ${String(e)}`);
    assert.equal(e.status, status, e.message);
    check?.(e);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('client: simplejwt', () => {
  let srv: Served;
  before(async () => {
    srv = await serve('simplejwt');
    await srv.s.user({ username: 'alice', password: 'pw-alice-123' });
  });
  after(() => srv.s.close());

  it('logs in, reaches the protected route, logs out by blacklisting', async () => {
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, storage, fetch: counter.fetch });
    assert.equal(await c.isAuthenticated(), false);
    assert.equal(await c.getAccessToken(), null);

    await c.login({ username: 'alice', password: 'pw-alice-123' });
    assert.equal(await c.isAuthenticated(), true);
    const res = await c.fetch('/api/protected-endpoint/');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'You have accessed a protected route!' });
    assert.match(counter.authorizations.at(-1)!, /^Bearer ey/);

    const { refresh } = (await storage.get())!;
    await c.logout();
    assert.equal(await storage.get(), null);
    assert.equal(counter.count('/api/token/blacklist/'), 1);
    const again = await srv.s.post('/api/token/refresh/', { refresh });
    assert.equal(again.statusCode, 401);
    assert.equal((again.json() as { detail: string }).detail, 'Token is blacklisted');

    // Logged out: no token, and the server says so.
    const anon = await c.fetch('/api/protected-endpoint/');
    assert.equal(anon.status, 401);
    assert.equal(counter.authorizations.at(-1), null);
  });

  it('surfaces a refused login as a typed LatchkeyError', async () => {
    const c = createClient({ baseUrl: srv.base });
    await rejectsWith(c.login({ username: 'alice', password: 'wrong' }), 401, (e) => {
      assert.deepEqual(e.body, { detail: 'No active account found with the given credentials' });
      assert.equal(e.detail, 'No active account found with the given credentials');
    });
    await rejectsWith(c.login({ username: '', password: 'x' }), 400, (e) => {
      assert.ok(e.fieldErrors?.username, JSON.stringify(e.body));
    });
    // simplejwt has no register route.
    await assert.rejects(c.register(undefined as never), /no register route/);
  });

  it('refreshes before expiry, within refreshSkewSeconds', async () => {
    const clock = movableClock();
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, storage, fetch: counter.fetch, now: clock.now, refreshSkewSeconds: 30 });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    const before = (await storage.get())!;

    // 40 s before expiry: nothing to do yet.
    clock.state.ms = (expOf(before.access) - 40) * 1000 - Date.now();
    assert.equal((await c.fetch('/api/protected-endpoint/')).status, 200);
    assert.equal(counter.count('/api/token/refresh/'), 0);

    // 10 s before expiry: refresh first, then one request with the new token.
    clock.state.ms = (expOf(before.access) - 10) * 1000 - Date.now();
    assert.equal((await c.fetch('/api/protected-endpoint/')).status, 200);
    assert.equal(counter.count('/api/token/refresh/'), 1);
    assert.equal(counter.count('/api/protected-endpoint/'), 2);
    const after = (await storage.get())!;
    assert.notEqual(after.access, before.access);
    assert.equal(after.refresh, before.refresh, 'simplejwt does not rotate');
    assert.equal(counter.authorizations.at(-1), `Bearer ${after.access}`);

    // The fresh token is good for the rest of its life: no further refresh.
    assert.equal((await c.fetch('/api/protected-endpoint/')).status, 200);
    assert.equal(await c.getAccessToken(), after.access);
    assert.equal(counter.count('/api/token/refresh/'), 1);
  });

  it('on a 401, refreshes once and retries once', async () => {
    const counter = countingFetch();
    const c = createClient({ baseUrl: srv.base, fetch: counter.fetch });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    // The server's clock runs past the access token's 5 minutes; the client's does not.
    srv.shift.seconds = 400;
    try {
      const res = await c.fetch(new Request(new URL('/api/protected-endpoint/', srv.base)));
      assert.equal(res.status, 200);
      assert.equal(counter.count('/api/protected-endpoint/'), 2);
      assert.equal(counter.count('/api/token/refresh/'), 1);
    } finally {
      srv.shift.seconds = 0;
    }
  });

  it('does not loop when the retry is refused as well', async () => {
    const counter = countingFetch((url) =>
      url.pathname === '/api/protected-endpoint/' ? new Response(JSON.stringify({ detail: 'nope' }), { status: 401 }) : undefined,
    );
    const c = createClient({ baseUrl: srv.base, fetch: counter.fetch });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    const res = await c.fetch('/api/protected-endpoint/');
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { detail: 'nope' });
    assert.equal(counter.count('/api/protected-endpoint/'), 2);
    assert.equal(counter.count('/api/token/refresh/'), 1);
  });

  it('10 concurrent fetches that need a refresh share one refresh (before expiry)', async () => {
    const clock = movableClock();
    const counter = countingFetch();
    const c = createClient({ baseUrl: srv.base, fetch: counter.fetch, now: clock.now });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    clock.state.ms = 299_000;
    const results = await Promise.all(Array.from({ length: 10 }, () => c.fetch('/api/protected-endpoint/')));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(counter.count('/api/token/refresh/'), 1);
    assert.equal(counter.count('/api/protected-endpoint/'), 10);
  });

  it('10 concurrent fetches refused with 401 share one refresh', async () => {
    const counter = countingFetch();
    const c = createClient({ baseUrl: srv.base, fetch: counter.fetch });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    srv.shift.seconds = 400;
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => c.fetch('/api/protected-endpoint/')));
      assert.deepEqual(
        results.map((r) => r.status),
        Array(10).fill(200),
      );
      assert.equal(counter.count('/api/token/refresh/'), 1);
      assert.equal(counter.count('/api/protected-endpoint/'), 20);
    } finally {
      srv.shift.seconds = 0;
    }
  });

  it('a refresh token revoked elsewhere fails fetch with 401 and clears storage', async () => {
    const clock = movableClock();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, storage, now: clock.now });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    const { refresh } = (await storage.get())!;
    // Logged out elsewhere (another device holding the same refresh token).
    assert.equal((await srv.s.post('/api/token/blacklist/', { refresh })).statusCode, 200);
    clock.state.ms = 299_000;
    await rejectsWith(c.fetch('/api/protected-endpoint/'), 401, (e) => {
      assert.equal(e.code, 'token_not_valid');
      assert.equal(e.detail, 'Token is blacklisted');
    });
    assert.equal(await storage.get(), null);
    assert.equal(await c.isAuthenticated(), false);
    // An explicit refresh now has nothing to refresh.
    await rejectsWith(c.refresh(), 401, (e) => assert.equal(e.code, 'not_authenticated'));
  });

  it('clients sharing one memoryStorage share the session', async () => {
    const storage = memoryStorage();
    const a = createClient({ baseUrl: srv.base, storage });
    await a.login({ username: 'alice', password: 'pw-alice-123' });
    const b = createClient({ baseUrl: srv.base, storage });
    assert.equal(await b.isAuthenticated(), true);
    assert.equal((await b.fetch('/api/protected-endpoint/')).status, 200);
    const refreshed = await b.refresh();
    assert.deepEqual(await a.getTokens(), refreshed);
    await b.logout();
    assert.equal(await a.isAuthenticated(), false);
  });

  it('sends the token only to baseUrl and authorizedOrigins, and keeps a caller Authorization', async () => {
    const counter = countingFetch((url) => (url.hostname === '127.0.0.1' ? undefined : new Response('{}')));
    const c = createClient({
      baseUrl: srv.base,
      fetch: counter.fetch,
      authorizedOrigins: ['https://api.example.com'],
    });
    await c.login({ username: 'alice', password: 'pw-alice-123' });
    await c.fetch('https://elsewhere.example.com/x');
    assert.equal(counter.authorizations.at(-1), null);
    await c.fetch('https://api.example.com/x');
    assert.match(counter.authorizations.at(-1)!, /^Bearer /);
    await c.fetch('/api/protected-endpoint/', { headers: { Authorization: 'Bearer mine' } });
    assert.equal(counter.authorizations.at(-1), 'Bearer mine');
  });
});

describe('client: auth-root (rotating refresh tokens)', () => {
  let srv: Served;
  before(async () => {
    srv = await serve('auth-root');
  });
  after(() => srv.s.close());

  it('registers, logs in, reaches /auth/getuser; logout clears locally', async () => {
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'auth-root', storage, fetch: counter.fetch });
    const registered = await c.register({ username: 'sam', password: PASSWORD });
    assert.deepEqual(registered, {});
    assert.equal(await c.isAuthenticated(), true);
    const me = await c.fetch('/auth/getuser');
    assert.deepEqual(await me.json(), { username: 'sam' });

    await rejectsWith(c.register({ username: 'sam', password: PASSWORD }), 409, (e) =>
      assert.deepEqual(e.body, { detail: 'User already exists' }),
    );

    await c.logout();
    assert.equal(await storage.get(), null);
    await c.login({ username: 'sam', password: PASSWORD });
    assert.equal((await c.fetch('/auth/getuser')).status, 200);
    const requests = counter.count('/auth/token') + counter.count('/auth/register') + counter.count('/auth/getuser');
    assert.equal(requests, 5, 'logout made no request: the preset has no logout route');
  });

  it('refresh stores the rotated refresh token', async () => {
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'auth-root', storage });
    await c.login({ username: 'sam', password: PASSWORD });
    const first = (await storage.get())!;
    const second = await c.refresh();
    assert.notEqual(second.refresh, first.refresh);
    assert.deepEqual(await storage.get(), second);
    const third = await c.refresh();
    assert.notEqual(third.refresh, second.refresh);
    assert.equal((await c.fetch('/auth/getuser')).status, 200);
  });

  it('10 concurrent fetches needing a refresh: one rotation, all succeed, the family survives', async () => {
    const clock = movableClock();
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'auth-root', storage, fetch: counter.fetch, now: clock.now });
    await c.login({ username: 'sam', password: PASSWORD });
    clock.state.ms = 299_000;
    const results = await Promise.all(Array.from({ length: 10 }, () => c.fetch('/auth/getuser')));
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(counter.count('/auth/token/refresh'), 1);

    // Not revoked: the stored (rotated) refresh token still works, on the server and in the client.
    const { refresh } = (await storage.get())!;
    const verify = await srv.s.post('/auth/token/verify', { token: refresh });
    assert.equal(verify.statusCode, 200);
    await c.refresh();
    assert.equal((await c.fetch('/auth/getuser')).status, 200);
  });

  it('10 concurrent fetches refused with 401: one rotation, all succeed', async () => {
    const counter = countingFetch();
    const c = createClient({ baseUrl: srv.base, preset: 'auth-root', fetch: counter.fetch });
    await c.login({ username: 'sam', password: PASSWORD });
    srv.shift.seconds = 400;
    try {
      const results = await Promise.all(Array.from({ length: 10 }, () => c.fetch('/auth/getuser')));
      assert.deepEqual(
        results.map((r) => r.status),
        Array(10).fill(200),
      );
      assert.equal(counter.count('/auth/token/refresh'), 1);
      await c.refresh();
    } finally {
      srv.shift.seconds = 0;
    }
  });

  it('two clients sharing one storage refresh once between them', async () => {
    const clock = movableClock();
    const counter = countingFetch();
    const storage = memoryStorage();
    const opts = { baseUrl: srv.base, preset: 'auth-root', storage, fetch: counter.fetch, now: clock.now } as const;
    const a = createClient(opts);
    const b = createClient(opts);
    await a.login({ username: 'sam', password: PASSWORD });
    clock.state.ms = 299_000;
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => a.fetch('/auth/getuser')),
      ...Array.from({ length: 5 }, () => b.fetch('/auth/getuser')),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.equal(counter.count('/auth/token/refresh'), 1);
    await b.refresh();
    assert.equal((await a.fetch('/auth/getuser')).status, 200);
  });

  it('a revoked family fails fetch with 401 and clears storage', async () => {
    const clock = movableClock();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'auth-root', storage, now: clock.now });
    await c.login({ username: 'sam', password: PASSWORD });
    const stolen = (await storage.get())!.refresh;
    await c.refresh();
    // Someone replays the rotated-out token: the server revokes the whole family.
    assert.equal((await srv.s.post('/auth/token/refresh', { refresh: stolen })).statusCode, 401);
    clock.state.ms = 299_000;
    await rejectsWith(c.fetch('/auth/getuser'), 401, (e) => assert.equal(e.code, 'token_not_valid'));
    assert.equal(await storage.get(), null);
  });
});

describe('client: api-auth', () => {
  let srv: Served;
  before(async () => {
    srv = await serve('api-auth');
  });
  after(() => srv.s.close());

  it('registers (tokens from content), refreshes, logs out with refresh_token', async () => {
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'api-auth', storage, fetch: counter.fetch });
    const profile = await c.register({
      username: 'jane',
      password: PASSWORD,
      email: 'jane@example.com',
      first_name: 'Jane',
      last_name: 'Doe',
    });
    assert.deepEqual(
      { ...profile, pk: typeof profile.pk },
      { pk: 'number', username: 'jane', email: 'jane@example.com', first_name: 'Jane', last_name: 'Doe', profile_image: null },
    );
    assert.ok(!('tokens' in profile));
    const registered = (await storage.get())!;
    assert.equal(decodeJwtPayload(registered.access)!.token_type, 'access');

    const refreshed = await c.refresh();
    assert.notEqual(refreshed.access, registered.access);
    assert.equal(counter.count('/api/auth/refresh/'), 1);

    await c.logout();
    assert.equal(counter.count('/api/auth/logout/'), 1);
    assert.equal(await storage.get(), null);
    const again = await srv.s.post('/api/auth/refresh/', { refresh: refreshed.refresh });
    assert.equal(again.statusCode, 401);
  });

  it('logs in; error bodies keep the {error} envelope and field errors', async () => {
    const c = createClient({ baseUrl: srv.base, preset: 'api-auth' });
    await c.login({ username: 'jane', password: PASSWORD });
    assert.equal(await c.isAuthenticated(), true);
    await rejectsWith(c.login({ username: 'jane', password: 'nope' }), 401, (e) => {
      assert.deepEqual(e.body, { error: 'No active account found with the given credentials' });
      assert.equal(e.detail, 'No active account found with the given credentials');
    });
    await rejectsWith(c.register({ username: 'joe', password: 'password' }), 400, (e) => {
      assert.deepEqual(e.body, { error: 'password: This password is too common.' });
      assert.equal(e.message, 'password: This password is too common.');
    });
  });

  it('logout of a token already revoked still logs out locally', async () => {
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'api-auth', storage });
    await c.login({ username: 'jane', password: PASSWORD });
    const { refresh } = (await storage.get())!;
    assert.equal((await srv.s.post('/api/auth/logout/', { refresh_token: refresh })).statusCode, 200);
    await c.logout();
    assert.equal(await storage.get(), null);
  });
});

describe('client: users', () => {
  let srv: Served;
  before(async () => {
    srv = await serve('users');
  });
  after(() => srv.s.close());

  it('registers (no tokens), then logs in by itself; logs in by phone or username', async () => {
    const counter = countingFetch();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'users', storage, fetch: counter.fetch });
    const user = await c.register({ username: 'ravi', password: PASSWORD, phone_number: '+919876543210' });
    assert.deepEqual({ ...user, id: typeof user.id }, { id: 'number', username: 'ravi' });
    assert.equal(counter.count('/api/users/login/'), 1);
    assert.equal(await c.isAuthenticated(), true);

    await c.logout();
    assert.equal(await storage.get(), null);
    await c.login({ login: '+919876543210', password: PASSWORD });
    assert.equal(await c.isAuthenticated(), true);
    await c.login({ username: 'ravi', password: PASSWORD });
    const refreshed = await c.refresh();
    assert.equal(counter.count('/api/token/refresh/'), 1);
    assert.equal(decodeJwtPayload(refreshed.access)!.user_id, user.id);

    await rejectsWith(c.register({ username: 'ravi2', password: PASSWORD, phone_number: '+919876543210' }), 400, (e) =>
      assert.deepEqual(e.body, { error: 'A user with this phone number already exists.' }),
    );
    await rejectsWith(c.login({ login: 'ravi', password: 'wrong' }), 401, (e) =>
      assert.deepEqual(e.body, { error: 'Invalid credentials' }),
    );
  });
});

describe('client: phone', () => {
  let srv: Served;
  before(async () => {
    srv = await serve('phone');
    await srv.s.user({ username: 'alice', password: 'pw-alice-123', phone_number: '+919876543210' });
  });
  after(() => srv.s.close());

  it('logs in with the phone number as username, refreshes, logs out locally', async () => {
    const storage = memoryStorage();
    const c = createClient({ baseUrl: srv.base, preset: 'phone', storage });
    await c.login({ username: '+919876543210', password: 'pw-alice-123' });
    const first = (await storage.get())!;
    const refreshed = await c.refresh();
    assert.equal(refreshed.refresh, first.refresh);
    await c.logout();
    assert.equal(await storage.get(), null);
    await c.login({ phone_number: '+919876543210', password: 'pw-alice-123' });
    assert.equal(await c.isAuthenticated(), true);
    await rejectsWith(c.login({ username: '+919876543210', password: 'nope' }), 401, (e) =>
      assert.deepEqual(e.body, { error: 'Invalid username or password' }),
    );
    // A dead refresh token clears the session.
    await storage.set({ ...(await storage.get())!, refresh: 'garbage' });
    await rejectsWith(c.refresh(), 401, (e) => assert.deepEqual(e.body, { error: 'Invalid or expired refresh token' }));
    assert.equal(await storage.get(), null);
  });
});

describe('client: offline pieces', () => {
  it('webStorage keeps tokens as JSON and ignores junk', async () => {
    const map = new Map<string, string>();
    const store = {
      getItem: (k: string) => map.get(k) ?? null,
      setItem: (k: string, v: string) => void map.set(k, v),
      removeItem: (k: string) => void map.delete(k),
    };
    const st = webStorage(store, 'k');
    const t: Tokens = { access: 'a', refresh: 'r' };
    await st.set(t);
    assert.deepEqual(JSON.parse(map.get('k')!), t);
    assert.deepEqual(await st.get(), t);
    map.set('k', 'not json');
    assert.equal(await st.get(), null);
    await st.set(null);
    assert.equal(map.has('k'), false);
  });

  it('decodes JWT payloads with non-ASCII text, and refuses non-JWTs', () => {
    const payload = { exp: 1, name: 'Zoë ✓' };
    const b64 = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(payload))))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
    assert.deepEqual(decodeJwtPayload(`x.${b64}.y`), payload);
    assert.equal(decodeJwtPayload('garbage'), null);
    assert.equal(decodeJwtPayload('a.!!!.c'), null);
  });

  it('keeps a path prefix in baseUrl', async () => {
    const seen: string[] = [];
    const c = createClient({
      baseUrl: 'https://example.com/auth-svc/',
      fetch: async (input) => {
        seen.push(input instanceof Request ? input.url : String(input));
        return new Response(JSON.stringify({ refresh: 'r', access: 'a' }));
      },
    });
    await c.login({ username: 'u', password: 'p' });
    assert.deepEqual(seen, ['https://example.com/auth-svc/api/token/']);
  });
});

describe('client: request bodies and fallbacks (fake server)', () => {
  /** A fake latchkey: tokens with real exp/iat, a protected /echo that refuses the first token it sees. */
  function fakeServer(opts: { refreshStatus?: number } = {}) {
    const enc = (o: object) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    let n = 0;
    const token = (type: string) => {
      const now = Math.floor(Date.now() / 1000);
      return `${enc({ alg: 'HS256' })}.${enc({ token_type: type, exp: now + 300, iat: now, jti: String(++n) })}.sig`;
    };
    const calls: string[] = [];
    const refused = new Set<string>();
    const f: FetchLike = async (input, init) => {
      const req = new Request(input, init);
      const path = new URL(req.url).pathname;
      calls.push(path);
      if (path === '/api/token/') return Response.json({ refresh: token('refresh'), access: token('access') });
      if (path === '/api/token/refresh/') {
        if (opts.refreshStatus) return Response.json({ detail: 'down' }, { status: opts.refreshStatus });
        return Response.json({ access: token('access') });
      }
      const auth = req.headers.get('authorization') ?? '';
      if (refused.size === 0) {
        refused.add(auth);
        return Response.json({ detail: 'Token is invalid or expired' }, { status: 401 });
      }
      if (refused.has(auth)) return Response.json({ detail: 'again' }, { status: 401 });
      return new Response(await req.text());
    };
    return { fetch: f, calls };
  }

  it('replays a Request body and a streamed body on the retry', async () => {
    const fake = fakeServer();
    const c = createClient({ baseUrl: 'https://auth.example.com', fetch: fake.fetch });
    await c.login({ username: 'u', password: 'p' });
    const res = await c.fetch(new Request('https://auth.example.com/echo', { method: 'POST', body: 'hello' }));
    assert.equal(await res.text(), 'hello');
    assert.deepEqual(fake.calls, ['/api/token/', '/echo', '/api/token/refresh/', '/echo']);

    const fake2 = fakeServer();
    const c2 = createClient({ baseUrl: 'https://auth.example.com', fetch: fake2.fetch });
    await c2.login({ username: 'u', password: 'p' });
    const stream = new Blob(['streamed']).stream();
    const res2 = await c2.fetch('/echo', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(await res2.text(), 'streamed');
    assert.deepEqual(fake2.calls, ['/api/token/', '/echo', '/api/token/refresh/', '/echo']);
  });

  it('a failing (non-401) refresh before expiry falls back to the still-valid access token', async () => {
    const fake = fakeServer({ refreshStatus: 503 });
    const clock = movableClock();
    const storage = memoryStorage();
    const c = createClient({ baseUrl: 'https://auth.example.com', fetch: fake.fetch, storage, now: clock.now });
    await c.login({ username: 'u', password: 'p' });
    const { access } = (await storage.get())!;
    clock.state.ms = 280_000; // 20 s left: inside the skew, not expired
    assert.equal(await c.getAccessToken(), access);
    assert.ok(await storage.get(), 'a 503 does not end the session');
    clock.state.ms = 301_000; // expired: the failure surfaces
    await rejectsWith(c.getAccessToken(), 503);
    assert.ok(await storage.get());
  });
});
