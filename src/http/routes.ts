// Mounts preset route tables on Fastify: one route per table entry, from the
// definition of its operation (src/http/operations/), plus DRF's 405 and
// OPTIONS answers on every path. Nothing here knows any one operation.
import type { FastifyInstance, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { ApiError } from '../errors.js';
import type { Operation, Preset } from '../presets/types.js';
import type { AuthService } from '../service.js';
import type { UserAuth } from '../storage/types.js';
import { authorizationOf } from './input.js';
import { OPERATIONS, type Handler, type OperationDef, type OpName } from './operations/index.js';
import { normalizeBody } from './operations/shared.js';
import { presetRouteDocs } from './openapi.js';
import type { RouteErrorConfig } from './render.js';

/** The caller of a protected route with a body, as its onRequest hook authenticated it. */
const callers = new WeakMap<FastifyRequest, UserAuth>();

/** A protected route's caller, or 401 when the request had no credentials. */
function signedIn(user: UserAuth | undefined): UserAuth {
  if (!user) throw new ApiError('not_authenticated');
  return user;
}

/**
 * Authenticates the caller of a protected route before its body is read, as
 * DRF authenticates before it parses: a client without credentials hears 401,
 * never a body error. (A GET has no body, so its handler authenticates itself,
 * which saves a hook on the route most requests take.)
 */
function authenticateFirst(service: AuthService) {
  return async (req: FastifyRequest) => {
    callers.set(req, signedIn(await service.authenticate(authorizationOf(req))));
  };
}

/** Stands in for the caller on public routes, which never read it. */
const NOBODY: UserAuth = Object.freeze({ id: 0, username: '', is_active: false, tokens_valid_after: null, tokens_revoked_ms: null });

/** The handler Fastify runs: authenticates the caller if the route is protected, then does the work. */
function routeHandler(isProtected: boolean, method: Operation['method'], service: AuthService, handle: Handler) {
  if (!isProtected) return (req: FastifyRequest) => handle(req, NOBODY);
  if (method === 'GET') {
    // Without a single await when the caller's user is cached, as it is on the hot path.
    return (req: FastifyRequest) => {
      const user = service.authenticateNow(authorizationOf(req));
      return user instanceof Promise ? user.then((u) => handle(req, signedIn(u))) : handle(req, signedIn(user));
    };
  }
  return (req: FastifyRequest) => handle(req, signedIn(callers.get(req)));
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    errors?: RouteErrorConfig;
  }
}

export function mountPresets(app: FastifyInstance, presets: Preset[], service: AuthService, rotateOverride: boolean | undefined): void {
  const byUrl = new Map<string, { methods: Set<string>; errors: RouteErrorConfig; protected: boolean }>();
  for (const preset of presets) {
    const ctx = { rotate: rotateOverride ?? preset.rotate };
    for (const r of preset.routes) {
      // Each definition takes the routes of its own operation, which r.op names.
      const def = OPERATIONS[r.op] as OperationDef<OpName>;
      const errors: RouteErrorConfig = { envelope: preset.envelope, errors: r.errors };
      const handle = routeHandler(def.protected, r.method, service, def.handler(r, service, ctx));
      const status = def.status?.(r) ?? 200;
      const body = def.body?.(r);
      const route: RouteOptions = {
        method: r.method,
        url: r.url,
        config: { errors, docs: presetRouteDocs(preset, r, def, body) },
        schema: {
          summary: r.summary,
          tags: [preset.id],
          ...(body ? { body } : {}),
          ...(def.params ? { params: def.params } : {}),
          response: { [status]: def.response(r) },
          ...(def.protected ? { security: [{ bearerAuth: [] }] } : {}),
        } as FastifySchema,
        ...(def.protected && r.method !== 'GET' ? { onRequest: authenticateFirst(service) } : {}),
        ...(body ? { preValidation: normalizeBody(Object.keys((body as { properties: object }).properties)) } : {}),
        handler:
          status === 200
            ? handle
            : (req, reply) => {
                reply.code(status);
                return handle(req);
              },
      };
      app.route(route);
      const entry = byUrl.get(r.url) ?? { methods: new Set<string>(), errors, protected: false };
      entry.methods.add(r.method);
      if (def.protected) entry.protected = true;
      if (r.method === 'GET') entry.methods.add('HEAD');
      byUrl.set(r.url, entry);
    }
  }
  // DRF answers other methods on a known path with 405 and an Allow header.
  for (const [url, { methods, errors, protected: isProtected }] of byUrl) {
    const allow = [...methods, 'OPTIONS'].join(', ');
    const others = ALL_METHODS.filter((m) => !methods.has(m) && m !== 'OPTIONS');
    app.route({
      method: [...others],
      url,
      config: { errors },
      schema: { hide: true } as FastifySchema,
      handler: async (req, reply) => {
        // DRF authenticates before it looks for a method handler: on a
        // protected path, a client without credentials hears 401, not 405.
        if (isProtected && !(await service.authenticate(authorizationOf(req)))) {
          throw new ApiError('not_authenticated');
        }
        reply.header('allow', allow);
        throw new ApiError('method_not_allowed', `Method "${req.method}" not allowed.`);
      },
    });
    app.route({
      method: 'OPTIONS',
      url,
      config: { errors },
      schema: { hide: true } as FastifySchema,
      handler: async (_req, reply) =>
        reply.header('allow', allow).send({
          renders: ['application/json'],
          parses: ['application/json', 'application/x-www-form-urlencoded'],
        }),
    });
  }
}
