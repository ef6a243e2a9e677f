// Counts and times each answered request for /metrics, at the HTTP server
// rather than through Fastify's logger or an onResponse hook.
//
// Either of those makes Fastify put a 'finish' and an 'error' listener on every
// response, and a logger also gives every request a child logger. Measured on
// the protected GET, that was the largest cost latchkey added to a bare Fastify
// route. Instead the app's server (Fastify's `serverFactory`) hands each
// request to Fastify through RequestMeter.listener(). A response that Fastify
// ended synchronously (a GET whose caller is cached) is counted on the spot,
// with no listener at all; any other response waits for its 'finish' event.
//
// The meter learns a request's route pattern from the route's handler (see
// RequestMeter.mark), so that series are keyed by pattern, never by raw URL,
// and their number stays bounded. A request that no handler marks is not
// counted: the ops endpoints, which are not meant to be (see ops.ts), and
// anything Fastify answers by itself (the 503s while the server closes).
// Requests sent with app.inject() never reach the server, so they are not
// counted either.
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
// Not the global `performance`, which Node defines as a getter run on every use.
import { performance } from 'node:perf_hooks';
import type { FastifyServerOptions } from 'fastify';

/** One series: requests by route, method and status, with their latency. */
export interface Series {
  /** Requests since the last scrape, not yet added to the prom-client counter. */
  count: number;
  requests: { inc(value?: number): void };
  duration: { observe(seconds: number): void };
}

/** A route pattern's series, by method and status. */
export interface MeteredRoute {
  readonly url: string;
  readonly byMethod: Map<string, Map<number, Series>>;
}

const ROUTE = Symbol('latchkey.meteredRoute');
type Metered = IncomingMessage & { [ROUTE]?: MeteredRoute | undefined };

/** The route pattern of a request that matched none. */
const UNMATCHED = 'unmatched';

export class RequestMeter {
  /** Makes the prom-client series for a route, method and status; set by registerOps. */
  newSeries: ((route: string, method: string, status: number) => Series) | undefined;
  private readonly routes = new Map<string, MeteredRoute>();

  constructor(private readonly uncounted: ReadonlySet<string>) {}

  /** The series of a route pattern (undefined: no route matched); undefined for a route that is not counted. */
  route(url: string | undefined): MeteredRoute | undefined {
    const key = url ?? UNMATCHED;
    if (url !== undefined && this.uncounted.has(url)) return undefined;
    let r = this.routes.get(key);
    if (r === undefined) this.routes.set(key, (r = { url: key, byMethod: new Map() }));
    return r;
  }

  /** Names the route a request is counted under (undefined: not counted). */
  static mark(req: IncomingMessage, route: MeteredRoute | undefined): void {
    (req as Metered)[ROUTE] = route;
  }

  /**
   * Fastify's request listener, wrapped so that every answered request is
   * counted once. `first` runs before Fastify sees the request.
   */
  private listener(
    handle: (req: IncomingMessage, res: ServerResponse) => void,
    first: (req: IncomingMessage) => void,
  ): (req: IncomingMessage, res: ServerResponse) => void {
    return (req: IncomingMessage, res: ServerResponse) => {
      first(req);
      const start = performance.now();
      handle(req, res);
      if (res.writableEnded) this.done(req as Metered, res, start);
      else res.once('finish', () => this.done(req as Metered, res, start));
    };
  }

  /** Counts a request whose response has ended. */
  private done(req: Metered, res: ServerResponse, start: number): void {
    const route = req[ROUTE];
    if (route !== undefined) this.record(route, req.method ?? '', res.statusCode, (performance.now() - start) / 1000);
  }

  /** Counts one request: its route, method, status and time from arrival to response, in seconds. */
  record(route: MeteredRoute, method: string, status: number, seconds: number): void {
    if (this.newSeries === undefined) return;
    let statuses = route.byMethod.get(method);
    if (statuses === undefined) route.byMethod.set(method, (statuses = new Map<number, Series>()));
    let s = statuses.get(status);
    if (s === undefined) statuses.set(status, (s = this.newSeries(route.url, method, status)));
    s.count++;
    s.duration.observe(seconds);
  }

  /**
   * Fastify's `serverFactory`: the HTTP server Fastify would make itself, with
   * the same options and timeouts, whose requests go through listener().
   * `first` runs for each request before Fastify sees it.
   */
  serverFactory(first: (req: IncomingMessage) => void) {
    return (
      handler: (req: IncomingMessage, res: ServerResponse) => void,
      opts: FastifyServerOptions & { http?: ServerOptions },
    ): Server => {
      const server = createServer(opts.http ?? {}, this.listener(handler, first));
      // As Fastify's own getServerInstance sets them.
      if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
      if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
      if (opts.connectionTimeout !== undefined) server.setTimeout(opts.connectionTimeout);
      if (opts.maxRequestsPerSocket !== undefined && opts.maxRequestsPerSocket > 0) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
      return server;
    };
  }
}
