// The delivery loop: claims due mails from the outbox, sends each through the
// transport and records the outcome. A failed attempt is retried with
// exponential backoff and jitter; after the last attempt the mail is `failed`
// (visible, and retryable by an operator). It runs beside the server, never on
// a request's path: a request only records the mail and calls notify().
import type { ClaimedMail, MailOutbox } from './outbox.js';
import type { MailTransport } from './transports.js';

/** The few pino methods the mail component logs with. */
export interface MailLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RetryPolicy {
  /** Attempts before a mail is given up as `failed`; default 10. */
  maxAttempts: number;
  /** The first retry's delay in ms; default 30 s. It doubles with each attempt. */
  backoffMinMs: number;
  /** The longest delay in ms; default 1 h. */
  backoffMaxMs: number;
}

export interface MailSenderOptions {
  outbox: MailOutbox;
  transport: MailTransport;
  /** The From address (LATCHKEY_EMAIL_FROM). */
  from: string;
  logger?: MailLogger | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** How often to look for mails enqueued by other processes, in ms; default 5 s. */
  pollIntervalMs?: number | undefined;
  /** Mails claimed per round; default 10. */
  batchSize?: number | undefined;
  /** How long a claimed mail stays with this sender, in ms; default 5 min (well past SMTP timeouts). */
  leaseMs?: number | undefined;
  now?: (() => number) | undefined;
  /** A number in [0, 1), for jitter. */
  random?: (() => number) | undefined;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 10, backoffMinMs: 30_000, backoffMaxMs: 3_600_000 };

/** The longest a delivered mail waits to be recorded as sent while its round goes on, in ms. */
const RECORD_WITHIN_MS = 1_000;

const silent: MailLogger = { info() {}, warn() {}, error() {} };

/**
 * The delay before the attempt after `attempts` failed ones: min·2^(attempts-1),
 * capped at max, then jittered down by up to half so that senders retrying
 * after one outage do not all come back at once.
 */
export function backoffDelay(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.backoffMaxMs, policy.backoffMinMs * 2 ** Math.max(0, Math.min(attempts - 1, 40)));
  return Math.max(1, Math.round(exp / 2 + (exp / 2) * random()));
}

export class MailSender {
  private readonly outbox: MailOutbox;
  private readonly transport: MailTransport;
  private readonly from: string;
  private readonly log: MailLogger;
  private readonly policy: RetryPolicy;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  private running = false;
  private loop: Promise<void> | undefined;
  private woken = false;
  private wake: (() => void) | undefined;
  /** The earliest retry this sender scheduled, so it wakes for it before the next poll. */
  private nextRetryAt = Number.POSITIVE_INFINITY;

  constructor(opts: MailSenderOptions) {
    this.outbox = opts.outbox;
    this.transport = opts.transport;
    this.from = opts.from;
    this.log = opts.logger ?? silent;
    this.policy = { ...DEFAULT_RETRY, ...stripUndefined(opts.retry ?? {}) };
    this.pollMs = opts.pollIntervalMs ?? 5_000;
    this.batchSize = opts.batchSize ?? 10;
    this.leaseMs = opts.leaseMs ?? 300_000;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const p = this.policy;
    if (!Number.isSafeInteger(p.maxAttempts) || p.maxAttempts < 1)
      throw new TypeError('mail retry: maxAttempts must be a positive integer');
    if (!(p.backoffMinMs > 0) || !(p.backoffMaxMs >= p.backoffMinMs)) {
      throw new TypeError('mail retry: need 0 < backoffMinMs <= backoffMaxMs');
    }
    if (
      !(this.pollMs > 0) ||
      !Number.isSafeInteger(this.batchSize) ||
      this.batchSize < 1 ||
      !Number.isSafeInteger(this.leaseMs) ||
      this.leaseMs < 1
    ) {
      throw new TypeError('mail sender: pollIntervalMs, batchSize and leaseMs must be positive');
    }
  }

  get transportDescription(): string {
    return this.transport.description;
  }

  /** Starts the loop in the background; a second call does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** A mail was just enqueued: look now instead of at the next poll. Never waits. */
  notify(): void {
    this.woken = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Stops the loop after the mail in flight (if any) is sent and recorded, then closes the transport. */
  async stop(): Promise<void> {
    if (this.running) {
      this.running = false;
      this.notify();
      await this.loop;
      this.loop = undefined;
    }
    this.transport.close();
  }

  /**
   * One round: claims due mails, delivers them, and records the deliveries
   * together: one UPDATE (one commit) for the round rather than one per mail,
   * which was a third of a mail's CPU on SQLite. A delivery is recorded no
   * later than RECORD_WITHIN_MS after it, so that a crash during a round on a
   * slow relay sends again no more than a second's worth of mails (each mail
   * is delivered at least once, as before). Returns how many were claimed.
   */
  async deliverDue(): Promise<number> {
    const claimed = await this.outbox.claimDue(this.now(), this.batchSize, this.leaseMs);
    let sent: ClaimedMail[] = [];
    let firstSentAt = 0;
    for (const mail of claimed) {
      if (!(await this.deliver(mail))) continue;
      if (sent.length === 0) firstSentAt = this.now();
      sent.push(mail);
      if (this.now() - firstSentAt >= RECORD_WITHIN_MS) {
        await this.recordSent(sent);
        sent = [];
      }
    }
    await this.recordSent(sent);
    return claimed.length;
  }

  /** Records delivered mails as sent, one statement per claim (a round has one). */
  private async recordSent(mails: readonly ClaimedMail[]): Promise<void> {
    const claims = new Map<string, ClaimedMail[]>();
    for (const m of mails) claims.set(m.claim, [...(claims.get(m.claim) ?? []), m]);
    for (const [claim, group] of claims) {
      const recorded = new Set(
        await this.outbox.markSentMany(
          group.map((m) => m.id),
          claim,
          this.now(),
        ),
      );
      for (const mail of group) {
        if (recorded.has(mail.id)) this.log.info({ mailId: mail.id, kind: mail.kind }, 'mail sent');
        else this.log.warn({ mailId: mail.id }, 'mail sent, but its claim was lost (lease ran out): it may be sent again');
      }
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      this.woken = false;
      let claimed = 0;
      try {
        claimed = await this.deliverDue();
      } catch (err) {
        // The database is away: try again at the next poll.
        this.log.warn({ err: { message: this.transport.scrub(errorText(err)) } }, 'mail outbox unavailable');
      }
      if (!this.running) break;
      // A full batch may mean more are due; otherwise sleep until a poll, a
      // retry this sender scheduled, or notify().
      if (claimed >= this.batchSize || this.woken) continue;
      const untilRetry = this.nextRetryAt - this.now();
      await this.sleep(Math.max(0, Math.min(this.pollMs, untilRetry)));
      if (this.now() >= this.nextRetryAt) this.nextRetryAt = Number.POSITIVE_INFINITY;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }

  /** Sends one mail; true if the transport took it (the caller records it), false if the failure is recorded. */
  private async deliver(mail: ClaimedMail): Promise<boolean> {
    try {
      await this.transport.send({
        id: mail.id,
        createdAt: mail.createdAt,
        from: this.from,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
      });
    } catch (err) {
      const error = this.transport.scrub(errorText(err));
      const giveUp = mail.attempts >= this.policy.maxAttempts;
      const retryAt = giveUp ? null : this.now() + backoffDelay(mail.attempts, this.policy, this.random);
      if (retryAt !== null) this.nextRetryAt = Math.min(this.nextRetryAt, retryAt);
      const kept = await this.outbox.markFailed(mail.id, mail.claim, error, retryAt);
      const fields = {
        mailId: mail.id,
        kind: mail.kind,
        attempts: mail.attempts,
        error,
        ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}),
      };
      if (giveUp) this.log.error(fields, 'mail not delivered; gave up after the last attempt (latchkey mail retry resends it)');
      else this.log.warn(fields, 'mail not delivered; will retry');
      if (!kept) this.log.warn({ mailId: mail.id }, 'mail claim lost while sending (lease ran out)');
      return false;
    }
    return true;
  }
}

/** An error's code, SMTP reply code and message; never its command or stack. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: unknown; responseCode?: unknown };
  const parts: string[] = [];
  if (typeof e.code === 'string') parts.push(e.code);
  if (typeof e.responseCode === 'number') parts.push(String(e.responseCode));
  parts.push(e.message);
  return parts.join(' ').replace(/\s+/g, ' ').trim();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
