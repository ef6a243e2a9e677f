// The growth run on PostgreSQL (`--seed-users N --seed-tokens M --database URL`):
// the SQLite growth comparison of run.ts, on two scratch databases
// `<NAME>_grow` (seeded by pg-seed.ts) and `<NAME>_grow_ref` (as many users
// as connections, no tokens), each served by one latchkey instance; protected
// GET, refresh with rotation and login, seeded against the reference, each
// judged "within 10 %" (seeded ≥ 0.9× the reference).
import { performance } from 'node:perf_hooks';
import { hash, type Algorithm } from '@node-rs/argon2';
import { createScratch } from './postgres.js';
import { seedPostgres, type PgSeedResult } from './pg-seed.js';
import { seededUsername } from './seed.js';
import { stopChild, type Server } from './procs.js';
import type { BenchTarget, RowLike, SummaryLike } from './reset.js';

export interface GrowthPgDeps<P extends { access: string }, H, S extends SummaryLike & { rps: number }> {
  url: string;
  users: number;
  tokens: number;
  expiredShare: number;
  blacklistedShare: number;
  connections: number;
  loginConnections: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  password: string;
  prepare(name: string, extra: Record<string, string>): Promise<{ dataDir: string; env: NodeJS.ProcessEnv }>;
  start(name: string, prepared: { dataDir: string; env: NodeJS.ProcessEnv }): Promise<Server>;
  login(s: Server, username: string): Promise<P>;
  logins(s: Server, n: number, usernames: (i: number) => string): Promise<P[]>;
  compare(group: string, targets: BenchTarget[]): Promise<Record<string, S>>;
  httpTarget(key: string, server: Server, prepare: () => Promise<H>): BenchTarget;
  protectedSpec(access: string): H;
  rotationSpec(pool: P[]): H;
  postSpec(route: string, body: unknown, connections?: number): H;
  serverRow(measurement: string, s: S | undefined, extra: Partial<RowLike>): RowLike;
  check(name: string, value: number, kind: 'min' | 'max', limit: number, unit?: string): string;
  ratio(v: number): string;
  log(line: string): void;
}

export interface PgGrowth {
  seed: PgSeedResult;
  seedSeconds: number;
  /** The paragraph above the table. */
  summary: string;
  rows: RowLike[];
}

const n = (v: number) => v.toLocaleString('en-US');

export async function growthPostgres<P extends { access: string }, H, S extends SummaryLike>(d: GrowthPgDeps<P, H, S>): Promise<PgGrowth> {
  const rotate = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' };
  const scratch = await createScratch(d.url, ['_grow', '_grow_ref']);
  const [seededUrl, refUrl] = scratch.urls as [string, string];
  const servers: Server[] = [];
  try {
    d.log(
      `\n== PostgreSQL growth: seeding ${n(d.users)} users and ${n(d.tokens)} token records into ${new URL(seededUrl).pathname.slice(1)}`,
    );
    const seededPrep = await d.prepare('lk-pg-seeded', { ...rotate, LATCHKEY_DATABASE_URL: seededUrl });
    const refPrep = await d.prepare('lk-pg-ref', { ...rotate, LATCHKEY_DATABASE_URL: refUrl });
    const encoded = await hash(d.password, { ...d.argon2, algorithm: 2 as Algorithm.Argon2id });
    const common = { passwordHash: encoded, expiredShare: d.expiredShare, blacklistedShare: d.blacklistedShare, refreshLifetime: 86_400 };
    const t0 = performance.now();
    const seed = await seedPostgres({ url: seededUrl, users: d.users, tokens: d.tokens, ...common, log: (l) => d.log(`  ${l}`) });
    const seedSeconds = (performance.now() - t0) / 1000;
    d.log(
      `  seeded in ${seedSeconds.toFixed(1)} s (users ${seed.usersSeconds.toFixed(1)} s, tokens ${seed.tokensSeconds.toFixed(1)} s, ` +
        `constraints, indexes, VACUUM ANALYZE and checkpoint ${seed.finishSeconds.toFixed(1)} s); database ${(seed.bytes / 1048576).toFixed(0)} MB`,
    );
    // As on SQLite: the reference holds as many users as there are
    // connections, so both sides load the same number of distinct users.
    const active = Math.max(1, Math.min(d.connections, d.users));
    await seedPostgres({ url: refUrl, users: d.users > 0 ? active : 0, tokens: 0, ...common, expiredShare: 0, blacklistedShare: 0 });

    const empty = await d.start('lk-pg-ref', refPrep);
    servers.push(empty);
    const seeded = await d.start('lk-pg-seeded', seededPrep);
    servers.push(seeded);
    const who = (i: number) => (d.users > 0 ? seededUsername(1 + ((i * 7919 + Math.floor(d.users / 2)) % d.users)) : 'bench');
    const whoEmpty = (i: number) => (d.users > 0 ? seededUsername(1 + (i % active)) : 'bench');
    const emptyPair = await d.login(empty, whoEmpty(0));
    const seededPair = await d.login(seeded, who(0));

    const gp = await d.compare('growth on PostgreSQL: protected GET', [
      d.httpTarget('empty', empty, async () => d.protectedSpec(emptyPair.access)),
      d.httpTarget('seeded', seeded, async () => d.protectedSpec(seededPair.access)),
    ]);
    const gr = await d.compare('growth on PostgreSQL: refresh with rotation', [
      d.httpTarget('empty', empty, async () => d.rotationSpec(await d.logins(empty, d.connections, whoEmpty))),
      d.httpTarget('seeded', seeded, async () => d.rotationSpec(await d.logins(seeded, d.connections, who))),
    ]);
    const gl = await d.compare('growth on PostgreSQL: login', [
      d.httpTarget('empty', empty, async () =>
        d.postSpec('/api/token/', { username: whoEmpty(1), password: d.password }, d.loginConnections),
      ),
      d.httpTarget('seeded', seeded, async () => d.postSpec('/api/token/', { username: who(1), password: d.password }, d.loginConnections)),
    ]);

    const rows: RowLike[] = [];
    const size = `${n(d.users)} users, ${n(d.tokens)} token records`;
    const pair = (title: string, what: string, g: Record<string, S>) => {
      rows.push({ measurement: title, note: '' });
      rows.push(
        d.serverRow(`latchkey on PostgreSQL, reference database (${d.users > 0 ? `${active} users, ` : ''}no tokens)`, g['empty'], {
          ratio: 'reference',
        }),
      );
      const r = g['seeded']!.rps / g['empty']!.rps;
      rows.push(
        d.serverRow(`latchkey on PostgreSQL, seeded (${size})`, g['seeded'], {
          ratio: `${d.ratio(r)} reference`,
          target: d.check(`growth on PostgreSQL: ${what} within 10 % (seeded ≥ 0.9× reference)`, r, 'min', 0.9),
        }),
      );
    };
    pair(`**protected GET** on PostgreSQL, ${d.connections} connections`, 'protected GET', gp);
    pair(`**refresh with rotation** on PostgreSQL, ${d.connections} connections`, 'refresh with rotation', gr);
    pair(`**login** on PostgreSQL, ${d.loginConnections} connections`, 'login', gl);
    const summary =
      `Growth on PostgreSQL: seeded ${n(seed.users)} users and ${n(seed.tokens)} token records ` +
      `(${n(seed.expired)} expired, ${n(seed.blacklisted)} blacklisted, ${n(seed.sessions)} sessions) in ${seedSeconds.toFixed(1)} s ` +
      `(users ${seed.usersSeconds.toFixed(1)} s, tokens ${seed.tokensSeconds.toFixed(1)} s, ` +
      `constraints, indexes, VACUUM ANALYZE and checkpoint ${seed.finishSeconds.toFixed(1)} s); database ${(seed.bytes / 1048576).toFixed(0)} MB.`;
    return { seed, seedSeconds, summary, rows };
  } finally {
    for (const s of servers) await stopChild(s.child);
    await scratch.drop();
  }
}
