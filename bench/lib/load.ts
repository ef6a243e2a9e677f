// One measured load run: autocannon (through its API, in this process)
// against one server, with the server's CPU time and RSS read from /proc
// around it. Latencies are kept per response (autocannon's own histogram
// rounds to whole milliseconds, too coarse for sub-millisecond p50s).
import autocannon from 'autocannon';
import { cpuMicros, rssBytes, tree } from './procs.js';

export interface LoadSpec {
  /** Full URL of the first request; `requests` may override method, path, headers and body. */
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.Request[];
  /** Called once per connection (autocannon's setupClient), e.g. to give it its own request chain. */
  setupClient?: (client: autocannon.Client) => void;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Requests per second across all connections (autocannon's overallRate), for latency at a fixed load. */
  overallRate?: number;
}

export interface RunResult {
  /** 2xx responses. */
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  statusCodes: Record<string, number>;
  seconds: number;
  /** 2xx responses per second. */
  rps: number;
  /** Milliseconds, 2xx responses only. */
  p50: number;
  p99: number;
  /** Server CPU (user + system, every process of the server) per 2xx response, µs. */
  cpuUsPerReq: number;
  /** This (load) process's CPU per response, µs: what the load generator itself costs. */
  loadCpuUsPerReq: number;
  /** Largest VmRSS seen per server process during the run, bytes. */
  rssMax: number[];
}

/** Growable store of float latencies. */
class Samples {
  private buf = new Float64Array(1 << 16);
  n = 0;
  push(v: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = v;
  }
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const sorted = this.buf.slice(0, this.n).sort();
    return sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]!;
  }
}

/**
 * autocannon keeps a queue of requests awaiting their response, per
 * connection. When the server closes the connection (gunicorn's sync workers
 * close it after every response) the request already written to the dead
 * socket stays queued, and every later response on the new socket is matched
 * with an older request: its latency is measured from the wrong start, more
 * wrongly after every reconnect. A request written to a dead socket is never
 * answered, so the queue is emptied whenever the client reconnects.
 * (autocannon 9 internals: Client#_connect and Client#pipelinedRequests.)
 */
function forgetLostRequests(client: autocannon.Client): void {
  const c = client as unknown as { _connect?: () => void; pipelinedRequests?: { clear(): void } };
  const connect = c._connect;
  if (typeof connect !== 'function' || typeof c.pipelinedRequests?.clear !== 'function') {
    throw new Error('autocannon internals changed: Client#_connect / #pipelinedRequests are gone; review bench/lib/load.ts');
  }
  c._connect = function (this: typeof c) {
    this.pipelinedRequests!.clear();
    connect.call(this);
  };
}

export async function runLoad(spec: LoadSpec, serverPid: number | undefined): Promise<RunResult> {
  return runLoadOn([spec], serverPid ? [serverPid] : []);
}

/** One autocannon instance; 2xx latencies go to `latencies`. */
function fire(spec: LoadSpec, latencies: Samples): Promise<autocannon.Result> {
  return new Promise<autocannon.Result>((resolve, reject) => {
    const opts: autocannon.Options = {
      url: spec.url,
      connections: spec.connections,
      duration: spec.duration,
      ...(spec.method ? { method: spec.method } : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body !== undefined ? { body: spec.body } : {}),
      ...(spec.requests ? { requests: spec.requests } : {}),
      setupClient: (client: autocannon.Client) => {
        forgetLostRequests(client);
        spec.setupClient?.(client);
      },
      ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    };
    // autocannon calls back with an Error or null (its types say `any`).
    const instance = autocannon(opts, (err: Error | null, res: autocannon.Result) => (err ? reject(err) : resolve(res)));
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

/**
 * Several loads at once, one per spec (e.g. two instances of the server on
 * one database, each with its share of the connections), counted as one run:
 * responses and CPU are summed over every server process in `serverPids`'
 * trees, and the percentiles cover every 2xx response of all of them.
 */
export async function runLoadOn(specs: LoadSpec[], serverPids: number[]): Promise<RunResult> {
  const pids = serverPids.flatMap((p) => tree(p));
  const rssMax = pids.map(() => 0);
  const sample = () => pids.forEach((p, i) => (rssMax[i] = Math.max(rssMax[i]!, rssBytes(p))));
  sample();
  const sampler = setInterval(sample, 200);
  const latencies = new Samples();
  const cpu0 = cpuMicros(pids);
  const load0 = process.cpuUsage();
  let results: autocannon.Result[];
  try {
    results = await Promise.all(specs.map((spec) => fire(spec, latencies)));
  } finally {
    clearInterval(sampler);
  }
  sample();
  const serverCpu = cpuMicros(pids) - cpu0;
  const loadUsage = process.cpuUsage(load0);
  const statusCodes: Record<string, number> = {};
  for (const result of results) {
    for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = (statusCodes[code] ?? 0) + (v.count ?? 0);
  }
  const total = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const ok = results.reduce((a, r) => a + r['2xx'], 0);
  const seconds = Math.max(...results.map((r) => r.duration));
  return {
    ok,
    non2xx: results.reduce((a, r) => a + r.non2xx, 0),
    errors: results.reduce((a, r) => a + r.errors, 0),
    statusCodes,
    seconds,
    rps: ok / seconds,
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    cpuUsPerReq: ok > 0 ? serverCpu / ok : NaN,
    loadCpuUsPerReq: total > 0 ? (loadUsage.user + loadUsage.system) / total : NaN,
    rssMax,
  };
}

export interface BackgroundResult {
  ok: number;
  non2xx: number;
  errors: number;
  rps: number;
  statusCodes: Record<string, number>;
}

/** Load that runs until stopped (the login storm); only its counts are kept. */
export function startBackground(spec: Omit<LoadSpec, 'duration'>): { stop(): Promise<BackgroundResult> } {
  let instance: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: 3600,
        ...(spec.method ? { method: spec.method } : {}),
        ...(spec.headers ? { headers: spec.headers } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
      },
      (err: Error | null, res: autocannon.Result) => (err ? reject(err) : resolve(res)),
    );
  });
  return {
    async stop() {
      instance.stop();
      const r = await done;
      const statusCodes: Record<string, number> = {};
      for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count ?? 0;
      return { ok: r['2xx'], non2xx: r.non2xx, errors: r.errors, rps: r['2xx'] / r.duration, statusCodes };
    },
  };
}
