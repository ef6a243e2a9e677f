// The fast lane (src/http/fast-lane.ts) answers a constant GET before Fastify.
// Each request below goes over a real socket to two apps on one service: the
// app as `serve` builds it, and the same app without the fast lane. Their
// answers must be the same bytes (but for the Date header), whether the fast
// lane took the request or left it to Fastify, and /metrics must count them alike.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { fastLaneOf } from '../src/http/fast-lane.js';
import { appWithoutFastLane, startServer, tempDir, type TestServer } from './helpers.js';

/** A preset file with a constant GET under its own scheme, and one whose answers all carry `Allow` (an onSend hook). */
const CONSTANT = {
  id: 'constant',
  prefix: '/c',
  envelope: 'detail',
  rotate: false,
  authHeaderTypes: ['JWT'],
  routes: [{ method: 'GET', url: '/hello/', op: 'me', respond: 'message', summary: 'A greeting' }],
};
const ALLOWING = {
  id: 'allowing',
  prefix: '/a',
  envelope: 'detail',
  rotate: false,
  allowOnEveryAnswer: true,
  routes: [{ method: 'GET', url: '/hello/', op: 'me', respond: 'message', summary: 'A greeting' }],
};

/** One request's raw answer, its Date header taken out. */
function exchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const done = (text: string) => {
      socket.destroy();
      resolve(text.replace(/\r\nDate: [^\r]*/, ''));
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
      const body = request.startsWith('HEAD ') ? 0 : length ? Number(length[1]) : undefined;
      if (body !== undefined && data.length >= end + 4 + body) done(text);
    });
    socket.on('end', () => done(data.toString('latin1')));
    socket.on('error', reject);
    socket.write(request);
  });
}

const get = (url: string, headers: string[], method = 'GET', version = '1.1') =>
  `${method} ${url} HTTP/${version}\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;

describe('fast lane', () => {
  let s: TestServer;
  let plain: FastifyInstance | undefined;
  let lanePort = 0;
  let plainPort = 0;
  let access = '';
  let inactive = '';

  before(async () => {
    const dir = tempDir();
    const files = [CONSTANT, ALLOWING].map((p) => {
      const file = path.join(dir, `${p.id}.json`);
      fs.writeFileSync(file, JSON.stringify(p));
      return file;
    });
    s = await startServer({ env: { LATCHKEY_PRESETS: ['simplejwt', ...files].join(',') } });
    plain = await appWithoutFastLane(s);
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    lanePort = (s.app.server.address() as net.AddressInfo).port;
    plainPort = (plain.server.address() as net.AddressInfo).port;
    const { id } = await s.user({ username: 'ada', password: 'a-long-password-1' });
    access = (await s.service.issuePair(id)).access;
    const gone = await s.user({ username: 'bob', password: 'a-long-password-1' });
    inactive = (await s.service.issuePair(gone.id)).access;
    await s.storage.updateUser(gone.id, { is_active: false });
  });
  after(async () => {
    await plain?.close();
    await s?.close();
  });

  /** Sends the request to both apps: the answers, and whether the fast lane answered it. */
  async function both(request: string) {
    const lane = fastLaneOf(s.app)!;
    const served = lane.served;
    const fast = await exchange(lanePort, request);
    const took = lane.served - served;
    assert.ok(took === 0 || took === 1);
    return { fast, slow: await exchange(plainPort, request), took: took === 1 };
  }

  /**
   * Sends the request until the fast lane takes it, each time comparing the
   * two answers. (A route's first qualifying request is recorded through
   * Fastify; a user whose cached read expired is read by Fastify once again.)
   */
  async function takes(request: string) {
    for (let i = 0; i < 3; i++) {
      const r = await both(request);
      assert.equal(r.fast, r.slow);
      if (r.took) return r;
    }
    assert.fail('the fast lane never took the request');
  }

  it('replays Fastify’s answer byte for byte, once it has seen one', async () => {
    const request = get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`]);
    const first = await both(request);
    assert.equal(first.took, false, 'the first answer is Fastify’s');
    assert.match(first.fast, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(first.fast, first.slow);
    const taken = await takes(request);
    assert.equal(taken.fast, first.fast);
  });

  const taken: [string, () => string][] = [
    ['lower-case header name', () => get('/api/protected-endpoint/', [`authorization: Bearer ${access}`])],
    ['more headers', () => get('/api/protected-endpoint/', ['User-Agent: t/1', 'Accept: text/html', `Authorization: Bearer ${access}`])],
    ['Connection: close', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, 'Connection: close'])],
    ['HTTP/1.0', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`], 'GET', '1.0')],
    [
      'HTTP/1.0 keep-alive',
      () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, 'Connection: keep-alive'], 'GET', '1.0'),
    ],
    ['another preset’s scheme', () => get('/c/hello/', [`Authorization: JWT ${access}`])],
  ];
  for (const [name, request] of taken) {
    it(`takes ${name}, with Fastify’s bytes`, async () => {
      const r = await takes(request());
      assert.match(r.fast, /^HTTP\/1\.[01] 200 OK\r\n/);
    });
  }

  const left: [string, () => string][] = [
    ['HEAD', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`], 'HEAD')],
    ['a query string', () => get('/api/protected-endpoint/?x=1', [`Authorization: Bearer ${access}`])],
    ['a path without the slash', () => get('/api/protected-endpoint', [`Authorization: Bearer ${access}`])],
    ['Origin', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, 'Origin: https://elsewhere.example'])],
    ['Cookie', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, 'Cookie: a=b'])],
    ['a body', () => `${get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, 'Content-Length: 2']).slice(0, -2)}\r\n{}`],
    [
      'two Authorization headers',
      () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`, `Authorization: Bearer ${access}`]),
    ],
    ['no Authorization', () => get('/api/protected-endpoint/', [])],
    ['another scheme', () => get('/api/protected-endpoint/', [`Authorization: JWT ${access}`])],
    ['a token that does not verify', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${access.slice(0, -2)}xx`])],
    ['an inactive user', () => get('/api/protected-endpoint/', [`Authorization: Bearer ${inactive}`])],
    ['a route with an onSend hook', () => get('/a/hello/', [`Authorization: Bearer ${access}`])],
  ];
  for (const [name, request] of left) {
    it(`leaves ${name} to Fastify, same bytes`, async () => {
      for (let i = 0; i < 2; i++) {
        const r = await both(request());
        assert.equal(r.took, false);
        assert.equal(r.fast, r.slow);
      }
    });
  }

  it('counts its answers in /metrics as Fastify does', async () => {
    const request = get('/api/protected-endpoint/', [`Authorization: Bearer ${access}`]);
    for (let i = 0; i < 3; i++) await takes(request);
    const counts = async (port: number) => {
      const m = await exchange(port, get('/metrics', []));
      return m.split('\n').filter((l) => l.includes('route="/api/protected-endpoint/"') && !l.includes('le="') && !l.includes('_sum'));
    };
    const lane = await counts(lanePort);
    assert.ok(
      lane.some((l) => /^latchkey_http_requests_total\{route="\/api\/protected-endpoint\/",method="GET",status="200"\} \d+$/.test(l)),
    );
    assert.deepEqual(lane, await counts(plainPort));
  });
});
