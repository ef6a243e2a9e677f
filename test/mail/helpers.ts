// Shared parts of the mail tests: a fresh mail_outbox on SQLite (a temp file)
// or PostgreSQL (a schema of its own), and a real SMTP server on localhost
// (smtp-server) whose received mails are parsed by mailparser.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { KyselyMailOutbox } from '../../src/mail/outbox-store.js';
import type { MailOutboxTable } from '../../src/mail/outbox.js';
import { mailOutboxMigration } from '../../src/mail/migration.js';

export type Dialect = 'sqlite' | 'postgres';
export const DIALECTS: Dialect[] = ['sqlite', ...(process.env.TEST_POSTGRES_URL ? (['postgres'] as const) : [])];

export function tempDir(prefix = 'latchkey-mail-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The test database: just the table the mail migration makes. */
export interface MailDb {
  mail_outbox: MailOutboxTable;
}

export interface TestDb {
  dialect: Dialect;
  /** Opens another connection (another "instance") to the same database. */
  connect(): Kysely<MailDb>;
  db: Kysely<MailDb>;
  outbox(db?: Kysely<MailDb>, now?: () => number): KyselyMailOutbox;
  close(): Promise<void>;
}

/** A database with the mail_outbox table made by the exported migration. */
export async function openTestDb(dialect: Dialect): Promise<TestDb> {
  const opened: Kysely<MailDb>[] = [];
  let connect: () => Kysely<MailDb>;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = tempDir();
    const file = path.join(dir, 'mail.sqlite3');
    connect = () => {
      const conn = new SQLite(file);
      conn.pragma('journal_mode = WAL');
      conn.pragma('busy_timeout = 5000');
      const k = new Kysely<MailDb>({ dialect: new SqliteDialect({ database: conn }) });
      opened.push(k);
      return k;
    };
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = `mail_branch_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: process.env.TEST_POSTGRES_URL! });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    connect = () => {
      const pool = new pg.Pool({ connectionString: process.env.TEST_POSTGRES_URL!, max: 4, options: `-c search_path=${schema}` });
      pool.on('error', () => {});
      const k = new Kysely<MailDb>({ dialect: new PostgresDialect({ pool }) });
      opened.push(k);
      return k;
    };
    cleanup = async () => {
      const c = new pg.Client({ connectionString: process.env.TEST_POSTGRES_URL! });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    };
  }
  const db = connect();
  await mailOutboxMigration(dialect).up(db);
  return {
    dialect,
    connect,
    db,
    outbox: (k = db, now) => new KyselyMailOutbox(k, { dialect, ...(now ? { now } : {}) }),
    async close() {
      for (const k of opened) await k.destroy();
      await cleanup();
    },
  };
}

export interface TestSmtp {
  port: number;
  received: ParsedMail[];
  /** Raw messages as received. */
  raw: Buffer[];
  /** Resolves once `n` mails have been received (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<ParsedMail[]>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real SMTP server on 127.0.0.1:port. Without `auth`, it takes mail from
 * anyone; with it, only from that user and password. STARTTLS is off (the
 * test server has no certificate a client would trust).
 */
export function smtpServer(port: number, auth?: { user: string; pass: string }): TestSmtp {
  const received: ParsedMail[] = [];
  const raw: Buffer[] = [];
  const waiters: Array<() => void> = [];
  let server: SMTPServer | undefined;
  const options = (): SMTPServerOptions => ({
    disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !auth,
    allowInsecureAuth: true,
    logger: false,
    onAuth(a, _session, cb) {
      if (auth && a.username === auth.user && a.password === auth.pass) return cb(null, { user: a.username });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const buf = Buffer.concat(chunks);
        raw.push(buf);
        simpleParser(buf).then(
          (mail) => {
            received.push(mail);
            for (const w of waiters.splice(0)) w();
            cb();
          },
          (err: Error) => cb(err),
        );
      });
    },
  });
  return {
    port,
    received,
    raw,
    waitFor(n, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`waited ${ms} ms for ${n} mails, got ${received.length}`)), ms);
        const check = () => {
          if (received.length >= n) {
            clearTimeout(deadline);
            resolve(received);
          } else waiters.push(check);
        };
        check();
      });
    },
    start() {
      server = new SMTPServer(options());
      server.on('error', () => {});
      const s = server;
      return new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => {
          s.off('error', reject);
          resolve();
        });
      });
    },
    stop() {
      const s = server;
      server = undefined;
      if (!s) return Promise.resolve();
      return new Promise((resolve) => s.close(() => resolve()));
    },
  };
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function eventually<T>(fn: () => Promise<T | undefined | null | false>, ms = 20_000, what = 'a condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A pino-like logger that keeps every line, to check what was (not) logged. */
export function memoryLogger() {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, obj, msg });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), text: () => JSON.stringify(lines) };
}
