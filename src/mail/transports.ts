// Where mails go: SMTP through nodemailer (LATCHKEY_SMTP_URL), or, with no
// SMTP server configured, .eml files in a folder, composed by nodemailer's
// stream transport (RFC 5322 with MIME parts) and written atomically.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { ConfigError } from '../errors.js';

/** nodemailer, loaded when a transport first needs it: a process that sends no mail never loads it (about 3 MB of heap). */
const loadNodemailer = () => createRequire(import.meta.url)('nodemailer') as typeof nodemailer;

export interface OutgoingMail {
  /** The outbox id: names the .eml file and makes the Message-ID, stable across retries. */
  id: number;
  createdAt: number;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  /** `smtp://host:port` (no credentials) or `files:<dir>`, for logs. */
  readonly description: string;
  send(mail: OutgoingMail): Promise<void>;
  /** An error's text with this transport's secrets removed. */
  scrub(text: string): string;
  close(): void;
}

export interface SmtpTimeouts {
  /** Milliseconds to wait for the TCP connection; default 10 s. */
  connectionMs?: number;
  /** Milliseconds to wait for the server's greeting; default 10 s. */
  greetingMs?: number;
  /** Milliseconds of socket inactivity before giving up; default 60 s. */
  socketMs?: number;
}

/** The parts of an SMTP URL, validated; errors never echo the password. */
export function parseSmtpUrl(raw: string): SMTPPool.Options {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('LATCHKEY_SMTP_URL: not a URL; expected smtp://user:pass@host:port or smtps://...');
  }
  const secure = url.protocol === 'smtps:';
  if (!secure && url.protocol !== 'smtp:') {
    throw new ConfigError(`LATCHKEY_SMTP_URL: scheme must be smtp:// or smtps://, not ${url.protocol}//`);
  }
  if (url.hostname === '') throw new ConfigError('LATCHKEY_SMTP_URL: needs a host');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
    throw new ConfigError('LATCHKEY_SMTP_URL: takes no path, query or fragment');
  }
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(url.username);
    pass = decodeURIComponent(url.password);
  } catch {
    throw new ConfigError('LATCHKEY_SMTP_URL: the user or password has a bad %-escape');
  }
  if (pass !== '' && user === '') throw new ConfigError('LATCHKEY_SMTP_URL: a password needs a user');
  return {
    pool: true,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (secure ? 465 : 25) : Number(url.port),
    secure,
    ...(user !== '' ? { auth: { user, pass } } : {}),
  };
}

export function smtpTransport(rawUrl: string, timeouts: SmtpTimeouts = {}): MailTransport {
  const opts = parseSmtpUrl(rawUrl);
  const auth = opts.auth as { user: string; pass: string } | undefined;
  const secrets = auth === undefined || auth.pass === '' ? [] : secretForms(auth.user, auth.pass, rawUrl);
  const transporter = loadNodemailer().createTransport({
    ...opts,
    maxConnections: 2,
    connectionTimeout: timeouts.connectionMs ?? 10_000,
    greetingTimeout: timeouts.greetingMs ?? 10_000,
    socketTimeout: timeouts.socketMs ?? 60_000,
    // nodemailer logs nothing of its own (it could show the AUTH exchange).
    logger: false,
    debug: false,
  });
  const scheme = opts.secure ? 'smtps' : 'smtp';
  const host = opts.host!.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    description: `${scheme}://${host}:${opts.port}`,
    async send(mail) {
      await transporter.sendMail(message(mail));
    },
    scrub(text) {
      let out = text;
      for (const s of secrets) out = out.split(s).join('***');
      return scrubUserinfo(out);
    },
    close() {
      transporter.close();
    },
  };
}

/** Every way the password could show up in an error: as is, %-encoded, in AUTH PLAIN/LOGIN base64, in the URL. */
function secretForms(user: string, pass: string, rawUrl: string): string[] {
  const forms = new Set([
    rawUrl,
    pass,
    encodeURIComponent(pass),
    Buffer.from(pass, 'utf8').toString('base64'),
    Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8').toString('base64'),
  ]);
  // Longest first, so a form that contains another is removed whole.
  return [...forms].filter((s) => s.length >= 1).sort((a, b) => b.length - a.length);
}

/** `scheme://user:secret@host` anywhere in a text loses its secret. */
export function scrubUserinfo(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi, '$1:***@');
}

/** Writes each mail as `<created ms>-<id>.eml` in `dir`: a temporary file, fsynced, then renamed. */
export function fileTransport(dir: string): MailTransport {
  const compose = () => loadNodemailer().createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  let composer: ReturnType<typeof compose> | undefined;
  let ready = false;
  return {
    description: `files:${dir}`,
    async send(mail) {
      if (!ready) {
        await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
        ready = true;
      }
      composer ??= compose();
      const info = await composer.sendMail(message(mail));
      const eml = info.message as unknown as Buffer;
      const name = `${String(mail.createdAt).padStart(13, '0')}-${String(mail.id).padStart(8, '0')}.eml`;
      const tmp = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
      const fh = await fs.promises.open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(eml);
        await fh.sync();
      } finally {
        await fh.close();
      }
      try {
        await fs.promises.rename(tmp, path.join(dir, name));
      } catch (err) {
        await fs.promises.rm(tmp, { force: true });
        throw err;
      }
    },
    scrub: scrubUserinfo,
    close() {
      composer?.close();
    },
  };
}

function message(mail: OutgoingMail) {
  return {
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: `<latchkey.${mail.createdAt}.${mail.id}@${messageIdDomain(mail.from)}>`,
    // An automated message: auto-responders should stay quiet (RFC 3834).
    headers: { 'Auto-Submitted': 'auto-generated' },
  };
}

function messageIdDomain(from: string): string {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from);
  return m?.[1] ?? 'localhost';
}
