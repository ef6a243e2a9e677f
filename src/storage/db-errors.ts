// What a database driver's error means to latchkey: the database is not there
// (an outage: 503), or a unique constraint names a taken field. Both drivers'
// codes, pg's and better-sqlite3's.
import { UniqueViolationError } from '../errors.js';

/** pg's own errors when a connection dies or never comes; they carry no code. */
const PG_CONNECTION_LOST =
  /Connection terminated|not queryable|connection error|timeout exceeded when trying to connect|Client was closed/i;

/** Errors that mean "the database is not there", as opposed to a bug or a constraint. */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err instanceof Error && PG_CONNECTION_LOST.test(err.message);
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    /^(08|57P0|53)/.test(code) || // PostgreSQL: connection exception, admin shutdown, insufficient resources (53100 disk full)
    code === '25006' || // PostgreSQL: read-only transaction (a standby, default_transaction_read_only)
    code === '58030' || // PostgreSQL: I/O error
    /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|FULL|CORRUPT|NOTADB)/.test(code)
  );
}

function uniqueField(err: unknown): 'username' | 'phone_number' | undefined {
  const e = err as { code?: unknown; message?: unknown; constraint?: unknown } | null;
  const unique = e?.code === '23505' || (typeof e?.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT'));
  if (!unique) return undefined;
  const text = [e?.constraint, e?.message].filter((v) => typeof v === 'string').join(' ');
  if (text.includes('phone_number')) return 'phone_number';
  if (text.includes('username')) return 'username';
  return undefined;
}

/** A unique violation as UniqueViolationError naming the field; anything else as it is. */
export function asUniqueViolation(err: unknown): unknown {
  const field = uniqueField(err);
  return field ? new UniqueViolationError(field) : err;
}
