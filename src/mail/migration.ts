// The mail_outbox table, as one migration for the storage's list (Kysely's
// Migrator; written once for both dialects, like src/storage/migrations.ts).
import type { Kysely, Migration } from 'kysely';

export const MAIL_OUTBOX_MIGRATION_NAME = '0003_mail_outbox';

export function mailOutboxMigration(dialect: 'sqlite' | 'postgres'): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('mail_outbox')
        .addColumn('id', dialect === 'sqlite' ? 'integer' : 'bigint', (c) =>
          dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity(),
        )
        .addColumn('kind', 'varchar(64)', (c) => c.notNull())
        .addColumn('recipient', 'varchar(254)', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('text_body', 'text', (c) => c.notNull())
        .addColumn('html_body', 'text', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        // Milliseconds since the epoch. For a mail being sent, next_attempt_at
        // is the end of the sender's lease.
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('claim', 'varchar(64)')
        .addColumn('sent_at', 'bigint')
        .addColumn('last_error', 'text')
        .execute();
      // The sender's question: what is due now, in order.
      await db.schema.createIndex('mail_outbox_due_idx').on('mail_outbox').columns(['status', 'next_attempt_at']).execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('mail_outbox').execute();
    },
  };
}
