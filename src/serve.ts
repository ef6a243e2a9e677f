// Serving: one process, or N worker processes sharing the port (node:cluster).
// The primary migrates and creates the signing key once, keeps the throttling
// counters that all workers share (when there is no Redis), restarts workers
// that die, and on SIGTERM drains every worker before it exits.
import cluster, { type Worker } from 'node:cluster';
import pino from 'pino';
import { RateLimiterClusterMaster } from 'rate-limiter-flexible';
import type { Config } from './config.js';
import { loggerOptions } from './http/app.js';
import { serveClusterMetrics } from './http/health-metrics.js';
import { isHmac } from './keys.js';
import { createLatchkey, createService } from './latchkey.js';
import { requireTokenRoute, selectPresets } from './presets/index.js';
import { sqliteFileOf } from './storage/open.js';
import { hostPrimaryWrites } from './storage/sqlite/primary-writer.js';

const FORCE_EXIT_MS = 10_000;

/**
 * V8 flags that keep a worker's memory in bounds under load (BENCHMARKS.md).
 * - 4 MB semi-spaces instead of up to 16 MB: the young generation was most of
 *   a worker's growth. Scavenges then cost about 1 µs per protected request,
 *   against 0.5 µs at 16 MB and 1.7 µs at 2 MB.
 * - A heap that grows by 25 % of what survives a full collection before the
 *   next one, instead of up to 4×: under rotation the old generation filled
 *   with dead requests to three times the live heap before V8 collected it.
 * - Two V8 helper threads instead of four: each thread that compiles or marks
 *   keeps its own malloc arena. About 5 MB less per process, idle and under
 *   load, at the same CPU per request; one helper saved no more and looked
 *   slower (BENCHMARKS.md, "Idle memory").
 * `npm start` and the `latchkey` command pass these to a single process; the
 * primary passes each to its workers unless the operator already set it (on
 * node's command line, which workers inherit, or in NODE_OPTIONS where node
 * allows it).
 */
export const MEMORY_FLAGS = ['--max-semi-space-size=4', '--heap-growing-percent=25', '--v8-pool-size=2'] as const;

/**
 * glibc's malloc arenas per worker: by default up to eight per core, each
 * keeping what its threads freed. Two hold a worker's few threads (set in its
 * environment, as glibc reads it at start; an operator's own value wins).
 */
const workerEnv = (): NodeJS.ProcessEnv => ({ MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' });

function workerExecArgv(): string[] {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = MEMORY_FLAGS.filter((flag) => !given.some((a) => a.startsWith(flag.split('=')[0]!)));
  return [...process.execArgv, ...missing];
}

/**
 * The first-start warning after latchkey generated a key into the data dir,
 * with advice that holds for the algorithm in use: LATCHKEY_SIGNING_KEY is
 * for HMAC only (with EdDSA, ES256 or RS256 it is a startup error).
 */
export function generatedKeyAdvice(cfg: Pick<Config, 'algorithm'>): string {
  if (isHmac(cfg.algorithm)) {
    return (
      `generated a new ${cfg.algorithm} signing key (a shared secret) in the data dir; in production set LATCHKEY_SIGNING_KEY ` +
      'to a secret of your own (the same on every instance), or keep this file safe and share it'
    );
  }
  return (
    `generated a new ${cfg.algorithm} key pair in the data dir (keys.json); in production keep this file safe and give ` +
    'every instance the same keys: share the data dir, or mount the ring with LATCHKEY_PRIVATE_KEYS_FILE ' +
    '(or one PEM with LATCHKEY_PRIVATE_KEY_PEM_FILE)'
  );
}

function logger(cfg: Config): pino.Logger {
  return pino(loggerOptions(cfg.logLevel) as pino.LoggerOptions);
}

/** Serves in this process until SIGTERM or SIGINT (or, in a worker, until the primary goes away). */
export async function serveProcess(cfg: Config): Promise<void> {
  const log = logger(cfg);
  const worker = cluster.isWorker;
  requireTokenRoute(selectPresets(cfg.presets));
  const lk = await createLatchkey(cfg, {
    loggerInstance: log,
    throttleMode: worker ? 'cluster' : 'local',
    // The primary commits a SQLite file's writes for every worker (servePrimary).
    ...(worker ? { sqliteWrites: 'primary' as const } : {}),
  });
  if (lk.keys.keys.source === 'generated') log.warn({ file: lk.keys.keys.file }, generatedKeyAdvice(cfg));
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason }, 'draining in-flight requests, then closing the database');
    setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    lk.close().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A worker whose primary died (even by SIGKILL) must not linger on the port.
  if (worker) process.on('disconnect', () => stop('primary gone'));
  await lk.app.listen({ host: cfg.host, port: cfg.port });
  // Fastify has no logger of its own here (see buildApp), so its line is ours.
  for (const a of lk.app.addresses()) {
    if (typeof a === 'string') log.info(`Server listening at ${a}`);
    else log.info(`Server listening at http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
  }
  if (!worker) log.info({ presets: cfg.presets, database: cfg.databaseUrl.split(':')[0] }, 'latchkey is serving');
}

/** The cluster primary: prepares once, forks `workers` processes, keeps them alive. */
export async function servePrimary(cfg: Config, workers: number): Promise<void> {
  const log = logger(cfg);
  // Migrate and create the key here, once, so workers never race to do it.
  requireTokenRoute(selectPresets(cfg.presets));
  const prepared = await createService(cfg);
  await prepared.close();
  if (prepared.keys.keys.source === 'generated') log.warn({ file: prepared.keys.keys.file }, generatedKeyAdvice(cfg));
  // Throttling counters live here, shared by every worker over IPC.
  new RateLimiterClusterMaster();
  // So does the one writer of a SQLite file (storage/sqlite/primary-writer.ts).
  const sqliteFile = sqliteFileOf(cfg.databaseUrl);
  const stopWrites = sqliteFile === undefined ? undefined : hostPrimaryWrites(sqliteFile);
  // A scrape of any worker's /metrics reports all workers summed.
  serveClusterMetrics();

  let stopping = false;
  const recentCrashes: number[] = [];
  // 'advanced': structured clone, which keeps what JSON would not (undefined among a write's arguments).
  cluster.setupPrimary({ execArgv: workerExecArgv(), serialization: 'advanced' });
  const fork = (): Worker => {
    const worker = cluster.fork(workerEnv());
    // A message to a worker that is exiting (a throttling answer, a committed
    // write) fails with EPIPE on this Worker: harmless, as the worker and its
    // requests are gone, but unheard it would take the primary down with it.
    worker.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_IPC_CHANNEL_CLOSED')
        log.warn({ err, pid: worker.process.pid }, 'IPC with a worker failed');
    });
    return worker;
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        stopWrites?.();
        log.info('stopped');
        process.exit(0);
      }
      return;
    }
    const now = Date.now();
    recentCrashes.push(now);
    while (recentCrashes.length && recentCrashes[0]! < now - 60_000) recentCrashes.shift();
    const reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
    if (recentCrashes.length > workers * 5) {
      log.fatal({ pid: worker.process.pid, code, signal, reason }, `worker ${worker.process.pid} ${reason}; workers keep dying; giving up`);
      process.exit(1);
    }
    // Why, in words an operator can grep: the signal (SIGBUS when the database
    // files could not be written through their memory map, SIGKILL from the OOM
    // killer...) or the exit code. No request data: a worker's own log has that.
    const replacement = fork();
    log.error(
      { pid: worker.process.pid, code, signal, reason, replacement: replacement.process.pid },
      `worker ${worker.process.pid} ${reason}; started worker ${replacement.process.pid} in its place`,
    );
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => {
      log.error('workers took too long to stop; exiting');
      process.exit(1);
    }, FORCE_EXIT_MS + 1_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) {
      log.info({ presets: cfg.presets, database: cfg.databaseUrl.split(':')[0], workers, port: cfg.port }, 'latchkey is serving');
    }
  });
  for (let i = 0; i < workers; i++) fork();
}
