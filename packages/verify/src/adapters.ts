// Thin adapters: each reads the Authorization header, calls
// verifier.authenticate, and either attaches the claims or answers with the
// VerifyError's status, body and headers, unchanged. None of them imports a
// framework at runtime; Fastify's types are types only, and Express is
// described structurally, so neither framework needs to be installed to load
// this module.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Claims } from './claims.js';
import { VerifyError } from './errors.js';
import type { Verifier } from './verifier.js';

/** Required authentication: no Bearer credentials is a 401, as on a DRF IsAuthenticated route. */
async function required<I extends number | string>(verifier: Verifier<I>, authorization: string | null | undefined): Promise<Claims<I>> {
  const claims = await verifier.authenticate(authorization);
  if (claims === undefined) throw VerifyError.notAuthenticated();
  return claims;
}

// ---- Fastify ------------------------------------------------------------------

/** A Fastify request after fastifyAuth: `user` holds the access token's claims. */
export type AuthenticatedFastifyRequest<I extends number | string = number> = FastifyRequest & { user: Claims<I> };

/**
 * An onRequest or preHandler hook. On success it sets `request.user` to the
 * claims; otherwise it sends the DRF 401 (or the 503 when the JWKS cannot be
 * fetched) and the route handler does not run.
 *
 *   app.addHook('onRequest', fastifyAuth(verifier));                // every route
 *   app.get('/me', { onRequest: fastifyAuth(verifier) }, handler);  // one route
 *
 * For speed, `app.decorateRequest('user', null)` first lets Fastify keep one request shape.
 */
export function fastifyAuth<I extends number | string>(verifier: Verifier<I>) {
  return async function latchkeyAuth(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    try {
      (request as AuthenticatedFastifyRequest<I>).user = await required(verifier, request.headers.authorization);
      return undefined;
    } catch (err) {
      if (!(err instanceof VerifyError)) throw err;
      return reply.code(err.status).headers(err.headers).send(err.body);
    }
  };
}

// ---- Express ------------------------------------------------------------------

/** What expressAuth uses of Express's request (Express 4 and 5 both fit). */
export interface ExpressLikeRequest {
  headers: { authorization?: string | undefined };
  user?: unknown;
}

/** What expressAuth uses of Express's response. */
export interface ExpressLikeResponse {
  status(code: number): ExpressLikeResponse;
  set(headers: Record<string, string>): ExpressLikeResponse;
  json(body: unknown): unknown;
}

/**
 * Express middleware: sets `req.user` to the claims and calls next(), or
 * answers with the DRF 401 (or 503). Other errors go to next(err).
 *
 *   app.use('/api', expressAuth(verifier));
 */
export function expressAuth<I extends number | string>(verifier: Verifier<I>) {
  return function latchkeyAuth(req: ExpressLikeRequest, res: ExpressLikeResponse, next: (err?: unknown) => void): void {
    required(verifier, req.headers.authorization).then(
      (claims) => {
        req.user = claims;
        next();
      },
      (err: unknown) => {
        if (!(err instanceof VerifyError)) return next(err);
        const headers = { ...err.headers };
        res.status(err.status).set(headers).json(err.body);
      },
    );
  };
}

// ---- fetch-style (Deno, Bun, edge runtimes, Next.js route handlers) ----------

/** The VerifyError as a fetch Response: its status, JSON body and headers. */
export function errorResponse(err: VerifyError): Response {
  return new Response(JSON.stringify(err.body), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers },
  });
}

/**
 * Authenticates a fetch Request. Resolves to `{ claims }`, or to `{ response }`
 * (the DRF 401, or the 503) for the handler to return as it is.
 *
 *   const auth = await authenticateRequest(verifier, request);
 *   if ('response' in auth) return auth.response;
 *   return Response.json({ user_id: auth.claims.user_id });
 */
export async function authenticateRequest<I extends number | string>(
  verifier: Verifier<I>,
  request: Request,
): Promise<{ claims: Claims<I>; response?: never } | { response: Response; claims?: never }> {
  try {
    return { claims: await required(verifier, request.headers.get('authorization')) };
  } catch (err) {
    if (err instanceof VerifyError) return { response: errorResponse(err) };
    throw err;
  }
}
