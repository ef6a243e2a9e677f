// The reset group (`npm run bench -- --only reset`): the mail routes against a
// login's non-hash work (issue 17: "a reset request costs no more server CPU
// than a login's non-hash work, and mail delivery never runs on the request's
// path").
//
// latchkey runs with the default presets and djoser's mounted, its SMTP
// pointed at a sink this group starts (bench/lib/smtp-sink.ts). Measured, on
// each database given:
// - server CPU per request of djoser's POST /auth/users/reset_password/ and the
//   account preset's POST /api/account/password/reset/, for a user that exists
//   (so every request records and sends a mail). The mail is recorded and sent
//   after the answer, so a run's CPU is counted until the sink has received
//   every mail the run asked for: the whole cost of a request, not only its
//   answer;
// - login's CPU per request, and the raw argon2 verify() CPU per hash in its
//   own process: login's non-hash work is the difference;
// - then with the sink answering DATA after 2 s: the resets' p99 latency (must
//   stay far below the delay) and the mails arriving afterwards (counted).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLoad, type RunResult } from './load.js';
import { cpuMicros, freePort, sleep, startChild, stopChild, tree, type Server } from './procs.js';

const SINK = fileURLToPath(new URL('./smtp-sink.js', import.meta.url));
const JSON_TYPE = { 'content-type': 'application/json' };
const MAIL_USER = 'bench-mail';
const MAIL_ADDRESS = 'bench-mail@example.com';
/** The slow sink's delay before it answers DATA. */
const SLOW_MS = 2_000;
/** The slow part: requests per second and seconds per route (the mails then arrive one per SLOW_MS). */
const SLOW_RATE = 4;
const SLOW_SECONDS = 3;
/** How long to wait for a run's mails at the fast sink. */
const DRAIN_TIMEOUT_MS = 180_000;

/** The mail routes measured: djoser's, and the default presets' (account). */
export const RESET_ROUTES = [
  { key: 'djoser reset', path: '/auth/users/reset_password/', label: "djoser's POST /auth/users/reset_password/" },
  { key: 'account reset', path: '/api/account/password/reset/', label: 'account preset POST /api/account/password/reset/' },
] as const;

/** What run.ts's compare() takes (its Target), structurally. */
export interface BenchTarget {
  key: string;
  mustSucceed: boolean;
  server?: Server;
  run(duration: number): Promise<RunResult>;
}

/** The figures of run.ts's Summary that this group reads. */
export interface SummaryLike {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
}

/** A row of run.ts's table, structurally. */
export interface RowLike {
  measurement: string;
  rps?: number;
  p50?: number;
  p99?: number;
  cpu?: number;
  ratio?: string;
  target?: string;
  note?: string;
}

export interface ResetDeps<S extends SummaryLike> {
  /** `latchkey migrate` in a fresh data dir with this environment on top of the bench's. */
  prepare(name: string, extra: Record<string, string>): Promise<{ dataDir: string; env: NodeJS.ProcessEnv }>;
  /** Starts one worker on prepared data and creates the bench's login user. */
  start(name: string, prepared: { dataDir: string; env: NodeJS.ProcessEnv }): Promise<Server>;
  /** Runs the latchkey CLI with this environment. */
  cli(args: string[], env: NodeJS.ProcessEnv): Promise<string>;
  compare(group: string, targets: BenchTarget[]): Promise<Record<string, S>>;
  /** The raw argon2 verify() rate in its own process (CPU per hash), as the login rows measure it. */
  rawVerify(): BenchTarget;
  serverRow(measurement: string, s: S | undefined, extra: Partial<RowLike>): RowLike;
  check(name: string, value: number, kind: 'min' | 'max', limit: number, unit?: string): string;
  failures: string[];
  log(line: string): void;
  tmp: string;
  user: string;
  password: string;
  /** Measured rounds per target (compare()'s); the runs before them are warm-ups. */
  rounds: number;
  /** Connections of the login and reset loads. */
  connections: number;
  /** The databases to run on: '' label for SQLite (the data dir's file), or a PostgreSQL URL. */
  databases: { label: string; env: Record<string, string> }[];
}

interface Sink {
  server: Server;
  smtpPort: number;
  received(): Promise<number>;
  setDelay(ms: number): Promise<void>;
  /** Waits until the sink has `n` mails; returns the seconds it took, or NaN on timeout. */
  waitFor(n: number, timeoutMs: number): Promise<number>;
}

async function startSink(tmp: string): Promise<Sink> {
  const smtpPort = await freePort();
  const httpPort = await freePort();
  const log = path.join(tmp, 'smtp-sink.log');
  const child = startChild(process.execPath, [SINK, '--smtp-port', String(smtpPort), '--http-port', String(httpPort)], { log });
  const server: Server = { name: 'smtp-sink', port: httpPort, child, log };
  const ask = async (method = 'GET', route = '/'): Promise<{ received: number }> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${route}`, { method });
    return (await res.json()) as { received: number };
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await ask();
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`SMTP sink did not start: ${String(err)}\n${readTail(log)}`);
      await sleep(100);
    }
  }
  return {
    server,
    smtpPort,
    received: async () => (await ask()).received,
    setDelay: async (ms) => void (await ask('POST', `/delay?ms=${ms}`)),
    async waitFor(n, timeoutMs) {
      const t0 = Date.now();
      while ((await ask()).received < n) {
        if (Date.now() - t0 > timeoutMs) return NaN;
        await sleep(50);
      }
      return (Date.now() - t0) / 1000;
    },
  };
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

function postSpec(port: number, route: string, body: unknown, connections: number, duration: number, overallRate?: number) {
  return {
    url: `http://127.0.0.1:${port}${route}`,
    method: 'POST' as const,
    headers: JSON_TYPE,
    body: JSON.stringify(body),
    connections,
    duration,
    ...(overallRate ? { overallRate } : {}),
  };
}

/** Per run of a reset target: how long its mails took to reach the sink after the load stopped. */
interface Drain {
  mails: number;
  seconds: number;
  /** Server CPU per request while the load ran (answers, and whatever mail work kept up), µs. */
  loadCpu: number;
  /** Server CPU per request after it, until the last mail reached the sink, µs. */
  drainCpu: number;
}

/**
 * A reset route under load; the run's server CPU is counted until the sink
 * holds one mail per answered request (the mail work runs after the answer).
 */
function resetTarget(key: string, server: Server, route: string, sink: Sink, connections: number, drains: Drain[]): BenchTarget {
  return {
    key,
    server,
    mustSucceed: true,
    async run(duration) {
      const pids = tree(server.child.pid!);
      const before = await sink.received();
      const cpu0 = cpuMicros(pids);
      const r = await runLoad(postSpec(server.port, route, { email: MAIL_ADDRESS }, connections, duration), server.child.pid);
      const cpu1 = cpuMicros(pids);
      const seconds = await sink.waitFor(before + r.ok, DRAIN_TIMEOUT_MS);
      const cpu2 = cpuMicros(pids);
      drains.push({ mails: (await sink.received()) - before, seconds, loadCpu: (cpu1 - cpu0) / r.ok, drainCpu: (cpu2 - cpu1) / r.ok });
      return { ...r, cpuUsPerReq: r.ok > 0 ? (cpu2 - cpu0) / r.ok : NaN };
    },
  };
}

const fmt = (v: number) => (Number.isNaN(v) ? '–' : v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));

export async function resetGroup<S extends SummaryLike>(d: ResetDeps<S>): Promise<RowLike[]> {
  const sink = await startSink(d.tmp);
  const rows: RowLike[] = [];
  try {
    for (const db of d.databases) {
      const where = db.label ? ` (${db.label})` : '';
      const name = db.label ? 'lk-reset-pg' : 'lk-reset';
      const prepared = await d.prepare(name, {
        ...db.env,
        LATCHKEY_PRESETS: 'simplejwt,api-auth,account,djoser',
        LATCHKEY_SMTP_URL: `smtp://127.0.0.1:${sink.smtpPort}`,
        LATCHKEY_DOMAIN: 'bench.example',
        // The per-address and per-email link limits (LATCHKEY_THROTTLE_LINK_*)
        // are off with every other limit: the bench sets LATCHKEY_LOGIN_THROTTLE=off.
      });
      await d.cli(['createuser', '--username', MAIL_USER, '--password', d.password, '--email', MAIL_ADDRESS], prepared.env);
      const server = await d.start(name, prepared);
      try {
        rows.push(...(await measure(d, server, sink, where)));
      } finally {
        await stopChild(server.child);
      }
    }
  } finally {
    await stopChild(sink.server.child);
  }
  return rows;
}

async function measure<S extends SummaryLike>(d: ResetDeps<S>, server: Server, sink: Sink, where: string): Promise<RowLike[]> {
  await sink.setDelay(0);
  for (const r of RESET_ROUTES) {
    const res = await fetch(`http://127.0.0.1:${server.port}${r.path}`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify({ email: MAIL_ADDRESS }),
    });
    if (res.status !== 204) throw new Error(`${r.path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  if (Number.isNaN(await sink.waitFor(2, 30_000))) throw new Error('the reset mails did not reach the SMTP sink');

  const drains: Record<string, Drain[]> = Object.fromEntries(RESET_ROUTES.map((r) => [r.key, []]));
  const login: BenchTarget = {
    key: 'login',
    server,
    mustSucceed: true,
    run: (duration) =>
      runLoad(postSpec(server.port, '/api/token/', { username: d.user, password: d.password }, d.connections, duration), server.child.pid),
  };
  const s = await d.compare(`reset: CPU per request against login's non-hash work${where}`, [
    d.rawVerify(),
    login,
    ...RESET_ROUTES.map((r) => resetTarget(r.key, server, r.path, sink, d.connections, drains[r.key]!)),
  ]);
  const raw = s['raw-verify']!;
  const lg = s['login']!;
  const nonHash = lg.cpu - raw.cpu;
  const rows: RowLike[] = [
    {
      measurement: `**reset mail routes**${where}: server CPU per request, ${d.connections} connections, mail to a local SMTP sink (counted until it has every mail)`,
      note: '',
    },
    { measurement: 'raw argon2 `verify()` in its own process (CPU per hash)', rps: raw.rps, p50: raw.p50, p99: raw.p99, cpu: raw.cpu },
    d.serverRow('latchkey POST /api/token/ (login)', lg, {
      ratio: `non-hash work ${fmt(nonHash)} µs/req (login − raw verify)`,
      target: 'reference',
    }),
  ];
  for (const r of RESET_ROUTES) {
    const q = s[r.key]!;
    // The measured rounds: compare() runs each target's warm-up before them.
    const dr = drains[r.key]!.slice(-d.rounds);
    const slowest = Math.max(...dr.map((x) => x.seconds));
    const mid = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    if (dr.some((x) => Number.isNaN(x.seconds)))
      d.failures.push(`reset${where} / ${r.key}: mails missing at the sink after ${DRAIN_TIMEOUT_MS / 1000} s`);
    rows.push(
      d.serverRow(`latchkey ${r.label}, user with an email`, q, {
        ratio:
          `${(q.cpu / nonHash).toFixed(2)}× login's non-hash work; medians of its parts: ${fmt(mid(dr.map((x) => x.loadCpu)))} µs while the load ran, ` +
          `${fmt(mid(dr.map((x) => x.drainCpu)))} µs after it (mails reached the sink ≤ ${slowest.toFixed(1)} s after each run)`,
        target: d.check(`${r.key} CPU ≤ login's non-hash CPU${where}`, q.cpu, 'max', Math.round(nonHash), ' µs'),
      }),
    );
  }

  // Mail never on the request's path: a sink that takes 2 s per mail.
  rows.push({
    measurement: `**reset with a slow SMTP server**${where} (DATA answered after ${SLOW_MS / 1000} s), ${SLOW_RATE} req/s for ${SLOW_SECONDS} s`,
    note: '',
  });
  await sink.setDelay(SLOW_MS);
  try {
    for (const r of RESET_ROUTES) {
      const before = await sink.received();
      d.log(`\n== reset with a slow SMTP sink${where}: ${r.key}`);
      const res = await runLoad(postSpec(server.port, r.path, { email: MAIL_ADDRESS }, 2, SLOW_SECONDS, SLOW_RATE), server.child.pid);
      const t = await sink.waitFor(before + res.ok, res.ok * SLOW_MS + 60_000);
      const arrived = (await sink.received()) - before;
      d.log(`  ${res.ok} answered (p99 ${res.p99.toFixed(1)} ms), ${arrived} mails arrived ${t.toFixed(1)} s after the load stopped`);
      if (res.non2xx || res.errors) d.failures.push(`reset slow sink${where} / ${r.key}: ${res.non2xx} non-2xx, ${res.errors} errors`);
      rows.push({
        measurement: `${r.label}: ${res.ok} requests; ${arrived} of ${res.ok} mails at the sink ${Number.isNaN(t) ? '(timed out)' : `${t.toFixed(1)} s after the last answer`}`,
        rps: res.rps,
        p50: res.p50,
        p99: res.p99,
        ratio: `p99 ${(res.p99 / SLOW_MS).toFixed(3)}× the sink's delay`,
        target: `${d.check(`${r.key} p99 with a slow SMTP server < 0.5 s${where}`, res.p99 / 1000, 'max', 0.5, ' s')} · ${d.check(
          `${r.key} mails delivered after the answers${where}`,
          arrived,
          'min',
          res.ok,
          ' mails',
        )}`,
      });
    }
  } finally {
    await sink.setDelay(0);
  }
  return rows;
}
