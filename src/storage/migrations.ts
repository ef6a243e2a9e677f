// Versioned migrations, applied by Kysely's Migrator in name order. They are
// written once for both dialects: Kysely's schema builder emits each dialect's DDL.
import type { ColumnDefinitionBuilder, Kysely, Migration } from 'kysely';
import { MAIL_OUTBOX_MIGRATION_NAME, mailOutboxMigration } from '../mail/migration.js';

export type Dialect = 'sqlite' | 'postgres';

export function migrations(dialect: Dialect): Record<string, Migration> {
  // An integer key the database assigns: AUTOINCREMENT on SQLite (ids never
  // reused), an identity column on PostgreSQL.
  const id = (c: ColumnDefinitionBuilder) =>
    dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedByDefaultAsIdentity();
  // SQLite's INTEGER is already 64-bit (and must be spelled INTEGER to alias
  // the rowid); PostgreSQL needs BIGINT for ids past 2^31, as Django's
  // BigAutoField hands out.
  const bigId = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    '0001_users_and_tokens': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('users')
          .addColumn('id', bigId, id)
          .addColumn('username', 'varchar(150)', (c) => c.notNull().unique())
          .addColumn('password', 'varchar(255)', (c) => c.notNull())
          .addColumn('email', 'varchar(254)', (c) => c.notNull().defaultTo(''))
          .addColumn('phone_number', 'varchar(16)', (c) => c.unique())
          .addColumn('first_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
          .addColumn('last_name', 'varchar(150)', (c) => c.notNull().defaultTo(''))
          .addColumn('address', 'varchar(255)', (c) => c.notNull().defaultTo(''))
          .addColumn('postal_code', 'varchar(20)', (c) => c.notNull().defaultTo(''))
          .addColumn('birthdate', 'varchar(10)')
          .addColumn('profile_image', 'varchar(255)')
          .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
          .addColumn('is_staff', 'boolean', (c) => c.notNull().defaultTo(false))
          .addColumn('is_superuser', 'boolean', (c) => c.notNull().defaultTo(false))
          .addColumn('date_joined', 'bigint', (c) => c.notNull())
          .addColumn('last_login', 'bigint')
          .addColumn('tokens_valid_after', 'bigint')
          .execute();

        // No foreign key to users: blacklist records outlive the user they belonged to.
        await db.schema
          .createTable('outstanding_tokens')
          .addColumn('id', bigId, id)
          .addColumn('jti', 'varchar(255)', (c) => c.notNull().unique())
          .addColumn('user_id', bigId)
          .addColumn('family_id', 'varchar(255)', (c) => c.notNull())
          .addColumn('family_issued_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('outstanding_tokens_family_idx').on('outstanding_tokens').column('family_id').execute();
        await db.schema.createIndex('outstanding_tokens_expires_idx').on('outstanding_tokens').column('expires_at').execute();
        await db.schema.createIndex('outstanding_tokens_user_idx').on('outstanding_tokens').column('user_id').execute();

        await db.schema
          .createTable('blacklisted_tokens')
          .addColumn('id', bigId, id)
          .addColumn('token_id', bigId, (c) => c.notNull().unique().references('outstanding_tokens.id').onDelete('cascade'))
          .addColumn('reason', 'varchar(16)', (c) => c.notNull())
          .addColumn('blacklisted_at', 'bigint', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('blacklisted_tokens').execute();
        await db.schema.dropTable('outstanding_tokens').execute();
        await db.schema.dropTable('users').execute();
      },
    },

    // A session is a login's rotation family. Its details live in their own
    // table, one row per family, not on outstanding_tokens: they belong to the
    // family rather than to each rotated token (so nothing is copied forward on
    // rotation, and "last use" is one row to update), the row's id is a stable
    // handle that is no token's jti, and outstanding/blacklisted tokens stay
    // SimpleJWT's two records.
    '0002_sessions': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('sessions')
          .addColumn('id', bigId, id)
          .addColumn('family_id', 'varchar(255)', (c) => c.notNull().unique())
          .addColumn('user_id', bigId)
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_used_at', 'bigint', (c) => c.notNull())
          .addColumn('user_agent', 'varchar(255)', (c) => c.notNull().defaultTo(''))
          .addColumn('address', 'varchar(64)', (c) => c.notNull().defaultTo(''))
          .execute();
        await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
        // Families that existed before this migration become sessions without
        // client details; their last use is their newest token.
        await db
          .insertInto('sessions')
          .columns(['family_id', 'user_id', 'created_at', 'last_used_at'])
          .expression(
            db
              .selectFrom('outstanding_tokens')
              .select((eb) => [
                'family_id',
                eb.fn.max('user_id').as('user_id'),
                eb.fn.min('family_issued_at').as('created_at'),
                eb.fn.max('created_at').as('last_used_at'),
              ])
              .groupBy('family_id'),
          )
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('sessions').execute();
      },
    },
    // The mail outbox (src/mail/): each mail commits with the change that causes it.
    [MAIL_OUTBOX_MIGRATION_NAME]: mailOutboxMigration(dialect),

    // Revocation to the millisecond: a logout-all, password change or
    // deactivation refuses every token minted up to this instant, read from the
    // time-ordered jti. tokens_valid_after (seconds) stays for tokens minted
    // elsewhere, which carry only iat.
    '0004_tokens_revoked_ms': {
      async up(db: Kysely<any>) {
        await db.schema.alterTable('users').addColumn('tokens_revoked_ms', bigId).execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.alterTable('users').dropColumn('tokens_revoked_ms').execute();
      },
    },

    // The rotation retry grace: the pair a rotation answered, sealed with a key
    // only the rotated token's holder can derive (service/successor.ts), so a
    // retry of that token within the window gets the same pair back. One row
    // per rotated token (its id is the key); it goes when the token is flushed.
    '0005_rotation_successor': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('rotation_successors')
          .addColumn('token_id', bigId, (c) => c.primaryKey().references('outstanding_tokens.id').onDelete('cascade'))
          .addColumn('successor_jti', 'varchar(255)', (c) => c.notNull())
          .addColumn('sealed', 'text', (c) => c.notNull())
          .addColumn('rotated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('rotation_successors').execute();
      },
    },
  };
}
