// Operations endpoints: GET /healthz (liveness), GET /readyz (can this instance
// serve: its database; Redis, which has a fallback, only makes it "degraded"),
// GET /metrics (Prometheus, through prom-client).
//
// Every app has its own Registry (tests build many apps in one process, and the
// global default registry would refuse the second set of metric names). Requests
// are counted once each as they finish (by the app's RequestMeter, see meter.ts,
// or else an onResponse hook), keyed by the matched route pattern, never the raw
// URL, so the number of series stays bounded. The three ops routes are
// not counted themselves: probes and scrapes every few seconds would drown the
// API traffic in the request metrics, and they are visible to whoever polls them.
import cluster, { type Worker } from 'node:cluster';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { AuthEvent } from '../service.js';
import { RequestMeter, type Series } from './meter.js';
import { documented } from './openapi.js';

export interface OpsDeps {
  /** Throws if the database cannot be reached. */
  pingDatabase: () => Promise<void>;
  /** Throws if Redis is configured and cannot be reached; undefined when there is no Redis. */
  pingRedis?: (() => Promise<void>) | undefined;
  /** Password hashes waiting or running. */
  hashQueueDepth: () => number;
  /** Subscribes to the service's events (logins, refreshes, reuse detections). */
  onAuthEvent: (listener: (event: AuthEvent) => void) => void;
  /**
   * This process is a worker of `serve --workers N` whose primary called
   * serveClusterMetrics(): /metrics then answers with every worker's metrics
   * summed, as one scrape target, instead of whichever worker took the request.
   */
  clusterWorker?: boolean;
}

/** How long readyz waits for each dependency before calling it unreachable. */
export const PING_TIMEOUT_MS = 1000;
/** How long a worker's /metrics waits for the primary to gather every worker's metrics. */
export const CLUSTER_METRICS_TIMEOUT_MS = 3000;

/** Seconds. An auth server answers most requests in well under a millisecond; a login hashes for tens to hundreds. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Not counted in the request metrics. */
export const OPS_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
const NO_STORE = 'no-store';

/**
 * The request-duration histogram. prom-client's Histogram#observe builds, checks
 * and hashes the label set on every call (0.6 µs in a loop, more than the rest
 * of the request accounting together); here a series is an array of bucket
 * counts found once per route, so an observation is a search over a
 * dozen bounds and two additions. prom-client's Registry renders it (and
 * AggregatorRegistry sums it across workers) through the same get() shape as
 * its own histograms.
 */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Record<string, string>; buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  /** The series of one label set (the same one each time it is asked for). */
  labels(labels: Record<string, string>): { observe(seconds: number): void } {
    const bounds = this.bounds;
    const key = JSON.stringify(Object.entries(labels).sort());
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = { labels, buckets: new Float64Array(bounds.length), sum: 0, count: 0 }));
    const series = s;
    return {
      observe(seconds) {
        let i = 0;
        while (i < bounds.length && seconds > bounds[i]!) i++;
        if (i < bounds.length) series.buckets[i]!++;
        series.sum += seconds;
        series.count++;
      },
    };
  }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, buckets, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += buckets[i]!;
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { ...labels, le: '+Inf' }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, values, aggregator });
  }

  /** Registry#resetMetrics. */
  reset(): void {
    for (const s of this.series.values()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

export interface OpsMetrics {
  register: Registry;
}

export interface OpsOptions {
  /** The app's RequestMeter, which then counts the requests; without one (an app built elsewhere) an onResponse hook does. */
  meter?: RequestMeter;
  /** Where the ops endpoints log (default: the app's logger). */
  log?: FastifyBaseLogger;
}

export async function registerOps(app: FastifyInstance, deps: OpsDeps, o: OpsOptions = {}): Promise<OpsMetrics> {
  const log = o.log ?? app.log;
  const register = new Registry();
  collectDefaultMetrics({ register });

  let requestsCollect = () => {};
  const requests = new Counter({
    name: 'latchkey_http_requests_total',
    help: 'HTTP requests answered, by matched route pattern ("unmatched" for none), method and status (the ops endpoints are not counted)',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [register],
    collect: () => requestsCollect(),
  });
  const duration = new LatencyHistogram(
    'latchkey_http_request_duration_seconds',
    'Time from receiving a request to finishing its response, by matched route pattern and method',
    LATENCY_BUCKETS,
  );
  register.registerMetric(duration as unknown as Metric);
  const logins = new Counter({
    name: 'latchkey_logins_total',
    help: 'Login attempts by result: succeeded, failed (bad credentials) or throttled',
    labelNames: ['result'] as const,
    registers: [register],
  });
  const refreshes = new Counter({
    name: 'latchkey_refreshes_total',
    help: 'Refresh tokens exchanged successfully',
    registers: [register],
  });
  const reuse = new Counter({
    name: 'latchkey_refresh_reuse_detected_total',
    help: 'Rotated-out refresh tokens presented again (their family was revoked)',
    registers: [register],
  });
  new Gauge({
    name: 'latchkey_hash_queue_depth',
    help: 'Password hashes waiting or running',
    registers: [register],
    collect() {
      this.set(deps.hashQueueDepth());
    },
  });
  // Every result from the start, so a rate over a fresh process is 0, not absent.
  for (const result of ['succeeded', 'failed', 'throttled'] as const) logins.inc({ result }, 0);

  const succeeded = logins.labels('succeeded');
  const failed = logins.labels('failed');
  const throttled = logins.labels('throttled');
  deps.onAuthEvent((event) => {
    switch (event) {
      case 'login_succeeded':
        return succeeded.inc();
      case 'login_failed':
        return failed.inc();
      case 'login_throttled':
        return throttled.inc();
      case 'refresh':
        return refreshes.inc();
      case 'reuse_detected':
        return reuse.inc();
    }
  });

  // The hot path: the meter finds a request's series by route, method and
  // status. The request count is a plain number, handed to prom-client when
  // scraped; the latency goes straight into the histogram.
  const all: Series[] = [];
  const meter = o.meter ?? new RequestMeter(OPS_ROUTES);
  meter.newSeries = (route, method, status) => {
    const s: Series = {
      count: 0,
      requests: requests.labels(route, method, String(status)),
      duration: duration.labels({ route, method }),
    };
    all.push(s);
    return s;
  };
  requestsCollect = () => {
    for (const s of all) {
      if (s.count !== 0) {
        s.requests.inc(s.count);
        s.count = 0;
      }
    }
  };
  if (!o.meter) {
    app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const route = meter.route(req.routeOptions.url);
      if (route) meter.record(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  app.get('/healthz', documented('/healthz'), async (_req, reply) => reply.header('cache-control', NO_STORE).send({ status: 'ok' }));

  // Readiness: 503 only when this instance cannot serve, that is when its
  // database is unreachable. Redis holds the shared throttling counters; while
  // it is unreachable every instance limits with its own counters (throttle.ts),
  // so requests are still served: 200, "degraded", and the fallback named. A
  // load balancer that checks /readyz then keeps every instance through a
  // Redis outage. The result of each check is also a gauge on /metrics.
  const checked = async () => {
    const [database, redis] = await Promise.all([
      check(deps.pingDatabase),
      deps.pingRedis ? check(deps.pingRedis) : Promise.resolve('not configured' as const),
    ]);
    const status: 'ok' | 'degraded' | 'unavailable' = database !== 'ok' ? 'unavailable' : redis === 'unreachable' ? 'degraded' : 'ok';
    return { status, database, redis };
  };
  // One round of checks per scrape, shared by both gauges (the first one collected starts it).
  let scrape: ReturnType<typeof checked> | undefined;
  new Gauge({
    name: 'latchkey_dependency_up',
    help: 'Whether a dependency answered its check at this scrape (1) or not (0): database (required) and redis (optional, with a fallback; absent when not configured)',
    labelNames: ['dependency'] as const,
    registers: [register],
    aggregator: 'min', // across the workers of serve --workers N: down if any worker finds it down
    async collect() {
      const r = await (scrape = checked());
      this.set({ dependency: 'database' }, r.database === 'ok' ? 1 : 0);
      if (r.redis !== 'not configured') this.set({ dependency: 'redis' }, r.redis === 'ok' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'latchkey_ready',
    help: 'Readiness as /readyz reports it: 1 ok, 0.5 degraded (serving with a fallback), 0 unavailable',
    registers: [register],
    aggregator: 'min',
    async collect() {
      const r = await (scrape ?? checked());
      scrape = undefined;
      this.set(r.status === 'ok' ? 1 : r.status === 'degraded' ? 0.5 : 0);
    },
  });

  let wasStatus: string = 'ok';
  app.get('/readyz', documented('/readyz'), async (req, reply) => {
    const { status, database, redis } = await checked();
    // One line when readiness changes, not one per probe through an outage.
    if (status !== wasStatus) {
      wasStatus = status;
      if (status === 'ok') log.info({ reqId: req.id, database, redis }, 'ready again');
      else if (status === 'degraded')
        log.warn({ reqId: req.id, database, redis }, 'degraded: Redis is unreachable; throttling with per-instance counters');
      else log.warn({ reqId: req.id, database, redis }, 'not ready');
    }
    return reply
      .code(status === 'unavailable' ? 503 : 200)
      .header('cache-control', NO_STORE)
      .send({
        status,
        database,
        redis,
        ...(status === 'degraded' ? { fallback: { redis: 'throttling counters kept by each instance' } } : {}),
      });
  });

  const gather = deps.clusterWorker && cluster.isWorker ? clusterGatherer(app, register) : undefined;
  app.get('/metrics', documented('/metrics'), async (req, reply) => {
    reply.header('cache-control', NO_STORE);
    if (gather) {
      try {
        return reply.type(register.contentType).send(await gather());
      } catch (err) {
        log.warn({ reqId: req.id, err: (err as Error).message }, "could not gather the workers' metrics");
        return reply.code(503).type('text/plain; charset=utf-8').send('metrics unavailable: the workers did not answer in time\n');
      }
    }
    return reply.type(register.contentType).send(await register.metrics());
  });

  return { register };
}

/** Runs a ping with a deadline: "ok", or "unreachable" if it throws or takes too long. */
async function check(ping: () => Promise<void>): Promise<'ok' | 'unreachable'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), PING_TIMEOUT_MS);
  });
  try {
    await Promise.race([Promise.resolve().then(ping), deadline]);
    return 'ok';
  } catch {
    return 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

// ---- serve --workers N: one scrape target for all workers ----------------
//
// A scrape lands on whichever worker accepts the connection; alone, each would
// report its own counts and the counters would jump up and down between
// scrapes. Instead the worker asks the primary, the primary asks every worker
// for its registry as JSON, sums them (prom-client's AggregatorRegistry.aggregate)
// and sends the text back. Our own messages, not prom-client's cluster
// listeners, whose primary side throws on a late answer.

const READY = 'latchkey:metrics:ready'; // worker → primary: I answer COLLECT from now on
const GATHER = 'latchkey:metrics:gather'; // worker → primary: a scrape arrived
const GATHERED = 'latchkey:metrics:gathered'; // primary → worker: the summed text (or an error)
const COLLECT = 'latchkey:metrics:collect'; // primary → every worker: send your registry
const COLLECTED = 'latchkey:metrics:collected'; // worker → primary: here it is

interface OpsMessage {
  type: string;
  id: number;
  text?: string;
  error?: string;
  metrics?: object[];
}
const isOps = (m: unknown): m is OpsMessage =>
  typeof m === 'object' &&
  m !== null &&
  typeof (m as OpsMessage).type === 'string' &&
  (m as OpsMessage).type.startsWith('latchkey:metrics:');

/** In a worker: answers the primary's collection requests, and returns the function /metrics calls. */
function clusterGatherer(app: FastifyInstance, register: Registry): () => Promise<string> {
  let next = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  const onMessage = (m: unknown) => {
    if (!isOps(m)) return;
    if (m.type === COLLECT) {
      register.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: COLLECTED, id: m.id, metrics }),
        (err: Error) => process.send?.({ type: COLLECTED, id: m.id, error: err.message }),
      );
    } else if (m.type === GATHERED) {
      const p = pending.get(m.id);
      if (!p) return; // answered after we gave up
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined || m.text === undefined) p.reject(new Error(m.error ?? 'no metrics'));
      else p.resolve(m.text);
    }
  };
  process.on('message', onMessage);
  // Before this, the worker has served nothing, and a COLLECT sent to it would go unanswered.
  process.send?.({ type: READY, id: 0 });
  app.addHook('onClose', async () => {
    process.off('message', onMessage);
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error('closing'));
    }
    pending.clear();
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('timed out'));
      }, CLUSTER_METRICS_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      process.send?.({ type: GATHER, id });
    });
}

/**
 * In the primary of `serve --workers N`: gathers and sums every worker's
 * metrics when one of them is scraped. Call once, before forking.
 */
export function serveClusterMetrics(): void {
  let next = 0;
  // One collection round per scrape; a round waits for every worker ready when it began.
  const rounds = new Map<number, { parts: object[][]; waiting: Set<number>; finish: (err?: Error) => void }>();
  // Workers whose metrics listener is up: a worker still starting is not waited for.
  const ready = new Set<number>();
  cluster.on('message', (worker, m: unknown) => {
    if (!isOps(m)) return;
    if (m.type === READY) {
      ready.add(worker.id);
    } else if (m.type === GATHER) {
      const id = next++;
      const requester = worker;
      const reply = (msg: Partial<OpsMessage>) => {
        if (requester.isConnected()) requester.send({ type: GATHERED, id: m.id, ...msg });
      };
      const workers = Object.values(cluster.workers ?? {}).filter(
        (w): w is Worker => w !== undefined && ready.has(w.id) && w.isConnected(),
      );
      const round = {
        parts: [] as object[][],
        waiting: new Set(workers.map((w) => w.id)),
        finish: (err?: Error) => {
          clearTimeout(timer);
          rounds.delete(id);
          if (err) return reply({ error: err.message });
          AggregatorRegistry.aggregate(round.parts)
            .metrics()
            .then(
              (text) => reply({ text }),
              (e: Error) => reply({ error: e.message }),
            );
        },
      };
      const timer = setTimeout(() => round.finish(new Error('a worker did not answer')), CLUSTER_METRICS_TIMEOUT_MS - 500);
      rounds.set(id, round);
      for (const w of workers) w.send({ type: COLLECT, id });
      if (workers.length === 0) round.finish();
    } else if (m.type === COLLECTED) {
      const round = rounds.get(m.id);
      if (!round || !round.waiting.delete(worker.id)) return; // late or duplicate
      if (m.error !== undefined) return round.finish(new Error(m.error));
      round.parts.push(m.metrics ?? []);
      if (round.waiting.size === 0) round.finish();
    }
  });
  // A worker that dies mid-round is not waited for.
  cluster.on('exit', (worker) => {
    ready.delete(worker.id);
    for (const round of rounds.values()) {
      if (round.waiting.delete(worker.id) && round.waiting.size === 0) round.finish();
    }
  });
}
