// Readiness that tells the truth (issue 14, item 7): a real Redis, started
// here on its own port, goes away and comes back. While it is away requests
// are still served (throttling falls back to each instance's own counters), so
// /readyz stays 200 and says "degraded", and /metrics shows the dependency down.
// Only the database being unreachable makes /readyz 503.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from './helpers.js';

const HAS_REDIS = spawnSync('redis-server', ['--version']).status === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** A throwaway redis-server: no persistence, foreground, killed by the test. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return child;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start');
    await sleep(50);
  }
}

async function stopRedis(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** One sample of a metric line, e.g. `latchkey_dependency_up{dependency="redis"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('readiness with a Redis that goes away', { skip: !HAS_REDIS && 'redis-server is not installed' }, () => {
  let s: TestServer;
  let redis: ChildProcess | undefined;
  let port: number;

  const waitForReadyz = async (status: string) => {
    let r = await s.get('/readyz');
    for (let i = 0; i < 50 && (r.json() as { status: string }).status !== status; i++) {
      await sleep(100);
      r = await s.get('/readyz');
    }
    return r;
  };
  const metrics = async () => {
    const r = await s.get('/metrics');
    assert.equal(r.statusCode, 200);
    return r.body;
  };

  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    s = await startServer({ env: { LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_REDIS_URL: `redis://127.0.0.1:${port}/0` } });
    await s.user({ username: 'rhea', password: 'pw-readiness-123' });
  });

  after(async () => {
    await s?.close();
    await stopRedis(redis);
  });

  it('up: 200 "ok", and the gauges say so', async () => {
    const r = await waitForReadyz('ok');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), { status: 'ok', database: 'ok', redis: 'ok' });
    const m = await metrics();
    assert.equal(sample(m, 'latchkey_dependency_up{dependency="redis"}'), 1);
    assert.equal(sample(m, 'latchkey_dependency_up{dependency="database"}'), 1);
    assert.equal(sample(m, 'latchkey_ready'), 1);
  });

  it('Redis down: still 200, "degraded" with the fallback named; logins are served; /metrics shows Redis down', async () => {
    await stopRedis(redis);
    redis = undefined;
    const r = await waitForReadyz('degraded');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), {
      status: 'degraded',
      database: 'ok',
      redis: 'unreachable',
      fallback: { redis: 'throttling counters kept by each instance' },
    });
    const login = await s.post('/api/token/', { username: 'rhea', password: 'pw-readiness-123' });
    assert.equal(login.statusCode, 200, login.body);
    const m = await metrics();
    assert.equal(sample(m, 'latchkey_dependency_up{dependency="redis"}'), 0);
    assert.equal(sample(m, 'latchkey_dependency_up{dependency="database"}'), 1);
    assert.equal(sample(m, 'latchkey_ready'), 0.5);
  });

  it('Redis back: "ok" again, with no restart', async () => {
    redis = await startRedis(port);
    const r = await waitForReadyz('ok');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), { status: 'ok', database: 'ok', redis: 'ok' });
    assert.equal(sample(await metrics(), 'latchkey_dependency_up{dependency="redis"}'), 1);
  });

  it('database gone: 503 "unavailable", and latchkey_ready 0', async () => {
    await s.storage.close();
    const r = await s.get('/readyz');
    assert.equal(r.statusCode, 503, r.body);
    assert.equal((r.json() as { status: string }).status, 'unavailable');
    const m = await metrics();
    assert.equal(sample(m, 'latchkey_dependency_up{dependency="database"}'), 0);
    assert.equal(sample(m, 'latchkey_ready'), 0);
  });
});
