// Mounts preset route tables on Fastify: one route per table entry, from the
// definition of its operation (src/http/operations/), plus DRF's 405 and
// OPTIONS answers on every path. Nothing here knows any one operation; what
// differs between presets (the Authorization scheme, `Allow` on every answer,
// the page for unknown paths) is the preset's data.
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { ApiError } from '../errors.js';
import type { Operation, Preset } from '../presets/types.js';
import type { AuthService } from '../service.js';
import type { UserAuth } from '../storage/types.js';
import { AUTH_SCHEME } from '@latchkey/verify/wire';
import { authorizationOf } from './input.js';
import { OPERATIONS, type Handler, type OperationDef, type OpName } from './operations/index.js';
import { lastFormValues, normalizeBody } from './operations/shared.js';
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
function authenticateFirst(service: AuthService, types: readonly string[]) {
  return async (req: FastifyRequest) => {
    callers.set(req, signedIn(await service.authenticate(authorizationOf(req), types)));
  };
}

/** Stands in for the caller on public routes, which never read it. */
const NOBODY: UserAuth = Object.freeze({ id: 0, username: '', is_active: false, tokens_valid_after: null, tokens_revoked_ms: null });

/** The handler Fastify runs: authenticates the caller if the route is protected, then does the work. */
function routeHandler(isProtected: boolean, method: Operation['method'], service: AuthService, handle: Handler, types: readonly string[]) {
  if (!isProtected) return (req: FastifyRequest, reply: FastifyReply) => handle(req, NOBODY, reply);
  if (method === 'GET') {
    // Without a single await when the caller's user is cached, as it is on the hot path.
    return (req: FastifyRequest, reply: FastifyReply) => {
      const user = service.authenticateNow(authorizationOf(req), types);
      return user instanceof Promise ? user.then((u) => handle(req, signedIn(u), reply)) : handle(req, signedIn(user), reply);
    };
  }
  return (req: FastifyRequest, reply: FastifyReply) => handle(req, signedIn(callers.get(req)), reply);
}

/** DRF's order of methods in `Allow` (Django's http_method_names). */
const ALL_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    errors?: RouteErrorConfig;
  }
}

/** What mounting takes from the configuration: the LATCHKEY_* settings that override a preset's own. */
export interface MountOptions {
  rotate?: boolean | undefined;
  authHeaderTypes?: readonly string[] | undefined;
  sendActivationEmail?: boolean | undefined;
  /** Told of each protected GET that answers every caller the same body, before it is mounted (see fast-lane.ts). */
  constantGet?: ((handler: RouteOptions['handler'], types: readonly string[]) => void) | undefined;
}

/**
 * A route's URL; for a `prefix` route also every path that starts with it
 * without its trailing slash, for an `optionalSlash` one also the URL without it.
 */
const urlsOf = (r: Operation): string[] => {
  const bare = r.url.replace(/\/$/, '');
  if (r.prefix) return [r.url, bare, `${bare}*`];
  return r.optionalSlash && bare !== r.url ? [r.url, bare] : [r.url];
};

interface PathEntry {
  methods: Set<string>;
  errors: RouteErrorConfig;
  protected: boolean;
  guarded: boolean;
  types: readonly string[];
  metadata: Record<string, unknown> | undefined;
  /** `Allow` in DRF's order of methods (the presets that send it on every answer), else in the table's. */
  drfOrder: boolean;
}

export function mountPresets(app: FastifyInstance, presets: Preset[], service: AuthService, opts: MountOptions = {}): void {
  const byUrl = new Map<string, PathEntry>();
  /** Each path's `Allow`, filled once every route is known (the hooks read it per request). */
  const allowOf = new Map<string, string>();
  for (const preset of presets) {
    const ctx = {
      rotate: opts.rotate ?? preset.rotate,
      sendActivation: opts.sendActivationEmail ?? preset.sendActivationEmail ?? false,
      claims: preset.claims,
    };
    const types = opts.authHeaderTypes ?? preset.authHeaderTypes ?? [AUTH_SCHEME];
    const allowHook = preset.allowOnEveryAnswer
      ? (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
          const allow = allowOf.get(req.routeOptions.url ?? '');
          if (allow && !reply.hasHeader('allow')) reply.header('allow', allow);
          return Promise.resolve(payload);
        }
      : undefined;
    for (const r of preset.routes) {
      // Each definition takes the routes of its own operation, which r.op names.
      const def = OPERATIONS[r.op] as OperationDef<OpName>;
      const isProtected = typeof def.protected === 'function' ? def.protected(r) : def.protected;
      const errors: RouteErrorConfig = { envelope: preset.envelope, errors: r.errors, authScheme: types[0] };
      const handle = routeHandler(isProtected, r.method, service, def.handler(r, service, ctx), types);
      const status = def.status?.(r) ?? 200;
      const body = def.body?.(r);
      const guarded = (preset.guarded ?? []).some((p) => r.url.startsWith(p));
      const constantGet = isProtected && r.method === 'GET' && status === 200 && (def.constant?.(r) ?? false);
      for (const url of urlsOf(r)) {
        const route: RouteOptions = {
          method: r.method,
          url,
          config: url === r.url ? { errors, docs: presetRouteDocs(preset, r, def, body, isProtected) } : { errors },
          schema: {
            summary: r.summary,
            tags: [preset.id],
            ...(url !== r.url ? { hide: true } : {}),
            ...(body ? { body } : {}),
            ...(def.params ? { params: def.params } : {}),
            response: { [status]: def.response(r) },
            ...(isProtected ? { security: [{ bearerAuth: [] }] } : {}),
          } as FastifySchema,
          ...(isProtected && r.method !== 'GET' ? { onRequest: authenticateFirst(service, types) } : {}),
          // Without a body schema, the operation reads the body itself: a form field given twice counts once.
          ...(body
            ? { preValidation: normalizeBody(Object.keys((body as { properties: object }).properties)) }
            : r.method !== 'GET'
              ? { preValidation: lastFormValues }
              : {}),
          ...(allowHook ? { onSend: allowHook } : {}),
          handler:
            status === 200
              ? handle
              : (req, reply) => {
                  reply.code(status);
                  return handle(req, reply);
                },
        };
        if (constantGet) opts.constantGet?.(route.handler, types);
        app.route(route);
        const entry = byUrl.get(url) ?? {
          methods: new Set<string>(),
          errors,
          protected: false,
          guarded,
          types,
          metadata: r.metadata,
          drfOrder: preset.allowOnEveryAnswer ?? false,
        };
        entry.methods.add(r.method);
        if (isProtected) entry.protected = true;
        if (r.method === 'GET') entry.methods.add('HEAD');
        byUrl.set(url, entry);
      }
    }
    if (preset.notFound) {
      const { html } = preset.notFound;
      app.route({
        method: [...ALL_METHODS],
        url: `${preset.notFound.prefix}*`,
        schema: { hide: true } as FastifySchema,
        handler: async (_req, reply) => reply.code(404).type('text/html; charset=utf-8').send(html),
      });
    }
  }
  for (const [url, { methods, drfOrder }] of byUrl) {
    allowOf.set(url, (drfOrder ? ALL_METHODS.filter((m) => m === 'OPTIONS' || methods.has(m)) : [...methods, 'OPTIONS']).join(', '));
  }
  // DRF answers other methods on a known path with 405 and an Allow header.
  for (const [url, { methods, errors, protected: isProtected, guarded, types, metadata }] of byUrl) {
    const allow = allowOf.get(url)!;
    const others = ALL_METHODS.filter((m) => !methods.has(m) && m !== 'OPTIONS');
    // DRF authenticates before it looks for a method handler: on a protected
    // path (or a guarded one, whose default permission needs a user), a client
    // without credentials hears 401, not 405.
    const mustSignIn = async (req: FastifyRequest, reply: FastifyReply) => {
      reply.header('allow', allow);
      if ((isProtected || guarded) && !(await service.authenticate(authorizationOf(req), types))) {
        throw new ApiError('not_authenticated');
      }
    };
    if (others.length > 0) {
      app.route({
        method: [...others],
        url,
        config: { errors },
        schema: { hide: true } as FastifySchema,
        handler: async (req, reply) => {
          await mustSignIn(req, reply);
          throw new ApiError('method_not_allowed', `Method "${req.method}" not allowed.`);
        },
      });
    }
    app.route({
      method: 'OPTIONS',
      url,
      config: { errors },
      schema: { hide: true } as FastifySchema,
      handler: async (req, reply) => {
        if (guarded) await mustSignIn(req, reply);
        return reply
          .header('allow', allow)
          .send(metadata ?? { renders: ['application/json'], parses: ['application/json', 'application/x-www-form-urlencoded'] });
      },
    });
  }
}
