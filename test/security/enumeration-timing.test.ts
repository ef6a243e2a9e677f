// User enumeration: neither the answer nor its timing may tell whether an
// account exists. An unknown user costs a dummy argon2id verify, as a wrong
// password costs a real one; their medians must be within 20%.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { median } from './support.js';

const LOGIN = '/api/token/';
const PASSWORD = 'correct-horse-battery-1';
const SAMPLES = 30;

describe('user enumeration', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
    await s.user({ username: 'alice', password: PASSWORD });
    const inactive = await s.user({ username: 'dormant', password: PASSWORD });
    await s.storage.updateUser(inactive.id, { is_active: false });
    // A user whose stored hash is not argon2 (unusable, imported from Django).
    const legacy = await s.user({ username: 'legacy', password: PASSWORD });
    await s.storage.updateUser(legacy.id, { password: '!unusable-django-password' });
  });
  after(() => s.close());

  it('login timing: an unknown username costs the same as a wrong password (medians within 20%)', async (t) => {
    const time = async (username: string) => {
      const t = performance.now();
      const r = await s.post(LOGIN, { username, password: 'wrong-password-guess' });
      const ms = performance.now() - t;
      assert.equal(r.statusCode, 401, r.body);
      return ms;
    };
    // Warm both paths (the dummy hash is computed once, lazily).
    for (let i = 0; i < 5; i++) {
      await time('alice');
      await time(`ghost${i}`);
    }
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // Interleaved, alternating which goes first, so drift hits both alike.
      if (i % 2) {
        known.push(await time('alice'));
        unknown.push(await time(`ghost-user-${i}`));
      } else {
        unknown.push(await time(`ghost-user-${i}`));
        known.push(await time('alice'));
      }
    }
    const k = median(known);
    const u = median(unknown);
    const ratio = Math.max(k, u) / Math.min(k, u);
    t.diagnostic(`median wrong-password ${k.toFixed(2)} ms, unknown-user ${u.toFixed(2)} ms, ratio ${ratio.toFixed(3)}`);
    assert.ok(
      ratio <= 1.2,
      `median wrong-password ${k.toFixed(2)} ms vs unknown-user ${u.toFixed(2)} ms: ratio ${ratio.toFixed(3)} > 1.2`,
    );
  });

  it('login answer: unknown user, wrong password, inactive user and unusable hash are indistinguishable', async () => {
    const answers = await Promise.all([
      s.post(LOGIN, { username: 'no-such-user', password: 'wrong-password-guess' }),
      s.post(LOGIN, { username: 'alice', password: 'wrong-password-guess' }),
      s.post(LOGIN, { username: 'dormant', password: PASSWORD }),
      s.post(LOGIN, { username: 'legacy', password: PASSWORD }),
    ]);
    const shape = (r: (typeof answers)[number]) => ({
      status: r.statusCode,
      body: r.body,
      'www-authenticate': r.headers['www-authenticate'],
      'content-type': r.headers['content-type'],
    });
    const first = shape(answers[0]!);
    assert.equal(first.status, 401);
    assert.deepEqual(JSON.parse(first.body), { detail: 'No active account found with the given credentials' });
    for (const r of answers.slice(1)) assert.deepEqual(shape(r), first);
  });

  it('login timing: an inactive user with the right password costs the same as an unknown user (medians within 20%)', async (t) => {
    const time = async (username: string, password: string) => {
      const t = performance.now();
      const r = await s.post(LOGIN, { username, password });
      const ms = performance.now() - t;
      assert.equal(r.statusCode, 401, r.body);
      return ms;
    };
    for (let i = 0; i < 3; i++) {
      await time('dormant', PASSWORD);
      await time('ghost', PASSWORD);
    }
    const inactive: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      inactive.push(await time('dormant', PASSWORD));
      unknown.push(await time(`ghost-${i}`, PASSWORD));
    }
    const a = median(inactive);
    const u = median(unknown);
    const ratio = Math.max(a, u) / Math.min(a, u);
    t.diagnostic(`median inactive ${a.toFixed(2)} ms, unknown ${u.toFixed(2)} ms, ratio ${ratio.toFixed(3)}`);
    assert.ok(ratio <= 1.2, `median inactive ${a.toFixed(2)} ms vs unknown ${u.toFixed(2)} ms: ratio ${ratio.toFixed(3)} > 1.2`);
  });
});
