// Two real latchkey processes on one PostgreSQL database and one Redis, as a
// user runs them behind a load balancer (README, "Running on PostgreSQL,
// several instances"). Runs when TEST_POSTGRES_URL and TEST_REDIS_URL are set.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { dropDatabase, freshDatabaseUrl, tempDir } from './helpers.js';

const PG = process.env.TEST_POSTGRES_URL;
const REDIS = process.env.TEST_REDIS_URL;
const CLI = new URL('../src/cli.js', import.meta.url).pathname;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

interface Instance {
  url: string;
  child: ChildProcess;
}

async function startInstance(env: NodeJS.ProcessEnv): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--workers', '1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`instance exited early:\n${output}`);
    try {
      await fetch(`${url}/`);
      return { url, child };
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`instance did not start:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function post(base: string, path: string, body: unknown) {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

describe(
  'several instances on one PostgreSQL and one Redis',
  { skip: !(PG && REDIS) && 'needs TEST_POSTGRES_URL and TEST_REDIS_URL' },
  () => {
    let a: Instance;
    let b: Instance;
    let env: NodeJS.ProcessEnv;
    let databaseUrl: string;
    const prefix = randomBytes(4).toString('hex');
    const username = (name: string) => `${name}-${prefix}`;

    before(async () => {
      databaseUrl = await freshDatabaseUrl('postgres');
      env = {
        ...process.env,
        LATCHKEY_DATA_DIR: tempDir(),
        LATCHKEY_DATABASE_URL: databaseUrl,
        LATCHKEY_REDIS_URL: REDIS,
        LATCHKEY_SIGNING_KEY: `multi-instance-shared-key-${prefix}-0123456789`,
        LATCHKEY_ROTATE_REFRESH_TOKENS: 'on',
        LATCHKEY_ROTATION_REUSE_INTERVAL: '0', // reuse revokes at once: no retry grace
        LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '4/60',
        LATCHKEY_LOG_LEVEL: 'warn',
      };
      // The README's order: migrate once, then start the instances.
      const migrate = spawnSync(process.execPath, [CLI, 'migrate'], { env, encoding: 'utf8' });
      assert.equal(migrate.status, 0, migrate.stderr);
      // Users before the instances: spawnSync blocks this process's event loop, and
      // a keep-alive socket left idle by the readiness probe meanwhile is closed by
      // the server under it (the next fetch failed).
      for (const name of ['alice', 'bob', 'carol', 'dave']) {
        const r = spawnSync(process.execPath, [CLI, 'createuser', '--username', username(name), '--password', `pw-${name}-12345`], {
          env,
          encoding: 'utf8',
        });
        assert.equal(r.status, 0, r.stderr);
      }
      // Each instance that did start is kept for `after` to stop, even when the other failed.
      const [sa, sb] = await Promise.allSettled([startInstance(env), startInstance(env)]);
      if (sa.status === 'fulfilled') a = sa.value;
      if (sb.status === 'fulfilled') b = sb.value;
      if (sa.status === 'rejected') throw sa.reason;
      if (sb.status === 'rejected') throw sb.reason;
    });

    after(async () => {
      for (const i of [a, b]) i?.child.kill('SIGTERM');
      await Promise.all([a, b].map((i) => i && new Promise((r) => (i.child.exitCode !== null ? r(null) : i.child.once('exit', r)))));
      await dropDatabase(databaseUrl);
      const redis = new Redis(REDIS!);
      await redis.flushdb();
      redis.disconnect();
    });

    const login = (inst: Instance, name: string) =>
      post(inst.url, '/api/token/', { username: username(name), password: `pw-${name}-12345` });

    it('a token issued by instance A refreshes on instance B', async () => {
      const pair = await login(a, 'alice');
      assert.equal(pair.status, 200);
      const r = await post(b.url, '/api/token/refresh/', { refresh: pair.body.refresh });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.access);
      const me = await fetch(`${a.url}/api/protected-endpoint/`, { headers: { authorization: `Bearer ${r.body.access}` } });
      assert.equal(me.status, 200);
    });

    it('a logout on instance A is refused on instance B', async () => {
      const pair = await login(a, 'bob');
      assert.equal((await post(a.url, '/api/auth/logout/', { refresh_token: pair.body.refresh })).status, 200);
      const r = await post(b.url, '/api/token/refresh/', { refresh: pair.body.refresh });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, { detail: 'Token is blacklisted', code: 'token_not_valid' });
      const v = await post(b.url, '/api/token/verify/', { token: pair.body.refresh });
      assert.equal(v.status, 401);
    });

    it('a rotation race across A and B has exactly one winner', async () => {
      const pair = await login(b, 'carol');
      const attempts = Array.from({ length: 20 }, (_, i) =>
        post(i % 2 ? a.url : b.url, '/api/token/refresh/', { refresh: pair.body.refresh }),
      );
      const results = await Promise.all(attempts);
      assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => r.status)));
      assert.ok(results.every((r) => r.status === 200 || r.status === 401));
    });

    it('login throttling counts failures on both instances together', async () => {
      const wrong = (inst: Instance) => post(inst.url, '/api/token/', { username: username('dave'), password: 'wrong-password' });
      // The limit is 4 failures per account: two on A and two on B use it up.
      for (const inst of [a, b, a, b]) assert.equal((await wrong(inst)).status, 401);
      const fifth = await wrong(a);
      assert.equal(fifth.status, 429);
      assert.match(fifth.body.detail!, /^Request was throttled\. Expected available in \d+ seconds?\.$/);
      // And the right password is refused too while the account is blocked, on either instance.
      assert.equal((await login(b, 'dave')).status, 429);
    });

    it('deactivating a user through the CLI is honoured by both instances at once', async () => {
      const pair = await login(a, 'alice');
      const headers = { authorization: `Bearer ${pair.body.access}` };
      // Both instances have now seen (and may cache) alice as active.
      for (const inst of [a, b]) assert.equal((await fetch(`${inst.url}/api/protected-endpoint/`, { headers })).status, 200);
      const r = spawnSync(process.execPath, [CLI, 'users', 'deactivate', username('alice')], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const inst of [a, b]) {
        const me = await fetch(`${inst.url}/api/protected-endpoint/`, { headers });
        assert.equal(me.status, 401);
        assert.deepEqual(await me.json(), { detail: 'User is inactive', code: 'user_inactive' });
      }
    });
  },
);
