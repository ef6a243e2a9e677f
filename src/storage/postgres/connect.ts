// Opens a pool on a PostgreSQL server, and the change feed's own client.
import pg from 'pg';
import { notifyFeed } from './feed.js';
import { PostgresStorage } from './storage.js';

// BIGINT (oid 20) comes back from pg as a string; every bigint here is an id
// or a timestamp (seconds, or milliseconds), well inside a double's exact range.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number.parseInt(v, 10);
    // pg-types declares the parser it returns as `any`; a text parser takes the column's text.
    return pg.types.getTypeParser(oid, format as 'text') as (v: string) => unknown;
  },
};

export function openPostgres(url: string, poolSize: number): PostgresStorage {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: pgTypes as pg.CustomTypesConfig });
  // A client that loses its connection emits 'error': on the pool while idle,
  // on the client itself while in use. Without listeners either would crash
  // the process; the query in flight rejects instead, and is answered 503.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const feed = notifyFeed(() => new pg.Client({ connectionString: url, types: pgTypes as pg.CustomTypesConfig }));
  return new PostgresStorage(pool, feed);
}
