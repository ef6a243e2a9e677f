// Database faults: when the database cannot be reached, refresh and verify fail
// closed with 503, Retry-After and a DRF body; they never answer 200 (a
// revoked token must not slip through) and never 500. SQLite: the storage is
// closed under the running app. PostgreSQL (when TEST_POSTGRES_URL is set):
// the server reaches the database through a TCP relay that the test cuts, and
// separately every backend is terminated with pg_terminate_backend.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freshDatabaseUrl, startServer, type TestServer } from '../helpers.js';
import { assertDrfBody, childEnv, postJson, runCli, sleep, startChild, scratchDir, type ChildServer } from './support.js';

const PASSWORD = 'correct-horse-battery-1';
const PG = process.env.TEST_POSTGRES_URL;

interface Tokens {
  live: { access: string; refresh: string };
  revoked: { access: string; refresh: string };
}

async function prepare(s: TestServer): Promise<Tokens> {
  await s.user({ username: 'alice', password: PASSWORD });
  const login = async () => {
    const r = await s.post('/api/token/', { username: 'alice', password: PASSWORD });
    assert.equal(r.statusCode, 200, r.body);
    return r.json() as { access: string; refresh: string };
  };
  const live = await login();
  const revoked = await login();
  assert.equal((await s.post('/api/token/blacklist/', { refresh: revoked.refresh })).statusCode, 200);
  return { live, revoked };
}

function assertUnavailable(r: { statusCode: number; body: string; headers: Record<string, unknown> }, label: string) {
  assert.notEqual(r.statusCode, 200, `${label}: answered 200 with the database down`);
  assert.equal(r.statusCode, 503, `${label}: ${r.statusCode} ${r.body}`);
  assertDrfBody(JSON.parse(r.body), label);
  assert.ok(Number(r.headers['retry-after']) >= 1, `${label}: no Retry-After`);
}

/** Refresh, verify and logout with the database down: 503, never 200. Login and the protected route: never 200, never 500. */
async function checkFailsClosed(s: TestServer, t: Tokens) {
  assertUnavailable(await s.post('/api/token/refresh/', { refresh: t.live.refresh }), 'refresh (live token)');
  assertUnavailable(await s.post('/api/token/refresh/', { refresh: t.revoked.refresh }), 'refresh (logged-out token)');
  assertUnavailable(await s.post('/api/token/verify/', { token: t.live.access }), 'verify (access)');
  assertUnavailable(await s.post('/api/token/verify/', { token: t.live.refresh }), 'verify (refresh)');
  assertUnavailable(await s.post('/api/token/verify/', { token: t.revoked.refresh }), 'verify (logged-out refresh)');
  assertUnavailable(await s.post('/api/token/blacklist/', { refresh: t.live.refresh }), 'logout');
  for (const [label, r] of [
    ['login', await s.post('/api/token/', { username: 'alice', password: PASSWORD })],
    ['protected route', await s.get('/api/protected-endpoint/', t.live.access)],
  ] as const) {
    assert.ok(r.statusCode !== 200 && (r.statusCode < 500 || r.statusCode === 503), `${label}: ${r.statusCode} ${r.body}`);
  }
}

describe('database unavailable: SQLite storage closed', () => {
  let s: TestServer;
  let tokens: Tokens;
  before(async () => {
    s = await startServer();
    tokens = await prepare(s);
  });
  after(async () => {
    await s.app.close().catch(() => {});
    await s.close().catch(() => {});
  });

  it('refresh and verify fail closed with 503 + Retry-After when the SQLite database is gone', async () => {
    await s.storage.close();
    await checkFailsClosed(s, tokens);
  });
});

/** A TCP relay to PostgreSQL that the test can cut, as if the database host vanished. */
async function pgRelay(real: URL) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(real.port || 5432), real.hostname);
    for (const sock of [client, upstream]) {
      sockets.add(sock);
      sock.on('error', () => {});
      sock.on('close', () => sockets.delete(sock));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(real);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return {
    url: url.toString(),
    /** Stops accepting and resets every open connection. */
    cut: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const sock of sockets) sock.destroy();
      }),
  };
}

describe('database unavailable: PostgreSQL unreachable (relay cut)', { skip: PG ? false : 'TEST_POSTGRES_URL is not set' }, () => {
  let s: TestServer;
  let tokens: Tokens;
  let relay: Awaited<ReturnType<typeof pgRelay>>;
  before(async () => {
    relay = await pgRelay(new URL(await freshDatabaseUrl('postgres')));
    s = await startServer({ dialect: 'postgres', env: { LATCHKEY_DATABASE_URL: relay.url } });
    tokens = await prepare(s);
  });
  after(async () => {
    await relay?.cut();
    await s?.close().catch(() => {});
  });

  it('refresh and verify fail closed with 503 + Retry-After from the moment PostgreSQL cannot be reached', async () => {
    // The database vanishes: open connections reset, new ones refused. No grace period.
    await relay.cut();
    await checkFailsClosed(s, tokens);
  });
});

describe('database unavailable: PostgreSQL unreachable under latchkey serve', { skip: PG ? false : 'TEST_POSTGRES_URL is not set' }, () => {
  let relay: Awaited<ReturnType<typeof pgRelay>>;
  let server: ChildServer | undefined;
  before(async () => {
    const dir = scratchDir('latchkey-pgdown-');
    relay = await pgRelay(new URL(await freshDatabaseUrl('postgres')));
    const env = { LATCHKEY_DATABASE_URL: relay.url };
    const r = await runCli(['createuser', '--username', 'alice', '--password', PASSWORD], childEnv(dir, env));
    assert.equal(r.code, 0, r.stderr);
    server = await startChild({ dir, env });
  });
  after(async () => {
    await server?.stop();
    await relay?.cut();
  });

  it('the server survives the database vanishing mid-traffic and answers refresh/verify with 503, never 500, never a dropped connection', async () => {
    const url = server!.url;
    const login = await postJson(`${url}/api/token/`, { username: 'alice', password: PASSWORD });
    assert.equal(login.status, 200, login.text);
    const { access, refresh } = login.json as { access: string; refresh: string };
    const answers: { label: string; status: number; retry: string | null; text: string; at: number }[] = [];
    let cutAt = Infinity;
    const started = Date.now();
    // Five clients keep verifying and refreshing; the database vanishes while they do.
    const client = async (n: number) => {
      for (let i = 0; Date.now() - started < 1500; i++) {
        const [label, path, body] =
          (n + i) % 2
            ? (['verify', '/api/token/verify/', { token: access }] as const)
            : (['refresh', '/api/token/refresh/', { refresh }] as const);
        const r = await postJson(`${url}${path}`, body).catch((err: Error) => ({
          status: 0,
          headers: new Headers(),
          text: `no answer: ${err.message}`,
          json: {},
        }));
        answers.push({
          label: `${label} (client ${n}, #${i})`,
          status: r.status,
          retry: r.headers.get('retry-after'),
          text: r.text,
          at: Date.now(),
        });
      }
    };
    const cut = (async () => {
      await sleep(300);
      cutAt = Date.now();
      await relay.cut();
    })();
    await Promise.all([cut, ...Array.from({ length: 5 }, (_, n) => client(n))]);
    await sleep(200);
    const alive = server!.proc.exitCode === null && server!.proc.signalCode === null;
    assert.ok(alive, `latchkey serve died when the database vanished (exit ${server!.proc.exitCode}):\n${server!.output().slice(-2500)}`);
    const settled = answers.filter((a) => a.at > cutAt + 300);
    assert.ok(settled.length > 0, 'no request was answered after the database vanished');
    for (const a of answers) {
      assert.ok(a.status === 200 || a.status === 503, `${a.label}, ${a.at - cutAt} ms after the cut: ${a.status} ${a.text.slice(0, 300)}`);
      if (a.status === 503) {
        assert.ok(Number(a.retry) >= 1, `${a.label}: no Retry-After`);
        assertDrfBody(JSON.parse(a.text), a.label);
      }
    }
    for (const a of settled) assert.equal(a.status, 503, `${a.label}, ${a.at - cutAt} ms after the cut: ${a.status}`);
  });
});

describe('database unavailable: PostgreSQL backends terminated', { skip: PG ? false : 'TEST_POSTGRES_URL is not set' }, () => {
  let s: TestServer;
  let tokens: Tokens;
  // Only this server's connections are killed: other suites may share the database.
  const appName = `latchkey_sec_${process.pid}_${Date.now()}`;
  before(async () => {
    const url = new URL(await freshDatabaseUrl('postgres'));
    url.searchParams.set('application_name', appName);
    s = await startServer({ dialect: 'postgres', env: { LATCHKEY_DATABASE_URL: url.toString() } });
    tokens = await prepare(s);
  });
  after(() => s?.close());

  it('when every server connection is killed (pg_terminate_backend), a logged-out token is never accepted and nothing answers 500', async () => {
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    try {
      for (let round = 0; round < 3; round++) {
        const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
        if (round === 0) assert.ok(killed.rowCount! >= 1, 'found no server connection to terminate');
        const answers = await Promise.all([
          s.post('/api/token/refresh/', { refresh: tokens.revoked.refresh }),
          s.post('/api/token/verify/', { token: tokens.revoked.refresh }),
          s.post('/api/token/refresh/', { refresh: tokens.live.refresh }),
          s.post('/api/token/verify/', { token: tokens.live.access }),
        ]);
        const [revRefresh, revVerify, liveRefresh, liveVerify] = answers;
        assert.ok(
          [401, 503].includes(revRefresh!.statusCode),
          `round ${round}: logged-out refresh got ${revRefresh!.statusCode} ${revRefresh!.body}`,
        );
        assert.ok(
          [401, 503].includes(revVerify!.statusCode),
          `round ${round}: logged-out verify got ${revVerify!.statusCode} ${revVerify!.body}`,
        );
        assert.ok(
          [200, 503].includes(liveRefresh!.statusCode),
          `round ${round}: live refresh got ${liveRefresh!.statusCode} ${liveRefresh!.body}`,
        );
        assert.ok(
          [200, 503].includes(liveVerify!.statusCode),
          `round ${round}: live verify got ${liveVerify!.statusCode} ${liveVerify!.body}`,
        );
        for (const r of answers) if (r.statusCode === 503) assertUnavailable(r, `round ${round}`);
      }
    } finally {
      await admin.end();
    }
  });
});
