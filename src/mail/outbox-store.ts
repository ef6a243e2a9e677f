// MailOutbox over Kysely, on SQLite and PostgreSQL, against the mail_outbox
// table of migration.ts.
//
// Claiming is one UPDATE ... RETURNING over the due rows. On SQLite a write
// statement takes the database's write lock before it reads, so two processes
// on one file cannot claim the same row. On PostgreSQL the due rows are picked
// with FOR UPDATE SKIP LOCKED, so concurrent claimers take disjoint rows
// without waiting on each other; a row another claimer updated meanwhile is
// re-checked against the WHERE clause and skipped.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import {
  MAX_ERROR_LENGTH,
  type ClaimedMail,
  type MailListFilter,
  type MailOutbox,
  type MailOutboxTable,
  type MailRecord,
  type MailStatus,
  type MailSummary,
  type NewMail,
} from './outbox.js';

interface MailDb {
  mail_outbox: MailOutboxTable;
}

export interface KyselyMailOutboxOptions {
  dialect: 'sqlite' | 'postgres';
  /** The clock for created_at, in milliseconds. */
  now?: () => number;
}

/** Most mails in one INSERT: 12 values each, well under SQLite's 32,766 bound parameters. */
const MAX_INSERT_ROWS = 100;

const SUMMARY_COLUMNS = [
  'id',
  'kind',
  'recipient',
  'subject',
  'status',
  'attempts',
  'created_at',
  'next_attempt_at',
  'sent_at',
  'last_error',
] as const;

/**
 * The mail_outbox table lives in the caller's database, whose table types need
 * not list it: this retypes a handle on that database to just this table.
 */
const mailDb = <DB>(db: Kysely<DB>): Kysely<MailDb> => db as unknown as Kysely<MailDb>;

export class KyselyMailOutbox<DB = MailDb> implements MailOutbox {
  private readonly db: Kysely<MailDb>;
  private readonly dialect: 'sqlite' | 'postgres';
  private readonly now: () => number;
  /** Mails waiting for this turn's INSERT (enqueue without a transaction). */
  private toInsert: { row: OutboxRow; resolve: (id: number) => void; reject: (err: unknown) => void }[] = [];

  constructor(db: Kysely<DB>, opts: KyselyMailOutboxOptions) {
    this.db = mailDb(db);
    this.dialect = opts.dialect;
    this.now = opts.now ?? Date.now;
  }

  async enqueue<T>(mail: NewMail, trx?: Kysely<T> | Transaction<T>): Promise<number> {
    checkNewMail(mail);
    const row = outboxRow(mail, this.now());
    if (trx !== undefined) return (await this.insert(mailDb(trx), [row]))[0]!;
    // Outside a transaction, the mails recorded in one turn of the event loop
    // (the resets answered together) go in as one INSERT: one commit, so one
    // fsync on SQLite, instead of one each.
    return new Promise<number>((resolve, reject) => {
      this.toInsert.push({ row, resolve, reject });
      if (this.toInsert.length === 1) setImmediate(() => void this.insertQueued());
    });
  }

  private async insertQueued(): Promise<void> {
    const batch = this.toInsert.splice(0, MAX_INSERT_ROWS);
    if (this.toInsert.length > 0) setImmediate(() => void this.insertQueued());
    try {
      const ids = await this.insert(
        this.db,
        batch.map((b) => b.row),
      );
      batch.forEach((b, i) => b.resolve(ids[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // One bad row must fail alone: each goes again by itself.
      for (const b of batch) {
        await this.insert(this.db, [b.row]).then(
          (ids) => b.resolve(ids[0]!),
          (e: unknown) => b.reject(e),
        );
      }
    }
  }

  /** Inserts rows with one statement; their ids in the rows' order (ids grow in insertion order). */
  private async insert(db: Kysely<MailDb>, rows: OutboxRow[]): Promise<number[]> {
    const res = await db
      .insertInto('mail_outbox')
      .values(rows as never)
      .returning('id')
      .execute();
    if (res.length !== rows.length) throw new Error(`mail outbox: inserted ${res.length} of ${rows.length} mails`);
    return res.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMail[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError('claimDue: limit must be a positive integer');
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) throw new TypeError('claimDue: leaseMs must be a positive integer');
    const claim = randomUUID();
    const due = this.db
      .selectFrom('mail_outbox')
      .select('id')
      .where('status', 'in', ['pending', 'sending'])
      .where('next_attempt_at', '<=', now)
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit);
    const set = {
      status: 'sending' as MailStatus,
      claim,
      attempts: sql<number>`attempts + 1`,
      next_attempt_at: now + leaseMs,
    };
    const rows =
      this.dialect === 'postgres'
        ? // A materialized CTE runs the locking SELECT once: as a plain IN
          // subquery the planner may run it again per row, and with SKIP
          // LOCKED each run can pick other rows (more than `limit` in all).
          await this.db
            .with(
              (cte) => cte('due').materialized(),
              () => due.forUpdate().skipLocked(),
            )
            .updateTable('mail_outbox')
            .set(set)
            .where('id', 'in', (eb) => eb.selectFrom('due').select('due.id'))
            .where('status', 'in', ['pending', 'sending'])
            .where('next_attempt_at', '<=', now)
            .returningAll()
            .execute()
        : await this.db
            .updateTable('mail_outbox')
            .set(set)
            .where('id', 'in', due)
            .where('status', 'in', ['pending', 'sending'])
            .where('next_attempt_at', '<=', now)
            .returningAll()
            .execute();
    return rows.map((r) => ({ ...toRecord(r), claim })).sort((a, b) => a.id - b.id);
  }

  async markSent(id: number, claim: string, now: number): Promise<boolean> {
    return (await this.markSentMany([id], claim, now)).length === 1;
  }

  async markSentMany(ids: readonly number[], claim: string, now: number): Promise<number[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .updateTable('mail_outbox')
      // The bodies hold one-time links: nothing needs them once delivered.
      .set({ status: 'sent', sent_at: now, claim: null, text_body: '', html_body: '', last_error: null })
      .where('id', 'in', ids)
      .where('claim', '=', claim)
      .where('status', '=', 'sending')
      .returning('id')
      .execute();
    return rows.map((r) => Number(r.id));
  }

  async markFailed(id: number, claim: string, error: string, retryAt: number | null): Promise<boolean> {
    const res = await this.db
      .updateTable('mail_outbox')
      .set({
        status: retryAt === null ? 'failed' : 'pending',
        next_attempt_at: retryAt ?? this.now(),
        claim: null,
        last_error: error.slice(0, MAX_ERROR_LENGTH),
      })
      .where('id', '=', id)
      .where('claim', '=', claim)
      .where('status', '=', 'sending')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async list(filter: MailListFilter = {}): Promise<MailSummary[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new TypeError('list: limit must be a positive integer');
    let q = this.db.selectFrom('mail_outbox').select(SUMMARY_COLUMNS).orderBy('id', 'desc').limit(limit);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    const rows = await q.execute();
    return rows.map(toSummary);
  }

  async get(id: number): Promise<MailRecord | undefined> {
    const row = await this.db.selectFrom('mail_outbox').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async retry(target: number | 'failed', now: number): Promise<number> {
    let q = this.db.updateTable('mail_outbox').set({ status: 'pending', attempts: 0, next_attempt_at: now, claim: null });
    q = target === 'failed' ? q.where('status', '=', 'failed') : q.where('id', '=', target).where('status', 'in', ['failed', 'pending']);
    const res = await q.executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async prune(before: number): Promise<number> {
    const res = await this.db.deleteFrom('mail_outbox').where('status', '=', 'sent').where('sent_at', '<', before).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

type OutboxRow = Omit<MailOutboxTable, 'id'>;

function outboxRow(mail: NewMail, now: number): OutboxRow {
  return {
    kind: mail.kind,
    recipient: mail.to,
    subject: mail.subject,
    text_body: mail.text,
    html_body: mail.html,
    status: 'pending',
    attempts: 0,
    created_at: now,
    next_attempt_at: now,
    claim: null,
    sent_at: null,
    last_error: null,
  };
}

function checkNewMail(mail: NewMail): void {
  for (const key of ['kind', 'to', 'subject', 'text', 'html'] as const) {
    if (typeof mail[key] !== 'string') throw new TypeError(`enqueue: ${key} must be a string`);
  }
  if (mail.kind === '' || mail.kind.length > 64) throw new TypeError('enqueue: kind must be 1-64 characters');
  if (mail.to === '' || mail.to.length > 254 || /[\s,;<>]/.test(mail.to)) {
    throw new TypeError('enqueue: to must be one address');
  }
}

type SummaryRow = Pick<Selectable<MailOutboxTable>, (typeof SUMMARY_COLUMNS)[number]>;

// pg may hand BIGINT back as a string (unless the pool parses it), so every
// number is read through Number().
function toSummary(r: SummaryRow): MailSummary {
  return {
    id: Number(r.id),
    kind: r.kind,
    to: r.recipient,
    subject: r.subject,
    status: r.status,
    attempts: Number(r.attempts),
    createdAt: Number(r.created_at),
    nextAttemptAt: Number(r.next_attempt_at),
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
    lastError: r.last_error,
  };
}

function toRecord(r: Selectable<MailOutboxTable>): MailRecord {
  return { ...toSummary(r), text: r.text_body, html: r.html_body };
}
