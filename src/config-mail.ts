// The mail settings: rows of the settings table (src/config.ts), under the
// `mail` key of Config, named as src/mail/'s MailSettings names them.
import { z } from 'zod';
import { bool, int, limit, setting, showLimit } from './config-kit.js';
import { DEFAULT_LIMITS } from './throttle.js';

const text = z.string().optional();
/** Unset and '' both mean "not set". */
const unsetIfEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

export const MAIL_SETTINGS = [
  setting({
    env: 'LATCHKEY_SEND_ACTIVATION_EMAIL',
    key: 'sendActivationEmail',
    // Undefined means: each preset decides.
    schema: bool.optional(),
    shown: 'per preset (`djoser` on, others off)',
    meaning:
      "`on`: a registration at `POST /auth/users/` makes an inactive account and mails it an activation link, and a changed email deactivates the account until its new link is used (djoser's `SEND_ACTIVATION_EMAIL`); the other presets' registrations answer with tokens and are not affected",
  }),
  setting({
    env: 'LATCHKEY_SMTP_URL',
    key: 'mail.smtpUrl',
    // The value holds a password: a refusal never repeats it.
    schema: z
      .string()
      .refine((v) => v === '' || /^smtps?:\/\/[^/?#\s]+\/?$/.test(v), 'must be smtp://user:pass@host:port or smtps://...')
      .optional(),
    resolve: unsetIfEmpty,
    shown: 'none: mails are written as `.eml` files to `<data dir>/mail/`',
    meaning: 'the SMTP server mails go through: `smtp://user:pass@host:port`, or `smtps://` for TLS',
  }),
  setting({
    env: 'LATCHKEY_EMAIL_FROM',
    key: 'mail.emailFrom',
    schema: z.string().min(1).default('webmaster@localhost'),
    meaning: "the From address of every mail (Django's `DEFAULT_FROM_EMAIL`)",
  }),
  setting({
    env: 'LATCHKEY_DOMAIN',
    key: 'mail.domain',
    schema: text,
    resolve: unsetIfEmpty,
    shown: "the request's `Host`",
    meaning: 'the domain in mail links, `{protocol}://{domain}/{url}`',
  }),
  setting({
    env: 'LATCHKEY_SITE_NAME',
    key: 'mail.siteName',
    schema: text,
    resolve: unsetIfEmpty,
    shown: 'the domain',
    meaning: 'the site name mails speak of',
  }),
  setting({
    env: 'LATCHKEY_ACTIVATION_URL',
    key: 'mail.activationUrl',
    schema: z.string().min(1).default('#/activate/{uid}/{token}'),
    meaning: 'the activation link, after the domain',
  }),
  setting({
    env: 'LATCHKEY_PASSWORD_RESET_CONFIRM_URL',
    key: 'mail.passwordResetConfirmUrl',
    schema: z.string().min(1).default('#/password/reset/confirm/{uid}/{token}'),
    meaning: 'the password reset link, after the domain',
  }),
  setting({
    env: 'LATCHKEY_USERNAME_RESET_CONFIRM_URL',
    key: 'mail.usernameResetConfirmUrl',
    schema: z.string().min(1).default('#/username/reset/confirm/{uid}/{token}'),
    meaning: 'the username reset link, after the domain',
  }),
  setting({
    env: 'LATCHKEY_PASSWORD_RESET_TIMEOUT',
    key: 'mail.passwordResetTimeout',
    schema: int(1, 365 * 86400).default(259200),
    meaning: "seconds a link in a mail stays valid (Django's `PASSWORD_RESET_TIMEOUT`, 3 days)",
  }),
  setting({
    env: 'LATCHKEY_SECRET_KEY',
    key: 'mail.secretKey',
    schema: text,
    resolve: unsetIfEmpty,
    shown: 'generated into the data dir (`link-secret.key`)',
    meaning: 'the key of the links in mails, at least 32 bytes; instances that share a database must share it',
  }),
  setting({
    env: 'LATCHKEY_SECRET_KEY_FALLBACKS',
    key: 'mail.secretKeyFallbacks',
    schema: text,
    resolve: (v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    shown: 'empty',
    meaning: 'retired link keys, comma-separated, whose links still work',
  }),
  setting({
    env: 'LATCHKEY_MAIL_TEMPLATES_DIR',
    key: 'mail.templatesDir',
    schema: text,
    resolve: unsetIfEmpty,
    meaning: 'a folder of mail templates (`<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`) that replace the built-in ones',
  }),
  setting({
    env: 'LATCHKEY_MAIL_MAX_ATTEMPTS',
    key: 'mail.maxAttempts',
    schema: int(1, 1000).default(10),
    meaning: 'delivery attempts before a mail is `failed` (`latchkey mail retry` sends it again)',
  }),
  setting({
    env: 'LATCHKEY_MAIL_RETRY_MIN_MS',
    key: 'mail.retryMinMs',
    schema: int(1, 86_400_000).default(30_000),
    meaning: 'the first wait after a failed delivery; it doubles up to the maximum',
  }),
  setting({
    env: 'LATCHKEY_MAIL_RETRY_MAX_MS',
    key: 'mail.retryMaxMs',
    schema: int(1, 7 * 86_400_000).default(3_600_000),
    meaning: 'the longest wait between two delivery attempts',
  }),
  setting({
    env: 'LATCHKEY_MAIL_POLL_MS',
    key: 'mail.pollMs',
    schema: int(100, 3_600_000).default(5_000),
    meaning: 'how often a process looks for mails that another process recorded',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_LINK_ADDRESS',
    key: 'limits.linkAddress',
    schema: limit(DEFAULT_LIMITS.linkAddress),
    shown: showLimit(DEFAULT_LIMITS.linkAddress),
    meaning: 'requests that mail a one-time link (password or username reset, resend activation) per client address per window',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_LINK_ACCOUNT',
    key: 'limits.linkAccount',
    schema: limit(DEFAULT_LIMITS.linkAccount),
    shown: showLimit(DEFAULT_LIMITS.linkAccount),
    meaning: 'requests that mail a one-time link per email address asked for (known or not) per window',
  }),
] as const;
