// What the account-life tests share: a free port for a real SMTP server, and
// the one-time link in a mail.
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ParsedMail } from 'mailparser';

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The uid and token of the one-time link of `kind` in a mail's text. */
export function linkOf(mail: ParsedMail, kind: 'activate' | 'password/reset/confirm' | 'username/reset/confirm') {
  const m = new RegExp(`https?://[^/\\s]+/#/${kind}/([A-Za-z0-9_-]+)/([A-Za-z0-9-]+)`).exec(mail.text ?? '');
  assert.ok(m, `no ${kind} link in ${mail.text}`);
  return { uid: m[1]!, token: m[2]! };
}

/** A server's mail settings for a test SMTP server on `port`: delivery over SMTP, retried and polled quickly. */
export const mailEnv = (port: number) => ({
  LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${port}`,
  LATCHKEY_MAIL_RETRY_MIN_MS: '50',
  LATCHKEY_MAIL_RETRY_MAX_MS: '200',
  LATCHKEY_MAIL_POLL_MS: '100',
});
