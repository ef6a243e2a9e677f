// `latchkey mail list [--status S] [--json]` and `latchkey mail retry <id> | --all`.
// The bodies are never printed: they hold one-time links.
import { InvalidArgumentError, type Command } from 'commander';
import { cut, table } from '../cli-format.js';
import { MAIL_STATUSES, type MailOutbox, type MailStatus, type MailSummary } from './outbox.js';

export interface MailCliOptions {
  /** Runs `fn` with an outbox, opening the database for the command and closing it after. */
  withOutbox<T>(fn: (outbox: MailOutbox) => Promise<T>): Promise<T>;
  /** Where output goes; default console.log. */
  out?: ((line: string) => void) | undefined;
  now?: (() => number) | undefined;
}

const statusArg = (v: string): MailStatus => {
  if (!(MAIL_STATUSES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`must be one of ${MAIL_STATUSES.join(', ')}`);
  }
  return v as MailStatus;
};

const idArg = (v: string): number => {
  if (!/^[1-9][0-9]{0,14}$/.test(v)) throw new InvalidArgumentError('must be a positive whole number');
  return Number(v);
};

const limitArg = (v: string): number => {
  if (!/^[1-9][0-9]{0,5}$/.test(v)) throw new InvalidArgumentError('must be a whole number from 1 to 999999');
  return Number(v);
};

export function registerMailCommands(program: Command, opts: MailCliOptions): Command {
  const out = opts.out ?? ((line: string) => console.log(line));
  const now = opts.now ?? Date.now;
  const mail = program.command('mail').description('see and resend the mails latchkey sends (activation, password and username reset)');

  mail
    .command('list')
    .description('list recorded mails, newest first (bodies are not shown: they hold one-time links)')
    .option('--status <status>', `only mails in this state (${MAIL_STATUSES.join(', ')})`, statusArg)
    .option('--limit <n>', 'at most this many', limitArg, 100)
    .option('--json', 'print JSON instead of a table', false)
    .action(async (o: { status?: MailStatus; limit: number; json: boolean }) => {
      const rows = await opts.withOutbox((outbox) => outbox.list({ status: o.status, limit: o.limit }));
      if (o.json) return out(JSON.stringify(rows.map(view), null, 2));
      if (rows.length === 0) return out(o.status === undefined ? 'no mails' : `no ${o.status} mails`);
      out(
        table(
          ['id', 'kind', 'to', 'status', 'attempts', 'created_at', 'next_attempt_at', 'sent_at', 'last_error'],
          rows.map((r) => {
            const v = view(r);
            return [
              String(v.id),
              v.kind,
              v.to,
              v.status,
              String(v.attempts),
              v.created_at,
              v.next_attempt_at ?? '-',
              v.sent_at ?? '-',
              cut(v.last_error ?? '-', 80),
            ];
          }),
        ),
      );
    });

  mail
    .command('retry')
    .description('send a failed (or waiting) mail again now, with its attempts reset; --all does so for every failed mail')
    .argument('[id]', 'the mail id, as `mail list` shows it', idArg)
    .option('--all', 'every failed mail', false)
    .action(async (id: number | undefined, o: { all: boolean }, cmd: Command) => {
      if ((id === undefined) === !o.all) cmd.error('error: give one mail id, or --all', { exitCode: 1 });
      if (o.all) {
        const n = await opts.withOutbox((outbox) => outbox.retry('failed', now()));
        return out(n === 0 ? 'no failed mails' : `${n} failed mail${n === 1 ? '' : 's'} queued again`);
      }
      const result = await opts.withOutbox(async (outbox) => {
        const n = await outbox.retry(id!, now());
        return n === 1 ? undefined : ((await outbox.get(id!))?.status ?? null);
      });
      if (result === null) cmd.error(`error: no mail with id ${id}`, { exitCode: 1 });
      if (result !== undefined) cmd.error(`error: mail ${id} is ${result}; only a failed or waiting mail can be retried`, { exitCode: 1 });
      out(`mail ${id} queued again`);
    });

  return mail;
}

function view(r: MailSummary) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: r.id,
    kind: r.kind,
    to: r.to,
    subject: r.subject,
    status: r.status,
    attempts: r.attempts,
    created_at: iso(r.createdAt),
    next_attempt_at: r.status === 'pending' || r.status === 'sending' ? iso(r.nextAttemptAt) : null,
    sent_at: r.sentAt === null ? null : iso(r.sentAt),
    last_error: r.lastError,
  };
}
