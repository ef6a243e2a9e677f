// Graceful shutdown under attack or deploy: SIGTERM must let in-flight requests
// finish (no client sees a reset connection, no logout is half done), refuse
// new work, and exit 0. A real `latchkey serve` child process with slow
// (high time-cost) argon2 so that requests are truly in flight at SIGTERM.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { childEnv, postJson, runCli, sleep, startChild, scratchDir, type ChildServer } from './support.js';

const PASSWORD = 'correct-horse-battery-1';

/** Polls /metrics until latchkey_hash_queue_depth (over every worker) reaches `n`; returns the depth seen. */
async function waitForHashDepth(url: string, n: number): Promise<number> {
  let seen = 0;
  for (let tries = 0; tries < 400; tries++) {
    const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
    const m = /^latchkey_hash_queue_depth(?:\{[^}]*\})? (\d+)/m.exec(text);
    assert.ok(m, `no latchkey_hash_queue_depth in /metrics:\n${text}`);
    seen = Number(m[1]);
    if (seen >= n) return seen;
    await sleep(5);
  }
  assert.fail(`the hash queue depth never reached ${n} (last ${seen})`);
}

describe('SIGTERM drains in-flight requests (real child process)', () => {
  const dir = scratchDir('latchkey-drain-');
  // About 0.1-0.3 s per hash, one at a time: three logins keep the server busy past the SIGTERM.
  const env = { LATCHKEY_ARGON2_TIME_COST: '30', LATCHKEY_HASH_CONCURRENCY: '1', LATCHKEY_HASH_QUEUE_TIMEOUT_MS: '20000' };
  let server: ChildServer | undefined;
  before(async () => {
    const r = await runCli(['createuser', '--username', 'alice', '--password', PASSWORD], childEnv(dir, env));
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await server?.stop();
  });

  it('logins in flight at SIGTERM complete with 200, new requests are refused, and the process exits 0', async (t) => {
    const t0 = Date.now();
    server = await startChild({ dir, env });
    const startedIn = Date.now() - t0;
    const url = server.url;
    const inFlight = Array.from({ length: 3 }, () =>
      postJson(`${url}/api/token/`, { username: 'alice', password: PASSWORD }).then(
        (r) => ({ status: r.status, text: r.text, access: r.json.access, at: Date.now() }),
        (err: Error) => ({
          status: 0,
          text: `connection failed: ${err.message} ${String((err.cause as Error | undefined)?.message ?? '')}`,
          access: undefined,
          at: Date.now(),
        }),
      ),
    );
    // Let the requests reach the server: SIGTERM once all three are in its hasher.
    const depth = await waitForHashDepth(url, 3);
    const sentAt = Date.now();
    server.proc.kill('SIGTERM');
    const exitedAt = server.exited.then(() => Date.now());

    // A request arriving after SIGTERM is refused (connection refused or 503), never left hanging.
    await sleep(100);
    const lateSent = Date.now();
    const late = await fetch(`${url}/api/protected-endpoint/`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.status,
      (err: Error) => (err.name === 'TimeoutError' ? -1 : 0),
    );
    assert.ok(late === 0 || late === 503, `a request after SIGTERM got ${late === -1 ? 'no answer in 3 s' : late}`);

    const lateMs = Date.now() - lateSent;
    const results = await Promise.all(inFlight);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200, `in-flight login ${i} was cut off by SIGTERM: ${r.text}`);
      assert.equal(typeof r.access, 'string');
    }
    assert.ok(
      Math.max(...results.map((r) => r.at)) > sentAt,
      'every login had finished before SIGTERM was sent, so nothing was in flight (make the hash slower)',
    );
    const exit = await server.exited;
    const exitAt = await exitedAt;
    t.diagnostic(
      `start ${startedIn} ms; hash queue depth ${depth} at SIGTERM; late request ${late} in ${lateMs} ms; ` +
        `logins answered ${results.map((r) => r.at - sentAt).join(', ')} ms after SIGTERM; exit ${exitAt - sentAt} ms after SIGTERM`,
    );
    assert.deepEqual(exit, { code: 0, signal: null }, `exit after SIGTERM: ${JSON.stringify(exit)}\n${server.output()}`);
    // Drained, not cut short by the force-exit timer (which exits 1 and says so): every answer came before the exit.
    assert.doesNotMatch(server.output(), /took too long/, 'shutdown hit the force-exit limit');
    for (const [i, r] of results.entries()) assert.ok(r.at <= exitAt, `login ${i} was answered after the process had exited`);
  });

  it('a logout in flight at SIGTERM, once answered 200, is durable after restart', async () => {
    server = await startChild({ dir, env });
    const login = await postJson(`${server.url}/api/token/`, { username: 'alice', password: PASSWORD });
    assert.equal(login.status, 200, login.text);
    const refresh = login.json.refresh as string;
    // Log out and stop the server in the same instant.
    const logout = postJson(`${server.url}/api/token/blacklist/`, { refresh });
    await sleep(5);
    server.proc.kill('SIGTERM');
    const out = await logout;
    const exit = await server.exited;
    assert.equal(exit.code, 0, `exit after SIGTERM: ${JSON.stringify(exit)}\n${server.output()}`);
    assert.equal(out.status, 200, `logout in flight at SIGTERM: ${out.text}`);

    server = await startChild({ dir, env });
    const again = await postJson(`${server.url}/api/token/refresh/`, { refresh });
    assert.equal(again.status, 401, `a logout answered during shutdown was lost: ${again.text}`);
  });
});
