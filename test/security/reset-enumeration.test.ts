// Reset requests must not tell whether an address belongs to an account
// (issue 13): the answer (status, body, headers) is the same for a known and
// an unknown address, and so is its cost. The accounts are looked up and
// mailed after the answer; the timings are taken in pairs, back to back, with
// that work (and the mail's delivery) finished between samples (see enumeration-timing.test.ts for why
// pairs), and the median of the pairs' ratios must be within 50% of 1 (these
// requests take a millisecond or two, where the scheduler's noise is larger
// than in a login's argon2 hash; a path that looked up and recorded a mail
// before answering took several times longer here on SQLite).
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from '../helpers.js';
import { median } from './support.js';

const SAMPLES = 40;
/** The headers that differ between any two answers. */
const VOLATILE = new Set(['date', 'x-request-id']);

describe('reset requests: no enumeration', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'djoser,account' } });
    await s.user({ username: 'known', password: 'quartz-lantern-8812', email: 'known@example.com' });
  });
  after(() => s.close());

  const ask = (url: string, email: string) => s.post(url, { email });

  for (const url of ['/auth/users/reset_password/', '/auth/users/reset_username/', '/api/account/password/reset/']) {
    it(`${url}: the same status, body and headers for a known and an unknown address`, async () => {
      const known = await ask(url, 'known@example.com');
      const unknown = await ask(url, 'nobody@example.com');
      assert.equal(known.statusCode, 204);
      assert.equal(unknown.statusCode, known.statusCode);
      assert.equal(unknown.body, known.body);
      const headers = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !VOLATILE.has(k)));
      assert.deepEqual(headers(unknown.headers), headers(known.headers));
      await s.service.settled();
    });
  }

  it('the same cost for a known and an unknown address (median ratio of pairs within 50%)', async (t) => {
    /** Until every answered request's mails are recorded and delivered: none of that work falls in a sample. */
    const quiet = async () => {
      await s.service.settled();
      for (;;) {
        const busy = [...(await s.storage.outbox.list({ status: 'pending' })), ...(await s.storage.outbox.list({ status: 'sending' }))];
        if (busy.length === 0) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const time = async (email: string) => {
      await quiet();
      const start = performance.now();
      const r = await ask('/auth/users/reset_password/', email);
      const ms = performance.now() - start;
      assert.equal(r.statusCode, 204);
      return ms;
    };
    for (let i = 0; i < 5; i++) {
      await time('known@example.com');
      await time(`ghost${i}@example.com`);
    }
    const ratios: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // In turn first and second, so that neither address always follows the other.
      if (i % 2 === 0) {
        const a = await time('known@example.com');
        ratios.push(a / (await time(`ghost${i}@example.com`)));
      } else {
        const b = await time(`ghost${i}@example.com`);
        ratios.push((await time('known@example.com')) / b);
      }
    }
    const m = median(ratios);
    t.diagnostic(`median ratio known/unknown ${m.toFixed(3)}`);
    assert.ok(Math.max(m, 1 / m) <= 1.5, `median ratio ${m.toFixed(3)}: more than 50% apart`);
  });
});
