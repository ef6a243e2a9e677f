// Builds the Fastify application: parsers, the one error handler, the preset
// routes and logging. Tests drive it through inject(); `serve` listens with it.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { ApiError } from '../errors.js';
import type { Preset } from '../presets/types.js';
import type { AuthService } from '../service.js';
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

/** Logs never carry a query string (a token could be pasted there) or a header. */
const stripQuery = (url: string) => {
  const i = url.indexOf('?');
  return i === -1 ? url : url.slice(0, i);
};

export function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.token', '*.refresh'], censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: stripQuery(req.url) }),
    },
  };
}

export interface AppDeps {
  config: Config;
  service: AuthService;
  presets: Preset[];
  /** Logger options, or false for silence (tests); ignored when loggerInstance is given. */
  logger?: FastifyServerOptions['logger'];
  /** A ready pino logger, shared with the rest of the process. */
  loggerInstance?: FastifyBaseLogger;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.loggerInstance
      ? { loggerInstance: deps.loggerInstance }
      : { logger: deps.logger ?? loggerOptions(config.logLevel) }),
    // The onResponse hook below writes the one access line we want.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy ? config.trustProxy.split(',').map((s) => s.trim()) : false,
    requestTimeout: LIMITS.requestTimeoutMs,
    keepAliveTimeout: LIMITS.keepAliveTimeoutMs,
    routerOptions: { maxParamLength: LIMITS.maxParamLength },
    http: { maxHeaderSize: LIMITS.maxHeaderSize },
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: true, useDefaults: false } },
    return503OnClosing: true,
  });
  app.server.headersTimeout = LIMITS.headersTimeoutMs;

  await registerParsers(app, config.bodyLimit);

  app.setErrorHandler((err, req, reply) => {
    const r = renderError(err, req.routeOptions.config?.errors ?? DRF_ERRORS, {
      body: req.body,
      contentType: req.headers['content-type'],
      unexpected: (e) => req.log.error({ err: e }, 'unexpected error'),
    });
    return reply.code(r.status).headers(r.headers).send(r.body);
  });
  app.setNotFoundHandler((_req, reply) => {
    const r = renderError(new ApiError('not_found'), DRF_ERRORS, { unexpected: () => {} });
    return reply.code(r.status).send(r.body);
  });

  // One line per failed request (the security-relevant ones); successes only at debug.
  app.addHook('onResponse', (req, reply, done) => {
    const status = reply.statusCode;
    const level = status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
    if ((req.log as Logger).isLevelEnabled(level)) {
      req.log[level]({ req, status, ms: Math.round(reply.elapsedTime * 10) / 10, ip: req.ip }, 'request');
    }
    done();
  });

  mountPresets(app, deps.presets, deps.service, config.rotateRefreshTokens);
  return app;
}
