// CORS for pages on other origins (LATCHKEY_CORS_ORIGINS), by @fastify/cors.
// Off by default: nothing is registered, and no answer carries Access-Control-*.
//
// Every path latchkey serves answers a plain OPTIONS with DRF's metadata
// (routes.ts). Only a real preflight (OPTIONS with Origin and
// Access-Control-Request-Method) from a listed origin is answered by CORS;
// any other OPTIONS, and a preflight from an unlisted origin, reaches DRF's
// answer, which carries no Access-Control-Allow-Origin, so the browser refuses.
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';

/** The header a client may send besides the simple ones. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept'] as const;
/** Headers a page's script may read: when to retry, and why a token was refused. */
export const CORS_EXPOSED_HEADERS = ['Retry-After', 'WWW-Authenticate'] as const;

export async function registerCors(app: FastifyInstance, config: Config): Promise<void> {
  const origins = config.corsOrigins;
  if (origins.length === 0) return;
  const any = origins.includes('*');
  const options: FastifyCorsOptions = {
    origin: any ? '*' : [...origins],
    // Credentials (the refresh cookie) only with a list: browsers refuse them with `*`.
    credentials: !any,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: [...CORS_ALLOWED_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: config.corsMaxAge,
    strictPreflight: true,
  };
  const listed = new Set(origins);
  const off: FastifyCorsOptions = { origin: false };
  await app.register(cors, {
    // Per request: a plain OPTIONS, or a preflight from an unlisted origin, is
    // left to the route (DRF's OPTIONS answer), without CORS headers.
    delegator: (req: FastifyRequest, cb: (err: Error | null, o: FastifyCorsOptions) => void) => {
      if (req.method !== 'OPTIONS') return cb(null, options);
      const origin = req.headers.origin;
      const preflight = origin !== undefined && req.headers['access-control-request-method'] !== undefined;
      cb(null, preflight && (any || listed.has(origin)) ? options : off);
    },
  });
}
