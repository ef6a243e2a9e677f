// Address spoofing against the per-address limits: X-Forwarded-For is trusted
// only from the proxies in LATCHKEY_TRUST_PROXY, so forged headers neither
// dodge the limit nor fill the limiter's memory with fresh keys; IPv6 clients
// are counted per /64. Checked in process (inject's remoteAddress) and over a
// real TCP socket against `latchkey serve`.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { assertThrottled, postJson, runCli, childEnv, startChild, scratchDir, type ChildServer } from './support.js';

const LOGIN = '/api/token/';
const randomIp = () => `${randomInt(1, 224)}.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

const attempt = (s: TestServer, remoteAddress: string, xff: string | undefined, username = `nobody${randomInt(1e9)}`) =>
  s.request({
    method: 'POST',
    url: LOGIN,
    payload: { username, password: 'wrong-password' },
    remoteAddress,
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  });

const limits = { LATCHKEY_LOGIN_THROTTLE: 'on', LATCHKEY_THROTTLE_LOGIN_ADDRESS: '5/60', LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '1000/60' };

describe('address spoofing: no trusted proxy', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: limits });
  });
  after(() => s?.close());

  it('random X-Forwarded-For values from an untrusted client all count as its one socket address (limiter memory stays bounded)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await attempt(s, '203.0.113.7', randomIp());
      assert.equal(r.statusCode, 401, `failure ${i + 1}: ${r.body}`);
    }
    // A flood of fresh forged addresses: each one is the same key, already blocked.
    for (let i = 0; i < 200; i++) assertThrottled(await attempt(s, '203.0.113.7', randomIp()), `spoofed attempt ${i}`);
    // The client's real address is unaffected for someone else.
    assert.equal((await attempt(s, '203.0.113.8', undefined)).statusCode, 401);
  });

  it('IPv6 clients rotating addresses inside their /64 count as one address', async () => {
    const host = () =>
      [randomInt(0x10000), randomInt(0x10000), randomInt(0x10000), randomInt(0x10000)].map((n) => n.toString(16)).join(':');
    for (let i = 0; i < 5; i++) {
      const r = await attempt(s, `2001:db8:aa:bb:${host()}`, undefined);
      assert.equal(r.statusCode, 401, r.body);
    }
    assertThrottled(await attempt(s, `2001:db8:aa:bb:${host()}`, undefined), 'sixth address in the same /64');
    assert.equal((await attempt(s, `2001:db8:aa:bc:${host()}`, undefined)).statusCode, 401, 'a different /64 is separate');
  });
});

describe('address spoofing: LATCHKEY_TRUST_PROXY=127.0.0.1', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { ...limits, LATCHKEY_TRUST_PROXY: '127.0.0.1' } });
  });
  after(() => s?.close());

  it('behind the trusted proxy, each forwarded client address is counted separately', async () => {
    const clients = Array.from({ length: 10 }, (_, i) => `198.51.100.${i + 1}`);
    for (let round = 0; round < 4; round++) {
      for (const c of clients) {
        const r = await attempt(s, '127.0.0.1', c);
        assert.equal(r.statusCode, 401, `client ${c} round ${round}: ${r.body}`);
      }
    }
    // 40 failures through one proxy, none throttled; now one client reaches its own limit.
    assert.equal((await attempt(s, '127.0.0.1', clients[0])).statusCode, 401);
    assertThrottled(await attempt(s, '127.0.0.1', clients[0]), 'sixth failure of one forwarded client');
    assert.equal((await attempt(s, '127.0.0.1', clients[1])).statusCode, 401, 'another forwarded client is separate');
  });

  it('a client behind the proxy cannot dodge the limit by prepending forged hops', async () => {
    const real = '192.0.2.77';
    for (let i = 0; i < 5; i++) {
      const r = await attempt(s, '127.0.0.1', `${randomIp()}, ${randomIp()}, ${real}`);
      assert.equal(r.statusCode, 401, r.body);
    }
    assertThrottled(await attempt(s, '127.0.0.1', `${randomIp()}, ${real}`), 'forged leftmost hops');
  });

  it('a peer that is not a configured proxy cannot vouch for X-Forwarded-For', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await attempt(s, '203.0.113.99', randomIp())).statusCode, 401);
    assertThrottled(await attempt(s, '203.0.113.99', randomIp()), 'untrusted peer with forged X-Forwarded-For');
  });
});

describe('address spoofing over a real socket (latchkey serve)', () => {
  const PASSWORD = 'correct-horse-battery-1';
  let plain: ChildServer;
  let proxied: ChildServer;
  before(async () => {
    const env = { ...limits };
    const dirA = scratchDir('latchkey-sec-');
    const dirB = scratchDir('latchkey-sec-');
    const create = async (dir: string, extra: Record<string, string>) => {
      const r = await runCli(['createuser', '--username', 'alice', '--password', PASSWORD], childEnv(dir, env));
      assert.equal(r.code, 0, r.stderr);
      return startChild({ dir, env: { ...env, ...extra } });
    };
    // Started side by side, but each one that did start is kept for `after` to
    // stop even when the other failed (Promise.all dropped it, and the run hung).
    const [a, b] = await Promise.allSettled([create(dirA, {}), create(dirB, { LATCHKEY_TRUST_PROXY: '127.0.0.1' })]);
    if (a.status === 'fulfilled') plain = a.value;
    if (b.status === 'fulfilled') proxied = b.value;
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
  });
  after(async () => {
    await Promise.all([plain?.stop(), proxied?.stop()]);
  });

  it('without LATCHKEY_TRUST_PROXY, forged X-Forwarded-For over TCP does not dodge the address limit', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await postJson(`${plain.url}${LOGIN}`, { username: `nobody${i}`, password: 'x-wrong' }, { 'x-forwarded-for': randomIp() });
      assert.equal(r.status, 401, r.text);
    }
    const r = await postJson(`${plain.url}${LOGIN}`, { username: 'alice', password: PASSWORD }, { 'x-forwarded-for': randomIp() });
    assertThrottled({ statusCode: r.status, headers: Object.fromEntries(r.headers), body: r.text }, 'real socket, spoofed');
  });

  it('with LATCHKEY_TRUST_PROXY=127.0.0.1, the forwarded address over TCP is the one counted', async () => {
    for (let i = 0; i < 8; i++) {
      const r = await postJson(
        `${proxied.url}${LOGIN}`,
        { username: `nobody${i}`, password: 'x-wrong' },
        { 'x-forwarded-for': `198.51.100.${i + 1}` },
      );
      assert.equal(r.status, 401, r.text);
    }
    for (let i = 0; i < 5; i++) {
      const r = await postJson(`${proxied.url}${LOGIN}`, { username: 'nobody', password: 'x-wrong' }, { 'x-forwarded-for': '192.0.2.200' });
      assert.equal(r.status, 401, r.text);
    }
    const blocked = await postJson(
      `${proxied.url}${LOGIN}`,
      { username: 'alice', password: PASSWORD },
      { 'x-forwarded-for': '192.0.2.200' },
    );
    assertThrottled({ statusCode: blocked.status, headers: Object.fromEntries(blocked.headers), body: blocked.text }, 'forwarded client');
    const ok = await postJson(`${proxied.url}${LOGIN}`, { username: 'alice', password: PASSWORD }, { 'x-forwarded-for': '192.0.2.201' });
    assert.equal(ok.status, 200, ok.text);
  });
});
