// Shutdown answers in DRF's shape (issue 14, item 9). Over real sockets: a
// request is in flight (its body still arriving) when the server starts to
// close; the next request on the same kept-alive connection arrives during the
// drain and gets a 503 in its preset's envelope, with Retry-After and
// Connection: close, not Fastify's own body. The request in flight completes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startServer } from './helpers.js';

const PASSWORD = 'pw-shutdown-12345';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw HTTP/1.1 connection: write bytes, read whole responses (Content-Length framed). */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buffer = Buffer.alloc(0);
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (d: Buffer) => {
    buffer = Buffer.concat([buffer, d]);
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const parse = (): RawResponse | undefined => {
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + length) return undefined;
    const body = buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    buffer = buffer.subarray(end + 4 + length);
    return { status: Number(statusLine!.split(' ')[1]), headers, body };
  };
  return {
    socket,
    write: (s: string) => socket.write(s),
    async read(timeoutMs = 10_000): Promise<RawResponse> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = parse();
        if (r) return r;
        if (ended) throw new Error(`connection closed before a whole response; have: ${JSON.stringify(buffer.toString())}`);
        if (Date.now() > deadline) throw new Error('no response in time');
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

/** Resolves once the server accepts no new connections (it has begun to close). */
async function refusesConnections(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(true));
    });
    if (refused) return;
    await sleep(20);
  }
  throw new Error('the server still accepts connections');
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`;

describe('a request that arrives during shutdown', () => {
  it("gets 503 in its preset's envelope with Retry-After and Connection: close, while the request in flight completes", async () => {
    const s = await startServer({ network: true });
    let closing: Promise<void> | undefined;
    const sockets: net.Socket[] = [];
    try {
      await s.user({ username: 'sid', password: PASSWORD });
      const port = (s.app.server.address() as net.AddressInfo).port;
      // Two kept-alive connections, each with a login whose body is half sent:
      // one on a DRF-envelope route (simplejwt), one on an {"error"} route (api-auth).
      const body = JSON.stringify({ username: 'sid', password: PASSWORD });
      const half = Math.floor(body.length / 2);
      const conns = await Promise.all(
        ['/api/token/', '/api/auth/login/'].map(async (path) => {
          const c = await connect(port);
          sockets.push(c.socket);
          c.write(
            `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, half)}`,
          );
          return c;
        }),
      );
      await sleep(100); // the server has both requests' headers
      closing = s.close();
      await refusesConnections(port);

      // The rest of each body, and the next request right behind it, which arrives during the drain.
      const [drf, envelope] = conns as [Awaited<ReturnType<typeof connect>>, Awaited<ReturnType<typeof connect>>];
      drf.write(body.slice(half) + get('/api/protected-endpoint/'));
      envelope.write(body.slice(half) + get('/api/auth/refresh/'));

      const inFlight = await drf.read();
      assert.equal(inFlight.status, 200, inFlight.body);
      assert.ok('access' in (JSON.parse(inFlight.body) as object), 'the request in flight completed');
      const refused = await drf.read();
      assert.equal(refused.status, 503, refused.body);
      assert.deepEqual(JSON.parse(refused.body), { detail: 'Service temporarily unavailable, try again later.' });
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(refused.headers.connection, 'close');
      assert.match(refused.headers['content-type'] ?? '', /^application\/json/);

      assert.equal((await envelope.read()).status, 200);
      const refused2 = await envelope.read();
      assert.equal(refused2.status, 503, refused2.body);
      assert.deepEqual(JSON.parse(refused2.body), { error: 'Service temporarily unavailable, try again later.' });
      assert.equal(refused2.headers['retry-after'], '1');
      assert.equal(refused2.headers.connection, 'close');
    } finally {
      for (const so of sockets) so.destroy();
      await (closing ?? s.close());
    }
  });
});
