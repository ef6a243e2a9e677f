// Operations (issue 7): GET /healthz, GET /readyz (database and Redis, 503
// when either is gone) and GET /metrics (Prometheus, prom-client), including
// a scrape under load on a real socket.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { registerOps, PING_TIMEOUT_MS } from '../src/http/health-metrics.js';
import { MEMORY_FLAGS } from '../src/serve.js';
import { startServer, type TestServer } from './helpers.js';
import { startChild } from './security/support.js';

const PASSWORD = 'correct-horse-battery-1';

/** A token pair, as /api/token/ and /api/token/refresh/ answer it. */
interface Pair {
  access: string;
  refresh: string;
}

/** One sample of a Prometheus text exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(hits.length <= 1, `${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

async function scrape(s: TestServer): Promise<Sample[]> {
  const r = await s.get('/metrics');
  assert.equal(r.statusCode, 200, r.body);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4; charset=utf-8$/);
  return parseMetrics(r.body);
}

describe('ops: /healthz and /readyz', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('healthz answers 200 {"status":"ok"} and is never cached', async () => {
    const r = await s.get('/healthz');
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { status: 'ok' });
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  it('readyz answers 200 when the database is reachable and says Redis is not configured', async () => {
    const r = await s.get('/readyz');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json(), { status: 'ok', database: 'ok', redis: 'not configured' });
  });

  it('the ops routes are documented in the API schema, under their own tag (issue 15)', async () => {
    const r = await s.get('/api/schema/');
    assert.equal(r.statusCode, 200, `no API schema served: ${r.body}`);
    type Op = { tags?: string[]; operationId?: string; responses: Record<string, unknown> };
    const paths = (r.json() as { paths?: Record<string, Record<string, Op>> }).paths ?? {};
    assert.ok(paths['/api/token/'], `the schema lists no API routes: ${Object.keys(paths).join(', ')}`);
    for (const p of ['/healthz', '/readyz', '/metrics']) {
      const op = paths[p]?.get;
      assert.ok(op, `${p} is in the API schema`);
      assert.deepEqual(op.tags, ['operations']);
      assert.equal(op.operationId, `latchkey_${p.slice(1)}`);
      assert.ok(op.responses['200']);
      // Only GET: no HEAD or other methods documented.
      assert.deepEqual(Object.keys(paths[p]!), ['get']);
    }
    assert.ok(paths['/readyz']!.get!.responses['503'], 'readyz documents its 503');
  });

  it('readyz answers 503 naming the database once it is gone, while healthz stays 200', async () => {
    await s.storage.close();
    const started = Date.now();
    const r = await s.get('/readyz');
    assert.equal(r.statusCode, 503, r.body);
    assert.deepEqual(r.json(), { status: 'unavailable', database: 'unreachable', redis: 'not configured' });
    assert.ok(Date.now() - started < PING_TIMEOUT_MS + 1000, 'readyz took too long');
    assert.equal((await s.get('/healthz')).statusCode, 200);
  });
});

describe('ops: /readyz with Redis configured', () => {
  it('answers 200 "degraded" naming Redis when it is unreachable (throttling falls back to local counters), within the ping timeout', async () => {
    // Issue 14: Redis has a fallback, so its outage must not pull the instance
    // from a load balancer (this answered 503 before).
    const s = await startServer({ env: { LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_REDIS_URL: 'redis://127.0.0.1:1' } });
    try {
      const started = Date.now();
      const r = await s.get('/readyz');
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), {
        status: 'degraded',
        database: 'ok',
        redis: 'unreachable',
        fallback: { redis: 'throttling counters kept by each instance' },
      });
      assert.ok(Date.now() - started < PING_TIMEOUT_MS + 1000, 'readyz took too long');
    } finally {
      await s.close();
    }
  });

  it('answers 200 with a reachable Redis', { skip: !process.env.TEST_REDIS_URL && 'TEST_REDIS_URL is not set' }, async () => {
    const s = await startServer({ env: { LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_REDIS_URL: process.env.TEST_REDIS_URL! } });
    try {
      let r = await s.get('/readyz');
      // The connection may still be opening (then "degraded", 200 since issue 14).
      for (let i = 0; i < 20 && (r.statusCode !== 200 || (r.json() as { status: string }).status !== 'ok'); i++) {
        await new Promise((ok) => setTimeout(ok, 100));
        r = await s.get('/readyz');
      }
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), { status: 'ok', database: 'ok', redis: 'ok' });
    } finally {
      await s.close();
    }
  });

  it('never hangs on a dependency that does not answer', async () => {
    const app = Fastify({ logger: false });
    await registerOps(app, {
      pingDatabase: () => new Promise(() => {}),
      pingRedis: () => new Promise(() => {}),
      hashQueueDepth: () => 0,
      onAuthEvent: () => {},
    });
    try {
      const started = Date.now();
      const r = await app.inject('/readyz');
      const ms = Date.now() - started;
      assert.equal(r.statusCode, 503, r.body);
      assert.deepEqual(r.json(), { status: 'unavailable', database: 'unreachable', redis: 'unreachable' });
      assert.ok(ms >= PING_TIMEOUT_MS - 50 && ms < PING_TIMEOUT_MS + 1000, `answered after ${ms} ms`);
    } finally {
      await app.close();
    }
  });
});

describe('ops: /metrics counts', () => {
  let s: TestServer;
  before(async () => {
    // Over real sockets: the server counts what it answers (app.inject() is not counted).
    s = await startServer({
      network: true,
      env: {
        LATCHKEY_LOGIN_THROTTLE: 'on',
        LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '2/60',
        LATCHKEY_ROTATE_REFRESH_TOKENS: 'on',
        LATCHKEY_ROTATION_REUSE_INTERVAL: '0', // reuse revokes at once: no retry grace
      },
    });
    await s.user({ username: 'alice', password: PASSWORD });
  });
  after(() => s.close());

  it('starts with every login result at zero and an empty hash queue', async () => {
    const m = await scrape(s);
    for (const result of ['succeeded', 'failed', 'throttled']) assert.equal(value(m, 'latchkey_logins_total', { result }), 0, result);
    assert.equal(value(m, 'latchkey_refreshes_total'), 0);
    assert.equal(value(m, 'latchkey_refresh_reuse_detected_total'), 0);
    assert.equal(value(m, 'latchkey_hash_queue_depth'), 0);
    // prom-client's default process metrics, in this app's own registry.
    assert.ok(value(m, 'process_cpu_user_seconds_total') !== undefined, 'no default metrics');
    assert.ok(
      m.some((x) => x.name.startsWith('nodejs_eventloop_lag')),
      'no event loop metrics',
    );
  });

  it('shows exactly the logins, refreshes, reuse and requests that happened', async () => {
    const login = (username: string, password: string) => s.post('/api/token/', { username, password });
    const refresh = (token: string) => s.post('/api/token/refresh/', { refresh: token });

    const first = await login('alice', PASSWORD);
    assert.equal(first.statusCode, 200, first.body);
    const second = await login('alice', PASSWORD);
    assert.equal(second.statusCode, 200, second.body);
    for (let i = 0; i < 2; i++) assert.equal((await login('mallory', `guess-${i}`)).statusCode, 401);
    assert.equal((await login('mallory', 'guess-2')).statusCode, 429); // the account limit is 2/60

    const r1 = await refresh((first.json() as Pair).refresh);
    assert.equal(r1.statusCode, 200, r1.body);
    const r2 = await refresh((r1.json() as Pair).refresh);
    assert.equal(r2.statusCode, 200, r2.body);
    const reused = await refresh((r1.json() as Pair).refresh); // rotated out: reuse
    assert.equal(reused.statusCode, 401, reused.body);
    const r3 = await refresh((second.json() as Pair).refresh);
    assert.equal(r3.statusCode, 200, r3.body);

    assert.equal((await s.get('/api/protected-endpoint/', (r3.json() as Pair).access)).statusCode, 200);
    assert.equal((await s.get('/api/protected-endpoint/')).statusCode, 401);
    assert.equal((await s.get('/no/such/path?token=abc')).statusCode, 404);
    assert.equal((await s.get('/healthz')).statusCode, 200);
    assert.equal((await s.get('/readyz')).statusCode, 200);

    const m = await scrape(s);
    assert.equal(value(m, 'latchkey_logins_total', { result: 'succeeded' }), 2);
    assert.equal(value(m, 'latchkey_logins_total', { result: 'failed' }), 2);
    assert.equal(value(m, 'latchkey_logins_total', { result: 'throttled' }), 1);
    assert.equal(value(m, 'latchkey_refreshes_total'), 3);
    assert.equal(value(m, 'latchkey_refresh_reuse_detected_total'), 1);
    assert.equal(value(m, 'latchkey_hash_queue_depth'), 0);

    const requests = (route: string, method: string, status: string) => value(m, 'latchkey_http_requests_total', { route, method, status });
    assert.equal(requests('/api/token/', 'POST', '200'), 2);
    assert.equal(requests('/api/token/', 'POST', '401'), 2);
    assert.equal(requests('/api/token/', 'POST', '429'), 1);
    assert.equal(requests('/api/token/refresh/', 'POST', '200'), 3);
    assert.equal(requests('/api/token/refresh/', 'POST', '401'), 1);
    assert.equal(requests('/api/protected-endpoint/', 'GET', '200'), 1);
    assert.equal(requests('/api/protected-endpoint/', 'GET', '401'), 1);
    assert.equal(requests('unmatched', 'GET', '404'), 1);
    const series = m.filter((x) => x.name === 'latchkey_http_requests_total');
    assert.equal(series.length, 8, `unexpected request series: ${JSON.stringify(series)}`);
    // Route patterns only: never a raw URL, a query string, or the ops endpoints themselves.
    for (const x of m.filter((x) => x.name.startsWith('latchkey_http_'))) {
      assert.ok(!/[?]|\/no\/such|healthz|readyz|metrics/.test(x.labels.route ?? ''), `bad route label ${JSON.stringify(x.labels)}`);
    }

    // The latency histogram: cumulative buckets ending in +Inf, count and sum per route and method.
    const buckets = m.filter(
      (x) => x.name === 'latchkey_http_request_duration_seconds_bucket' && x.labels.route === '/api/token/' && x.labels.method === 'POST',
    );
    assert.deepEqual(
      buckets.map((b) => b.labels.le),
      ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'],
    );
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, 'buckets are not cumulative');
    assert.equal(buckets.at(-1)!.value, 5);
    const histo = { route: '/api/token/', method: 'POST' };
    assert.equal(value(m, 'latchkey_http_request_duration_seconds_count', histo), 5);
    const sum = value(m, 'latchkey_http_request_duration_seconds_sum', histo)!;
    assert.ok(sum > 0 && sum < 30, `implausible latency sum ${sum}`);
    assert.equal(value(m, 'latchkey_http_request_duration_seconds_count', { route: '/api/token/refresh/', method: 'POST' }), 4);
  });

  it('keeps one registry per app: a second app in the same process counts from zero', async () => {
    const other = await startServer();
    try {
      const m = await scrape(other);
      assert.equal(value(m, 'latchkey_logins_total', { result: 'succeeded' }), 0);
      assert.equal(m.filter((x) => x.name === 'latchkey_http_requests_total').length, 0);
      const mine = await scrape(s);
      assert.equal(value(mine, 'latchkey_logins_total', { result: 'succeeded' }), 2);
    } finally {
      await other.close();
    }
  });
});

describe('ops: /metrics scraped under load', () => {
  let s: TestServer;
  let base: string;
  before(async () => {
    s = await startServer();
    await s.user({ username: 'alice', password: PASSWORD });
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = s.app.server.address() as { port: number };
    base = `http://127.0.0.1:${port}`;
  });
  after(() => s.close());

  it('answers every scrape with 200 while 2000 protected requests run, and the counter only grows', async () => {
    const login = await fetch(`${base}/api/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });
    assert.equal(login.status, 200);
    const { access } = (await login.json()) as { access: string };

    const TOTAL = 2000;
    const BATCH = 200;
    const seen: number[] = [];
    const scrapeMs: number[] = [];
    let loading = true;
    const scraper = (async () => {
      while (loading) {
        const started = performance.now();
        const r = await fetch(`${base}/metrics`);
        const text = await r.text();
        scrapeMs.push(performance.now() - started);
        assert.equal(r.status, 200, text);
        const m = parseMetrics(text);
        seen.push(value(m, 'latchkey_http_requests_total', { route: '/api/protected-endpoint/', method: 'GET', status: '200' }) ?? 0);
      }
    })();
    try {
      for (let sent = 0; sent < TOTAL; sent += BATCH) {
        const statuses = await Promise.all(
          Array.from({ length: BATCH }, async () => {
            const r = await fetch(`${base}/api/protected-endpoint/`, { headers: { authorization: `Bearer ${access}` } });
            await r.arrayBuffer();
            return r.status;
          }),
        );
        assert.ok(
          statuses.every((st) => st === 200),
          `statuses: ${[...new Set(statuses)].join(',')}`,
        );
      }
    } finally {
      loading = false;
      await scraper;
    }

    const final = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    seen.push(value(final, 'latchkey_http_requests_total', { route: '/api/protected-endpoint/', method: 'GET', status: '200' })!);
    assert.equal(seen.at(-1), TOTAL);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `counter went down: ${seen[i - 1]} then ${seen[i]}`);
    assert.ok(seen.length >= 4, `only ${seen.length} scrapes during the load`);
    assert.ok(
      seen.some((v) => v > 0 && v < TOTAL),
      `no scrape landed mid-load: ${seen.join(',')}`,
    );
    assert.equal(value(final, 'latchkey_http_request_duration_seconds_count', { route: '/api/protected-endpoint/', method: 'GET' }), TOTAL);
    const sorted = [...scrapeMs].sort((a, b) => a - b);
    console.log(
      `# ${seen.length} scrapes under load; scrape ms median ${sorted[sorted.length >> 1]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)}`,
    );
  });
});

describe('ops: /metrics with serve --workers 2', () => {
  /** GET on a fresh connection each time, so that successive requests land on different workers. */
  const getFresh = (url: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      http
        .get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        })
        .on('error', reject);
    });

  it('answers every scrape with the counts of all workers together, whichever worker takes it', async () => {
    const child = await startChild({ env: { LATCHKEY_WORKERS: '2', LATCHKEY_LOG_LEVEL: 'info' } });
    // startChild returns once one worker answers; the primary says so when both listen.
    for (let i = 0; i < 300 && !child.output().includes('latchkey is serving'); i++) await new Promise((ok) => setTimeout(ok, 50));
    assert.match(child.output(), /latchkey is serving/);
    // The workers run with the V8 flags that keep their memory down.
    const workers = fs.readFileSync(`/proc/${child.proc.pid}/task/${child.proc.pid}/children`, 'utf8').trim().split(/\s+/);
    assert.equal(workers.length, 2);
    for (const pid of workers) {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      for (const flag of MEMORY_FLAGS) assert.ok(argv.includes(flag), `worker ${pid}: ${flag}`);
    }
    const count = (text: string) =>
      value(parseMetrics(text), 'latchkey_http_requests_total', { route: '/api/protected-endpoint/', method: 'GET', status: '401' }) ?? 0;
    try {
      // Scraped under load: every scrape 200, and the summed counter never goes down.
      const N = 400;
      const seen: number[] = [];
      let loading = true;
      const scraper = (async () => {
        while (loading) {
          const r = await getFresh(`${child.url}/metrics`);
          assert.equal(r.status, 200, r.text);
          seen.push(count(r.text));
        }
      })();
      try {
        for (let i = 0; i < N; i += 40) {
          await Promise.all(Array.from({ length: 40 }, () => getFresh(`${child.url}/api/protected-endpoint/`)));
        }
      } finally {
        loading = false;
        await scraper;
      }
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `counter went down: ${seen.join(', ')}`);
      // Then, at rest, every scrape (round-robin over the workers) reports the same total.
      const counts: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await getFresh(`${child.url}/metrics`);
        assert.equal(r.status, 200, r.text);
        counts.push(count(r.text));
        assert.ok((value(parseMetrics(r.text), 'latchkey_hash_queue_depth') ?? -1) >= 0);
      }
      // startChild's readiness probes add a few of their own.
      assert.ok(
        counts.every((c) => c === counts[0] && c >= N),
        `scrapes disagree: ${counts.join(', ')}`,
      );
    } finally {
      await child.stop();
    }
  });
});
