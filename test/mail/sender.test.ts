import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { createMailer, loadLinkSecrets } from '../../src/mail/index.js';
import { backoffDelay, DEFAULT_RETRY, MailSender } from '../../src/mail/sender.js';
import { smtpTransport } from '../../src/mail/transports.js';
import { eventually, openTestDb, smtpServer, tempDir } from './helpers.js';

describe('mail sender', () => {
  it('backs off exponentially from 30 s to 1 h, with jitter of up to half', () => {
    assert.equal(
      backoffDelay(1, DEFAULT_RETRY, () => 0),
      15_000,
    );
    assert.equal(
      backoffDelay(1, DEFAULT_RETRY, () => 1 - 1e-12),
      30_000,
    );
    assert.equal(
      backoffDelay(2, DEFAULT_RETRY, () => 1 - 1e-12),
      60_000,
    );
    assert.equal(
      backoffDelay(5, DEFAULT_RETRY, () => 1 - 1e-12),
      480_000,
    );
    assert.equal(
      backoffDelay(8, DEFAULT_RETRY, () => 1 - 1e-12),
      3_600_000,
    );
    assert.equal(
      backoffDelay(1000, DEFAULT_RETRY, () => 1 - 1e-12),
      3_600_000,
    );
    assert.equal(
      backoffDelay(1000, DEFAULT_RETRY, () => 0),
      1_800_000,
    );
  });

  it('wakes at once for a mail queued in this process, without waiting for the poll', async (t) => {
    const smtp = smtpServer(18621);
    await smtp.start();
    t.after(() => smtp.stop());
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const mailer = createMailer({
      settings: { mailDir: tempDir(), secrets: ['x'.repeat(32)], smtpUrl: `smtp://127.0.0.1:${smtp.port}`, pollIntervalMs: 3_600_000 },
      outbox: db.outbox(),
    });
    mailer.start();
    t.after(() => mailer.stop());
    // Let the sender's first (empty) round pass: it then sleeps for the hour-long poll.
    await new Promise((r) => setTimeout(r, 200));
    await mailer.queue('confirmation', {
      id: 1,
      username: 'bo',
      email: 'bo@example.com',
      password: 'p',
      last_login: null,
      is_active: true,
    });
    const [m] = await smtp.waitFor(1, 15_000);
    assert.match(m!.subject!, /Your localhost account is ready/);
  });

  it('stop() waits for the mail in flight to be sent and recorded', async (t) => {
    const smtp = smtpServer(18622);
    await smtp.start();
    t.after(() => smtp.stop());
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const outbox = db.outbox();
    // A transport that is slow to answer: a real SMTP send, started late.
    const real = smtpTransport(`smtp://127.0.0.1:${smtp.port}`);
    let started!: () => void;
    const inFlight = new Promise<void>((r) => (started = r));
    const slow = {
      ...real,
      async send(mail: Parameters<typeof real.send>[0]) {
        started();
        await new Promise((r) => setTimeout(r, 300));
        await real.send(mail);
      },
    };
    const sender = new MailSender({ outbox, transport: slow, from: 'a@example.com', pollIntervalMs: 50 });
    const id = await outbox.enqueue({ kind: 'confirmation', to: 'c@example.com', subject: 'in flight', text: 't', html: 'h' });
    sender.start();
    await inFlight;
    assert.equal((await outbox.get(id))!.status, 'sending');
    await sender.stop();
    assert.equal((await outbox.get(id))!.status, 'sent');
    assert.equal(smtp.received.length, 1);
    // Stopped: a new mail stays queued.
    const id2 = await outbox.enqueue({ kind: 'confirmation', to: 'c@example.com', subject: 'later', text: 't', html: 'h' });
    sender.notify();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await outbox.get(id2))!.status, 'pending');
  });

  it('keeps on when the database is away, and delivers once it is back', async (t) => {
    const smtp = smtpServer(18623);
    await smtp.start();
    t.after(() => smtp.stop());
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const outbox = db.outbox();
    let down = true;
    const flaky = new Proxy(outbox, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (prop === 'claimDue')
          return (...a: Parameters<typeof outbox.claimDue>) => (down ? Promise.reject(new Error('SQLITE_BUSY')) : target.claimDue(...a));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const warnings: string[] = [];
    const sender = new MailSender({
      outbox: flaky,
      transport: smtpTransport(`smtp://127.0.0.1:${smtp.port}`),
      from: 'a@example.com',
      pollIntervalMs: 30,
      logger: { info() {}, warn: (_o, msg) => void warnings.push(msg), error() {} },
    });
    sender.start();
    t.after(() => sender.stop());
    await outbox.enqueue({ kind: 'confirmation', to: 'd@example.com', subject: 'db back', text: 't', html: 'h' });
    await eventually(async () => warnings.includes('mail outbox unavailable'), 5000, 'a warning');
    down = false;
    const [m] = await smtp.waitFor(1);
    assert.equal(m!.subject, 'db back');
  });
});

describe('link secret', () => {
  it('is LATCHKEY_SECRET_KEY, or one made once in the data dir (0600) and kept', () => {
    const dir = tempDir();
    try {
      const [a] = loadLinkSecrets({ dataDir: dir });
      const file = path.join(dir, 'link-secret.key');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.match(a, /^[0-9a-f]{64}$/);
      assert.deepEqual(loadLinkSecrets({ dataDir: dir }), [a]);
      const set = 's'.repeat(40);
      assert.deepEqual(loadLinkSecrets({ dataDir: dir, secretKey: set, fallbacks: [a] }), [set, a]);
      assert.throws(
        () => loadLinkSecrets({ dataDir: dir, secretKey: 'short' }),
        (e: Error) => e instanceof ConfigError && /LATCHKEY_SECRET_KEY: needs at least 32 bytes/.test(e.message),
      );
      assert.throws(() => loadLinkSecrets({ dataDir: dir, fallbacks: ['short'] }), /LATCHKEY_SECRET_KEY_FALLBACKS/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
