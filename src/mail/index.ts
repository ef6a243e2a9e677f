// The mail component's facade. createMailer() validates the settings (a bad
// one stops startup with a ConfigError), picks the transport (SMTP, or .eml
// files with a warning), and gives the service one call, queue(), that renders
// a mail (with a fresh one-time link for the link kinds) and records it in the
// outbox, in the caller's transaction if given. A MailSender delivers it.
import path from 'node:path';
import type { Kysely, Transaction } from 'kysely';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { ConfigError } from '../errors.js';
import { LINK_KINDS, type MailKind } from './default-templates.js';
import {
  buildLink,
  DEFAULT_LINK_TIMEOUT_SECONDS,
  encodeUid,
  LinkTokens,
  validateUrlTemplate,
  type LinkPurpose,
  type LinkUser,
} from './links.js';
import type { MailOutbox, NewMail } from './outbox.js';
import { DEFAULT_RETRY, MailSender, type MailLogger, type RetryPolicy } from './sender.js';
import { MailTemplates, type MailContext } from './templates.js';
import { fileTransport, smtpTransport, type MailTransport } from './transports.js';

export { decodeUid, encodeUid, LinkTokens, LINK_PURPOSES, type LinkPurpose, type LinkUser, type TokenCheck } from './links.js';
export { MAIL_KINDS, type MailKind } from './default-templates.js';
export { MAIL_STATUSES, type MailOutbox, type MailRecord, type MailStatus, type MailSummary, type NewMail } from './outbox.js';
export { KyselyMailOutbox } from './outbox-store.js';
export { mailOutboxMigration, MAIL_OUTBOX_MIGRATION_NAME } from './migration.js';
export { loadLinkSecrets } from './secret.js';
export { registerMailCommands } from './cli.js';
export type { MailLogger } from './sender.js';

/** Every mail setting, with its LATCHKEY_* name. */
export interface MailSettings {
  /** LATCHKEY_SMTP_URL: `smtp://user:pass@host:port` or `smtps://...`; unset writes .eml files. */
  smtpUrl?: string | undefined;
  /** LATCHKEY_EMAIL_FROM; default `webmaster@localhost`. */
  emailFrom?: string | undefined;
  /** Where .eml files go without SMTP: `<LATCHKEY_DATA_DIR>/mail`. */
  mailDir: string;
  /** LATCHKEY_MAIL_TEMPLATES_DIR: a folder of template overrides. */
  templatesDir?: string | undefined;
  /** The link secrets, signing one first (see loadLinkSecrets). */
  secrets: readonly [string, ...string[]];
  /** LATCHKEY_PASSWORD_RESET_TIMEOUT, seconds; default 3 days. */
  passwordResetTimeout?: number | undefined;
  /** LATCHKEY_ACTIVATION_URL; default `#/activate/{uid}/{token}`. */
  activationUrl?: string | undefined;
  /** LATCHKEY_PASSWORD_RESET_CONFIRM_URL; default `#/password/reset/confirm/{uid}/{token}`. */
  passwordResetConfirmUrl?: string | undefined;
  /** LATCHKEY_USERNAME_RESET_CONFIRM_URL; default `#/username/reset/confirm/{uid}/{token}`. */
  usernameResetConfirmUrl?: string | undefined;
  /** LATCHKEY_DOMAIN; unset: the request's Host. */
  domain?: string | undefined;
  /** LATCHKEY_SITE_NAME; unset: the domain. */
  siteName?: string | undefined;
  /** LATCHKEY_MAIL_MAX_ATTEMPTS, LATCHKEY_MAIL_RETRY_MIN_MS, LATCHKEY_MAIL_RETRY_MAX_MS. */
  retry?: Partial<RetryPolicy> | undefined;
  /** LATCHKEY_MAIL_POLL_MS: how often to look for mails other processes recorded; default 5000. */
  pollIntervalMs?: number | undefined;
}

export const MAIL_DEFAULTS = {
  emailFrom: 'webmaster@localhost',
  passwordResetTimeout: DEFAULT_LINK_TIMEOUT_SECONDS,
  activationUrl: '#/activate/{uid}/{token}',
  passwordResetConfirmUrl: '#/password/reset/confirm/{uid}/{token}',
  usernameResetConfirmUrl: '#/username/reset/confirm/{uid}/{token}',
  retry: DEFAULT_RETRY,
  pollIntervalMs: 5_000,
} as const;

/** Where the request came from, for links when LATCHKEY_DOMAIN is unset. */
export interface RequestOrigin {
  /** The request's Host header (with port, as djoser uses it). */
  host?: string | undefined;
  /** `https` when the request came over TLS; default `http`. */
  protocol?: 'http' | 'https' | undefined;
}

/** The user a mail is about: the columns a link token covers. */
export type MailUser = LinkUser;

export interface Mailer {
  readonly links: LinkTokens;
  readonly transport: string;
  /**
   * Renders a mail of `kind` for `user` and records it. The link kinds get a
   * fresh one-time link. With `trx`, the mail commits with the caller's change,
   * and the caller calls notify() once it has committed; without, queue()
   * notifies itself. Returns the mail's id, or null when the user has no email
   * address (nothing to send).
   */
  queue<DB>(kind: MailKind, user: MailUser, origin?: RequestOrigin, trx?: Kysely<DB> | Transaction<DB>): Promise<number | null>;
  /**
   * Renders a mail of `kind` for `user` without recording it (the link kinds
   * get a fresh one-time link), or null when the user has no email address.
   * For a mail that must commit with a user change: pass it to the storage's
   * createUser/updateUser, then call notify().
   */
  compose(kind: MailKind, user: MailUser, origin?: RequestOrigin): NewMail | null;
  /** Wakes this process's sender for a mail just committed. Never waits. */
  notify(): void;
  /** Starts delivering (one sender per process). */
  start(): void;
  /** Stops delivering after the mail in flight, and closes the transport. */
  stop(): Promise<void>;
}

export interface CreateMailerOptions {
  settings: MailSettings;
  outbox: MailOutbox;
  logger?: MailLogger | undefined;
  /** Replaces the transport the settings name (for embedding). */
  transport?: MailTransport | undefined;
  now?: (() => number) | undefined;
}

const PURPOSE: Record<(typeof LINK_KINDS)[number], LinkPurpose> = {
  activation: 'activation',
  password_reset: 'password_reset',
  username_reset: 'username_reset',
};

export function createMailer(opts: CreateMailerOptions): Mailer {
  const s = opts.settings;
  const log = opts.logger;
  const from = s.emailFrom ?? MAIL_DEFAULTS.emailFrom;
  checkFrom(from);
  const urls: Record<LinkPurpose, string> = {
    activation: s.activationUrl ?? MAIL_DEFAULTS.activationUrl,
    password_reset: s.passwordResetConfirmUrl ?? MAIL_DEFAULTS.passwordResetConfirmUrl,
    username_reset: s.usernameResetConfirmUrl ?? MAIL_DEFAULTS.usernameResetConfirmUrl,
  };
  validateUrlTemplate('LATCHKEY_ACTIVATION_URL', urls.activation);
  validateUrlTemplate('LATCHKEY_PASSWORD_RESET_CONFIRM_URL', urls.password_reset);
  validateUrlTemplate('LATCHKEY_USERNAME_RESET_CONFIRM_URL', urls.username_reset);
  const timeout = s.passwordResetTimeout ?? MAIL_DEFAULTS.passwordResetTimeout;
  if (!Number.isSafeInteger(timeout) || timeout < 1) {
    throw new ConfigError('LATCHKEY_PASSWORD_RESET_TIMEOUT: must be a positive whole number of seconds');
  }
  if (s.domain !== undefined && s.domain !== '' && !/^[^\s/?#@]+$/.test(s.domain)) {
    throw new ConfigError('LATCHKEY_DOMAIN: a host name (with an optional port), no scheme or path');
  }
  const templates = MailTemplates.load(s.templatesDir);
  const links = new LinkTokens({ secrets: s.secrets, timeoutSeconds: timeout, ...(opts.now ? { now: opts.now } : {}) });

  let transport = opts.transport;
  if (transport === undefined) {
    if (s.smtpUrl !== undefined && s.smtpUrl !== '') {
      transport = smtpTransport(s.smtpUrl);
    } else {
      transport = fileTransport(path.resolve(s.mailDir));
      log?.warn(
        { mailDir: path.resolve(s.mailDir) },
        'LATCHKEY_SMTP_URL is not set: mails are not sent, they are written as .eml files to the mail folder',
      );
    }
  }
  if (templates.overridden.length > 0)
    log?.info({ templates: templates.overridden }, 'mail templates replaced from LATCHKEY_MAIL_TEMPLATES_DIR');

  let sender: MailSender;
  try {
    sender = new MailSender({
      outbox: opts.outbox,
      transport,
      from,
      logger: log,
      retry: s.retry,
      pollIntervalMs: s.pollIntervalMs ?? MAIL_DEFAULTS.pollIntervalMs,
      ...(opts.now ? { now: opts.now } : {}),
    });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }

  return {
    links,
    transport: transport.description,
    compose(kind, user, origin = {}) {
      if (typeof user.email !== 'string' || user.email === '') return null;
      // A Host header is the client's word: only a plain host[:port] makes a link.
      const host = origin.host !== undefined && HOST_RE.test(origin.host) ? origin.host : undefined;
      const domain = s.domain || host || 'localhost';
      const ctx: MailContext = {
        user: { username: user.username, email: user.email },
        site_name: s.siteName || domain,
        domain,
        protocol: origin.protocol ?? 'http',
      };
      if ((LINK_KINDS as readonly string[]).includes(kind)) {
        const purpose = PURPOSE[kind as keyof typeof PURPOSE];
        const uid = encodeUid(user.id);
        const token = links.make(purpose, user);
        const { url, link } = buildLink(urls[purpose], uid, token, ctx);
        Object.assign(ctx, { uid, token, url, link });
      }
      return { kind, to: user.email, ...templates.render(kind, ctx) };
    },
    async queue(kind, user, origin = {}, trx) {
      const mail = this.compose(kind, user, origin);
      if (!mail) return null;
      const id = await opts.outbox.enqueue(mail, trx);
      if (trx === undefined) sender.notify();
      return id;
    },
    notify: () => sender.notify(),
    start: () => sender.start(),
    stop: () => sender.stop(),
  };
}

const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

function checkFrom(from: string): void {
  const parsed = addressparser(from, { flatten: true });
  if (parsed.length !== 1 || !/^[^\s@]+@[^\s@]+$/.test(parsed[0]!.address)) {
    throw new ConfigError('LATCHKEY_EMAIL_FROM: must be one address, like webmaster@example.com or "Site <webmaster@example.com>"');
  }
}
