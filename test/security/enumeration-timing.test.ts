// User enumeration: neither the answer nor its timing may tell whether an
// account exists. An unknown user costs a dummy argon2id verify, as a wrong
// password costs a real one; they must cost the same within 20%.
//
// The two kinds of login are timed in pairs, back to back, and it is the
// median of the pairs' ratios that must be within 20%: a pair shares the
// machine's load of the moment, which two separate medians do not (the suite
// runs other files on the same cores, and their medians drifted apart by 30%
// under that load while every pair stayed level). A path that skipped or added
// a hash would still differ in every pair.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { median } from './support.js';

const LOGIN = '/api/token/';
const PASSWORD = 'correct-horse-battery-1';
const SAMPLES = 30;

/** Checks timings taken in pairs (a[i] right next to b[i]): the median of a[i] / b[i] within 20% of 1. */
function assertSameCost(t: { diagnostic(m: string): void }, what: [string, string], a: number[], b: number[]): void {
  const ratios = a.map((x, i) => x / b[i]!);
  const m = median(ratios);
  const ratio = Math.max(m, 1 / m);
  const summary =
    `median ${what[0]} ${median(a).toFixed(2)} ms, ${what[1]} ${median(b).toFixed(2)} ms, ` + `median ratio of the pairs ${m.toFixed(3)}`;
  t.diagnostic(summary);
  assert.ok(ratio <= 1.2, `${summary}: more than 20% apart`);
}

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

  it('login timing: an unknown username costs the same as a wrong password (within 20%, timed in pairs)', async (t) => {
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
    assertSameCost(t, ['wrong-password', 'unknown-user'], known, unknown);
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

  it('login timing: an inactive user with the right password costs the same as an unknown user (within 20%, timed in pairs)', async (t) => {
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
      // Interleaved, alternating which goes first, as above.
      if (i % 2) {
        inactive.push(await time('dormant', PASSWORD));
        unknown.push(await time(`ghost-${i}`, PASSWORD));
      } else {
        unknown.push(await time(`ghost-${i}`, PASSWORD));
        inactive.push(await time('dormant', PASSWORD));
      }
    }
    assertSameCost(t, ['inactive', 'unknown'], inactive, unknown);
  });
});
