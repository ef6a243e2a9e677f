// Hostile input: oversized bodies and headers, deep JSON, prototype poisoning,
// slow clients (slowloris), and every kind of malformed request. Each must get
// a DRF-shaped 4xx, never a 5xx. The socket-level attacks run against a real
// `latchkey serve` child process.
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions } from 'fastify';
import { LIMITS } from '../../src/http/app.js';
import { startServer, type TestServer } from '../helpers.js';
import { assertDrfBody, jsonOf, parseRaw, rawExchange, startChild, type ChildServer } from './support.js';

const PASSWORD = 'correct-horse-battery-1';

describe('input limits (in process)', () => {
  let s: TestServer;
  let access = '';
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,auth-root' } });
    const { id } = await s.user({ username: 'alice', password: PASSWORD });
    access = (await s.service.issuePair(id)).access;
  });
  after(() => s.close());

  /** Sends a request and checks for a DRF-shaped 4xx. */
  async function bad(opts: InjectOptions, label: string, status?: number) {
    const r = await s.request(opts);
    assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${label}: expected a 4xx, got ${r.statusCode} ${r.body.slice(0, 200)}`);
    if (status !== undefined) assert.equal(r.statusCode, status, `${label}: ${r.body.slice(0, 200)}`);
    assertDrfBody(jsonOf(r.body, label), label);
    return r;
  }

  it('an oversized JSON body is refused with 413 and a DRF body', async () => {
    const payload = JSON.stringify({ username: 'alice', password: 'x'.repeat(70 * 1024) });
    const r = await bad({ method: 'POST', url: '/api/token/', payload, headers: { 'content-type': 'application/json' } }, 'big JSON', 413);
    assert.deepEqual(r.json(), { detail: 'Request body is too large.' });
  });

  it('an oversized form body is refused with 413 and a DRF body', async () => {
    const payload = `username=alice&password=${'x'.repeat(70 * 1024)}`;
    await bad(
      { method: 'POST', url: '/api/token/', payload, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      'big form',
      413,
    );
  });

  it('deeply nested JSON is refused with 400 before parsing, quickly', async () => {
    for (const depth of [33, 1000, 30_000]) {
      const payload = `{"username":${'['.repeat(depth)}${']'.repeat(depth)},"password":"x"}`;
      const t = performance.now();
      const r = await bad(
        { method: 'POST', url: '/api/token/', payload, headers: { 'content-type': 'application/json' } },
        `depth ${depth}`,
        400,
      );
      const ms = performance.now() - t;
      assert.match(String((r.json() as { detail: string }).detail), /^JSON parse error/);
      assert.ok(ms < 500, `depth ${depth} took ${ms.toFixed(0)} ms`);
    }
    // Nesting within the limit is parsed and then refused by the schema, as DRF would.
    await bad({ method: 'POST', url: '/api/token/', payload: { username: { a: { b: 1 } }, password: 'x' } }, 'shallow nesting', 400);
  });

  it('__proto__ keys in a JSON body never reach objects (no prototype pollution, no privilege fields)', async () => {
    const payload = `{"username":"protouser1","password":"${PASSWORD}","__proto__":{"is_staff":true,"is_superuser":true,"polluted":"yes"}}`;
    const r = await s.request({ method: 'POST', url: '/auth/register', payload, headers: { 'content-type': 'application/json' } });
    assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    const u = await s.storage.getUserByUsername('protouser1');
    if (u) assert.equal(u.is_staff || u.is_superuser, false, 'privilege fields set through __proto__');
    const login = await s.request({
      method: 'POST',
      url: '/api/token/',
      payload: `{"__proto__":{"username":"alice","password":"${PASSWORD}"}}`,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(login.statusCode, 400, `credentials smuggled through __proto__: ${login.body}`);
    assertDrfBody(login.json());
  });

  it('constructor.prototype keys in a JSON body never reach objects', async () => {
    const payload = `{"username":"protouser2","password":"${PASSWORD}","constructor":{"prototype":{"is_staff":true,"polluted":"yes"}}}`;
    const r = await s.request({ method: 'POST', url: '/auth/register', payload, headers: { 'content-type': 'application/json' } });
    assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    const u = await s.storage.getUserByUsername('protouser2');
    if (u) assert.equal(u.is_staff, false);
  });

  it('__proto__ and constructor keys in a form body never reach objects', async () => {
    const payload =
      `username=protouser3&password=${encodeURIComponent(PASSWORD)}` +
      '&__proto__[polluted]=yes&__proto__.is_staff=1&constructor[prototype][polluted]=yes&is_staff=1&is_superuser=1';
    const r = await s.request({
      method: 'POST',
      url: '/auth/register',
      payload,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.ok(r.statusCode < 500, `${r.statusCode} ${r.body}`);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    const u = await s.storage.getUserByUsername('protouser3');
    if (u) assert.equal(u.is_staff || u.is_superuser, false, 'privilege fields set from a form body');
  });

  it('headersTimeout and requestTimeout are lowered from Node defaults (and not disabled)', () => {
    const srv = s.app.server;
    assert.ok(srv.headersTimeout > 0 && srv.headersTimeout <= LIMITS.headersTimeoutMs, `headersTimeout ${srv.headersTimeout}`);
    assert.ok(srv.requestTimeout > 0 && srv.requestTimeout <= LIMITS.requestTimeoutMs, `requestTimeout ${srv.requestTimeout}`);
    assert.ok(srv.headersTimeout < 60_000 && srv.requestTimeout < 300_000, 'still at Node defaults');
    assert.ok(srv.headersTimeout <= srv.requestTimeout);
  });

  it('malformed login, refresh, verify, logout and register bodies get DRF-shaped 4xx, never 5xx', async () => {
    const urls = ['/api/token/', '/api/token/refresh/', '/api/token/verify/', '/api/token/blacklist/', '/auth/register'];
    const json = (payload: string, ct = 'application/json') => ({ payload, headers: { 'content-type': ct } });
    const cases: [string, Partial<InjectOptions>][] = [
      ['broken JSON', json('{"username": "alice", ')],
      ['trailing garbage', json('{"username":"alice"} trailing')],
      ['JSON array', json('[1,2,3]')],
      ['JSON string', json('"hello"')],
      ['JSON number', json('42')],
      ['JSON null', json('null')],
      ['JSON true', json('true')],
      ['wrong field types', json('{"username":123,"password":["x"],"refresh":{"$ne":null},"token":7}')],
      ['null fields', json('{"username":null,"password":null,"refresh":null,"token":null}')],
      ['empty strings', json('{"username":"","password":"","refresh":"","token":""}')],
      ['empty object', json('{}')],
      ['NoSQL operators', json('{"username":{"$gt":""},"password":{"$gt":""},"refresh":{"$gt":""},"token":{"$gt":""}}')],
      ['duplicate keys', json('{"username":"a","username":{"x":1},"password":"p","refresh":"r","token":"t"}')],
      ['huge number', json('{"username":1e999999,"password":1e999999}')],
      ['lone surrogate', json('{"username":"\\ud800","password":"\\udfff","refresh":"\\ud800","token":"\\udc00"}')],
      ['NUL bytes', json('{"username":"a\\u0000b","password":"p\\u0000","refresh":"r\\u0000","token":"t\\u0000"}')],
      [
        'invalid UTF-8',
        {
          payload: Buffer.from([0x7b, 0x22, 0x75, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
          headers: { 'content-type': 'application/json' },
        },
      ],
      [
        'UTF-16 JSON',
        { payload: Buffer.from('{"username":"alice"}', 'utf16le'), headers: { 'content-type': 'application/json; charset=utf-16' } },
      ],
      ['text/plain', json('username=alice', 'text/plain')],
      ['XML', json('<login><username>alice</username></login>', 'application/xml')],
      [
        'multipart',
        json('--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--x--\r\n', 'multipart/form-data; boundary=x'),
      ],
      ['bogus content type', json('{}', 'application/json; charset=utf-8; boundary=";;;"')],
      ['garbage content type', json('{}', '!!!/???')],
      [
        'repeated form keys',
        json('username=a&username=b&password=p&password=q&refresh=r&refresh=s&token=t&token=u', 'application/x-www-form-urlencoded'),
      ],
      ['form bracket keys', json('username[]=a&password[x]=p&refresh[]=r&token[]=t', 'application/x-www-form-urlencoded')],
      ['broken percent-encoding', json('username=%E0%A4%A&password=%ZZ&refresh=%&token=%FF', 'application/x-www-form-urlencoded')],
      ['over-long username', json(JSON.stringify({ username: 'u'.repeat(10_000), password: 'p' }))],
      ['over-long token', json(JSON.stringify({ refresh: 'a.b.' + 'c'.repeat(60_000), token: 'x' }))],
      ['token with 1000 segments', json(JSON.stringify({ refresh: 'a.'.repeat(1000), token: 'a.'.repeat(1000) }))],
      ['token of non-base64', json(JSON.stringify({ refresh: '%%%.***.$$$', token: '\u{1F600}.\u{1F600}.\u{1F600}' }))],
    ];
    const failures: string[] = [];
    for (const url of urls) {
      for (const [label, opts] of cases) {
        await bad({ method: 'POST', url, ...opts } as InjectOptions, `${label} @ ${url}`).catch((err: Error) => failures.push(err.message));
      }
    }
    assert.deepEqual(failures, []);
  });

  it('hostile Authorization headers on the protected route get DRF-shaped 401, never 5xx', async () => {
    const headers = [
      'Bearer',
      'Bearer ',
      'Bearer a b',
      `Bearer ${access} extra`,
      'Bearer not-a-jwt',
      'Bearer a.b.c',
      'Bearer ...',
      `Bearer ${'x'.repeat(8000)}`,
      `Bearer ${'a.'.repeat(2000)}`,
      'Bearer \u00ff\u00fe',
      `bearer ${access}`,
      'Basic YWxpY2U6cGFzc3dvcmQ=',
      'Token abc',
      `JWT ${access}`,
    ];
    for (const authorization of headers) {
      const r = await s.request({ method: 'GET', url: '/api/protected-endpoint/', headers: { authorization } });
      assert.equal(r.statusCode, 401, `${authorization.slice(0, 40)}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      assertDrfBody(jsonOf(r.body), authorization.slice(0, 40));
    }
  });

  it('unknown paths, wrong methods and path tricks get DRF-shaped 404/405, never 5xx', async () => {
    const reqs: (InjectOptions & { url: string })[] = [
      { method: 'GET', url: '/api/token/' },
      { method: 'DELETE', url: '/api/token/refresh/' },
      { method: 'PUT', url: '/api/token/verify/' },
      { method: 'GET', url: '/nope' },
      { method: 'GET', url: '/api/../etc/passwd' },
      { method: 'GET', url: '/api/%2e%2e/%2e%2e/etc/passwd' },
      { method: 'GET', url: `/api/${'a'.repeat(5000)}` },
      { method: 'GET', url: '/api/token/%00' },
      { method: 'GET', url: '/api/token/%ZZ' },
      { method: 'POST', url: '/api/token/?username=alice&password=x' },
    ];
    const failures: string[] = [];
    for (const opts of reqs) {
      await bad(opts, `${opts.method} ${opts.url.slice(0, 60)}`).catch((err: Error) => failures.push(err.message));
    }
    assert.deepEqual(failures, []);
  });
});

describe('input limits (real socket, latchkey serve)', () => {
  let c: ChildServer;
  before(async () => {
    c = await startChild();
  });
  after(() => c?.stop());

  it('oversized request headers are refused with 431 and a DRF body', async () => {
    const req = `GET /api/protected-endpoint/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(LIMITS.maxHeaderSize + 4096)}\r\n\r\n`;
    const { text } = await rawExchange(c.port, req);
    const res = parseRaw(text);
    assert.equal(res.status, 431, text.slice(0, 300));
    assertDrfBody(jsonOf(res.body, '431 body'), '431 body');
  });

  it('malformed HTTP (garbage request line) is refused with 400 and a DRF body', async () => {
    const { text } = await rawExchange(c.port, '\x00\x01 not http at all\r\n\r\n');
    const res = parseRaw(text);
    assert.equal(res.status, 400, JSON.stringify(text.slice(0, 300)));
    assertDrfBody(jsonOf(res.body, '400 body'), '400 body');
  });

  it('a chunked body over the limit (no Content-Length) is refused with 413 and a DRF body', async () => {
    const chunk = 'a'.repeat(8192);
    const chunks = ['{"refresh":"', ...Array.from({ length: 12 }, () => chunk), '"}'];
    let body = '';
    for (const part of chunks) body += `${part.length.toString(16)}\r\n${part}\r\n`;
    body += '0\r\n\r\n';
    const req = `POST /api/token/refresh/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`;
    const { text } = await rawExchange(c.port, req);
    const res = parseRaw(text);
    assert.equal(res.status, 413, text.slice(0, 300));
    assertDrfBody(jsonOf(res.body, '413 body'), '413 body');
  });

  it('request smuggling: Content-Length together with Transfer-Encoding is refused, never 5xx', async () => {
    const req =
      'POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '0\r\n\r\nGET /api/protected-endpoint/ HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text } = await rawExchange(c.port, req, 2000);
    const res = parseRaw(text);
    assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}: ${JSON.stringify(text.slice(0, 300))}`);
  });

  it('slowloris: connections trickling headers are cut off by headersTimeout while normal clients are served', async (t) => {
    const CONNECTIONS = 20;
    const limitMs = LIMITS.headersTimeoutMs + 2_500;
    const started = Date.now();
    const sockets = await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        () =>
          new Promise<{ closedAt: Promise<number>; sock: net.Socket }>((resolve, reject) => {
            const sock = net.connect(c.port, '127.0.0.1');
            sock.on('error', () => {});
            const closedAt = new Promise<number>((r) => sock.on('close', () => r(Date.now() - started)));
            sock.once('connect', () => {
              // Read what the server sends (its 408), so 'close' marks the moment
              // the server hangs up, not the next failed write of a paused socket.
              sock.resume();
              sock.write('POST /api/token/ HTTP/1.1\r\nHost: x\r\n');
              resolve({ closedAt, sock });
            });
            sock.once('error', reject);
          }),
      ),
    );
    // One header line per second per connection, forever.
    let n = 0;
    const drip = setInterval(() => {
      n++;
      for (const { sock } of sockets) if (!sock.destroyed) sock.write(`X-Slow-${n}: a\r\n`);
    }, 1000);
    try {
      // Meanwhile an honest client gets its answer at once.
      await new Promise((r) => setTimeout(r, 1500));
      const honest = await fetch(`${c.url}/api/protected-endpoint/`, { signal: AbortSignal.timeout(2000) });
      assert.equal(honest.status, 401);
      const deadline = new Promise<'open'>((r) => setTimeout(() => r('open'), limitMs - (Date.now() - started)).unref());
      const results = await Promise.all(sockets.map(({ closedAt }) => Promise.race([closedAt, deadline])));
      const open = results.filter((x) => x === 'open').length;
      const times = results.filter((x): x is number => typeof x === 'number');
      t.diagnostic(`closed ${times.length}/${CONNECTIONS}; latest close at ${times.length ? Math.max(...times) : '-'} ms`);
      assert.equal(
        open,
        0,
        `${open} of ${CONNECTIONS} slowloris connections were still open ${limitMs} ms after they started ` +
          `(headersTimeout is ${LIMITS.headersTimeoutMs} ms)`,
      );
    } finally {
      clearInterval(drip);
      for (const { sock } of sockets) sock.destroy();
    }
  });
});
