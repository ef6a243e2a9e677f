// The fast lane keeps, per connection, the last Authorization header it took
// and its claims (src/service/header-memo.ts), so the same header again is not
// checked from scratch. Nothing that refuses a token may be skipped that way:
// on one kept-alive connection that has just been served a token's answer,
// the token past its exp, its user deactivated or logged out everywhere, a
// forged token, and tokens of other users are answered exactly as the app
// without the fast lane answers them on its own connection. And the memo
// itself checks again when the time claims fail or the keys change.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { fastLaneOf } from '../src/http/fast-lane.js';
import { createJwtBackend } from '../src/jwt.js';
import { hmacKeys, type KeySet } from '../src/keys.js';
import { HeaderMemo } from '../src/service/header-memo.js';
import { TokenFactory, type TokenClaims } from '../src/tokens.js';
import { appWithoutFastLane, startServer, type TestServer } from './helpers.js';

/** One kept-alive connection: each request waits for the whole answer before the next is sent. */
class Connection {
  private readonly socket: net.Socket;
  private data = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** The answer to `request`, its Date header taken out. */
  async send(request: string): Promise<string> {
    assert.equal(this.closed, false, 'the connection was closed');
    this.socket.write(request);
    for (;;) {
      const text = this.data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = end < 0 ? undefined : /\r\ncontent-length: (\d+)/i.exec(text.slice(0, end));
      if (end >= 0 && length && this.data.length >= end + 4 + Number(length[1])) {
        const size = end + 4 + Number(length[1]);
        this.data = this.data.subarray(size);
        return text.slice(0, size).replace(/\r\nDate: [^\r]*/, '');
      }
      assert.equal(this.closed, false, 'the connection closed before a whole answer');
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

const get = (token: string) => `GET /api/protected-endpoint/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`;

describe('a connection’s remembered Authorization header', () => {
  let s: TestServer;
  let plain: FastifyInstance | undefined;
  let lane: Connection;
  let other: Connection;
  /** The service's clock, in seconds: moved by the expiry test. */
  let clock = Math.floor(Date.now() / 1000);

  before(async () => {
    s = await startServer({ now: () => clock });
    plain = await appWithoutFastLane(s);
    await s.app.listen({ host: '127.0.0.1', port: 0 });
    await plain.listen({ host: '127.0.0.1', port: 0 });
    lane = new Connection((s.app.server.address() as net.AddressInfo).port);
    other = new Connection((plain.server.address() as net.AddressInfo).port);
  });
  after(async () => {
    lane?.close();
    other?.close();
    await plain?.close();
    await s?.close();
  });

  /** Sends the request on both connections: the fast lane's answer (it must equal the other's), and whether the fast lane gave it. */
  async function both(request: string): Promise<{ answer: string; took: boolean }> {
    const fast = fastLaneOf(s.app)!;
    const served = fast.served;
    const answer = await lane.send(request);
    const took = fast.served - served === 1;
    assert.equal(answer, await other.send(request));
    return { answer, took };
  }

  /** A user with a fresh access token, whose answer the fast lane has given on the connection. */
  async function served(username: string): Promise<{ id: number; access: string }> {
    const { id } = await s.user({ username, password: 'a-long-password-1' });
    const { access } = await s.service.issuePair(id);
    // Creating the user is a commit that the storage's change feed (which polls
    // every 25 ms) reports as a change, dropping the cached users: let it come
    // now, not in the middle of the requests below.
    await new Promise((r) => setTimeout(r, 60));
    for (let i = 0; i < 3; i++) {
      const r = await both(get(access));
      assert.match(r.answer, /^HTTP\/1\.1 200 OK\r\n/);
      if (r.took) return { id, access };
    }
    assert.fail('the fast lane never took the request');
  }

  async function refused(token: string, why: RegExp): Promise<void> {
    for (let i = 0; i < 2; i++) {
      const r = await both(get(token));
      assert.equal(r.took, false);
      assert.match(r.answer, /^HTTP\/1\.1 401 Unauthorized\r\n/);
      assert.match(r.answer, why);
    }
  }

  it('takes the same header again, and refuses it once its token is past its exp', async () => {
    const { access } = await served('ada');
    assert.equal((await both(get(access))).took, true);
    clock += s.config.accessTokenLifetime + s.config.leeway + 1;
    await refused(access, /token_not_valid/);
  });

  it('refuses it once its user is deactivated', async () => {
    const { id, access } = await served('bob');
    await s.service.setActive(id, false);
    await refused(access, /user_inactive|inactive/i);
  });

  it('refuses it once its user has logged out everywhere', async () => {
    const { id, access } = await served('cy');
    await s.service.logoutAll(id);
    await refused(access, /token_not_valid/);
  });

  it('refuses a forged token sent after a good one', async () => {
    const { access } = await served('dee');
    const [header, payload, signature] = access.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, user_id: 1 })).toString('base64url')}.${signature}`;
    await refused(forged, /token_not_valid/);
    assert.equal((await both(get(access))).took, true, 'the good token again');
  });

  it('answers each of two users’ tokens as their own, taking turns', async () => {
    const first = await served('eve');
    const second = await served('fay');
    for (const token of [first.access, second.access, first.access]) {
      const r = await both(get(token));
      assert.match(r.answer, /^HTTP\/1\.1 200 OK\r\n/);
    }
    await s.service.setActive(second.id, false);
    await refused(second.access, /inactive/i);
    assert.match((await both(get(first.access))).answer, /^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('HeaderMemo', () => {
  const NOW = 1_800_000_000;
  const source: { keys: KeySet } = { keys: hmacKeys('HS256', 'header-memo-test-signing-key-0123456789ab') };
  const tokens = new TokenFactory(createJwtBackend(source), { accessLifetime: 300, refreshLifetime: 86400, leeway: 0 });
  const { token } = tokens.access(7, NOW);
  const header = `Bearer ${token}`;
  const TYPES = ['Bearer'];

  /** A check that counts its calls, as TokenService's accessClaims checks a header. */
  function counted() {
    const calls = { n: 0 };
    const check = (h: string): TokenClaims | undefined => {
      calls.n++;
      return tokens.check(h.slice('Bearer '.length), 'access', now);
    };
    let now = NOW;
    return { calls, check, at: (t: number) => (now = t) };
  }

  it('checks a header once while it stays in time under the same keys', () => {
    const memo = new HeaderMemo();
    const c = counted();
    const first = memo.claims(header, TYPES, tokens, NOW, c.check);
    assert.equal(memo.claims(header, TYPES, tokens, NOW + 299, c.check), first);
    assert.equal(c.calls.n, 1);
  });

  it('checks again a header that is not the last one, or under other auth types', () => {
    const memo = new HeaderMemo();
    const c = counted();
    const other = `Bearer ${tokens.access(8, NOW).token}`;
    memo.claims(header, TYPES, tokens, NOW, c.check);
    assert.equal(memo.claims(other, TYPES, tokens, NOW, c.check)?.user_id, 8);
    assert.equal(memo.claims(header, TYPES, tokens, NOW, c.check)?.user_id, 7);
    memo.claims(header, ['Bearer'], tokens, NOW, c.check);
    assert.equal(c.calls.n, 4);
  });

  it('checks again once the time claims fail, and the check refuses', () => {
    const memo = new HeaderMemo();
    const c = counted();
    memo.claims(header, TYPES, tokens, NOW, c.check);
    c.at(NOW + 300);
    assert.throws(() => memo.claims(header, TYPES, tokens, NOW + 300, c.check), /Token is invalid/);
    assert.equal(c.calls.n, 2);
  });

  it('checks again under a new key set, and the check refuses a token no key of it signed', () => {
    const memo = new HeaderMemo();
    const c = counted();
    memo.claims(header, TYPES, tokens, NOW, c.check);
    const before = source.keys;
    source.keys = hmacKeys('HS256', 'another-header-memo-signing-key-0123456789');
    try {
      assert.throws(() => memo.claims(header, TYPES, tokens, NOW, c.check), /Token is invalid/);
      assert.equal(c.calls.n, 2);
    } finally {
      source.keys = before;
    }
  });

  it('keeps nothing from a check that refuses', () => {
    const memo = new HeaderMemo();
    const c = counted();
    const forged = `${header.slice(0, -2)}xx`;
    assert.throws(() => memo.claims(forged, TYPES, tokens, NOW, c.check));
    assert.throws(() => memo.claims(forged, TYPES, tokens, NOW, c.check));
    assert.equal(c.calls.n, 2);
  });
});
