// npm run bench [-- options]
//
// Starts the servers as child processes (latchkey, the bare Fastify ceiling,
// the SimpleJWT peer when it is installed) and drives them from this process
// with autocannon (and wrk, when installed). Every figure is measured in this run:
// servers that are compared take turns (A B C, then C B A, ...) for several
// rounds under identical load, and each figure is the median of its rounds.
// Server CPU per request comes from /proc/<pid>/stat, RSS from
// /proc/<pid>/status. The target column judges issue 17's targets, each
// ratio with its min–max across rounds. See BENCHMARKS.md for the method.
//
// Options:
//   --json FILE              write every run and the table's figures as JSON
//   --markdown FILE          write the table(s) as Markdown
//   --duration S             seconds per measured run (default 5)
//   --warmup S               seconds of warm-up per server and group (default 2)
//   --rounds N               measured runs per server and group (default 3)
//   --connections N          autocannon connections (default 50)
//   --login-connections N    connections for the login rows (default 8: enough to keep the hash pool busy)
//   --storm-connections N    connections of the login storm (default 8)
//   --paced-rate N           requests/s of the fixed-rate latency rows (default 1000)
//   --hash-concurrency N     LATCHKEY_HASH_CONCURRENCY, and the raw hash rate's concurrency (default 1)
//   --peer DIR               the SimpleJWT peer (default ../shared/peers/simplejwt); --no-peer skips it
//   --seed-users N --seed-tokens M
//                            growth: preload a database and compare protected GET,
//                            refresh (rotation) and login with an empty one; then
//                            time flushexpiredtokens. Only the growth table runs
//                            unless --all is given. With --database as well, the same
//                            comparison on PostgreSQL (scratch NAME_grow, NAME_grow_ref;
//                            bench/lib/growth-pg.ts)
//   --growth-on LIST         sqlite,postgres (default): the databases the growth run uses
//   --expired-share F        share of seeded tokens already expired (default 0.4)
//   --blacklisted-share F    share of seeded tokens blacklisted (default 0.2)
//   --only G1,G2             run only these groups of the main table: protected, verify,
//                            refresh, rotation, login, storm, paced, reset (the mail
//                            routes against login's non-hash CPU: bench/lib/reset.ts)
//   --database URL           also run every group on PostgreSQL: postgres://user@host:port/NAME,
//                            where NAME (and NAME_pair) are scratch databases the bench
//                            creates and drops; one instance, and two on one database
//   --keep                   keep the temporary directory (databases, server logs)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hash, type Algorithm } from '@node-rs/argon2';
import { runLoad, runLoadOn, startBackground, type LoadSpec } from './lib/load.js';
import { runPaced } from './lib/paced.js';
import {
  descendants,
  freePort,
  killAllNow,
  rssBytes,
  runCommand,
  sleep,
  startChild,
  stopAll,
  stopChild,
  waitReady,
  type Server,
} from './lib/procs.js';
import { createScratch, scratchName, type Scratch } from './lib/postgres.js';
import { seedDatabase, seededUsername, type SeedResult } from './lib/seed.js';
import {
  check,
  checks,
  cpuOf,
  fmtCpu,
  fmtMs,
  fmtRate,
  fmtRatio,
  mb,
  median,
  ratio,
  ratioOf,
  renderTable,
  rpsOf,
  serverRow,
  summarize,
  type Row,
  type Run,
  type Summary,
} from './lib/report.js';
import { ROTATION_TOKENS_PER_CONNECTION, runWrk, runWrkOn, wrkPath, type WrkSpec } from './lib/wrk.js';
import { usableCores } from '../src/cores.js';
import { resetGroup } from './lib/reset.js';
import { growthPostgres } from './lib/growth-pg.js';
import { MEMORY_FLAGS } from '../src/serve.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli.js');
const BARE = path.join(ROOT, 'dist/bench/bare.js');
const HASH_RATE = path.join(ROOT, 'dist/bench/hash-rate.js');
const NODE = process.execPath;

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    markdown: { type: 'string' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    'login-connections': { type: 'string', default: '8' },
    'storm-connections': { type: 'string', default: '8' },
    'paced-rate': { type: 'string', default: '1000' },
    'hash-concurrency': { type: 'string', default: '1' },
    peer: { type: 'string', default: path.resolve(ROOT, '../shared/peers/simplejwt') },
    'no-peer': { type: 'boolean', default: false },
    'seed-users': { type: 'string' },
    'seed-tokens': { type: 'string' },
    'expired-share': { type: 'string', default: '0.4' },
    'blacklisted-share': { type: 'string', default: '0.2' },
    all: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    only: { type: 'string' },
    database: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'growth-on': { type: 'string', default: 'sqlite,postgres' },
  },
});
if (args.database !== undefined) {
  try {
    scratchName(args.database);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  }
}

/** `--cpu-prof DIR`: every latchkey server writes a V8 CPU profile there when it stops (workers pass it on). */
const PROFILE_FLAGS = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['cpu-prof'])}`] : [];

function num(name: keyof typeof args, min = 0): number {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || v < min) {
    console.error(`bench: --${name} must be a number ≥ ${min}`);
    process.exit(2);
  }
  return v;
}

const opt = {
  duration: num('duration', 1),
  warmup: num('warmup', 0),
  rounds: num('rounds', 1),
  connections: num('connections', 1),
  loginConnections: num('login-connections', 1),
  stormConnections: num('storm-connections', 1),
  pacedRate: num('paced-rate', 1),
  hashConcurrency: num('hash-concurrency', 1),
  seedUsers: args['seed-users'] !== undefined ? num('seed-users', 0) : undefined,
  seedTokens: args['seed-tokens'] !== undefined ? num('seed-tokens', 0) : undefined,
  expiredShare: num('expired-share', 0),
  blacklistedShare: num('blacklisted-share', 0),
};
const seeding = opt.seedUsers !== undefined || opt.seedTokens !== undefined;
const runMain = !seeding || args.all;

const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 };
const USER = 'bench';
const PASSWORD = 'bench-password-1';
const SIGNING_KEY = `bench-signing-key-${randomBytes(16).toString('hex')}`;
const JSON_TYPE = { 'content-type': 'application/json' };
const PROTECTED = '/api/protected-endpoint/';
const PROTECTED_BODY = { message: 'You have accessed a protected route!' };

const log = (line: string) => process.stderr.write(`${line}\n`);

// ---- servers ---------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-bench-'));

/** The environment every latchkey server and CLI call gets, from scratch. */
function latchkeyEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LATCHKEY_') && k !== 'HOST' && k !== 'PORT') env[k] = v;
  }
  return {
    ...env,
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_SIGNING_KEY: SIGNING_KEY,
    // The per-address login, refresh and verify limits would throttle the load generator.
    LATCHKEY_LOGIN_THROTTLE: 'off',
    LATCHKEY_LOG_LEVEL: 'warn',
    // The default 5 minutes would expire mid-run and turn every request into a 401.
    LATCHKEY_ACCESS_TOKEN_LIFETIME: '3600',
    LATCHKEY_HASH_CONCURRENCY: String(opt.hashConcurrency),
    LATCHKEY_ARGON2_MEMORY_KIB: String(ARGON2.memoryCost),
    LATCHKEY_ARGON2_TIME_COST: String(ARGON2.timeCost),
    LATCHKEY_ARGON2_PARALLELISM: String(ARGON2.parallelism),
    ...extra,
  };
}

interface LatchkeyServer extends Server {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  /** Worker processes (1: the process serves itself, no cluster primary). */
  workers: number;
}

async function prepareLatchkeyData(name: string, extra: Record<string, string> = {}) {
  const dataDir = path.join(tmp, name);
  fs.mkdirSync(dataDir, { recursive: true });
  const env = latchkeyEnv(dataDir, extra);
  await runCommand(NODE, [CLI, 'migrate'], { env });
  return { dataDir, env };
}

async function startLatchkey(
  name: string,
  o: {
    /** undefined: no --workers flag, the default (the cores it may use), as `npm start` runs it. */
    workers?: number;
    extra?: Record<string, string>;
    prepared?: { dataDir: string; env: NodeJS.ProcessEnv };
    /** false: the user is already in the (shared PostgreSQL) database. */
    createUser?: boolean;
  },
): Promise<LatchkeyServer> {
  const { dataDir, env } = o.prepared ?? (await prepareLatchkeyData(name, o.extra));
  if (o.createUser !== false) await runCommand(NODE, [CLI, 'createuser', '--username', USER, '--password', PASSWORD], { env });
  const port = await freePort();
  const logFile = path.join(tmp, `${name}.log`);
  // As `npm start` and the `latchkey` command run it (a worker gets the flag from its primary).
  const workersFlag = o.workers === undefined ? [] : ['--workers', String(o.workers)];
  const args = [...MEMORY_FLAGS, ...PROFILE_FLAGS, CLI, 'serve', ...workersFlag, '--port', String(port)];
  const child = startChild(NODE, args, { env, log: logFile });
  // The bench's environment has no LATCHKEY_WORKERS, so the default is the cores this process may use too.
  const workers = o.workers ?? usableCores();
  const s = { name, port, child, log: logFile, env, dataDir, workers };
  // Every server starts at once, on a machine other loads share: give them longer than waitReady's 30 s.
  await waitReady(s, 90_000);
  if (workers > 1) {
    // The primary reports ready when the first worker listens; wait for all of them.
    const deadline = Date.now() + 20_000;
    while (descendants(child.pid!).length < workers && Date.now() < deadline) await sleep(100);
    await sleep(500);
  }
  return s;
}

async function startBare(): Promise<Server> {
  const port = await freePort();
  const logFile = path.join(tmp, 'bare.log');
  const child = startChild(NODE, [BARE], { env: { ...process.env, PORT: String(port) }, log: logFile });
  const s = { name: 'bare', port, child, log: logFile };
  await waitReady(s);
  return s;
}

/** Why the peer cannot run here, or undefined when it can. */
function peerMissing(dir: string): string | undefined {
  if (args['no-peer']) return 'skipped with --no-peer';
  if (!fs.existsSync(path.join(dir, 'refsite.py'))) return `no refsite.py in ${dir}`;
  if (!gunicornPath()) return 'gunicorn is not installed (apt-get install -y gunicorn)';
  const py = spawnSync('/usr/bin/python3', ['-c', 'import django, rest_framework, rest_framework_simplejwt'], { encoding: 'utf8' });
  if (py.status !== 0)
    return `Django, DRF or SimpleJWT is missing for /usr/bin/python3: ${(py.stderr || py.error?.message || '').trim().split('\n').pop()}`;
  return undefined;
}

function gunicornPath(): string | undefined {
  if (fs.existsSync('/usr/bin/gunicorn')) return '/usr/bin/gunicorn';
  const which = spawnSync('which', ['gunicorn'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

async function startPeer(name: string, rotate: boolean, dir: string): Promise<Server> {
  const env: NodeJS.ProcessEnv = { ...process.env, REF_DB: path.join(tmp, `${name}.sqlite3`), REF_SIGNING_KEY: SIGNING_KEY };
  delete env.REF_ROTATE;
  delete env.REF_HASHER;
  if (rotate) {
    env.REF_ROTATE = '1';
    // The rotating peer serves only refresh rows, which never touch a password;
    // its logins only fill the token pools before the timed runs (150 a run
    // with wrk), and at Django's PBKDF2 cost that took about a minute a run here.
    env.REF_HASHER = 'django.contrib.auth.hashers.MD5PasswordHasher';
  }
  await runCommand('/usr/bin/python3', ['refsite.py', 'migrate'], { cwd: dir, env });
  await runCommand('/usr/bin/python3', ['refsite.py', 'adduser', USER, PASSWORD], { cwd: dir, env });
  const port = await freePort();
  const logFile = path.join(tmp, `${name}.log`);
  const child = startChild(gunicornPath()!, ['-w', '2', '-b', `127.0.0.1:${port}`, 'refsite:application'], { cwd: dir, env, log: logFile });
  const s = { name, port, child, log: logFile };
  await waitReady(s);
  const deadline = Date.now() + 20_000;
  while (descendants(child.pid!).length < 2 && Date.now() < deadline) await sleep(100);
  return s;
}

// ---- sessions --------------------------------------------------------------

interface Pair {
  access: string;
  refresh: string;
}

async function post(port: number, route: string, body: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${route}`, {
    method: 'POST',
    headers: JSON_TYPE,
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

async function login(s: Server, username = USER): Promise<Pair> {
  for (let attempt = 0; ; attempt++) {
    const r = await post(s.port, '/api/token/', { username, password: PASSWORD });
    if (r.status === 200) return JSON.parse(r.text) as Pair;
    if (r.status === 503 && attempt < 10) {
      await sleep(300);
      continue;
    }
    throw new Error(`login on ${s.name} answered ${r.status}: ${r.text.slice(0, 300)}`);
  }
}

/** `n` logins, a few at a time: one session per connection. */
async function logins(s: Server, n: number, usernames: (i: number) => string = () => USER): Promise<Pair[]> {
  const out: Pair[] = [];
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      out.push(await login(s, usernames(i)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, n) }, lane));
  return out;
}

/** Fails unless one request of this shape answers 2xx (and, for the protected route, the right JSON). */
async function preflight(s: Server, spec: { method?: string; path: string; headers?: Record<string, string>; body?: string }) {
  const res = await fetch(`http://127.0.0.1:${s.port}${spec.path}`, {
    method: spec.method ?? 'GET',
    ...(spec.headers ? { headers: spec.headers } : {}),
    ...(spec.body !== undefined ? { body: spec.body } : {}),
  });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300)
    throw new Error(`${s.name} ${spec.method ?? 'GET'} ${spec.path} answered ${res.status}: ${text.slice(0, 300)}`);
  if (spec.path === PROTECTED && text !== JSON.stringify(PROTECTED_BODY))
    throw new Error(`${s.name} ${PROTECTED} answered ${text.slice(0, 300)}`);
}

// ---- targets and rounds ---------------------------------------------------

interface Target {
  key: string;
  /** Must answer 2xx to every request (the peer is not held to this: its failures are reported). */
  mustSucceed: boolean;
  server?: Server;
  /** latchkey's worker processes per instance: its runs count for the RSS-under-load check. */
  latchkeyWorkers?: number;
  run(duration: number): Promise<Run>;
}

type HttpSpec = Omit<LoadSpec, 'url' | 'duration' | 'connections'> & { path: string; connections?: number };

/** A latchkey server's worker processes; undefined for the bare route and the peer. */
const workersOf = (s: Server): number | undefined => ('workers' in s ? (s as LatchkeyServer).workers : undefined);

/** Instance `i`'s share of `total` connections across `n` instances. */
const shareOf = (total: number, n: number, i: number) => Math.floor(total / n) + (i < total % n ? 1 : 0);

function httpTarget(key: string, server: Server, prepare: () => Promise<HttpSpec>, mustSucceed = true): Target {
  return {
    key,
    server,
    mustSucceed,
    latchkeyWorkers: workersOf(server),
    async run(duration) {
      const spec = await prepare();
      return runLoad(
        {
          ...spec,
          url: `http://127.0.0.1:${server.port}${spec.path}`,
          connections: spec.connections ?? opt.connections,
          duration,
        },
        server.child.pid,
      );
    },
  };
}

/**
 * Two instances on one database, loaded at once: each gets its share of the
 * connections (`prepare` is asked once per instance, with that share), and the
 * run counts both.
 */
function pairTarget(key: string, pair: LatchkeyServer[], prepare: (s: Server, connections: number) => Promise<HttpSpec>): Target {
  return {
    key,
    server: pair[0]!,
    mustSucceed: true,
    latchkeyWorkers: pair[0]!.workers,
    async run(duration) {
      const specs = await Promise.all(
        pair.map(async (s, i) => {
          const share = shareOf(opt.connections, pair.length, i);
          const spec = await prepare(s, share);
          const c = spec.connections === undefined ? share : Math.max(1, Math.round(spec.connections / pair.length));
          return { ...spec, url: `http://127.0.0.1:${s.port}${spec.path}`, connections: c, duration };
        }),
      );
      return runLoadOn(
        specs,
        pair.map((s) => s.child.pid!),
      );
    },
  };
}

/** The protected GET, loaded by wrk instead of autocannon. */
function wrkHttpTarget(key: string, server: Server, access: string): Target {
  return {
    key,
    server,
    mustSucceed: true,
    latchkeyWorkers: workersOf(server),
    run: (duration) =>
      runWrk(
        {
          url: `http://127.0.0.1:${server.port}${PROTECTED}`,
          headers: { authorization: `Bearer ${access}` },
          connections: opt.connections,
          duration,
        },
        server.child.pid,
      ),
  };
}

/**
 * Refresh with rotation, loaded by wrk (one thread): before the timed run,
 * ROTATION_TOKENS_PER_CONNECTION logins per connection fill the script's pool
 * of refresh tokens (bench/lib/wrk.ts). Several servers (two instances on one
 * database) get one wrk each, with their share of the connections, in one run.
 */
function wrkRotationTarget(key: string, servers: Server[], mustSucceed = true): Target {
  return {
    key,
    server: servers[0]!,
    mustSucceed,
    latchkeyWorkers: workersOf(servers[0]!),
    async run(duration) {
      const specs: WrkSpec[] = await Promise.all(
        servers.map(async (s, i) => {
          const connections = shareOf(opt.connections, servers.length, i);
          const pool = await logins(s, connections * ROTATION_TOKENS_PER_CONNECTION);
          return {
            url: `http://127.0.0.1:${s.port}/api/token/refresh/`,
            connections,
            duration,
            rotation: { tokens: pool.map((p) => p.refresh) },
          };
        }),
      );
      return runWrkOn(
        specs,
        servers.map((s) => s.child.pid!),
      );
    },
  };
}

function protectedSpec(access: string): HttpSpec {
  return { path: PROTECTED, method: 'GET', headers: { authorization: `Bearer ${access}` } };
}

function postSpec(route: string, body: unknown, connections?: number): HttpSpec {
  return {
    path: route,
    method: 'POST',
    headers: JSON_TYPE,
    body: JSON.stringify(body),
    ...(connections ? { connections } : {}),
  };
}

/**
 * Refresh with rotation: each connection takes one fresh login's refresh token
 * (the logins happen before the timed run) and then always refreshes with the
 * token that its previous response returned, through autocannon's
 * per-connection request chaining (setupRequest / onResponse). The chain's
 * state lives in a closure per connection, made in setupClient: autocannon
 * clears `context` each time a connection wraps around its request list, which
 * with a one-request list is after every request.
 */
function rotationSpec(pool: Pair[]): HttpSpec {
  return {
    path: '/api/token/refresh/',
    method: 'POST',
    headers: JSON_TYPE,
    setupClient(client) {
      // A connection with no session left sends a token that is refused: it shows as 401s.
      let token = pool.pop()?.refresh ?? 'no-session-left';
      client.setRequests([
        {
          method: 'POST',
          path: '/api/token/refresh/',
          headers: JSON_TYPE,
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh: token }) }),
          onResponse: (status, body) => {
            if (status === 200) token = (JSON.parse(body) as { refresh: string }).refresh;
          },
        },
      ]);
    },
  };
}

function hashRateTarget(mode: 'hash' | 'verify'): Target {
  return {
    key: `raw-${mode}`,
    mustSucceed: true,
    async run(duration) {
      const out = await runCommand(NODE, [
        HASH_RATE,
        '--mode',
        mode,
        '--concurrency',
        String(opt.hashConcurrency),
        '--duration',
        String(duration),
        '--memory',
        String(ARGON2.memoryCost),
        '--time',
        String(ARGON2.timeCost),
        '--parallelism',
        String(ARGON2.parallelism),
      ]);
      const r = JSON.parse(out.trim().split('\n').pop()!) as {
        hashes: number;
        seconds: number;
        rate: number;
        p50: number;
        p99: number;
        cpuUsPerHash: number;
      };
      return {
        ok: r.hashes,
        non2xx: 0,
        errors: 0,
        statusCodes: {},
        seconds: r.seconds,
        rps: r.rate,
        p50: r.p50,
        p99: r.p99,
        cpuUsPerReq: r.cpuUsPerHash,
        loadCpuUsPerReq: NaN,
        rssMax: [],
      };
    },
  };
}

/** Runs `inner` while a login storm hammers the same server. */
function withStorm(key: string, server: Server, inner: Target): Target {
  return {
    key,
    server,
    mustSucceed: true,
    ...(inner.latchkeyWorkers ? { latchkeyWorkers: inner.latchkeyWorkers } : {}),
    async run(duration) {
      const storm = startBackground({
        url: `http://127.0.0.1:${server.port}/api/token/`,
        connections: opt.stormConnections,
        method: 'POST',
        headers: JSON_TYPE,
        body: JSON.stringify({ username: USER, password: PASSWORD }),
      });
      let result: Run | undefined;
      try {
        await sleep(500); // let the hash queue fill
        result = await inner.run(duration);
      } finally {
        const s = await storm.stop();
        if (result) result.storm = s;
      }
      return result;
    },
  };
}

const failures: string[] = [];
const results: Record<string, Record<string, Summary>> = {};

/**
 * The largest VmRSS of a latchkey worker in a run: a cluster's primary (the
 * first process of its tree) is not a worker; with one worker per instance,
 * every process counted (one, or each instance of a pair) is.
 */
function latchkeyWorkerRss(s: Summary | undefined, workers: number): number {
  if (!s || s.rssMax.length === 0) return NaN;
  return Math.max(...(workers > 1 ? s.rssMax.slice(1) : s.rssMax));
}

/** Every latchkey run of the main table: the largest worker's RSS, for the RSS-under-load check. */
const loadedRss: { run: string; rss: number }[] = [];

function describeRun(r: Run): string {
  const bad = r.non2xx || r.errors ? `  non-2xx ${r.non2xx} errors ${r.errors} ${JSON.stringify(r.statusCodes)}` : '';
  const storm = r.storm ? `  [storm: ${r.storm.rps.toFixed(0)} logins/s, non-2xx ${r.storm.non2xx}]` : '';
  return `${fmtRate(r.rps)}/s  p50 ${fmtMs(r.p50)}  p99 ${fmtMs(r.p99)} ms  server ${fmtCpu(r.cpuUsPerReq)} µs/req  load ${fmtCpu(r.loadCpuUsPerReq)} µs/req${bad}${storm}`;
}

const warmed = new Set<Server>();

/** Warm-up, then `rounds` measured runs of every target, taking turns; the order flips each round. */
async function compare(group: string, targets: Target[]): Promise<Record<string, Summary>> {
  const runs: Record<string, Run[]> = Object.fromEntries(targets.map((t) => [t.key, []]));
  log(`\n== ${group}`);
  // Warm-up: the full length the first time a server is loaded (its JIT is
  // cold), one second on a new route after that; none for the raw hash process.
  if (opt.warmup > 0) {
    for (const t of targets) {
      if (!t.server) continue;
      const length = warmed.has(t.server) ? Math.min(1, opt.warmup) : opt.warmup;
      warmed.add(t.server);
      const r = await t.run(length);
      log(`  warm-up ${t.key} (${length} s): ${describeRun(r)}`);
    }
  }
  for (let round = 0; round < opt.rounds; round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const r = await t.run(opt.duration);
      runs[t.key]!.push(r);
      log(`  round ${round + 1}/${opt.rounds} ${t.key}: ${describeRun(r)}`);
      if (t.mustSucceed && (r.non2xx > 0 || r.errors > 0 || r.ok === 0 || (r.storm && r.storm.ok === 0))) {
        failures.push(`${group} / ${t.key}: ${r.ok} 2xx, ${r.non2xx} non-2xx ${JSON.stringify(r.statusCodes)}, ${r.errors} errors`);
      }
    }
  }
  const out = Object.fromEntries(targets.map((t) => [t.key, summarize(runs[t.key]!)]));
  for (const t of targets) {
    if (t.latchkeyWorkers) loadedRss.push({ run: `${group} / ${t.key}`, rss: latchkeyWorkerRss(out[t.key], t.latchkeyWorkers) });
  }
  results[group] = out;
  return out;
}

// ---- formatting --------------------------------------------------------------

// ---- the main table ------------------------------------------------------------

interface Servers {
  bare: Server;
  lk: LatchkeyServer;
  lkRot: LatchkeyServer;
  /** Rotation on, the default worker count (no --workers flag). */
  lkRotDefault: LatchkeyServer;
  lk2: LatchkeyServer;
  peer?: Server;
  peerRot?: Server;
  peerNote?: string;
  pg?: PgServers;
}

/**
 * latchkey on PostgreSQL (--database): one instance, its rotating twins
 * (`--workers 1`, and the default worker count), and two rotating instances on
 * one database.
 */
interface PgServers {
  one: LatchkeyServer;
  rot: LatchkeyServer;
  rotDefault: LatchkeyServer;
  pair: LatchkeyServer[];
}
const PG_ONE = 'PostgreSQL';
const PG_PAIR = 'PostgreSQL ×2';
const PG_ONE_LABEL = 'latchkey on PostgreSQL, one instance';
const PG_PAIR_LABEL = 'latchkey on PostgreSQL, two instances on one database';

/** The largest RSS of any process of a run (each instance of a pair is one process). */
const largestRss = (s: Summary | undefined) => (s && s.rssMax.length ? Math.max(...s.rssMax) : NaN);

const GROUPS = ['protected', 'verify', 'refresh', 'rotation', 'login', 'storm', 'paced', 'reset'] as const;
type Group = (typeof GROUPS)[number];
const only = args.only ? new Set(args.only.split(',').map((g) => g.trim())) : undefined;
for (const g of only ?? []) {
  if (!GROUPS.includes(g as Group)) {
    console.error(`bench: --only takes ${GROUPS.join(', ')}`);
    process.exit(2);
  }
}
const want = (g: Group) => !only || only.has(g);

/** The label of a server started with the default worker count. */
const defaultWorkers = (s: LatchkeyServer) => `default workers (${s.workers})`;

/** Idle RSS per latchkey server: its largest worker, 1 s after start. */
type Idle = { label: string; rss: number }[];

async function mainTable(sv: Servers, idle: Idle): Promise<Row[]> {
  const { bare, lk, lkRot, lkRotDefault, lk2, peer, peerRot, pg } = sv;
  const lkPair = await login(lk);
  const lk2Pair = await login(lk2);
  const pgPair = pg && (await login(pg.one));
  const pgPairs = pg && (await login(pg.pair[0]!));
  // The peer's access tokens last 5 minutes: each peer run logs in afresh.
  const peerSession = async () => login(peer!);
  const peerNote = `SimpleJWT peer skipped: ${sv.peerNote}`;
  const rows: Row[] = [];
  const g: Partial<Record<Group | 'rotation (wrk)', Record<string, Summary>>> = {};
  const wrkMissing = 'wrk is not installed (apt-get install wrk)';

  const pairRows = (
    title: string,
    s: Record<string, Summary>,
    target?: { name: string; min: number; pg?: { name: string; min: number } } | string,
    pairNote?: string,
  ) => {
    rows.push({ measurement: `${title}, ${opt.connections} connections`, note: '' });
    const l = s['latchkey']!;
    const p = s['peer'];
    const judge = (name: string | undefined, min: number | undefined, q: Summary) =>
      typeof target === 'string' ? { target } : name && p ? { target: check(name, ratioOf(q, p, rpsOf), 'min', min!) } : {};
    const t = typeof target === 'string' ? undefined : target;
    rows.push(
      serverRow(pg ? 'latchkey on SQLite' : 'latchkey', l, {
        ratio: p ? `${fmtRatio(ratioOf(l, p, rpsOf))} peer` : '',
        ...judge(t?.name, t?.min, l),
      }),
    );
    if (pg) {
      for (const [key, label] of [
        [PG_ONE, PG_ONE_LABEL],
        [PG_PAIR, PG_PAIR_LABEL],
      ] as const) {
        const q = s[key];
        if (!q) {
          rows.push({ measurement: label, note: pairNote ?? '' });
          continue;
        }
        rows.push(
          serverRow(label, q, {
            rss: largestRss(q),
            ratio: p ? `${fmtRatio(ratioOf(q, p, rpsOf))} peer` : '',
            ...judge(t?.pg && `${t.pg.name} (${key})`, t?.pg?.min, q),
          }),
        );
      }
    }
    if (p) rows.push(serverRow('SimpleJWT peer', p, { ratio: 'reference' }, 2, true));
    else rows.push({ measurement: 'SimpleJWT peer', note: peerNote });
  };

  if (want('protected')) {
    // The same request, Authorization header included, to every server.
    await preflight(bare, { path: PROTECTED, headers: { authorization: `Bearer ${lkPair.access}` } });
    await preflight(lk, { path: PROTECTED, headers: { authorization: `Bearer ${lkPair.access}` } });
    await preflight(lk2, { path: PROTECTED, headers: { authorization: `Bearer ${lk2Pair.access}` } });
    if (pg) {
      await preflight(pg.one, { path: PROTECTED, headers: { authorization: `Bearer ${pgPair!.access}` } });
      for (const s of pg.pair) await preflight(s, { path: PROTECTED, headers: { authorization: `Bearer ${pgPairs!.access}` } });
    }
    const s = (g.protected = await compare('protected GET', [
      httpTarget('bare', bare, async () => protectedSpec(lkPair.access)),
      httpTarget('latchkey', lk, async () => protectedSpec(lkPair.access)),
      httpTarget('latchkey --workers 2', lk2, async () => protectedSpec(lk2Pair.access)),
      ...(peer ? [httpTarget('peer', peer, async () => protectedSpec((await peerSession()).access), false)] : []),
      ...(pg
        ? [
            httpTarget(PG_ONE, pg.one, async () => protectedSpec(pgPair!.access)),
            pairTarget(PG_PAIR, pg.pair, async () => protectedSpec(pgPairs!.access)),
          ]
        : []),
    ]));
    // The same three again with wrk as the load: it takes a fraction of
    // autocannon's CPU per request, which leaves the second core to the
    // second worker (autocannon alone takes most of a core here).
    const w = wrkPath()
      ? await compare('protected GET (wrk)', [
          wrkHttpTarget('bare', bare, lkPair.access),
          wrkHttpTarget('latchkey', lk, lkPair.access),
          wrkHttpTarget('latchkey --workers 2', lk2, lk2Pair.access),
        ])
      : undefined;
    const latch = s['latchkey']!;
    const bareS = s['bare']!;
    const peerS = s['peer'];
    // Judged by server CPU per request (bare µs/req ÷ latchkey µs/req): on two
    // shared cores req/s also measures what the load generator and the other
    // servers left over; req/s stays beside it as information.
    const vsBare = (l: Summary, b: Summary, load: string) => {
      const byCpu = ratioOf(b, l, cpuOf);
      return {
        ratio: `${fmtRatio(byCpu)} bare by CPU per request · ${fmtRatio(ratioOf(l, b, rpsOf))} by req/s`,
        target: `${check(`protected GET ≥ 0.95× bare Fastify by CPU per request (${load})`, byCpu, 'min', 0.95)} bare`,
      };
    };
    rows.push({ measurement: `**protected GET** (Bearer access token), ${opt.connections} connections, load from autocannon`, note: '' });
    rows.push(serverRow('bare Fastify, same JSON and request (ceiling)', bareS, { ratio: 'reference' }));
    const ac = vsBare(latch, bareS, 'autocannon');
    const vsPeer = peerS && ratioOf(latch, peerS, rpsOf);
    rows.push(
      serverRow('latchkey `--workers 1`', latch, {
        ratio: ac.ratio + (peerS ? ` · ${fmtRatio(vsPeer!)} peer (by CPU ${ratio(peerS.cpu / latch.cpu)})` : ''),
        target: ac.target + (peerS ? ` · ${check('protected GET ≥ 20× the peer', vsPeer!, 'min', 20)} peer` : ''),
      }),
    );
    if (peerS) rows.push(serverRow('SimpleJWT peer (gunicorn -w 2)', peerS, { ratio: 'reference' }, 2, true));
    else rows.push({ measurement: 'SimpleJWT peer', note: peerNote });
    const workersRow = (w1: Summary, w2: Summary, judged: boolean) => {
      const scale = ratioOf(w2, w1, rpsOf);
      return serverRow(
        'latchkey `--workers 2`',
        w2,
        {
          // With a core per worker and the load elsewhere, throughput would scale by CPU per request.
          ratio: `${fmtRatio(scale)} \`--workers 1\` (a core per worker: ${ratio((2 * w1.cpu) / w2.cpu)} by CPU per request)`,
          target: judged
            ? check('--workers 2 ≥ 1.5× --workers 1 (protected GET, load from wrk)', scale, 'min', 1.5)
            : w
              ? 'information (judged with wrk, below)'
              : check('--workers 2 ≥ 1.5× --workers 1 (protected GET; wrk not installed)', scale, 'min', 1.5),
        },
        2,
      );
    };
    rows.push(workersRow(latch, s['latchkey --workers 2']!, false));
    if (pg) {
      for (const [key, label] of [
        [PG_ONE, PG_ONE_LABEL],
        [PG_PAIR, PG_PAIR_LABEL],
      ] as const) {
        const q = s[key]!;
        rows.push(
          serverRow(label, q, {
            rss: largestRss(q),
            ratio:
              `${fmtRatio(ratioOf(bareS, q, cpuOf))} bare by CPU per request · ${fmtRatio(ratioOf(q, bareS, rpsOf))} by req/s` +
              (peerS ? ` · ${fmtRatio(ratioOf(q, peerS, rpsOf))} peer` : ''),
            target: 'information',
          }),
        );
      }
    }
    if (w) {
      const wb = w['bare']!;
      const w1 = w['latchkey']!;
      rows.push({ measurement: `**protected GET**, ${opt.connections} connections, load from wrk (1 thread)`, note: '' });
      rows.push(serverRow('bare Fastify (ceiling)', wb, { ratio: 'reference' }));
      rows.push(serverRow('latchkey `--workers 1`', w1, vsBare(w1, wb, 'wrk')));
      rows.push(workersRow(w1, w['latchkey --workers 2']!, true));
    } else {
      rows.push({
        measurement: 'protected GET with wrk',
        ratio: `${wrkMissing}: the workers target is judged with autocannon`,
        target: check('protected GET ≥ 0.95× bare Fastify by CPU per request (wrk)', NaN, 'min', 0.95),
      });
    }
  }

  if (want('verify')) {
    g.verify = await compare('verify', [
      httpTarget('latchkey', lk, async () => postSpec('/api/token/verify/', { token: lkPair.access })),
      ...(pg
        ? [
            httpTarget(PG_ONE, pg.one, async () => postSpec('/api/token/verify/', { token: pgPair!.access })),
            pairTarget(PG_PAIR, pg.pair, async () => postSpec('/api/token/verify/', { token: pgPairs!.access })),
          ]
        : []),
      ...(peer
        ? [httpTarget('peer', peer, async () => postSpec('/api/token/verify/', { token: (await peerSession()).access }), false)]
        : []),
    ]);
    pairRows('**verify** (POST /api/token/verify/, access token)', g.verify);
  }

  if (want('refresh')) {
    g.refresh = await compare('refresh (no rotation)', [
      httpTarget('latchkey', lk, async () => postSpec('/api/token/refresh/', { refresh: lkPair.refresh })),
      ...(pg ? [httpTarget(PG_ONE, pg.one, async () => postSpec('/api/token/refresh/', { refresh: pgPair!.refresh }))] : []),
      ...(peer
        ? [httpTarget('peer', peer, async () => postSpec('/api/token/refresh/', { refresh: (await peerSession()).refresh }), false)]
        : []),
    ]);
    pairRows('**refresh, no rotation**', g.refresh, undefined, 'the two instances rotate (they serve the rotation rows)');
  }

  if (want('rotation')) {
    g.rotation = await compare('refresh (rotation)', [
      httpTarget('latchkey', lkRot, async () => rotationSpec(await logins(lkRot, opt.connections))),
      ...(pg
        ? [
            httpTarget(PG_ONE, pg.rot, async () => rotationSpec(await logins(pg.rot, opt.connections))),
            pairTarget(PG_PAIR, pg.pair, async (s, n) => rotationSpec(await logins(s, n))),
          ]
        : []),
      ...(peerRot ? [httpTarget('peer', peerRot, async () => rotationSpec(await logins(peerRot, opt.connections)), false)] : []),
    ]);
    pairRows(
      '**refresh with rotation** (writes; one token chain per connection), `--workers 1`, load from autocannon',
      g.rotation,
      wrkPath() ? 'information (judged with wrk, below)' : 'information',
    );
    // Judged: the servers as `npm start` runs them (the default worker count)
    // against the peer, all loaded by wrk, which leaves the cores to the servers.
    if (wrkPath()) {
      const w = (g['rotation (wrk)'] = await compare('refresh (rotation, wrk)', [
        wrkRotationTarget('latchkey', [lkRotDefault]),
        ...(pg ? [wrkRotationTarget(PG_ONE, [pg.rotDefault]), wrkRotationTarget(PG_PAIR, pg.pair)] : []),
        ...(peerRot ? [wrkRotationTarget('peer', [peerRot], false)] : []),
      ]));
      const p = w['peer'];
      rows.push({
        measurement:
          `**refresh with rotation**, ${opt.connections} connections, load from wrk (1 thread; ` +
          `a pool of ${ROTATION_TOKENS_PER_CONNECTION} refresh tokens per connection)`,
        note: '',
      });
      const judged: [string, Summary | undefined, LatchkeyServer, string, number][] = [
        [`latchkey on SQLite, ${defaultWorkers(lkRotDefault)}`, w['latchkey'], lkRotDefault, 'SQLite', 40],
        ...(pg
          ? ([
              [`${PG_ONE_LABEL}, ${defaultWorkers(pg.rotDefault)}`, w[PG_ONE], pg.rotDefault, PG_ONE, 15],
              [`${PG_PAIR_LABEL} (\`--workers 1\` each)`, w[PG_PAIR], pg.pair[0]!, PG_PAIR, 15],
            ] as [string, Summary | undefined, LatchkeyServer, string, number][])
          : []),
      ];
      for (const [label, q, server, where, min] of judged) {
        const r = p && ratioOf(q, p, rpsOf);
        rows.push(
          serverRow(
            label,
            q,
            {
              ...(server === pg?.pair[0] ? { rss: largestRss(q) } : {}),
              ratio: r ? `${fmtRatio(r)} peer` : '',
              ...(r ? { target: check(`refresh with rotation ≥ ${min}× the peer (${where}, wrk)`, r, 'min', min) } : {}),
            },
            server.workers,
          ),
        );
      }
      if (p) rows.push(serverRow('SimpleJWT peer (gunicorn -w 2)', p, { ratio: 'reference' }, 2, true));
      else rows.push({ measurement: 'SimpleJWT peer', note: peerNote });
    } else {
      rows.push({
        measurement: '**refresh with rotation**, load from wrk',
        ratio: wrkMissing,
        target: check('refresh with rotation ≥ 40× the peer (SQLite, wrk)', NaN, 'min', 40),
      });
    }
  }

  if (want('login')) {
    const s = (g.login = await compare('login', [
      hashRateTarget('hash'),
      hashRateTarget('verify'),
      httpTarget('latchkey', lk, async () => postSpec('/api/token/', { username: USER, password: PASSWORD }, opt.loginConnections)),
      ...(pg
        ? [
            httpTarget(PG_ONE, pg.one, async () => postSpec('/api/token/', { username: USER, password: PASSWORD }, opt.loginConnections)),
            pairTarget(PG_PAIR, pg.pair, async () => postSpec('/api/token/', { username: USER, password: PASSWORD }, opt.loginConnections)),
          ]
        : []),
    ]));
    const raw = s['raw-hash']!;
    const rawVerify = s['raw-verify']!;
    const lg = s['latchkey']!;
    rows.push({
      measurement: `**login** (argon2id m=${ARGON2.memoryCost}, t=${ARGON2.timeCost}, p=${ARGON2.parallelism}; ${opt.hashConcurrency} hash at a time)`,
      note: '',
    });
    rows.push({
      measurement: `raw \`hash()\` in its own process, ${opt.hashConcurrency} at a time (hashes/s; p50/p99 per hash)`,
      rps: raw.rps,
      p50: raw.p50,
      p99: raw.p99,
      cpu: raw.cpu,
      ratio: 'reference',
    });
    rows.push({
      measurement: `raw \`verify()\` of a stored hash, ${opt.hashConcurrency} at a time (what a login runs)`,
      rps: rawVerify.rps,
      p50: rawVerify.p50,
      p99: rawVerify.p99,
      cpu: rawVerify.cpu,
      ratio: `${ratio(rawVerify.rps / raw.rps)} raw hash()`,
      target: 'information',
    });
    rows.push(
      serverRow(`latchkey POST /api/token/, ${opt.loginConnections} connections`, lg, {
        ratio: `${fmtRatio(ratioOf(lg, raw, rpsOf))} raw hash() · ${ratio(lg.rps / rawVerify.rps)} raw verify()`,
        target: check('login ≥ 0.95× the raw argon2 rate at the same pool size', ratioOf(lg, raw, rpsOf), 'min', 0.95),
      }),
    );
    if (pg) {
      const q = s[PG_ONE]!;
      const q2 = s[PG_PAIR]!;
      rows.push(
        serverRow(`${PG_ONE_LABEL}, ${opt.loginConnections} connections`, q, {
          ratio: `${fmtRatio(ratioOf(q, raw, rpsOf))} raw hash()`,
          target: check(`login ≥ 0.95× the raw argon2 rate at the same pool size (${PG_ONE})`, ratioOf(q, raw, rpsOf), 'min', 0.95),
        }),
      );
      rows.push(
        serverRow(`${PG_PAIR_LABEL}, ${opt.loginConnections} connections in all`, q2, {
          rss: largestRss(q2),
          ratio: `${ratio(q2.rps / raw.rps)} raw hash() (two hash slots, one per instance)`,
          target: 'information',
        }),
      );
    }
  }

  const stormRows = (title: string, s: Record<string, Summary>, judged: boolean, who = 'latchkey') => {
    rows.push({ measurement: title, note: '' });
    const u = s['unloaded']!;
    const st = s['login storm']!;
    const where = who === 'latchkey' ? '' : ` (${PG_ONE})`;
    rows.push(serverRow(`${who}, unloaded`, u, { ratio: 'reference (p99)' }));
    const stormRate = median(st.runs.map((r) => r.storm?.rps ?? NaN));
    const p99s = ratioOf(st, u, (r) => r.p99);
    rows.push(
      serverRow(
        `${who}, during a login storm (${opt.stormConnections} connections, ${fmtRate(stormRate)} logins/s; CPU includes the hashing)`,
        st,
        {
          ratio: `p99 ${fmtRatio(p99s)} unloaded`,
          target: judged ? check(`protected GET p99 during a login storm ≤ 3× unloaded${where}`, p99s, 'max', 3) : 'information',
        },
      ),
    );
  };
  if (want('storm')) {
    const unloaded = httpTarget('unloaded', lk, async () => protectedSpec(lkPair.access));
    g.storm = await compare('protected GET during a login storm', [unloaded, withStorm('login storm', lk, unloaded)]);
    stormRows(`**protected GET p99 during a login storm**, ${opt.connections} connections (saturating)`, g.storm, true);
    if (pg) {
      const u = httpTarget('unloaded', pg.one, async () => protectedSpec(pgPair!.access));
      const pgStorm = await compare(`protected GET during a login storm (${PG_ONE})`, [u, withStorm('login storm', pg.one, u)]);
      stormRows(`**protected GET p99 during a login storm**, ${opt.connections} connections, ${PG_ONE}`, pgStorm, true, PG_ONE_LABEL);
    }
  }
  if (want('paced')) {
    const pacedOn = (s: Server, access: string): Target => ({
      key: 'unloaded',
      server: s,
      mustSucceed: true,
      latchkeyWorkers: workersOf(s),
      run: (duration) =>
        runPaced(
          { port: s.port, path: PROTECTED, headers: { authorization: `Bearer ${access}` }, rate: opt.pacedRate, duration },
          s.child.pid!,
        ),
    });
    const paced = pacedOn(lk, lkPair.access);
    g.paced = await compare(`protected GET at ${opt.pacedRate} req/s during a login storm`, [paced, withStorm('login storm', lk, paced)]);
    stormRows(`**protected GET p99 during a login storm**, steady ${opt.pacedRate} req/s (open loop)`, g.paced, false);
    if (pg) {
      const u = pacedOn(pg.one, pgPair!.access);
      const r = await compare(`protected GET at ${opt.pacedRate} req/s during a login storm (${PG_ONE})`, [
        u,
        withStorm('login storm', pg.one, u),
      ]);
      stormRows(`**protected GET p99 during a login storm**, steady ${opt.pacedRate} req/s (open loop), ${PG_ONE}`, r, false, PG_ONE_LABEL);
    }
  }

  // RSS per worker: idle, every latchkey server 1 s after start; under load,
  // the largest worker of every latchkey run above (SQLite and PostgreSQL,
  // every worker count).
  const MB = 1048576;
  const largest = <T extends { rss: number }>(xs: T[]): T | undefined =>
    xs.filter((x) => x.rss > 0).reduce<T | undefined>((a, b) => (a && a.rss >= b.rss ? a : b), undefined);
  const idleWorst = largest(idle) ?? { label: '–', rss: NaN };
  const loadWorst = largest(loadedRss) ?? { run: '–', rss: NaN };
  rows.push({ measurement: '**RSS** (VmRSS per worker: a cluster primary is not counted)', note: '' });
  for (const i of idle) rows.push({ measurement: `${i.label}, idle, 1 s after start`, rss: i.rss });
  rows.push({
    measurement: 'latchkey idle: the largest worker of the servers above',
    rss: idleWorst.rss,
    ratio: idleWorst.label,
    target: check('RSS idle ≤ 80 MB per worker', idleWorst.rss / MB, 'max', 80, ' MB'),
  });
  rows.push({
    measurement: `latchkey under load: the largest worker of every latchkey run above (${loadedRss.length} runs)`,
    rss: loadWorst.rss,
    ratio: loadWorst.run,
    target: check('RSS under load ≤ 100 MB per worker', loadWorst.rss / MB, 'max', 100, ' MB'),
  });
  return rows;
}

// ---- growth: a seeded database -------------------------------------------------

interface Growth {
  rows: Row[];
  seed: SeedResult;
  seedSeconds: number;
  flush: { seconds: number; deleted: number; output: string };
  sizeBefore: number;
}

async function growth(): Promise<Growth> {
  const users = opt.seedUsers ?? 0;
  const tokens = opt.seedTokens ?? 0;
  const rotate = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' };
  log(`\n== seeding ${users.toLocaleString('en-US')} users and ${tokens.toLocaleString('en-US')} token records`);
  const seededPrep = await prepareLatchkeyData('lk-seeded', rotate);
  const encoded = await hash(PASSWORD, { ...ARGON2, algorithm: 2 as Algorithm.Argon2id });
  const t0 = performance.now();
  const seed = seedDatabase({
    file: path.join(seededPrep.dataDir, 'latchkey.sqlite3'),
    users,
    tokens,
    passwordHash: encoded,
    expiredShare: opt.expiredShare,
    blacklistedShare: opt.blacklistedShare,
    refreshLifetime: 86_400,
    log: (l) => log(`  ${l}`),
  });
  const seedSeconds = (performance.now() - t0) / 1000;
  log(
    `  seeded in ${seedSeconds.toFixed(1)} s (users ${seed.usersSeconds.toFixed(1)} s, tokens ${seed.tokensSeconds.toFixed(1)} s, ` +
      `indexes and checkpoint ${seed.finishSeconds.toFixed(1)} s); file ${mb(seed.bytes)} MB`,
  );

  // The reference holds only as many users as there are connections, and no
  // tokens: the load runs as the same number of distinct users on both, so the
  // comparison differs in the database's size alone. (Rotating one user's tokens
  // on one side and 50 users' on the other would differ in the index pages each
  // commit dirties, whatever the size.)
  const emptyPrep = await prepareLatchkeyData('lk-empty', rotate);
  const active = Math.max(1, Math.min(opt.connections, users));
  seedDatabase({
    file: path.join(emptyPrep.dataDir, 'latchkey.sqlite3'),
    users: users > 0 ? active : 0,
    tokens: 0,
    passwordHash: encoded,
    expiredShare: 0,
    blacklistedShare: 0,
    refreshLifetime: 86_400,
    log: () => {},
  });
  const empty = await startLatchkey('lk-empty', { workers: 1, prepared: emptyPrep });
  const seeded = await startLatchkey('lk-seeded', { workers: 1, prepared: seededPrep });
  // Log in as seeded users where there are any: on the seeded database found by
  // username among all of them, on the reference among its few.
  const who = (i: number) => (users > 0 ? seededUsername(1 + ((i * 7919 + Math.floor(users / 2)) % users)) : USER);
  const whoEmpty = (i: number) => (users > 0 ? seededUsername(1 + (i % active)) : USER);
  const emptyPair = await login(empty, whoEmpty(0));
  const seededPair = await login(seeded, who(0));

  const gp = await compare('growth: protected GET', [
    httpTarget('empty', empty, async () => protectedSpec(emptyPair.access)),
    httpTarget('seeded', seeded, async () => protectedSpec(seededPair.access)),
  ]);
  const gr = await compare('growth: refresh with rotation', [
    httpTarget('empty', empty, async () => rotationSpec(await logins(empty, opt.connections, whoEmpty))),
    httpTarget('seeded', seeded, async () => rotationSpec(await logins(seeded, opt.connections, who))),
  ]);
  const gl = await compare('growth: login', [
    httpTarget('empty', empty, async () => postSpec('/api/token/', { username: whoEmpty(1), password: PASSWORD }, opt.loginConnections)),
    httpTarget('seeded', seeded, async () => postSpec('/api/token/', { username: who(1), password: PASSWORD }, opt.loginConnections)),
  ]);
  await stopChild(seeded.child);
  await stopChild(empty.child);

  const dbFile = path.join(seededPrep.dataDir, 'latchkey.sqlite3');
  const sizeBefore = fs.statSync(dbFile).size;
  log(`\n== flushexpiredtokens on the seeded database`);
  const f0 = performance.now();
  const output = await runCommand(NODE, [CLI, 'flushexpiredtokens'], { env: seededPrep.env });
  const flushSeconds = (performance.now() - f0) / 1000;
  const deleted = Number(/deleted (\d+)/.exec(output)?.[1] ?? NaN);
  log(`  ${output.trim()} in ${flushSeconds.toFixed(1)} s`);

  const rows: Row[] = [];
  const size = `${users.toLocaleString('en-US')} users, ${tokens.toLocaleString('en-US')} token records`;
  const pair = (title: string, g: Record<string, Summary>) => {
    rows.push({ measurement: title, note: '' });
    rows.push(
      serverRow(users > 0 ? `latchkey, empty database (${active} users, no tokens)` : 'latchkey, empty database', g['empty'], {
        ratio: 'reference',
      }),
    );
    rows.push(serverRow(`latchkey, seeded (${size})`, g['seeded'], { ratio: `${ratio(g['seeded']!.rps / g['empty']!.rps)} empty` }));
  };
  pair(`**protected GET**, ${opt.connections} connections`, gp);
  pair(`**refresh with rotation**, ${opt.connections} connections`, gr);
  pair(`**login**, ${opt.loginConnections} connections`, gl);
  return { rows, seed, seedSeconds, flush: { seconds: flushSeconds, deleted, output: output.trim() }, sizeBefore };
}

// ---- PostgreSQL (--database) -----------------------------------------------------

let scratch: Scratch | undefined;

/**
 * Two scratch databases: NAME holds one instance and its rotating twin (rotation
 * is a setting of the process, not of the data), NAME_pair two rotating
 * instances. The pools are latchkey's default size.
 */
async function startPostgresServers(url: string): Promise<PgServers> {
  scratch = await createScratch(url, ['', '_pair']);
  const [oneUrl, pairUrl] = scratch.urls as [string, string];
  log(`PostgreSQL: scratch databases ${scratch.urls.map((u) => new URL(u).pathname.slice(1)).join(', ')}`);
  const rotate = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' };
  const onePrep = await prepareLatchkeyData('lk-pg', { LATCHKEY_DATABASE_URL: oneUrl });
  const pairPrep = await prepareLatchkeyData('lk-pg-pair', { LATCHKEY_DATABASE_URL: pairUrl, ...rotate });
  const [one, pair0] = await Promise.all([
    startLatchkey('lk-pg', { workers: 1, prepared: onePrep }),
    startLatchkey('lk-pg-pair-1', { workers: 1, prepared: pairPrep }),
  ]);
  // The user is in the database already.
  const rotPrep = { ...onePrep, env: { ...onePrep.env, ...rotate } };
  const [rot, rotDefault, pair1] = await Promise.all([
    startLatchkey('lk-pg-rotate', { workers: 1, prepared: rotPrep, createUser: false }),
    startLatchkey('lk-pg-rotate-default', { prepared: rotPrep, createUser: false }),
    startLatchkey('lk-pg-pair-2', { workers: 1, prepared: pairPrep, createUser: false }),
  ]);
  return { one, rot, rotDefault, pair: [pair0, pair1] };
}

// ---- reset group and growth on PostgreSQL (bench/lib/reset.ts, growth-pg.ts) -------

/** The reset group on SQLite, and on a scratch PostgreSQL database `<NAME>_reset` with --database. */
async function resetRows(): Promise<Row[]> {
  const own = args.database !== undefined ? await createScratch(args.database, ['_reset']) : undefined;
  try {
    return await resetGroup({
      prepare: prepareLatchkeyData,
      start: (name, prepared) => startLatchkey(name, { workers: 1, prepared }),
      cli: (a, env) => runCommand(NODE, [CLI, ...a], { env }),
      compare,
      rawVerify: () => hashRateTarget('verify'),
      serverRow,
      check,
      failures,
      log,
      tmp,
      user: USER,
      password: PASSWORD,
      rounds: opt.rounds,
      connections: opt.loginConnections,
      databases: [{ label: '', env: {} }, ...(own ? [{ label: PG_ONE, env: { LATCHKEY_DATABASE_URL: own.urls[0]! } }] : [])],
    });
  } finally {
    await stopAll();
    await own?.drop();
  }
}

function growthPgDeps(url: string) {
  return {
    url,
    users: opt.seedUsers ?? 0,
    tokens: opt.seedTokens ?? 0,
    expiredShare: opt.expiredShare,
    blacklistedShare: opt.blacklistedShare,
    connections: opt.connections,
    loginConnections: opt.loginConnections,
    argon2: ARGON2,
    password: PASSWORD,
    prepare: prepareLatchkeyData,
    start: (name: string, prepared: { dataDir: string; env: NodeJS.ProcessEnv }) => startLatchkey(name, { workers: 1, prepared }),
    login,
    logins,
    compare,
    httpTarget,
    protectedSpec,
    rotationSpec,
    postSpec,
    serverRow,
    check,
    ratio,
    log,
  };
}

// ---- main ----------------------------------------------------------------------

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`\n${signal}: stopping the servers`);
    void stopAll()
      .then(() => scratch?.drop())
      .catch(() => {})
      .finally(() => process.exit(130));
  });
}

async function main(): Promise<number> {
  const started = performance.now();
  const git = (a: string[]) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
  const head = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--', 'src']);
  const meta = {
    date: new Date().toISOString(),
    commit: head.status === 0 ? `${head.stdout.trim()}${dirty.stdout.trim() ? ' + uncommitted changes in src/' : ''}` : 'unknown',
    loadAverage: os.loadavg()[0]!,
    node: process.version,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? '',
    options: opt,
    argon2: ARGON2,
  };
  log(
    `latchkey bench: ${opt.rounds} rounds × ${opt.duration} s per server (after a ${opt.warmup} s warm-up), ${opt.connections} connections, ` +
      `hash concurrency ${opt.hashConcurrency}; ${meta.cpus} CPUs; temp ${tmp}`,
  );
  if (!fs.existsSync(CLI) || !fs.existsSync(BARE)) throw new Error('build first: npx tsc -p .');

  let rows: Row[] = [];
  let growthOut: Growth | undefined;
  let peerNote: string | undefined;
  if (runMain) {
    const peerDir = path.resolve(args.peer!);
    peerNote = peerMissing(peerDir);
    if (peerNote) log(`SimpleJWT peer skipped: ${peerNote}`);
    const rotate = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on' };
    const [bare, lk, lkRot, lkRotDefault, lk2, peer, peerRot] = await Promise.all([
      startBare(),
      startLatchkey('lk', { workers: 1 }),
      startLatchkey('lk-rotate', { workers: 1, extra: rotate }),
      startLatchkey('lk-rotate-default', { extra: rotate }),
      startLatchkey('lk-workers2', { workers: 2 }),
      peerNote ? undefined : startPeer('peer', false, peerDir),
      peerNote ? undefined : startPeer('peer-rotate', true, peerDir),
    ]);
    const pg = args.database !== undefined ? await startPostgresServers(args.database) : undefined;
    await sleep(1000);
    // The largest worker of each server (a cluster primary is not a worker).
    const idleRss = (s: LatchkeyServer) => Math.max(...(s.workers > 1 ? descendants(s.child.pid!) : [s.child.pid!]).map(rssBytes));
    const idle = [
      { label: 'latchkey `--workers 1`', rss: idleRss(lk) },
      { label: 'latchkey `--workers 1`, rotation on', rss: idleRss(lkRot) },
      { label: `latchkey ${defaultWorkers(lkRotDefault)}, rotation on (larger worker)`, rss: idleRss(lkRotDefault) },
      { label: 'latchkey `--workers 2` (larger worker)', rss: idleRss(lk2) },
      ...(pg
        ? [
            { label: PG_ONE_LABEL, rss: idleRss(pg.one) },
            { label: `${PG_ONE_LABEL}, rotation on`, rss: idleRss(pg.rot) },
            { label: `${PG_ONE_LABEL}, ${defaultWorkers(pg.rotDefault)}, rotation on (larger worker)`, rss: idleRss(pg.rotDefault) },
            ...pg.pair.map((s, i) => ({ label: `${PG_PAIR_LABEL}, instance ${i + 1}`, rss: idleRss(s) })),
          ]
        : []),
    ];
    rows = await mainTable(
      {
        bare,
        lk,
        lkRot,
        lkRotDefault,
        lk2,
        ...(peer ? { peer } : {}),
        ...(peerRot ? { peerRot } : {}),
        ...(peerNote ? { peerNote } : {}),
        ...(pg ? { pg } : {}),
      },
      idle,
    );
    if (want('reset')) rows.push(...(await resetRows()));
    await stopAll();
  }
  const growthOn = new Set(args['growth-on']!.split(',').map((d) => d.trim()));
  if (seeding && growthOn.has('sqlite')) growthOut = await growth();
  const pgGrowthOut =
    seeding && growthOn.has('postgres') && args.database !== undefined ? await growthPostgres(growthPgDeps(args.database)) : undefined;
  await stopAll();

  // ---- report
  const minutes = ((performance.now() - started) / 60000).toFixed(1);
  const header =
    `${meta.date.slice(0, 10)}, commit ${meta.commit}, Node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel.trim()}), ` +
    `load average ${meta.loadAverage.toFixed(1)} at the start; ` +
    `${opt.rounds} rounds × ${opt.duration} s per server after a warm-up (${opt.warmup} s per server, 1 s per further route), medians of the rounds; ` +
    `hash concurrency ${opt.hashConcurrency}; ${minutes} min in all.`;
  const parts: string[] = [header];
  if (rows.length) parts.push(renderTable(rows));
  if (growthOut) {
    const g = growthOut;
    parts.push(
      `Growth: seeded ${g.seed.users.toLocaleString('en-US')} users and ${g.seed.tokens.toLocaleString('en-US')} token records ` +
        `(${g.seed.expired.toLocaleString('en-US')} expired, ${g.seed.blacklisted.toLocaleString('en-US')} blacklisted) in ${g.seedSeconds.toFixed(1)} s ` +
        `(users ${g.seed.usersSeconds.toFixed(1)} s, tokens ${g.seed.tokensSeconds.toFixed(1)} s, indexes and checkpoint ${g.seed.finishSeconds.toFixed(1)} s); ` +
        `database file ${mb(g.sizeBefore)} MB.\n\n` +
        `\`latchkey flushexpiredtokens\`: deleted ${g.flush.deleted.toLocaleString('en-US')} records in ${g.flush.seconds.toFixed(1)} s.`,
    );
    parts.push(renderTable(g.rows));
  }
  if (pgGrowthOut) parts.push(pgGrowthOut.summary, renderTable(pgGrowthOut.rows));
  if (failures.length) parts.push(`Runs with failed requests (their figures are not valid):\n${failures.map((f) => `- ${f}`).join('\n')}`);
  const markdown = parts.join('\n\n');
  process.stdout.write(`\n${markdown}\n`);

  if (args.markdown) fs.writeFileSync(args.markdown, `${markdown}\n`);
  if (args.json) {
    fs.writeFileSync(
      args.json,
      `${JSON.stringify({ meta, peer: peerNote ? { skipped: peerNote } : { dir: path.resolve(args.peer!) }, results, rows, checks, growth: growthOut, failures }, null, 2)}\n`,
    );
  }
  return failures.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  log(`server logs are in ${tmp}`);
  args.keep = true;
} finally {
  await stopAll();
  if (scratch) {
    await scratch.drop().catch((err: unknown) => {
      log(`bench: could not drop the scratch databases: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
  if (!args.keep) fs.rmSync(tmp, { recursive: true, force: true });
  else log(`kept ${tmp}`);
}
process.exit(code);
