// Opens a pool on a PostgreSQL server, and the change feed's own client.
// The driver is loaded here, on first use: a SQLite deployment never loads it
// (about 3 MB of heap per process; BENCHMARKS.md, idle memory).
import { createRequire } from 'node:module';
import type pg from 'pg';
import { notifyFeed } from './feed.js';
import { PostgresStorage } from './storage.js';

const require = createRequire(import.meta.url);

export function openPostgres(url: string, poolSize: number): PostgresStorage {
  const driver = require('pg') as typeof pg;
  // BIGINT (oid 20) comes back from pg as a string; every bigint here is an id
  // or a timestamp (seconds, or milliseconds), well inside a double's exact range.
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === 20) return (v: string) => Number.parseInt(v, 10);
      // pg-types declares the parser it returns as `any`; a text parser takes the column's text.
      return driver.types.getTypeParser(oid, format as 'text') as (v: string) => unknown;
    },
  } as pg.CustomTypesConfig;
  const pool = new driver.Pool({ connectionString: url, max: poolSize, types });
  // A client that loses its connection emits 'error': on the pool while idle,
  // on the client itself while in use. Without listeners either would crash
  // the process; the query in flight rejects instead, and is answered 503.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const feed = notifyFeed(() => new driver.Client({ connectionString: url, types }));
  return new PostgresStorage(pool, feed);
}
