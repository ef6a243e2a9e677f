// The refresh token in an HttpOnly cookie (LATCHKEY_REFRESH_COOKIE), in the
// manner of dj-rest-auth's JWT_AUTH_HTTPONLY: the routes that issue a pair
// (login, and register where it answers tokens) and refresh set the cookie and
// leave `refresh` out of the body; refresh and logout read the cookie when the
// body has no token; logout clears it.
//
// One cookie per preset, whose Path is the longest directory both its refresh
// and its logout (blacklist) path lie under (`/api/token/` for simplejwt): a
// single cookie is set, rotated and cleared in one place, where two cookies
// (one per path) could drift apart when one Set-Cookie of a pair is lost.
//
// CSRF: a request that presents the cookie instead of a body token is checked
// as Django checks Origin: its Origin (its Referer when it has none) must be
// the server's own or one of LATCHKEY_CORS_ORIGINS, or it is refused with 403.
// A request that carries the token in its body is not cookie-authenticated
// and needs no check. Routes that do not use the cookie get no hook at all.
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { decodeJwt } from 'jose';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Envelope, Preset } from '../presets/types.js';
import { addCsrfError, type RouteDocs } from './openapi.js';

type Role = 'issue' | 'refresh' | 'logout';

interface CookieRoute {
  role: Role;
  /** The cookie's Path for this route's preset. */
  path: string;
  /** Where refresh and logout read the token in a body. */
  tokenField?: string;
  envelope: Envelope;
}

/** The longest directory (ending in `/`) that both paths lie under. */
export function commonPath(a: string, b: string): string {
  const x = a.split('/');
  const y = b.split('/');
  const same: string[] = [];
  // Only whole segments, and never the last one of either (it names the route, not a directory).
  for (let i = 0; i < Math.min(x.length, y.length) - 1 && x[i] === y[i]; i++) same.push(x[i]!);
  return same.join('/') + '/';
}

/** The cookie routes of the mounted presets, by `METHOD url`; empty when the cookie is off. */
export function cookiePlan(config: Config, presets: readonly Preset[]): Map<string, CookieRoute> {
  const plan = new Map<string, CookieRoute>();
  const wanted = config.refreshCookie;
  if (wanted === false) return plan;
  if (wanted !== true) {
    for (const id of wanted) {
      const p = presets.find((x) => x.id === id);
      if (!p) throw new ConfigError(`LATCHKEY_REFRESH_COOKIE: names preset "${id}", which LATCHKEY_PRESETS does not mount`);
      if (!p.routes.some((r) => r.op === 'refresh')) {
        throw new ConfigError(`LATCHKEY_REFRESH_COOKIE: preset "${id}" has no refresh route, so a cookie could never be used`);
      }
    }
  }
  for (const preset of presets) {
    if (wanted !== true && !wanted.includes(preset.id)) continue;
    const refresh = preset.routes.find((r) => r.op === 'refresh');
    if (!refresh) continue;
    const logout = preset.routes.find((r) => r.op === 'blacklist');
    const path = logout ? commonPath(refresh.url, logout.url) : refresh.url;
    const at = (method: string, url: string, r: Omit<CookieRoute, 'path' | 'envelope'>) =>
      plan.set(`${method} ${url}`, { ...r, path, envelope: preset.envelope });
    for (const r of preset.routes) {
      if (r.op === 'login' || (r.op === 'register' && r.respond !== 'id')) at(r.method, r.url, { role: 'issue' });
      else if (r.op === 'refresh') at(r.method, r.url, { role: 'refresh', tokenField: r.tokenField });
      else if (r.op === 'blacklist') at(r.method, r.url, { role: 'logout', tokenField: r.tokenField });
    }
  }
  return plan;
}

/** A copy of a response schema in which `refresh` is never required (the body omits it). */
function relax(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(relax);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === 'required' && Array.isArray(v) ? v.filter((f) => f !== 'refresh') : relax(v);
  }
  return out;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The origin this request was addressed to (a default port dropped, as browsers write Origin). */
function ownOrigin(req: FastifyRequest): string {
  try {
    return new URL(`${req.protocol}://${req.host}`).origin;
  } catch {
    return '';
  }
}

/** Django's CSRF wording for a request whose origin is not trusted; undefined when it is. */
export function csrfFailure(req: FastifyRequest, trusted: ReadonlySet<string>): string | undefined {
  const own = ownOrigin(req);
  const origin = req.headers.origin;
  if (origin !== undefined) {
    return origin === own || trusted.has(origin)
      ? undefined
      : `CSRF Failed: Origin checking failed - ${origin} does not match any trusted origins.`;
  }
  const referer = req.headers.referer;
  if (referer === undefined) return 'CSRF Failed: Referer checking failed - no Referer.';
  let from: string;
  try {
    from = new URL(referer).origin;
  } catch {
    return 'CSRF Failed: Referer checking failed - Referer is malformed.';
  }
  return from === own || trusted.has(from)
    ? undefined
    : `CSRF Failed: Referer checking failed - ${referer} does not match any trusted origins.`;
}

/**
 * Registers @fastify/cookie and rewrites the cookie routes as they are
 * mounted (call before the presets are). Does nothing when the cookie is off.
 */
export async function registerRefreshCookie(app: FastifyInstance, config: Config, presets: readonly Preset[]): Promise<void> {
  const plan = cookiePlan(config, presets);
  if (plan.size === 0) return;
  // No parsing hook: only the refresh and logout routes read the cookie.
  await app.register(cookie, { hook: false });
  const name = config.refreshCookieName;
  const trusted = new Set(config.corsOrigins);
  const base = {
    httpOnly: true,
    secure: config.refreshCookieSecure,
    sameSite: config.refreshCookieSameSite,
    ...(config.refreshCookieDomain ? { domain: config.refreshCookieDomain } : {}),
  } as const;

  /** Moves the refresh token of a pair (top level or api-auth's content.tokens) into the cookie. */
  const intoCookie = (out: unknown, reply: FastifyReply, path: string): unknown => {
    if (!isObject(out)) return out;
    const content = isObject(out.content) && isObject(out.content.tokens) ? out.content : undefined;
    const holder = content ? (content.tokens as Json) : out;
    const token = holder.refresh;
    if (typeof token !== 'string') return out;
    const exp = decodeJwt(token).exp;
    const maxAge = exp === undefined ? undefined : Math.max(0, exp - Math.floor(Date.now() / 1000));
    reply.setCookie(name, token, { ...base, path, ...(maxAge === undefined ? {} : { maxAge }) });
    const { refresh: _r, ...rest } = holder;
    return content ? { ...out, content: { ...content, tokens: rest } } : rest;
  };

  /** Before validation: the body's token, or else the cookie's once the request's origin is trusted. */
  const fromCookie = (field: string, envelope: Envelope) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.body === undefined || req.body === null) req.body = {};
    const body = req.body;
    if (!isObject(body) || body[field] !== undefined) return;
    const header = req.headers.cookie;
    const token = header ? app.parseCookie(header)[name] : undefined;
    if (!token) return;
    const failure = csrfFailure(req, trusted);
    if (failure) return reply.code(403).send({ [envelope]: failure });
    body[field] = token;
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.length !== 1) return;
    const c = plan.get(`${methods[0]} ${route.url}`);
    if (!c) return;
    const schema = route.schema as { response?: Record<string, unknown> } | undefined;
    if (schema?.response) route.schema = { ...schema, response: relax(schema.response) as Record<string, unknown> };
    if (c.tokenField) {
      const docs = (route.config as { docs?: RouteDocs } | undefined)?.docs;
      if (docs)
        addCsrfError(
          docs,
          c.envelope,
          'CSRF Failed: Origin checking failed - https://elsewhere.example does not match any trusted origins.',
        );
      const before =
        route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
      route.preValidation = [fromCookie(c.tokenField, c.envelope), ...before];
    }
    const handler = route.handler;
    route.handler =
      c.role === 'logout'
        ? async function (this: FastifyInstance, req, reply) {
            const out: unknown = await handler.call(this, req, reply);
            reply.clearCookie(name, { ...base, path: c.path });
            return out;
          }
        : async function (this: FastifyInstance, req, reply) {
            return intoCookie(await handler.call(this, req, reply), reply, c.path);
          };
  });
}
