// Request logs (issue 7): a real `latchkey serve` at debug level, so that
// successes are logged too, driven over sockets with real passwords and
// tokens, good and bad. Then the captured log is grepped: every request line
// carries a request id, and no line holds a password, a token, the signing key
// or an Authorization header value.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createLatchkey } from '../src/latchkey.js';
import { TEST_KEY, tempDir } from './helpers.js';
import { startChild, type ChildServer } from './security/support.js';

const hex = (n = 6) => randomBytes(n).toString('hex');

// Every secret is unique to this run, so finding it in the log can only mean it leaked.
const PASSWORD = `Correct-Horse-${hex()}`;
const WRONG = [`wrong-guess-${hex()}`, `wrong-guess-${hex()}`, `wrong-guess-${hex()}`];
const NUMERIC = String(randomInt(10 ** 11, 10 ** 12)); // refused by the policy: entirely numeric

interface Sent {
  method: string;
  path: string;
  status: number;
}

describe('request logs', () => {
  let child: ChildServer;
  let log = '';
  const secrets = new Set<string>([PASSWORD, ...WRONG, NUMERIC, TEST_KEY]);
  const sent: Sent[] = [];

  /** Sends a request, checks its status, remembers it, and collects every token in the answer as a secret. */
  async function send(
    method: string,
    url: string,
    opts: { json?: unknown; form?: string; raw?: string; headers?: Record<string, string>; expect: number },
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = opts.form;
    } else if (opts.raw !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = opts.raw;
    }
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === 'authorization') secrets.add(v);
    const res = await fetch(`${child.url}${url}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    assert.equal(res.status, opts.expect, `${method} ${url}: ${text}`);
    const path = url.split('?')[0]!;
    sent.push({ method, path, status: res.status });
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* not JSON (metrics) */
    }
    collectTokens(json);
    return json;
  }

  function collectTokens(v: unknown): void {
    if (typeof v === 'string' && /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/.test(v)) secrets.add(v);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) collectTokens(x);
  }

  before(async () => {
    child = await startChild({
      env: {
        LATCHKEY_LOG_LEVEL: 'debug',
        LATCHKEY_WORKERS: '1',
        LATCHKEY_PRESETS: 'simplejwt,api-auth',
        LATCHKEY_LOGIN_THROTTLE: 'on',
        LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '2/60',
      },
    });

    // Register, good and bad.
    const reg = await send('POST', '/api/auth/register/', {
      json: { username: 'jane', password: PASSWORD, email: 'jane@example.com', first_name: 'Jane', last_name: 'Doe' },
      expect: 201,
    });
    assert.ok(secrets.size > 5, `register returned no tokens: ${JSON.stringify(reg)}`);
    await send('POST', '/api/auth/register/', { json: { username: 'jane', password: PASSWORD }, expect: 400 });
    await send('POST', '/api/auth/register/', { json: { username: 'john', password: NUMERIC }, expect: 400 });

    // Logins: JSON and form, a password in the query string, bad passwords, then throttled.
    const pair = await send('POST', '/api/token/', { json: { username: 'jane', password: PASSWORD }, expect: 200 });
    const access = pair.access as string;
    const refresh = pair.refresh as string;
    const form = await send('POST', '/api/auth/login/', {
      form: `username=jane&password=${encodeURIComponent(PASSWORD)}`,
      expect: 200,
    });
    await send('POST', `/api/token/?username=jane&password=${encodeURIComponent(PASSWORD)}`, {
      json: { username: 'jane', password: PASSWORD },
      expect: 200,
    });
    await send('POST', '/api/token/', { json: { username: 'mallory', password: WRONG[0] }, expect: 401 });
    await send('POST', '/api/auth/login/', { form: `username=mallory&password=${WRONG[1]}`, expect: 401 });
    await send('POST', '/api/token/', { json: { username: 'mallory', password: WRONG[2] }, expect: 429 });
    // Bodies that fail to parse or validate, with the password inside.
    await send('POST', '/api/token/', { raw: `{"username": "jane", "password": "${PASSWORD}"`, expect: 400 });
    await send('POST', '/api/token/', { json: { username: { password: PASSWORD }, password: [PASSWORD] }, expect: 400 });
    await send('POST', '/api/token/', {
      raw: `username=jane&password=${PASSWORD}`,
      headers: { 'content-type': 'text/plain' },
      expect: 415,
    });
    await send('POST', '/api/token/', { json: { username: 'jane', password: PASSWORD, pad: 'x'.repeat(70_000) }, expect: 413 });

    // Refresh, verify, protected: with the tokens in headers, bodies and query strings.
    await send('POST', '/api/token/refresh/', { json: { refresh }, expect: 200 });
    await send('POST', '/api/auth/refresh/', { json: { refresh: form.refresh }, expect: 200 });
    await send('POST', '/api/token/verify/', { json: { token: access }, expect: 200 });
    await send(`POST`, `/api/token/verify/?token=${access}`, { json: { token: refresh }, expect: 200 });
    const tampered = `${access.slice(0, -6)}AAAAAA`;
    secrets.add(tampered);
    await send('POST', '/api/token/verify/', { json: { token: tampered }, expect: 401 });
    await send('GET', '/api/protected-endpoint/', { headers: { authorization: `Bearer ${access}` }, expect: 200 });
    await send('GET', `/api/protected-endpoint/?access_token=${access}`, { headers: { authorization: `Bearer ${access}` }, expect: 200 });
    await send('GET', `/api/protected-endpoint/?token=${access}`, { expect: 401 });
    await send('GET', '/api/protected-endpoint/', { headers: { authorization: `Bearer ${tampered}` }, expect: 401 });
    await send('GET', '/api/protected-endpoint/', { headers: { authorization: `Bearer not-a-token-${hex()}` }, expect: 401 });
    await send('GET', '/api/protected-endpoint/', {
      headers: { authorization: `Basic ${Buffer.from(`jane:${PASSWORD}`).toString('base64')}` },
      expect: 401,
    });
    await send('GET', `/no/such/path?token=${refresh}&password=${encodeURIComponent(PASSWORD)}`, { expect: 404 });
    await send('PUT', `/api/token/?token=${refresh}`, { json: { refresh }, expect: 405 });

    // Logout (blacklist), twice; then the blacklisted token refused.
    await send('POST', '/api/token/blacklist/', { json: { refresh }, expect: 200 });
    await send('POST', '/api/auth/logout/', { json: { refresh_token: form.refresh }, expect: 200 });
    await send('POST', '/api/auth/logout/', { json: { refresh_token: form.refresh }, expect: 400 });
    await send('POST', '/api/token/refresh/', { json: { refresh }, expect: 401 });

    // The ops endpoints, with a token pasted into the query.
    await send('GET', '/healthz', { expect: 200 });
    await send('GET', `/readyz?token=${access}`, { expect: 200 });
    await send('GET', '/metrics', { expect: 200 });

    // Stop it gracefully so everything it wrote is flushed, then keep the log.
    child.proc.kill('SIGTERM');
    await child.exited;
    log = child.output();
  });
  after(() => child?.stop());

  const lines = () => log.split('\n').filter((l) => l.trim() !== '');
  const records = () => lines().map((l) => JSON.parse(l) as Record<string, unknown>);
  /** Lines about one request: any with a request, a status or a request id, or a message about "request ...". */
  const requestRecords = () =>
    records().filter((r) => 'req' in r || 'status' in r || 'reqId' in r || (typeof r.msg === 'string' && /^request\b/i.test(r.msg)));

  it('writes JSON lines only', () => {
    assert.ok(lines().length > sent.length, `only ${lines().length} lines for ${sent.length} requests:\n${log}`);
    for (const l of lines()) assert.doesNotThrow(() => JSON.parse(l), `not a JSON line: ${l}`);
  });

  it('carries a request id on every request line', () => {
    const reqLines = requestRecords();
    assert.ok(reqLines.length >= sent.length, `${reqLines.length} request lines for ${sent.length} requests:\n${log}`);
    for (const r of reqLines) {
      assert.ok(typeof r.reqId === 'string' && r.reqId !== '', `no request id: ${JSON.stringify(r)}`);
    }
    // One line per request, so an id names exactly one line.
    const ids = reqLines.filter((r) => r.msg === 'request' || r.msg === 'request failed').map((r) => r.reqId);
    assert.equal(new Set(ids).size, ids.length, 'a request id appears on two request lines');
  });

  /** Fails unless the log holds a line for every request sent, by method, path (no query) and status. */
  function assertEveryRequestLogged(): void {
    assert.ok(sent.length >= 30, `only ${sent.length} requests were sent`);
    const logged = new Map<string, number>();
    for (const r of requestRecords()) {
      const req = r.req as { method?: string; url?: string } | undefined;
      if (!req) continue;
      const key = `${req.method} ${req.url} ${String(r.status)}`;
      logged.set(key, (logged.get(key) ?? 0) + 1);
    }
    const wanted = new Map<string, number>();
    for (const s of sent) wanted.set(`${s.method} ${s.path} ${s.status}`, (wanted.get(`${s.method} ${s.path} ${s.status}`) ?? 0) + 1);
    for (const [key, n] of wanted) {
      // startChild's readiness probes add GET /api/protected-endpoint/ 401 lines of their own.
      assert.ok((logged.get(key) ?? 0) >= n, `${key}: sent ${n}, logged ${logged.get(key) ?? 0}\n${log}`);
    }
  }

  it('logs every request it served, by method, path (no query) and status', () => {
    assertEveryRequestLogged();
  });

  it('never contains a password, a token, the signing key or an Authorization header value', () => {
    assert.ok(secrets.size >= 15, `too few secrets collected: ${secrets.size}`);
    // The log searched below does hold the lines of the requests that carried
    // those secrets: an empty or truncated log would pass the absence checks.
    assertEveryRequestLogged();
    for (const secret of secrets) {
      assert.ok(!log.includes(secret), `the log contains a secret (${secret.slice(0, 12)}…):\n${lines().find((l) => l.includes(secret))}`);
      // Nor a token's signature on its own, nor the URL-encoded form of a password.
      const sig = /^eyJ[\w-]*\.[\w-]*\.([\w-]{20,})$/.exec(secret)?.[1];
      if (sig) assert.ok(!log.includes(sig), `the log contains a token's signature: ${secret.slice(0, 12)}…`);
      assert.ok(!log.includes(encodeURIComponent(secret)), `the log contains an encoded secret (${secret.slice(0, 12)}…)`);
    }
    assert.doesNotMatch(log, /eyJhbGciOi/, 'the log contains something shaped like a JWT');
    assert.doesNotMatch(log, /authorization|bearer|cookie/i, 'the log mentions credentials headers');
    assert.doesNotMatch(log, /\?/, 'the log contains a query string');
  });

  it('never contains a token pasted into the URL path', async () => {
    const c = await startChild({ env: { LATCHKEY_LOG_LEVEL: 'info', LATCHKEY_WORKERS: '1', LATCHKEY_PRESETS: 'simplejwt' } });
    try {
      const res = await fetch(`${c.url}/api/token/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'nobody', password: PASSWORD }),
      });
      assert.equal(res.status, 401);
      const token = [...secrets].find((s) => s.startsWith('eyJ'))!;
      assert.equal((await fetch(`${c.url}/api/token/${token}/`)).status, 404);
      assert.equal((await fetch(`${c.url}/api/protected-endpoint/${token}`)).status, 404);
      c.proc.kill('SIGTERM');
      await c.exited;
      // The three requests are in the log (so the check below searches their lines), their paths without the token.
      const failures = c
        .output()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { msg?: string; status?: number; req?: { method?: string; url?: string } })
        .filter((r) => r.msg === 'request failed');
      const has = (method: string, prefix: string, status: number) =>
        failures.some(
          (r) => r.req?.method === method && r.status === status && String(r.req.url).startsWith(prefix) && !r.req.url!.includes(token),
        );
      assert.ok(has('POST', '/api/token/', 401), `no line for the failed login:\n${c.output()}`);
      assert.ok(has('GET', '/api/token/', 404), `no line for GET /api/token/<token>/:\n${c.output()}`);
      assert.ok(has('GET', '/api/protected-endpoint/', 404), `no line for GET /api/protected-endpoint/<token>:\n${c.output()}`);
      assert.doesNotMatch(c.output(), /eyJhbGciOi/, `the log contains a token from the path:\n${c.output()}`);
    } finally {
      await c.stop();
    }
  });
});

describe('request logs through a logger passed in', () => {
  it("write method and path only, even from a pino logger without latchkey's serializers or redaction", async () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const dir = tempDir();
    const config = loadConfig({ LATCHKEY_DATA_DIR: dir, LATCHKEY_SIGNING_KEY: TEST_KEY, LATCHKEY_LOG_LEVEL: 'debug' });
    const lk = await createLatchkey(config, { loggerInstance: pino({ level: 'debug' }, sink) });
    try {
      const secret = `Bearer secret-${hex(12)}`;
      const failed = await lk.app.inject({
        method: 'GET',
        url: `/api/protected-endpoint/?token=${hex()}`,
        headers: { authorization: secret, cookie: secret },
      });
      assert.equal(failed.statusCode, 401);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const line = lines.find((l) => l.msg === 'request failed');
      assert.ok(line, `no failure line in ${out}`);
      assert.deepEqual(line.req, { method: 'GET', url: '/api/protected-endpoint/' });
      assert.equal(line.status, 401);
      assert.ok(!out.includes('secret-'), `a header reached the log: ${out}`);
    } finally {
      await lk.close();
    }
  });
});
