// node dist/bench/pg-statements.js --database postgres://user@host:port/NAME [--refreshes N]
//
// What one refresh with rotation sends to PostgreSQL: every query the pg
// driver runs is counted (each `Client#query` is one round trip: pg sends
// parse, bind, execute and sync together), by its first word, over N
// sequential refreshes through the service, on a scratch database the
// script creates and drops (bench/lib/postgres.ts). Also prints the median
// time of one refresh, which on loopback is mostly those round trips, and the
// WAL flushes per refresh (pg_stat_wal, counted server-wide).
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createService } from '../src/latchkey.js';
import { createScratch } from './lib/postgres.js';

const { values: args } = parseArgs({
  options: { database: { type: 'string' }, refreshes: { type: 'string', default: '500' }, reuse: { type: 'string', default: '0' } },
});
if (!args.database) {
  console.error('pg-statements: --database postgres://user@host:port/NAME is required (NAME: a scratch database it creates and drops)');
  process.exit(2);
}
const n = Number(args.refreshes);

const counts = new Map<string, number>();
let counting = false;
// Read through Reflect: the original is only ever called with its client as `this` (below).
const query = Reflect.get(pg.Client.prototype, 'query') as (this: pg.Client, ...a: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...a: unknown[]) {
  if (counting) {
    const first = a[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
    const word = (/^\s*(\w+)/.exec(text)?.[1] ?? '?').toUpperCase();
    const key = word === 'WITH' ? 'WITH … (one statement, its CTEs write)' : word;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return query.apply(this, a);
} as typeof pg.Client.prototype.query;

const scratch = await createScratch(args.database, ['']);
try {
  const config = loadConfig({
    LATCHKEY_DATABASE_URL: scratch.urls[0],
    LATCHKEY_SIGNING_KEY: 'pg-statements-signing-key-0123456789abcdef',
    LATCHKEY_DATA_DIR: '/tmp/latchkey-pg-statements',
    LATCHKEY_ROTATE_REFRESH_TOKENS: 'on',
    LATCHKEY_ROTATION_REUSE_INTERVAL: String(args.reuse),
    LATCHKEY_LOGIN_THROTTLE: 'off',
  });
  const { service, close } = await createService(config);
  try {
    await service.register({ username: 'stmt', password: 'stmt-password-1' }, { passwordPolicy: false });
    let pair = await service.login('stmt', 'stmt-password-1', 'username');
    // Warm: the user's auth columns cached, the pool's connections open.
    for (let i = 0; i < 20; i++) pair = (await service.refresh(pair.refresh, { rotate: true })) as typeof pair;
    // WAL flushes, server-wide (pg_stat_wal, PostgreSQL 14+): other clients' commits count too.
    // A backend reports its WAL counters when it has been idle for a while (up to
    // 10 s on PostgreSQL 15), so each reading waits for the pool's to report.
    const walSyncs = async () => {
      await new Promise((r) => setTimeout(r, 11_000));
      const c = new pg.Client({ connectionString: scratch.urls[0] });
      await c.connect();
      try {
        return Number((await c.query<{ n: string }>('SELECT wal_sync AS n FROM pg_stat_wal')).rows[0]?.n ?? NaN);
      } finally {
        await c.end();
      }
    };
    const syncs0 = await walSyncs();
    counting = true;
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      pair = (await service.refresh(pair.refresh, { rotate: true })) as typeof pair;
      times.push(performance.now() - t0);
    }
    counting = false;
    const syncs = (await walSyncs()) - syncs0;
    times.sort((a, b) => a - b);
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    console.log(`${n} sequential refreshes with rotation (reuse interval ${args.reuse} s):`);
    console.log(`  round trips per refresh: ${(total / n).toFixed(2)}`);
    for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`    ${k}: ${(v / n).toFixed(2)}`);
    console.log(`  WAL flushes (fsync) per refresh, server-wide: ${(syncs / n).toFixed(2)}`);
    console.log(`  median ${times[Math.floor(n / 2)]!.toFixed(3)} ms per refresh, p99 ${times[Math.floor(n * 0.99)]!.toFixed(3)} ms`);
  } finally {
    await close();
  }
} finally {
  await scratch.drop();
}
