// Hashing under load: a login storm must not exhaust memory, stall the event
// loop or starve other routes. Hashes run with bounded concurrency behind a
// bounded, time-limited queue; the excess is refused with 503 (or 429), never
// 500, never left hanging.
import assert from 'node:assert/strict';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { startServer, type TestServer } from '../helpers.js';
import { assertDrfBody, median } from './support.js';

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

/**
 * Sends 200 logins at once (`body(i)` for the i-th) and, until every one is
 * answered, an authenticated GET every 20 ms: the answers, each GET's latency,
 * the event loop's worst delay, and the process's peak RSS meanwhile.
 */
async function burstWithReader(s: TestServer, access: string, body: (i: number) => Record<string, unknown>, timeoutMs: number) {
  let bursting = true;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  // The histogram records the delay between two of its timer's turns: its
  // first turn only starts the clock. Let it come before the burst, or a burst
  // that holds the loop from the first instant goes unmeasured (0 ms).
  await new Promise((r) => setTimeout(r, 25));
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const started = performance.now();
  const burst = Promise.all(Array.from({ length: 200 }, (_, i) => within(s.post('/api/token/', body(i)), timeoutMs, `login ${i}`))).finally(
    () => (bursting = false),
  );
  const gets: number[] = [];
  try {
    while (bursting) {
      const t0 = performance.now();
      const r = await within(s.get('/api/protected-endpoint/', access), 5000, 'authenticated GET');
      gets.push(performance.now() - t0);
      assert.equal(r.statusCode, 200, r.body);
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await burst.catch(() => {});
    loop.disable();
  }
  const results = await burst;
  return { results, gets, loopMaxMs: loop.max / 1e6, elapsed: performance.now() - started, rssBefore, rssPeak };
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
  after(() => s?.close());

  it('a login storm never answers 500, never hangs, keeps hashes bounded, and an authenticated GET stays fast meanwhile', async (t) => {
    const h = s.service.hasher;
    // The control, side by side: the same burst of 200 logins, refused by
    // validation (no password) before any hash. A reader's GET waits for the
    // burst's own request handling; whatever it waits more in the storm is the hashing.
    const control = await burstWithReader(s, access, () => ({ username: 'alice' }), 10_000);
    for (const r of control.results) assert.equal(r.statusCode, 400, `a control login answered ${r.statusCode}: ${r.body}`);

    const tracker = trackRunningHashes(h);
    const bound = s.config.hashConcurrency + s.config.hashQueue;
    let maxDepth = 0;
    const depthProbe = setInterval(() => (maxDepth = Math.max(maxDepth, h.depth)), 5);
    let storm: Awaited<ReturnType<typeof burstWithReader>>;
    try {
      storm = await burstWithReader(
        s,
        access,
        (i) =>
          i % 3 === 0
            ? { username: 'alice', password: PASSWORD }
            : { username: i % 3 === 1 ? 'alice' : `ghost${i}`, password: 'wrong-guess' },
        s.config.hashQueueTimeoutMs + 10_000,
      );
    } finally {
      clearInterval(depthProbe);
      tracker.restore();
    }
    const { results, gets } = storm;

    const counts = checkStormAnswers(results);
    const slowest = (xs: number[]) => Math.max(...xs);
    t.diagnostic(
      `storm ${storm.elapsed.toFixed(0)} ms; answers ${JSON.stringify(counts)}; ${gets.length} GETs, slowest ${slowest(gets).toFixed(1)} ms ` +
        `(control burst: ${control.gets.length} GETs, slowest ${slowest(control.gets).toFixed(1)} ms); ` +
        `event-loop delay max ${storm.loopMaxMs.toFixed(1)} ms (control ${control.loopMaxMs.toFixed(1)} ms); ` +
        `queue depth max ${maxDepth} (bound ${bound}); argon2 running at once max ${tracker.max} (concurrency ${s.config.hashConcurrency}), ` +
        `started ${tracker.started}; rss +${((storm.rssPeak - storm.rssBefore) / 2 ** 20).toFixed(0)} MiB`,
    );
    assert.ok(gets.length >= 1, 'no authenticated GET completed during the storm');
    // Measured against the control, with room for a loaded machine: a GET that
    // waited behind the hash queue would wait for dozens of hashes.
    assert.ok(
      slowest(gets) < 8 * slowest(control.gets),
      `an authenticated GET took ${slowest(gets).toFixed(0)} ms during the storm, ` +
        `against ${slowest(control.gets).toFixed(0)} ms during the same burst without hashing`,
    );
    assert.ok(maxDepth <= bound, `hasher depth reached ${maxDepth}, above concurrency + queue = ${bound}`);
    assert.ok(
      tracker.max <= s.config.hashConcurrency,
      `${tracker.max} argon2 hashes were in flight at once; LATCHKEY_HASH_CONCURRENCY is ${s.config.hashConcurrency}`,
    );
    assert.ok(
      storm.loopMaxMs < 8 * control.loopMaxMs,
      `the event loop stalled for ${storm.loopMaxMs.toFixed(0)} ms in the storm, against ${control.loopMaxMs.toFixed(0)} ms in the same burst without hashing`,
    );
    assert.ok(
      storm.rssPeak - storm.rssBefore < 512 * 2 ** 20,
      `rss grew by ${((storm.rssPeak - storm.rssBefore) / 2 ** 20).toFixed(0)} MiB`,
    );
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
  after(() => s?.close());

  it('logins beyond concurrency + queue are refused with 503 and Retry-After immediately, not queued without bound', async () => {
    const h = s.service.hasher;
    const tracker = trackRunningHashes(h);
    let maxDepth = 0;
    const probe = setInterval(() => (maxDepth = Math.max(maxDepth, h.depth)), 2);
    const refused: number[] = [];
    const answered: number[] = [];
    let results: LightMyRequestResponse[];
    try {
      results = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const t0 = performance.now();
          const r = await within(
            s.post('/api/token/', { username: i % 2 ? 'alice' : `ghost${i}`, password: 'wrong-guess' }),
            10_000,
            `login ${i}`,
          );
          (r.statusCode === 503 ? refused : answered).push(performance.now() - t0);
          return r;
        }),
      );
    } finally {
      clearInterval(probe);
      tracker.restore();
    }
    const counts = checkStormAnswers(results);
    assert.ok((counts[503] ?? 0) >= 50, `expected most of 60 logins refused with 503, got ${JSON.stringify(counts)}`);
    assert.ok((counts[401] ?? 0) >= 1, `no login was hashed and answered at all: ${JSON.stringify(counts)}`);
    assert.ok(maxDepth <= 5, `hasher depth reached ${maxDepth}, above concurrency 1 + queue 4`);
    assert.ok(
      tracker.max <= 1,
      `${tracker.max} argon2 hashes were in flight at once (started by the queue, not yet finished) with LATCHKEY_HASH_CONCURRENCY=1`,
    );
    assert.ok(tracker.started <= 5 + 1, `${tracker.started} hashes were computed for ${60 - (counts[503] ?? 0)} answered logins`);
    // Refused ones are refused at once, not after waiting for the queue timeout
    // (5 s): sooner than the logins let into the queue are answered (one to
    // five 10-pass hashes each), measured in the same burst.
    const medianRefusal = median(refused);
    const medianAnswered = median(answered);
    assert.ok(
      medianRefusal < medianAnswered,
      `median 503 took ${medianRefusal.toFixed(0)} ms, the median hashed login ${medianAnswered.toFixed(0)} ms`,
    );
  });
});

describe('hash load: concurrent registrations', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,auth-root' } });
    await s.service.hasher.warm();
  });
  after(() => s?.close());

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
    const samename = results.slice(0, 30);
    const samenameWins = samename.filter((r) => r.statusCode === 201).length;
    const samenameTaken = samename.filter((r) => r.statusCode === 400 || r.statusCode === 409).length;
    // Created once: one 201, the others told the name is taken (or, under load,
    // refused as busy); and the database holds the name exactly when one won.
    assert.ok(samenameWins <= 1, `the duplicate username was created ${samenameWins} times`);
    if (samenameTaken > 0)
      assert.equal(samenameWins, 1, `${samenameTaken} registrations were told "samename" is taken, but none created it`);
    assert.equal(
      (await s.storage.getUserByUsername('samename')) !== undefined,
      samenameWins === 1,
      `"samename" won ${samenameWins} times; stored: ${JSON.stringify(await s.storage.getUserByUsername('samename'))}`,
    );
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
  after(() => s?.close());

  it('a queue timeout refuses stale waiters with 503 without leaving their hashes running (concurrency stays bounded)', async (t) => {
    // One login alone, the baseline for "served at once" below (median of three).
    const alone: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const r = await within(s.post('/api/token/', { username: 'alice', password: PASSWORD }), 15_000, `baseline login ${i}`);
      alone.push(performance.now() - t0);
      assert.equal(r.statusCode, 200, r.body);
    }
    const loginAlone = median(alone);

    const tracker = trackRunningHashes(s.service.hasher);
    const started = performance.now();
    const refusedAt: number[] = [];
    const verdictAt: number[] = [];
    let results: LightMyRequestResponse[];
    try {
      results = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const r = await within(
            s.post('/api/token/', { username: 'alice', password: i === 0 ? PASSWORD : 'wrong-guess' }),
            15_000,
            `login ${i}`,
          );
          (r.statusCode === 503 ? refusedAt : verdictAt).push(performance.now() - started);
          return r;
        }),
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
    const lastRefusal = Math.max(...refusedAt);
    const lastVerdict = Math.max(...verdictAt);
    t.diagnostic(
      `storm settled in ${elapsed.toFixed(0)} ms: ${JSON.stringify(counts)}; last verdict at ${lastVerdict.toFixed(0)} ms, last 503 at ${lastRefusal.toFixed(0)} ms; ` +
        `argon2 started ${tracker.started} for ${answered} answered logins, max ${tracker.max} at once, ${tracker.running} still running when answered; ` +
        `one login alone ${loginAlone.toFixed(0)} ms, next login ${after.statusCode} in ${afterMs.toFixed(0)} ms`,
    );
    assert.ok((counts[503] ?? 0) >= 1, `no waiter was refused: ${JSON.stringify(counts)}`);
    assert.ok(answered >= 1, `no login was hashed and answered: ${JSON.stringify(counts)}`);
    // The waiters are refused when the queue timeout passes, while hashes are
    // still being served one by one, not once the queue has drained: no 503
    // comes later than about a hash after the last verdict.
    assert.ok(
      lastRefusal < lastVerdict + 3 * loginAlone,
      `the last waiter was refused at ${lastRefusal.toFixed(0)} ms, the last login answered at ${lastVerdict.toFixed(0)} ms ` +
        `(one login alone takes ${loginAlone.toFixed(0)} ms)`,
    );
    assert.ok(
      tracker.max <= 1,
      `${tracker.max} argon2 hashes were in flight at once (started by the queue, not yet finished) with LATCHKEY_HASH_CONCURRENCY=1`,
    );
    assert.ok(
      tracker.started <= answered + 1,
      `${tracker.started} argon2 hashes were started but only ${answered} logins were answered with a verdict: ` +
        `refused waiters' hashes ran anyway`,
    );
    assert.equal(after.statusCode, 200, after.body);
    assert.ok(
      afterMs < 8 * loginAlone,
      `a login right after the storm took ${afterMs.toFixed(0)} ms, one alone before it ${loginAlone.toFixed(0)} ms (hash backlog left behind)`,
    );
  });
});
