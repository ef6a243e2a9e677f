import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { registerMailCommands } from '../../src/mail/cli.js';
import type { MailOutbox } from '../../src/mail/outbox.js';
import { DIALECTS, openTestDb } from './helpers.js';

const mail = (i: number) => ({ kind: 'password_reset', to: `u${i}@example.com`, subject: `s${i}`, text: `t${i}`, html: `<p>${i}</p>` });

for (const dialect of DIALECTS) {
  describe(`mail outbox on ${dialect}`, () => {
    it('records, claims once, and records the outcome', async () => {
      const t = await openTestDb(dialect);
      try {
        const clock = { ms: 1_000_000 };
        const outbox = t.outbox(t.db, () => clock.ms);
        const id = await outbox.enqueue(mail(1));
        const [row] = await outbox.list();
        assert.deepEqual(row, {
          id,
          kind: 'password_reset',
          to: 'u1@example.com',
          subject: 's1',
          status: 'pending',
          attempts: 0,
          createdAt: 1_000_000,
          nextAttemptAt: 1_000_000,
          sentAt: null,
          lastError: null,
        });
        assert.equal((await outbox.claimDue(999_999, 10, 1000)).length, 0, 'not due before its time');
        const [c] = await outbox.claimDue(1_000_000, 10, 1000);
        assert.equal(c!.id, id);
        assert.equal(c!.attempts, 1);
        assert.equal(c!.text, 't1');
        assert.equal((await outbox.claimDue(1_000_500, 10, 1000)).length, 0, 'leased');
        assert.equal(await outbox.markFailed(id, 'not-the-claim', 'x', 2_000_000), false);
        assert.equal(await outbox.markFailed(id, c!.claim, 'ECONNREFUSED connect', 1_005_000), true);
        let got = await outbox.get(id);
        assert.equal(got!.status, 'pending');
        assert.equal(got!.lastError, 'ECONNREFUSED connect');
        assert.equal(got!.nextAttemptAt, 1_005_000);
        const [c2] = await outbox.claimDue(1_005_000, 10, 1000);
        assert.equal(c2!.attempts, 2);
        assert.equal(await outbox.markSent(id, c!.claim, 1_005_100), false, 'an old claim is dead');
        assert.equal(await outbox.markSent(id, c2!.claim, 1_005_100), true);
        got = await outbox.get(id);
        assert.equal(got!.status, 'sent');
        assert.equal(got!.sentAt, 1_005_100);
        assert.equal(got!.text, '', 'a sent mail keeps no body (it held a one-time link)');
        assert.equal(got!.html, '');
        assert.equal((await outbox.claimDue(9_999_999, 10, 1000)).length, 0);
        assert.equal(await outbox.retry(id, 2_000_000), 0, 'a sent mail is not resent');
        assert.equal(await outbox.prune(1_005_101), 1);
        assert.equal(await outbox.get(id), undefined);
      } finally {
        await t.close();
      }
    });

    it('a lease that runs out (a sender that died) lets another sender claim the mail', async () => {
      const t = await openTestDb(dialect);
      try {
        const outbox = t.outbox(t.db, () => 0);
        const id = await outbox.enqueue(mail(1));
        const [a] = await outbox.claimDue(0, 1, 100);
        assert.equal((await outbox.claimDue(99, 1, 100)).length, 0);
        const [b] = await outbox.claimDue(100, 1, 100);
        assert.equal(b!.id, id);
        assert.equal(b!.attempts, 2);
        assert.equal(await outbox.markSent(id, a!.claim, 150), false);
        assert.equal(await outbox.markSent(id, b!.claim, 150), true);
      } finally {
        await t.close();
      }
    });

    it('gives up as failed, and retry(id) / retry(all failed) queue again', async () => {
      const t = await openTestDb(dialect);
      try {
        const outbox = t.outbox(t.db, () => 0);
        const ids = [await outbox.enqueue(mail(1)), await outbox.enqueue(mail(2)), await outbox.enqueue(mail(3))];
        for (const c of await outbox.claimDue(0, 10, 100)) await outbox.markFailed(c.id, c.claim, '535 Invalid login', null);
        assert.deepEqual(
          (await outbox.list({ status: 'failed' })).map((m) => m.id),
          [...ids].reverse(),
        );
        assert.equal((await outbox.claimDue(10 ** 12, 10, 100)).length, 0, 'failed mails are not retried by themselves');
        assert.equal(await outbox.retry(ids[0]!, 500), 1);
        const again = await outbox.get(ids[0]!);
        assert.deepEqual(
          [again!.status, again!.attempts, again!.nextAttemptAt, again!.lastError],
          ['pending', 0, 500, '535 Invalid login'],
        );
        assert.equal(await outbox.retry('failed', 600), 2);
        assert.equal((await outbox.list({ status: 'failed' })).length, 0);
        assert.equal((await outbox.claimDue(600, 10, 100)).length, 3);
        assert.equal(await outbox.retry(424242, 0), 0);
      } finally {
        await t.close();
      }
    });

    it('enqueue joins the caller’s transaction: a rollback leaves no mail', async () => {
      const t = await openTestDb(dialect);
      try {
        const outbox = t.outbox();
        await assert.rejects(
          t.db.transaction().execute(async (trx) => {
            await outbox.enqueue(mail(1), trx);
            throw new Error('the change failed');
          }),
          /the change failed/,
        );
        assert.equal((await outbox.list()).length, 0);
        await t.db.transaction().execute(async (trx) => {
          await outbox.enqueue(mail(2), trx);
        });
        assert.deepEqual(
          (await outbox.list()).map((m) => m.to),
          ['u2@example.com'],
        );
        await assert.rejects(outbox.enqueue({ ...mail(3), to: 'a@example.com, b@example.com' }), /one address/);
      } finally {
        await t.close();
      }
    });

    it('two instances claiming at once never take the same mail', async () => {
      const t = await openTestDb(dialect);
      try {
        const a = t.outbox(t.db);
        const bdb = t.connect();
        const b = t.outbox(bdb);
        // Both connections open before the race starts.
        await a.list();
        await b.list();
        const n = 120;
        for (let i = 0; i < n; i++) await a.enqueue(mail(i));
        const taken: number[][] = [[], []];
        const drain = async (o: MailOutbox, into: number[]) => {
          for (;;) {
            const got = await o.claimDue(Date.now(), 3, 60_000);
            if (got.length === 0) return;
            assert.ok(got.length <= 3, `claimed ${got.length} with a limit of 3`);
            into.push(...got.map((m) => m.id));
            // A send takes a moment: the other claimer runs meanwhile.
            await new Promise((r) => setTimeout(r, 2));
          }
        };
        await Promise.all([drain(a, taken[0]!), drain(b, taken[1]!), drain(a, taken[0]!), drain(b, taken[1]!)]);
        const all = [...taken[0]!, ...taken[1]!];
        assert.equal(all.length, n, 'every mail claimed exactly once');
        assert.equal(new Set(all).size, n);
        assert.ok(taken[0]!.length > 0 && taken[1]!.length > 0, `both instances claimed (${taken[0]!.length}/${taken[1]!.length})`);
      } finally {
        await t.close();
      }
    });

    it('mail list and mail retry on the command line', async () => {
      const t = await openTestDb(dialect);
      try {
        const outbox = t.outbox(t.db, () => Date.UTC(2025, 0, 2));
        const id1 = await outbox.enqueue(mail(1));
        const id2 = await outbox.enqueue({ ...mail(2), to: 'evil\u001b[31m@example.com' });
        const [c] = await outbox.claimDue(Date.UTC(2025, 0, 2), 1, 100);
        await outbox.markFailed(c!.id, c!.claim, 'EAUTH 535 Invalid login: 535 Authentication failed', null);
        const run = async (...args: string[]) => {
          const lines: string[] = [];
          const errors: string[] = [];
          const program = new Command('latchkey')
            .exitOverride()
            .configureOutput({ writeErr: (s) => void errors.push(s), writeOut: (s) => void lines.push(s) });
          registerMailCommands(program, {
            withOutbox: (fn) => fn(outbox),
            out: (l) => void lines.push(l),
            now: () => Date.UTC(2025, 0, 3),
          });
          let code = 0;
          try {
            await program.parseAsync(['node', 'latchkey', 'mail', ...args]);
          } catch (err) {
            code = (err as { exitCode?: number }).exitCode ?? 99;
          }
          return { out: lines.join('\n'), err: errors.join(''), code };
        };
        let r = await run('list');
        assert.equal(r.code, 0);
        assert.match(r.out, /^id\s+kind\s+to\s+status\s+attempts/);
        assert.match(
          r.out,
          new RegExp(
            `\\n${id1}\\s+password_reset\\s+u1@example.com\\s+failed\\s+1\\s+2025-01-02T00:00:00.000Z\\s+-\\s+-\\s+EAUTH 535 Invalid login`,
          ),
        );
        assert.ok(r.out.includes('evil\\u{1b}[31m@example.com'), 'control characters are shown escaped');
        assert.ok(!r.out.includes('t1') && !r.out.includes('<p>1</p>'), 'no bodies');
        r = await run('list', '--status', 'failed', '--json');
        const rows = JSON.parse(r.out) as Array<{ id: number; status: string; text?: string }>;
        assert.deepEqual(
          rows.map((x) => [x.id, x.status]),
          [[id1, 'failed']],
        );
        assert.equal(rows[0]!.text, undefined);
        r = await run('list', '--status', 'bogus');
        assert.equal(r.code, 1);
        assert.match(r.err, /must be one of pending, sending, sent, failed/);
        r = await run('retry');
        assert.equal(r.code, 1);
        assert.match(r.err, /give one mail id, or --all/);
        r = await run('retry', '999');
        assert.match(r.err, /no mail with id 999/);
        r = await run('retry', String(id1));
        assert.equal(r.code, 0);
        assert.equal(r.out, `mail ${id1} queued again`);
        assert.equal((await outbox.get(id1))!.status, 'pending');
        assert.equal((await outbox.get(id1))!.nextAttemptAt, Date.UTC(2025, 0, 3));
        const [c2] = await outbox.claimDue(Date.UTC(2025, 0, 3), 5, 100);
        await outbox.markSent(c2!.id, c2!.claim, Date.UTC(2025, 0, 3));
        r = await run('retry', String(c2!.id));
        assert.match(r.err, /is sent; only a failed or waiting mail can be retried/);
        r = await run('retry', '--all');
        assert.equal(r.out, 'no failed mails');
        assert.equal(id2 > id1, true);
      } finally {
        await t.close();
      }
    });
  });
}
