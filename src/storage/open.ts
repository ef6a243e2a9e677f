// Opens the storage named by a database URL: `sqlite:PATH` (or `sqlite::memory:`)
// or `postgres://...`. Each database has its folder (sqlite/, postgres/) for
// what differs; the rest is shared (base.ts).
import { ConfigError } from '../errors.js';
import type { KyselyStorage } from './base.js';
import { openPostgres } from './postgres/connect.js';
import { openSqlite } from './sqlite/connect.js';

export interface OpenOptions {
  /** PostgreSQL pool size per process. */
  poolSize?: number;
  /**
   * SQLite only: prepared statements and group commit for the hot reads and
   * writes (the default). False runs the general path PostgreSQL runs; the
   * storage tests use it so that every run covers that path.
   */
  fastPath?: boolean;
}

export function openStorage(url: string, opts: OpenOptions = {}): KyselyStorage {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), opts.fastPath ?? true);
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, opts.poolSize ?? 10);
  throw new ConfigError('LATCHKEY_DATABASE_URL: must start with sqlite: or postgres://');
}
