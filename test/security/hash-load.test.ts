// Hashing under load: a login storm must not exhaust memory, stall the event
// loop or starve other routes. Hashes run with bounded concurrency behind a
// bounded, time-limited queue; the excess is refused with 503 (or 429), never
// 500, never left hanging.
import assert from 'node:assert/strict';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startServer, type TestServer } from '../helpers.js';
import { assertDrfBody } from './support.js';

const PASSWORD = 'correct-horse-battery-1';
const ALLOWED = new Set([200, 401, 429, 503]);

/** Resolves with the response, or rejects if it has not come back in `ms`. */
function within<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Counts argon2 computations actually in progress: from the moment the queue
 * starts a hash until the hash itself settles (not when the queue gives up on it).
 */
function trackRunningHashes(hasher: object) {
  const h = hasher as { run: <T>(task: () => Promise<T>) => Promise<T> };
  const orig = h.run;
  let running = 0;
  let max = 0;
  let started = 0;
  h.run = function <T>(this: unknown, task: () => Promise<T>) {
    return orig.call(this, () => {
      started++;
      max = Math.max(max, ++running);
      const p = task();
      void p.then(
        () => running--,
        () => running--,
      );
      return p;
    }) as Promise<T>;
  };
  return {
    get max() {
      return max;
    },
    get started() {
      return started;
    },
    get running() {
      return running;
    },
    restore: () => {
      h.run = orig;
    },
  };
}

function checkStormAnswers(results: LightMyRequestResponse[]) {
  const counts: Record<number, number> = {};
  for (const r of results) {
    counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    assert.ok(ALLOWED.has(r.statusCode), `a login answered ${r.statusCode}: ${r.body}`);
    if (r.statusCode === 503 || r.statusCode === 429) {
      assertDrfBody(r.json(), `${r.statusCode} body`);
      assert.ok(Number(r.headers['retry-after']) >= 1, `${r.statusCode} without Retry-After`);
    }
  }
  return counts;
}

describe('hash load: 200 concurrent logins (default hasher limits)', () => {
  let s: TestServer;
  let access = '';
  before(async () => {
    s = await startServer();
    await s.user({ username: 'alice', password: PASSWORD });
    const { id } = await s.user({ username: 'reader', password: PASSWORD });
    access = (await s.service.issuePair(id)).access;
    await s.service.hasher.warm();
  });
  after(() => s.close());

  it('a login storm never answers 500, never hangs, keeps hashes bounded, and an authenticated GET stays fast meanwhile', async (t) => {
    const h = s.service.hasher;
    const tracker = trackRunningHashes(h);
    const bound = s.config.hashConcurrency + s.config.hashQueue;
    let maxDepth = 0;
    let storming = true;
    const depthProbe = setInterval(() => (maxDepth = Math.max(maxDepth, h.depth)), 5);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;

    const started = performance.now();
    const storm = Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        within(
          s.post('/api/token/', i % 3 === 0 ? { username: 'alice', password: PASSWORD } : { username: i % 3 === 1 ? 'alice' : `ghost${i}`, password: 'wrong-guess' }),
          s.config.hashQueueTimeoutMs + 10_000,
          `login ${i}`,
        ),
      ),
    ).finally(() => (storming = false));

    // While the storm runs, an authenticated client keeps reading.
    const gets: number[] = [];
    try {
      while (storming) {
        const t0 = performance.now();
        const r = await within(s.get('/api/protected-endpoint/', access), 5000, 'authenticated GET');
        gets.push(performance.now() - t0);
        assert.equal(r.statusCode, 200, r.body);
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await storm.catch(() => {});
      clearInterval(depthProbe);
      loop.disable();
      tracker.restore();
    }
    const results = await storm;
    const elapsed = performance.now() - started;

    const counts = checkStormAnswers(results);
    t.diagnostic(
      `storm ${elapsed.toFixed(0)} ms; answers ${JSON.stringify(counts)}; ${gets.length} GETs, slowest ${Math.max(...gets).toFixed(1)} ms; ` +
        `event-loop delay max ${(loop.max / 1e6).toFixed(1)} ms p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms; ` +
        `queue depth max ${maxDepth} (bound ${bound}); argon2 running at once max ${tracker.max} (concurrency ${s.config.hashConcurrency}), ` +
        `started ${tracker.started}; rss +${((rssPeak - rssBefore) / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(gets.length >= 1, 'no authenticated GET completed during the storm');
    for (const ms of gets) assert.ok(ms < 1000, `an authenticated GET took ${ms.toFixed(0)} ms during the storm`);
    assert.ok(maxDepth <= bound, `hasher depth reached ${maxDepth}, above concurrency + queue = ${bound}`);
    assert.ok(
      tracker.max <= s.config.hashConcurrency,
      `${tracker.max} argon2 hashes were in flight at once; LATCHKEY_HASH_CONCURRENCY is ${s.config.hashConcurrency}`,
    );
    assert.ok(loop.max / 1e6 < 1000, `the event loop stalled for ${(loop.max / 1e6).toFixed(0)} ms`);
    assert.ok(rssPeak - rssBefore < 512 * 2 ** 20, `rss grew by ${((rssPeak - rssBefore) / 2 ** 20).toFixed(0)} MiB`);
    assert.ok((counts[200] ?? 0) >= 1, 'no login at all succeeded during the storm');
  });
});

describe('hash load: a small queue refuses the excess at once', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: {
        LATCHKEY_HASH_CONCURRENCY: '1',
        LATCHKEY_HASH_QUEUE: '4',
        LATCHKEY_HASH_QUEUE_TIMEOUT_MS: '5000',
        LATCHKEY_ARGON2_TIME_COST: '10',
      },
    });
    await s.user({ username: 'alice', password: PASSWORD });
    await s.service.hasher.warm();
  });
  after(() => s.close());

  it('logins beyond concurrency + queue are refused with 503 and Retry-After immediately, not queued without bound', async () => {
    const h = s.service.hasher;
    const tracker = trackRunningHashes(h);
    let maxDepth = 0;
    const probe = setInterval(() => (maxDepth = Math.max(maxDepth, h.depth)), 2);
    const times: number[] = [];
    let results: LightMyRequestResponse[];
    try {
      results = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const t0 = performance.now();
          const r = await within(s.post('/api/token/', { username: i % 2 ? 'alice' : `ghost${i}`, password: 'wrong-guess' }), 10_000, `login ${i}`);
          if (r.statusCode === 503) times.push(performance.now() - t0);
          return r;
        }),
      );
    } finally {
      clearInterval(probe);
      tracker.restore();
    }
    const counts = checkStormAnswers(results);
    assert.ok((counts[503] ?? 0) >= 50, `expected most of 60 logins refused with 503, got ${JSON.stringify(counts)}`);
    assert.ok(maxDepth <= 5, `hasher depth reached ${maxDepth}, above concurrency 1 + queue 4`);
    assert.ok(tracker.max <= 1, `${tracker.max} argon2 hashes were in flight at once (started by the queue, not yet finished) with LATCHKEY_HASH_CONCURRENCY=1`);
    assert.ok(tracker.started <= 5 + 1, `${tracker.started} hashes were computed for ${60 - (counts[503] ?? 0)} answered logins`);
    // Refused ones are refused at once, not after waiting for the queue timeout.
    const sorted = [...times].sort((a, b) => a - b);
    const medianRefusal = sorted[sorted.length >> 1] ?? 0;
    assert.ok(medianRefusal < 500, `median 503 took ${medianRefusal.toFixed(0)} ms`);
  });
});

describe('hash load: concurrent registrations', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,auth-root' } });
    await s.service.hasher.warm();
  });
  after(() => s.close());

  it('a registration storm (distinct and duplicate names) answers 201, 400, 409 or 503, never 500, and creates a name once', async (t) => {
    const h = s.service.hasher;
    const t0 = performance.now();
    const timeline: string[] = [];
    const probe = setInterval(() => timeline.push(`${(performance.now() - t0).toFixed(0)}ms:${h.depth}`), 250);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        within(
          s.post('/auth/register', { username: i < 30 ? 'samename' : `storm${i}`, password: 'a-fine-passphrase-0' }),
          15_000,
          `register ${i}`,
        ),
      ),
    ).finally(() => clearInterval(probe));
    const counts: Record<number, number> = {};
    for (const r of results) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    t.diagnostic(`answers ${JSON.stringify(counts)} in ${(performance.now() - t0).toFixed(0)} ms; hasher depth ${timeline.join(' ')}`);
    for (const r of results) {
      assert.ok([201, 400, 409, 429, 503].includes(r.statusCode), `register answered ${r.statusCode}: ${r.body}`);
      if (r.statusCode !== 201) assertDrfBody(r.json(), `register ${r.statusCode}`);
    }
    const samenameWins = results.slice(0, 30).filter((r) => r.statusCode === 201).length;
    assert.ok(samenameWins <= 1, `the duplicate username was created ${samenameWins} times`);
    assert.ok((counts[201] ?? 0) >= 1, `no registration succeeded: ${JSON.stringify(counts)}`);
  });
});

// Last in the file: if abandoned hashes keep running, they would slow whatever runs next in this process.
describe('hash load: queued logins wait no longer than LATCHKEY_HASH_QUEUE_TIMEOUT_MS', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: {
        LATCHKEY_HASH_CONCURRENCY: '1',
        LATCHKEY_HASH_QUEUE: '1000',
        LATCHKEY_HASH_QUEUE_TIMEOUT_MS: '1000',
        LATCHKEY_ARGON2_TIME_COST: '10',
      },
    });
    await s.user({ username: 'alice', password: PASSWORD });
    await s.service.hasher.warm();
  });
  after(() => s.close());

  it('a queue timeout refuses stale waiters with 503 without leaving their hashes running (concurrency stays bounded)', async (t) => {
    const tracker = trackRunningHashes(s.service.hasher);
    const started = performance.now();
    let results: LightMyRequestResponse[];
    try {
      results = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          within(s.post('/api/token/', { username: 'alice', password: i === 0 ? PASSWORD : 'wrong-guess' }), 15_000, `login ${i}`),
        ),
      );
    } finally {
      tracker.restore();
    }
    const elapsed = performance.now() - started;
    const counts = checkStormAnswers(results);
    const answered = (counts[200] ?? 0) + (counts[401] ?? 0);
    // Right after the storm is answered, the hasher must be free: a fresh login is served at once.
    const t1 = performance.now();
    const after = await within(s.post('/api/token/', { username: 'alice', password: PASSWORD }), 15_000, 'login after the storm');
    const afterMs = performance.now() - t1;
    t.diagnostic(
      `storm settled in ${elapsed.toFixed(0)} ms: ${JSON.stringify(counts)}; argon2 started ${tracker.started} for ${answered} answered logins, ` +
        `max ${tracker.max} at once, ${tracker.running} still running when answered; next login ${after.statusCode} in ${afterMs.toFixed(0)} ms`,
    );
    assert.ok((counts[503] ?? 0) >= 1, `no waiter was refused: ${JSON.stringify(counts)}`);
    assert.ok(elapsed < 1000 + 2000, `the storm took ${elapsed.toFixed(0)} ms to settle with a 1000 ms queue timeout`);
    assert.ok(tracker.max <= 1, `${tracker.max} argon2 hashes were in flight at once (started by the queue, not yet finished) with LATCHKEY_HASH_CONCURRENCY=1`);
    assert.ok(
      tracker.started <= answered + 1,
      `${tracker.started} argon2 hashes were started but only ${answered} logins were answered with a verdict: ` +
        `refused waiters' hashes ran anyway`,
    );
    assert.equal(after.statusCode, 200, after.body);
    assert.ok(afterMs < 1000, `a login right after the storm took ${afterMs.toFixed(0)} ms (hash backlog left behind)`);
  });
});
