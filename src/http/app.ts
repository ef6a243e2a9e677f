// Builds the Fastify application: parsers, the one error handler, the preset
// routes and logging. Tests drive it through inject(); `serve` listens with it.
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RouteHandlerMethod,
} from 'fastify';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pino, type Logger, type LoggerOptions } from 'pino';
import type { Config } from '../config.js';
import type { KeySource } from '../jwt.js';
import { jwks, JWKS_MAX_AGE } from '../keys.js';
import { ApiError } from '../errors.js';
import type { Preset } from '../presets/types.js';
import type { AuthService } from '../service.js';
import { registerRefreshCookie } from './cookies.js';
import { registerCors } from './cors.js';
import { registerDocs } from './docs.js';
import { FastLane } from './fast-lane.js';
import { RequestMeter } from './meter.js';
import { OPS_ROUTES, registerOps, type OpsDeps } from './health-metrics.js';
import { registerInputChecks } from './input.js';
import { documented } from './openapi.js';
import { registerParsers } from './parsers.js';
import { renderError, type RouteErrorConfig } from './render.js';
import { mountPresets } from './routes.js';

const DRF_ERRORS: RouteErrorConfig = { envelope: 'detail' };

/** Limits on what a client may send, and how slowly. */
export const LIMITS = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  maxParamLength: 200,
} as const;

/**
 * Logs never carry a query string or a header, and a path segment longer than
 * any route's (a token pasted into the URL) is replaced: the path is kept only
 * up to the query, with such segments redacted.
 */
const LONG_SEGMENT = /[^/]{33,}/g;
const stripQuery = (url: string) => {
  const i = url.indexOf('?');
  const path = i === -1 ? url : url.slice(0, i);
  return path.length > 32 ? path.replace(LONG_SEGMENT, '[redacted]') : path;
};

/**
 * What a log line says of a request: its method and its path, as stripQuery
 * leaves it. Built here rather than left to a serializer, so that a logger
 * passed in without latchkey's serializers cannot write a header either.
 */
const requestLine = (req: { method: string; url: string }) => ({ method: req.method, url: stripQuery(req.url) });

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.refresh'], censor: '[redacted]' },
    serializers: {
      req: requestLine,
    },
  };
}

/**
 * Errors below HTTP (headers too large, a malformed request line, a timeout):
 * answered on the raw socket, in DRF's shape, and the socket closed.
 */
function drfClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request timed out.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request header fields too large.']
        : [400, 'Bad request.'];
  if (socket.writable) {
    const body = JSON.stringify({ detail });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const HEADER_DEADLINE = Symbol('latchkey.headerDeadline');
type Deadlined = Duplex & { [HEADER_DEADLINE]?: NodeJS.Timeout };

/**
 * Slowloris: a new connection must finish its first request's headers within
 * headersTimeoutMs, or it is answered 408 and closed. Node's own headersTimeout
 * is only enforced when more bytes arrive (measured here: a client dripping a
 * header a second was cut two seconds late, a silent one never). Later requests
 * on a kept-alive connection are bounded by keepAliveTimeout and Node's check.
 */
function cutSlowHeaders(app: FastifyInstance): void {
  app.server.on('connection', (socket: Deadlined) => {
    const timer = setTimeout(() => {
      drfClientError(Object.assign(new Error('headers timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    }, LIMITS.headersTimeoutMs);
    timer.unref();
    socket[HEADER_DEADLINE] = timer;
    socket.once('close', () => clearTimeout(timer));
  });
}

/** A request's headers have all arrived: its connection's first-headers deadline is met (run by the server, see buildApp). */
function headersArrived(req: IncomingMessage): void {
  const socket = req.socket as Deadlined;
  const timer = socket[HEADER_DEADLINE];
  if (timer) {
    clearTimeout(timer);
    socket[HEADER_DEADLINE] = undefined;
  }
}

/** Seconds a client is told to wait before retrying a request refused while this instance shuts down. */
export const SHUTDOWN_RETRY_AFTER = 1;

/**
 * Shutdown: once the app starts closing, a request that still arrives (on a
 * kept-alive connection, or pipelined) is answered 503 with Retry-After and
 * Connection: close, in the envelope of the preset its path belongs to (DRF's
 * {"detail": ...} otherwise), without running any of the app. The client
 * retries on another instance, or on this one once it is back.
 */
function drainGate() {
  const envelopes = new Map<string, RouteErrorConfig>();
  const answers = new Map<RouteErrorConfig, { body: string; headers: Record<string, string> }>();
  const answerFor = (route: RouteErrorConfig) => {
    let a = answers.get(route);
    if (a === undefined) {
      const r = renderError(new ApiError('service_unavailable', undefined, { retryAfter: SHUTDOWN_RETRY_AFTER }), route, {
        unexpected: () => {},
      });
      const body = JSON.stringify(r.body);
      a = {
        body,
        headers: {
          ...r.headers,
          'content-type': 'application/json; charset=utf-8',
          'content-length': String(Buffer.byteLength(body)),
          connection: 'close',
        },
      };
      answers.set(route, a);
    }
    return a;
  };
  const gate = {
    closing: false,
    /** Remembers which error envelope a route's path answers in (static paths; others get DRF's). */
    learn(url: string, errors: RouteErrorConfig | undefined) {
      if (errors && !envelopes.has(url)) envelopes.set(url, errors);
    },
    wrap(handler: (req: IncomingMessage, res: ServerResponse) => void) {
      return (req: IncomingMessage, res: ServerResponse): void => {
        if (!gate.closing) return handler(req, res);
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        const a = answerFor(envelopes.get(q < 0 ? url : url.slice(0, q)) ?? DRF_ERRORS);
        res.writeHead(503, a.headers);
        res.end(a.body);
      };
    },
  };
  return gate;
}

/** The app's logger: the one given, or a new pino logger at the configured level (silent for `logger: false`). */
export function appLogger(deps: Pick<AppDeps, 'config' | 'logger' | 'loggerInstance'>): FastifyBaseLogger {
  if (deps.loggerInstance) return deps.loggerInstance;
  return pino(deps.logger === false ? { level: 'silent' } : loggerOptions(deps.config.logLevel));
}

export interface AppDeps {
  config: Config;
  service: AuthService;
  presets: Preset[];
  /** false for silence (tests); ignored when loggerInstance is given. */
  logger?: false;
  /** A ready pino logger, shared with the rest of the process. */
  loggerInstance?: FastifyBaseLogger;
  /** The signing keys, whose public halves /.well-known/jwks.json publishes. */
  keys: KeySource;
  /** What /healthz, /readyz and /metrics report on. */
  ops: OpsDeps;
  /** false: no fast lane (see fast-lane.ts), every request goes through Fastify; tests compare the two. */
  fastLane?: boolean;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const log = appLogger(deps);
  const meter = new RequestMeter(OPS_ROUTES);
  const gate = drainGate();
  // Only when the app runs no per-request hook of its own: CORS, and the debug
  // log of successes (a logger passed in as loggerInstance need not have isLevelEnabled).
  const debug = (log as Partial<Logger>).isLevelEnabled?.('debug') ?? false;
  const fastLane = new FastLane(deps.service, deps.fastLane !== false && config.corsOrigins.length === 0 && !debug);
  const app = Fastify({
    // Fastify has no logger of its own: the app logs through `log` directly.
    // With one, Fastify would give every request a child logger and every
    // response 'finish' and 'error' listeners, which measured as the largest
    // cost on the protected GET. Nor does it log each request: a failed one
    // gets a line from the error handler below, a success none (debug aside).
    logger: false,
    // The server Fastify would make, whose requests the meter counts for
    // /metrics (see meter.ts), and which meets each connection's first-headers
    // deadline (see cutSlowHeaders).
    // Requests that arrive while the app closes are answered there too, before
    // Fastify sees them (see drainGate).
    // The fast lane answers the plain success of a constant GET before Fastify (see fast-lane.ts).
    serverFactory: (handler, opts) => meter.serverFactory(headersArrived)(gate.wrap(fastLane.wrap(handler)), opts),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy ? config.trustProxy.split(',').map((s) => s.trim()) : false,
    requestTimeout: LIMITS.requestTimeoutMs,
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    routerOptions: { maxParamLength: LIMITS.maxParamLength },
    // Node checks requestTimeout only every connectionsCheckingInterval (30 s by
    // default): check twice a second. (Headers: see cutSlowHeaders.)
    http: { maxHeaderSize: LIMITS.maxHeaderSize, connectionsCheckingInterval: 500 },
    clientErrorHandler: drfClientError,
    // Fastify's own request errors (a malformed URL, say) in DRF's shape too.
    frameworkErrors: (err, req, reply) => {
      const r = renderError(err, DRF_ERRORS, { unexpected: () => {} });
      log.info({ reqId: req.id, status: r.status, code: err.code }, 'request failed');
      RequestMeter.mark(req.raw, meter.route(undefined));
      void (reply as FastifyReply).code(r.status).headers(r.headers).send(r.body);
    },
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: true, useDefaults: false } },
    // Not Fastify's own 503 body: drainGate answers in the route's envelope, with Retry-After.
    return503OnClosing: false,
  });
  fastLane.attach(app);
  app.addHook('preClose', (done) => {
    gate.closing = true;
    done();
  });
  app.server.headersTimeout = LIMITS.headersTimeoutMs;
  cutSlowHeaders(app);

  await registerParsers(app, config.bodyLimit);
  // Both off by default, when they register nothing (see cors.ts, cookies.ts).
  await registerCors(app, config);
  await registerRefreshCookie(app, config, deps.presets);
  // NUL, lone surrogates: refused in every body schema mounted below (see input.ts).
  registerInputChecks(app);

  /** One line per failed request, the security-relevant ones: no body, no headers, no query. */
  const logFailure = (req: FastifyRequest, status: number) => {
    log[status >= 500 ? 'error' : 'info']({ reqId: req.id, req: requestLine(req), status, ip: req.ip }, 'request failed');
  };
  app.setErrorHandler((err, req, reply) => {
    const r = renderError(err, req.routeOptions.config?.errors ?? DRF_ERRORS, {
      body: req.body,
      contentType: req.headers['content-type'],
      unexpected: (e) => log.error({ reqId: req.id, err: e }, 'unexpected error'),
    });
    logFailure(req, r.status);
    // Counted under its route even when the handler never ran (a 401 before the body, a 400 for the body).
    RequestMeter.mark(req.raw, meter.route(req.routeOptions.url));
    return reply.code(r.status).headers(r.headers).send(r.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const r = renderError(new ApiError('not_found'), DRF_ERRORS, { unexpected: () => {} });
    logFailure(req, r.status);
    RequestMeter.mark(req.raw, meter.route(undefined));
    return reply.code(r.status).send(r.body);
  });
  // Successes are logged only at debug or trace: the hook is not even
  // registered otherwise, so the hot path pays nothing for it.
  if (debug) {
    app.addHook('onResponse', async (req, reply) => {
      if (reply.statusCode < 400) {
        log.debug(
          { reqId: req.id, req: requestLine(req), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
          'request',
        );
      }
    });
  }

  // Every route's handler names the route its requests are counted under,
  // before any work: the meter knows nothing of Fastify's routes.
  app.addHook('onRoute', (route) => {
    gate.learn(route.url, (route.config as { errors?: RouteErrorConfig } | undefined)?.errors);
    const metered = meter.route(route.url);
    fastLane.route(route, metered);
    if (!metered) return;
    const handler = route.handler as (this: FastifyInstance, ...a: Parameters<RouteHandlerMethod>) => unknown;
    route.handler = function (req, reply) {
      RequestMeter.mark(req.raw, metered);
      return handler.call(this, req, reply);
    } as RouteHandlerMethod;
  });

  // The schema and docs page first, so that they see every route after them.
  await registerDocs(app, deps.presets);
  await registerOps(app, deps.ops, { meter, log });
  // Public keys for other services to verify tokens without calling latchkey.
  // HMAC keys are secrets and never appear here (the list is then empty).
  app.get('/.well-known/jwks.json', documented('/.well-known/jwks.json'), async (_req, reply) =>
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE}`).send(jwks(deps.keys.keys)),
  );
  mountPresets(app, deps.presets, deps.service, {
    rotate: config.rotateRefreshTokens,
    authHeaderTypes: config.authHeaderTypes,
    sendActivationEmail: config.sendActivationEmail,
    constantGet: (handler, types) => fastLane.candidate(handler, types),
  });
  return app;
}
