// Delivery through a real SMTP server on localhost (smtp-server), parsed with
// mailparser; and the .eml fallback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { ConfigError } from '../../src/errors.js';
import { createMailer, decodeUid, type MailSettings, type MailUser } from '../../src/mail/index.js';
import { MailSender } from '../../src/mail/sender.js';
import { smtpTransport } from '../../src/mail/transports.js';
import { DIALECTS, eventually, memoryLogger, openTestDb, smtpServer, tempDir } from './helpers.js';

const SECRET = 'delivery-test-secret-0123456789abcdef';
const FAST = { maxAttempts: 50, backoffMinMs: 40, backoffMaxMs: 200 };

const ana: MailUser = {
  id: 7,
  username: 'ana',
  email: 'ana@example.com',
  password: 'argon2id$hash-of-ana',
  last_login: 1_700_000_000,
  is_active: true,
};

function settings(over: Partial<MailSettings> = {}): MailSettings {
  return { mailDir: path.join(tempDir(), 'mail'), secrets: [SECRET], retry: FAST, pollIntervalMs: 200, ...over };
}

/** The one link in a text body. */
function linkIn(text: string): string {
  const m = /(https?:\/\/\S+)/.exec(text);
  assert.ok(m, `no link in ${text}`);
  return m[1]!;
}

describe('mail delivery over SMTP', () => {
  it('delivers a mail with a text body, an HTML alternative and a working one-time link', async (t) => {
    const smtp = smtpServer(18611);
    await smtp.start();
    t.after(() => smtp.stop());
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const mailer = createMailer({
      settings: settings({ smtpUrl: `smtp://127.0.0.1:${smtp.port}`, emailFrom: 'Example <accounts@example.com>', siteName: 'Example' }),
      outbox: db.outbox(),
    });
    mailer.start();
    t.after(() => mailer.stop());
    const id = await mailer.queue('password_reset', ana, { host: 'app.example.com:8080', protocol: 'https' });
    const [m] = await smtp.waitFor(1);
    assert.equal(m!.subject, 'Choose a new password for Example');
    assert.equal(m!.from!.value[0]!.address, 'accounts@example.com');
    assert.deepEqual(
      (Array.isArray(m!.to) ? m!.to : [m!.to!]).flatMap((a) => a.value.map((v) => v.address)),
      ['ana@example.com'],
    );
    assert.equal(m!.messageId, `<latchkey.${(await db.outbox().get(id!))!.createdAt}.${id}@example.com>`);
    const link = linkIn(m!.text!);
    const match = /^https:\/\/app\.example\.com:8080\/#\/password\/reset\/confirm\/([^/]+)\/([^/]+)$/.exec(link);
    assert.ok(match, link);
    assert.equal(decodeUid(match[1]), ana.id);
    assert.equal(mailer.links.check('password_reset', ana, match[2]), 'ok');
    assert.equal(mailer.links.check('password_reset', { ...ana, password: 'argon2id$new' }, match[2]), 'invalid');
    assert.ok(typeof m!.html === 'string' && m!.html.includes(`href="${link}"`));
    await eventually(async () => (await db.outbox().get(id!))?.status === 'sent', 5000, 'sent');
  });

  it('an SMTP outage delays mail and loses none: stop the server, queue a reset, restart, and it arrives', async (t) => {
    const smtp = smtpServer(18612);
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const log = memoryLogger();
    const mailer = createMailer({ settings: settings({ smtpUrl: `smtp://127.0.0.1:${smtp.port}` }), outbox: db.outbox(), logger: log });
    mailer.start();
    t.after(() => mailer.stop());
    // Up, then down.
    await smtp.start();
    await smtp.stop();
    const id = await mailer.queue('password_reset', ana, { host: 'app.example.com' });
    assert.ok(id);
    const failing = await eventually(
      async () => {
        const m = await db.outbox().get(id);
        // Two attempts made and failed: waiting for the third.
        return m && m.attempts >= 2 && m.status === 'pending' ? m : undefined;
      },
      10_000,
      'two failed attempts',
    );
    assert.match(failing.lastError!, /ECONNREFUSED|ECONNECTION/);
    assert.ok(log.lines.some((l) => l.level === 'warn' && l.msg.includes('will retry')));
    await smtp.start();
    t.after(() => smtp.stop());
    const [m] = await smtp.waitFor(1);
    const token = /\/#\/password\/reset\/confirm\/[^/]+\/(\S+)/.exec(m!.text!)![1]!;
    assert.equal(mailer.links.check('password_reset', ana, token), 'ok');
    const sent = await eventually(
      async () => {
        const r = await db.outbox().get(id);
        return r?.status === 'sent' ? r : undefined;
      },
      5000,
      'sent',
    );
    assert.equal(smtp.received.length, 1, 'delivered once');
    assert.ok(sent.attempts >= 3);
    assert.ok(!log.text().includes(token), 'no link token in the log');
  });

  it('an SMTP login failure is retried, then given up as failed, with the error stored without the password', async (t) => {
    const smtp = smtpServer(18613, { user: 'mailer', pass: 'right-password' });
    await smtp.start();
    t.after(() => smtp.stop());
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const log = memoryLogger();
    const pass = 'wr0ng p@ss/wörd';
    const url = `smtp://mailer:${encodeURIComponent(pass)}@127.0.0.1:${smtp.port}`;
    const mailer = createMailer({
      settings: settings({ smtpUrl: url, retry: { maxAttempts: 3, backoffMinMs: 20, backoffMaxMs: 50 } }),
      outbox: db.outbox(),
      logger: log,
    });
    assert.equal(mailer.transport, `smtp://127.0.0.1:${smtp.port}`);
    mailer.start();
    t.after(() => mailer.stop());
    const id = (await mailer.queue('activation', { ...ana, is_active: false }))!;
    const failed = await eventually(
      async () => {
        const m = await db.outbox().get(id);
        return m?.status === 'failed' ? m : undefined;
      },
      10_000,
      'failed',
    );
    assert.equal(failed.attempts, 3);
    assert.match(failed.lastError!, /EAUTH 535/);
    const secretForms = [
      pass,
      encodeURIComponent(pass),
      Buffer.from(pass).toString('base64'),
      Buffer.from(`\u0000mailer\u0000${pass}`).toString('base64'),
    ];
    for (const s of secretForms) {
      assert.ok(!failed.lastError!.includes(s), 'stored error has no password');
      assert.ok(!log.text().includes(s), 'log has no password');
    }
    assert.ok(log.lines.some((l) => l.level === 'error' && l.msg.includes('gave up')));
    assert.equal(smtp.received.length, 0);
  });

  it('the transport scrubs every form of the password from an error', () => {
    const pass = 's3cr3t/p@ss';
    const tr = smtpTransport(`smtps://user:${encodeURIComponent(pass)}@mail.example.com`);
    try {
      assert.equal(tr.description, 'smtps://mail.example.com:465');
      const text = `bad ${pass} ${encodeURIComponent(pass)} ${Buffer.from(pass).toString('base64')} ${Buffer.from(`\u0000user\u0000${pass}`).toString('base64')} smtp://other:hunter2@x.test`;
      const scrubbed = tr.scrub(text);
      assert.equal(scrubbed, 'bad *** *** *** *** smtp://other:***@x.test');
    } finally {
      tr.close();
    }
  });

  it('refuses bad settings at start with a clear error', () => {
    const bad: Array<[Partial<MailSettings>, RegExp]> = [
      [{ smtpUrl: 'http://mail.example.com' }, /LATCHKEY_SMTP_URL: scheme must be smtp:\/\/ or smtps:\/\//],
      [{ smtpUrl: 'smtp://user:hunter2@' }, /LATCHKEY_SMTP_URL/],
      [{ smtpUrl: 'smtp://u:hunter2@mail.example.com/path' }, /LATCHKEY_SMTP_URL: takes no path/],
      [{ emailFrom: 'not an address' }, /LATCHKEY_EMAIL_FROM/],
      [{ activationUrl: '#/activate/{uid}' }, /LATCHKEY_ACTIVATION_URL: must contain \{uid\} and \{token\}/],
      [{ passwordResetTimeout: 0 }, /LATCHKEY_PASSWORD_RESET_TIMEOUT/],
      [{ domain: 'https://app.example.com' }, /LATCHKEY_DOMAIN/],
      [{ templatesDir: '/nonexistent/latchkey' }, /LATCHKEY_MAIL_TEMPLATES_DIR/],
    ];
    for (const [over, re] of bad) {
      assert.throws(
        () => createMailer({ settings: settings(over), outbox: undefined as never }),
        (e: Error) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('hunter2'),
        JSON.stringify(over),
      );
    }
  });

  for (const dialect of DIALECTS) {
    it(`two senders on one ${dialect} database deliver each mail exactly once`, async (t) => {
      const smtp = smtpServer(dialect === 'sqlite' ? 18614 : 18615);
      await smtp.start();
      t.after(() => smtp.stop());
      const db = await openTestDb(dialect);
      t.after(() => db.close());
      const senders = [db.outbox(db.db), db.outbox(db.connect())].map(
        (outbox) =>
          new MailSender({
            outbox,
            transport: smtpTransport(`smtp://127.0.0.1:${smtp.port}`),
            from: 'a@example.com',
            batchSize: 2,
            pollIntervalMs: 20,
          }),
      );
      const n = 30;
      for (let i = 0; i < n; i++)
        await db.outbox().enqueue({ kind: 'confirmation', to: `u${i}@example.com`, subject: `mail ${i}`, text: 't', html: 'h' });
      for (const s of senders) s.start();
      try {
        await smtp.waitFor(n);
        // A little longer, for a duplicate to show up if there were one.
        await new Promise((r) => setTimeout(r, 300));
      } finally {
        await Promise.all(senders.map((s) => s.stop()));
      }
      const subjects = smtp.received.map((m) => m.subject).sort();
      assert.equal(subjects.length, n);
      assert.equal(new Set(subjects).size, n);
      assert.equal((await db.outbox().list({ status: 'sent' })).length, n);
    });
  }
});

describe('the .eml fallback', () => {
  it('without LATCHKEY_SMTP_URL, writes each mail as a parseable .eml file and warns at start', async (t) => {
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const dir = path.join(tempDir(), 'data', 'mail');
    const log = memoryLogger();
    const mailer = createMailer({ settings: settings({ mailDir: dir }), outbox: db.outbox(), logger: log });
    assert.ok(
      log.lines.some((l) => l.level === 'warn' && l.msg.includes('LATCHKEY_SMTP_URL is not set') && JSON.stringify(l.obj).includes(dir)),
    );
    assert.equal(mailer.transport, `files:${dir}`);
    mailer.start();
    t.after(() => mailer.stop());
    const id = (await mailer.queue('activation', { ...ana, is_active: false }, { host: 'localhost:3000' }))!;
    const files = await eventually(
      async () => {
        const f = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.eml')) : [];
        return f.length > 0 ? f : undefined;
      },
      5000,
      'an .eml file',
    );
    await eventually(async () => (await db.outbox().get(id))?.status === 'sent', 5000, 'sent');
    assert.deepEqual(fs.readdirSync(dir), files, 'only the finished file, no temporary one');
    assert.equal(files.length, 1);
    assert.match(files[0]!, new RegExp(`^\\d{13}-${String(id).padStart(8, '0')}\\.eml$`));
    const raw = fs.readFileSync(path.join(dir, files[0]!));
    assert.ok(raw.includes('\r\n'), 'RFC 5322 line ends');
    const m = await simpleParser(raw);
    assert.equal(m.from!.value[0]!.address, 'webmaster@localhost');
    assert.match(m.subject!, /Confirm your new localhost:3000 account/);
    const link = linkIn(m.text!);
    const token = /^http:\/\/localhost:3000\/#\/activate\/NW?[A-Za-z0-9_-]*\/(\S+)$/.exec(link)?.[1];
    assert.ok(token, link);
    assert.equal(mailer.links.check('activation', { ...ana, is_active: false }, token), 'ok');
    assert.equal(mailer.links.check('activation', ana, token), 'stale');
    assert.ok(m.html && m.html.includes(link));
  });

  it('a user without an email address gets no mail; a hostile Host header makes no link', async (t) => {
    const db = await openTestDb('sqlite');
    t.after(() => db.close());
    const mailer = createMailer({ settings: settings(), outbox: db.outbox() });
    t.after(() => mailer.stop());
    assert.equal(await mailer.queue('password_reset', { ...ana, email: '' }), null);
    assert.equal((await db.outbox().list()).length, 0);
    const id = (await mailer.queue('password_reset', ana, { host: 'evil.test/"><script>' }))!;
    const m = await db.outbox().get(id);
    assert.ok(m!.text.includes('http://localhost/#/password/reset/confirm/'));
    assert.ok(!m!.text.includes('evil.test'));
  });
});
