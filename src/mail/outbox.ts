// The outbox: every mail is a row written in the same transaction as the change
// that causes it, then delivered by a sender (sender.ts) that claims due rows,
// sends them and records the outcome. A mail is never lost to an SMTP outage:
// it waits, with backoff, and after the last attempt stays visible as `failed`
// until an operator retries it (`latchkey mail retry`).
//
// Times are milliseconds since the epoch.
import type { Kysely, Transaction } from 'kysely';

/**
 * pending: waiting for its next attempt (next_attempt_at).
 * sending: claimed by a sender until next_attempt_at (its lease); a sender that
 *          died leaves it to be claimed again once the lease runs out.
 * sent:    delivered; the bodies are dropped (they hold one-time links).
 * failed:  gave up after the last attempt; `retry` makes it pending again.
 */
export type MailStatus = 'pending' | 'sending' | 'sent' | 'failed';

export const MAIL_STATUSES: readonly MailStatus[] = ['pending', 'sending', 'sent', 'failed'];

export interface NewMail {
  kind: string;
  /** One address. */
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** A mail as the operator sees it: everything but the bodies. */
export interface MailSummary {
  id: number;
  kind: string;
  to: string;
  subject: string;
  status: MailStatus;
  /** Attempts started so far. */
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  sentAt: number | null;
  /** The last delivery error, scrubbed of credentials; null if none. */
  lastError: string | null;
}

export interface MailRecord extends MailSummary {
  text: string;
  html: string;
}

/** A mail a sender holds: `claim` must be shown back to markSent/markFailed. */
export interface ClaimedMail extends MailRecord {
  claim: string;
}

export interface MailListFilter {
  status?: MailStatus | undefined;
  /** At most this many, newest first; default 100. */
  limit?: number | undefined;
}

export interface MailOutbox {
  /**
   * Records a mail, due at once. With `trx` (a Kysely transaction of the same
   * database, whatever its table types), the row commits or rolls back with
   * the caller's change. Returns the mail's id. (Transaction<DB> is a
   * Kysely<DB>; it is named so that TypeScript infers DB from a transaction.)
   */
  enqueue<DB>(mail: NewMail, trx?: Kysely<DB> | Transaction<DB>): Promise<number>;
  /**
   * Claims up to `limit` mails that are due at `now` (pending and due, or
   * sending with a lease that ran out), counts an attempt on each and leases
   * them until `now + leaseMs`. Safe across processes: of concurrent callers,
   * each due mail goes to exactly one.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedMail[]>;
  /** Records a delivery. False if the claim was lost (the lease ran out and another sender took it). */
  markSent(id: number, claim: string, now: number): Promise<boolean>;
  /**
   * markSent for several mails of one claim in one statement (one commit, so
   * one fsync on SQLite, for a whole round). Returns the ids it recorded: an id
   * left out had its claim lost.
   */
  markSentMany(ids: readonly number[], claim: string, now: number): Promise<number[]>;
  /**
   * Records a failed attempt: pending again at `retryAt`, or `failed` for good
   * when `retryAt` is null. `error` must already be scrubbed of secrets.
   */
  markFailed(id: number, claim: string, error: string, retryAt: number | null): Promise<boolean>;
  /** Mails, newest first. */
  list(filter?: MailListFilter): Promise<MailSummary[]>;
  get(id: number): Promise<MailRecord | undefined>;
  /**
   * Makes a failed (or waiting) mail due at `now` with its attempts reset;
   * `'failed'` does so for every failed mail. Returns how many were requeued.
   */
  retry(target: number | 'failed', now: number): Promise<number>;
  /** Deletes sent mails sent before `before`; returns how many. */
  prune(before: number): Promise<number>;
}

/** The `mail_outbox` table, as Kysely sees it. */
export interface MailOutboxTable {
  id: number;
  kind: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  status: MailStatus;
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  claim: string | null;
  sent_at: number | null;
  last_error: string | null;
}

/** Longest last_error kept, in characters. */
export const MAX_ERROR_LENGTH = 1000;
