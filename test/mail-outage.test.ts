// Nothing is lost when the mail server is down (issue 13): a reset requested
// while the SMTP server is stopped answers 204 at once; once the server is
// back on the same port, the mail arrives, and its link sets the password.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, linkOf, mailEnv } from './account-life-support.js';
import { startServer } from './helpers.js';
import { smtpServer } from './mail/helpers.js';

describe('mail outage', () => {
  it('stop the SMTP server, request a reset (204), restart it: the mail arrives and its link works', async (t) => {
    const smtp = smtpServer(await freePort());
    await smtp.start();
    t.after(() => smtp.stop());
    const s = await startServer({
      env: {
        LATCHKEY_PRESETS: 'djoser',
        ...mailEnv(smtp.port),
      },
    });
    t.after(() => s.close());
    await s.user({ username: 'zoe', password: 'quartz-lantern-8812', email: 'zoe@example.com' });

    await smtp.stop();
    const r = await s.post('/auth/users/reset_password/', { email: 'zoe@example.com' });
    assert.equal(r.statusCode, 204, r.body);
    // The mail is recorded, and its delivery has failed at least once while the server was down.
    await s.service.settled();
    for (;;) {
      const [mail] = await s.storage.outbox.list();
      assert.ok(mail, 'the mail is in the outbox');
      if (mail.attempts > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(smtp.received.length, 0);

    await smtp.start();
    const [mail] = await smtp.waitFor(1);
    const link = linkOf(mail!, 'password/reset/confirm');
    const confirm = await s.post('/auth/users/reset_password_confirm/', { ...link, new_password: 'fresh-pass-word-77' });
    assert.equal(confirm.statusCode, 204, confirm.body);
    const login = await s.post('/auth/jwt/create/', { username: 'zoe', password: 'fresh-pass-word-77' });
    assert.equal(login.statusCode, 200, login.body);
  });
});
