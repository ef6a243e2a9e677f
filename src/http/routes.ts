// Mounts preset route tables on Fastify. Each operation has one thin handler
// here; the preset supplies only its paths, field names and wording.
import type { FastifyInstance, FastifyRequest, FastifySchema, RouteOptions } from 'fastify';
import { ApiError } from '../errors.js';
import { PROTECTED_OPS, type EditableField, type Operation, type Preset } from '../presets/types.js';
import { profileOf, sessionOf, type AuthService, type Client, type ProfilePatch } from '../service.js';
import type { UserAuth } from '../storage/types.js';
import { MAX_PASSWORD_LENGTH } from '../passwords.js';
import type { RouteErrorConfig } from './render.js';

type Body = Record<string, string>;

const PROFILE_MAX: Record<EditableField, number> = {
  email: 254,
  phone_number: 16,
  first_name: 150,
  last_name: 150,
  address: 255,
  postal_code: 20,
  birthdate: 10,
  profile_image: 255,
};

/** Fields a PATCH may set to null, clearing them. */
const NULLABLE: ReadonlySet<EditableField> = new Set(['phone_number', 'birthdate', 'profile_image']);

const str = (opts: { blank?: boolean; max?: number } = {}) => ({
  type: 'string',
  ...(opts.blank ? {} : { minLength: 1 }),
  ...(opts.max ? { maxLength: opts.max } : {}),
});

/** The request body schema for an operation, in the preset's field names. */
function bodySchema(r: Operation): Record<string, unknown> | undefined {
  const object = (properties: Record<string, unknown>, required: string[]) => ({
    type: 'object',
    properties,
    required,
  });
  switch (r.op) {
    case 'login':
      // No maximum on the password here: an overlong one is just a wrong password (401).
      return object({ [r.loginField]: str({ max: 255 }), password: str() }, [r.loginField, 'password']);
    case 'register': {
      const props: Record<string, unknown> = { username: str({ max: 150 }), password: str({ max: MAX_PASSWORD_LENGTH }) };
      for (const f of r.profile) props[f] = str({ blank: true, max: PROFILE_MAX[f] });
      return object(props, ['username', 'password', ...(r.requirePhone ? ['phone_number'] : [])]);
    }
    case 'refresh':
    case 'verify':
    case 'blacklist':
      return object({ [r.tokenField]: str() }, [r.tokenField]);
    case 'update_profile': {
      // Only the editable fields are declared; anything else sent (is_staff,
      // username, id...) is read-only and ignored, as DRF ignores it.
      const props: Record<string, unknown> = {};
      for (const f of r.editable) {
        const s = str({ blank: true, max: PROFILE_MAX[f] });
        props[f] = NULLABLE.has(f) ? { ...s, type: ['string', 'null'] } : s;
      }
      return object(props, []);
    }
    case 'change_password':
      // No maximum on the old password: an overlong one is just a wrong one.
      return object({ [r.oldField]: str(), [r.newField]: str({ max: MAX_PASSWORD_LENGTH }) }, [r.oldField, r.newField]);
    case 'me':
    case 'profile':
    case 'list_sessions':
    case 'revoke_session':
    case 'logout_all':
      return undefined;
  }
}

const pair = {
  type: 'object',
  properties: { refresh: { type: 'string' }, access: { type: 'string' } },
  required: ['refresh', 'access'],
};

const text = { type: 'string' };
const nullableText = { type: ['string', 'null'] };
const readOnly = <T extends object>(s: T) => ({ ...s, readOnly: true });
const profile = {
  type: 'object',
  properties: {
    id: readOnly({ type: 'integer' }),
    username: readOnly(text),
    email: text,
    phone_number: nullableText,
    first_name: text,
    last_name: text,
    address: text,
    postal_code: text,
    birthdate: nullableText,
    profile_image: nullableText,
    is_active: readOnly({ type: 'boolean' }),
    is_staff: readOnly({ type: 'boolean' }),
    is_superuser: readOnly({ type: 'boolean' }),
    date_joined: readOnly(text),
    last_login: readOnly(nullableText),
  },
  required: [
    'id', 'username', 'email', 'phone_number', 'first_name', 'last_name', 'address', 'postal_code',
    'birthdate', 'profile_image', 'is_active', 'is_staff', 'is_superuser', 'date_joined', 'last_login',
  ],
};
const session = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    created_at: text,
    last_used_at: text,
    user_agent: text,
    ip_address: text,
  },
  required: ['id', 'created_at', 'last_used_at', 'user_agent', 'ip_address'],
};
const detail = { type: 'object', properties: { detail: text }, required: ['detail'] };

/** The status of a success. */
function successStatus(r: Operation): number {
  if (r.op === 'register') return r.status;
  return r.op === 'revoke_session' ? 204 : 200;
}

/** Success bodies, declared so Fastify serializes them by schema. */
function responseSchema(r: Operation): Record<string, unknown> {
  switch (r.op) {
    case 'login':
      return pair;
    case 'register':
      if (r.respond === 'pair') return pair;
      if (r.respond === 'id') {
        return { type: 'object', properties: { id: { type: 'integer' }, username: { type: 'string' } } };
      }
      return {
        type: 'object',
        properties: {
          content: {
            type: 'object',
            properties: {
              pk: { type: 'integer' },
              username: { type: 'string' },
              email: { type: 'string' },
              first_name: { type: 'string' },
              last_name: { type: 'string' },
              profile_image: { type: ['string', 'null'] },
              tokens: pair,
            },
          },
        },
      };
    case 'refresh':
      return { type: 'object', properties: { access: { type: 'string' }, refresh: { type: 'string' } }, required: ['access'] };
    case 'verify':
      return { type: 'object', properties: {} };
    case 'blacklist':
      return r.respond === 'empty'
        ? { type: 'object', properties: {} }
        : { type: 'object', properties: { detail: { type: 'string' } } };
    case 'me':
      return r.respond === 'message'
        ? { type: 'object', properties: { message: { type: 'string' } } }
        : { type: 'object', properties: { username: { type: 'string' } } };
    case 'profile':
    case 'update_profile':
      return profile;
    case 'change_password':
      return { type: 'object', properties: { detail: text, ...pair.properties }, required: ['detail', ...pair.required] };
    case 'list_sessions':
      return { type: 'array', items: session };
    case 'revoke_session':
      return { type: 'null', description: 'No content' };
    case 'logout_all':
      return detail;
  }
}

/** What a session records of the client: its address and User-Agent, as plain strings. */
const clientOf = (req: FastifyRequest): Client => ({ address: req.ip, userAgent: req.headers['user-agent'] });

/** A session id from the path: a positive integer, or the route does not exist for it. */
function sessionId(req: FastifyRequest): number {
  const raw = (req.params as { id?: string }).id ?? '';
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) throw new ApiError('not_found');
  return Number(raw);
}

/**
 * An operation's work: its success body, or a promise of it. `caller` is the
 * authenticated user on a protected route (and unset on a public one).
 */
type Handler = (req: FastifyRequest, caller: UserAuth) => unknown;

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
    callers.set(req, signedIn(await service.authenticate(req.headers.authorization)));
  };
}

/** The handler Fastify runs: authenticates the caller if the route is protected, then does the work. */
function routeHandler(r: Operation, service: AuthService, handle: Handler) {
  if (!PROTECTED_OPS.has(r.op)) return (req: FastifyRequest) => handle(req, NOBODY);
  if (r.method === 'GET') {
    // Without a single await when the caller's user is cached, as it is on the hot path.
    return (req: FastifyRequest) => {
      const user = service.authenticateNow(req.headers.authorization);
      return user instanceof Promise ? user.then((u) => handle(req, signedIn(u))) : handle(req, signedIn(user));
    };
  }
  return (req: FastifyRequest) => handle(req, signedIn(callers.get(req)));
}

/** Stands in for the caller on public routes, which never read it. */
const NOBODY: UserAuth = Object.freeze({ id: 0, username: '', is_active: false, tokens_valid_after: null });

const PROTECTED_MESSAGE = { message: 'You have accessed a protected route!' };

function handlerFor(r: Operation, service: AuthService, rotate: boolean): Handler {
  switch (r.op) {
    case 'login':
      return async (req) => {
        const b = req.body as Body;
        return service.login(b[r.loginField]!, b.password!, r.lookup, clientOf(req));
      };
    case 'register':
      return async (req) => {
        const b = req.body as Body;
        const profile = Object.fromEntries(r.profile.map((f) => [f, b[f]]));
        const user = await service.register(
          { username: b.username!, password: b.password!, ...profile },
          { requirePhone: r.requirePhone ?? false, phoneLogin: r.phoneLogin ?? false },
          clientOf(req),
        );
        if (r.respond === 'id') return { id: user.id, username: user.username };
        const tokens = await service.issuePair(user.id, undefined, clientOf(req));
        if (r.respond === 'pair') return tokens;
        const { id: pk, username, email, first_name, last_name, profile_image } = user;
        return { content: { pk, username, email, first_name, last_name, profile_image, tokens } };
      };
    case 'refresh':
      return (req) => service.refresh((req.body as Body)[r.tokenField]!, { rotate }, { address: req.ip });
    case 'verify':
      return async (req) => {
        await service.verify((req.body as Body)[r.tokenField]!, { address: req.ip });
        return {};
      };
    case 'blacklist':
      return async (req) => {
        await service.blacklist((req.body as Body)[r.tokenField]!);
        return r.respond === 'empty' ? {} : { detail: 'Successfully logged out.' };
      };
    case 'me':
      return r.respond === 'message' ? () => PROTECTED_MESSAGE : (_req, user) => ({ username: user.username });
    case 'profile':
      return async (_req, caller) => profileOf(await service.account(caller));
    case 'update_profile':
      return async (req, caller) => {
        const user = await service.account(caller);
        const b = req.body as Record<string, string | null | undefined>;
        const patch = Object.fromEntries(r.editable.filter((f) => b[f] !== undefined).map((f) => [f, b[f]])) as ProfilePatch;
        return profileOf(await service.updateProfile(user, patch));
      };
    case 'change_password':
      return async (req, caller) => {
        const user = await service.account(caller);
        const b = req.body as Body;
        const tokens = await service.changePassword(user, b[r.oldField]!, b[r.newField]!, clientOf(req));
        return { detail: 'New password has been saved.', ...tokens };
      };
    case 'list_sessions':
      return async (_req, caller) => (await service.sessions(caller.id)).map(sessionOf);
    case 'revoke_session':
      return async (req, caller) => {
        await service.revokeSession(sessionId(req), caller.id);
        return null;
      };
    case 'logout_all':
      return async (_req, caller) => {
        await service.logoutAll(caller.id);
        return { detail: 'Successfully logged out of all sessions.' };
      };
  }
}

/**
 * DRF's CharField before validation: a missing body is empty data, a number
 * becomes its string, surrounding whitespace is trimmed (passwords excepted:
 * they are checked exactly as typed), and a form field given twice takes its
 * last value, as Django's QueryDict does.
 */
function normalizeBody(fields: string[]) {
  // (Fields named *password* are the passwords: password, old_password, new_password.)
  return async (req: FastifyRequest) => {
    if (req.body === undefined || req.body === null) req.body = {};
    const body = req.body;
    if (typeof body !== 'object' || Array.isArray(body)) return;
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    const b = body as Record<string, unknown>;
    for (const f of fields) {
      let v = b[f];
      if (form && Array.isArray(v)) v = v[v.length - 1];
      if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
      if (typeof v === 'string' && !f.includes('password')) v = v.trim();
      if (v !== undefined) b[f] = v;
    }
  };
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

declare module 'fastify' {
  interface FastifyContextConfig {
    errors?: RouteErrorConfig;
  }
}

export function mountPresets(
  app: FastifyInstance,
  presets: Preset[],
  service: AuthService,
  rotateOverride: boolean | undefined,
): void {
  const byUrl = new Map<string, { methods: Set<string>; errors: RouteErrorConfig; protected: boolean }>();
  for (const preset of presets) {
    const rotate = rotateOverride ?? preset.rotate;
    for (const r of preset.routes) {
      const errors: RouteErrorConfig = { envelope: preset.envelope, errors: r.errors };
      const handle = routeHandler(r, service, handlerFor(r, service, rotate));
      const status = successStatus(r);
      const body = bodySchema(r);
      const route: RouteOptions = {
        method: r.method,
        url: r.url,
        config: { errors },
        schema: {
          summary: r.summary,
          tags: [preset.id],
          ...(body ? { body } : {}),
          ...(r.op === 'revoke_session'
            ? { params: { type: 'object', properties: { id: { type: 'string', description: 'The session id' } } } }
            : {}),
          response: { [status]: responseSchema(r) },
          ...(PROTECTED_OPS.has(r.op) ? { security: [{ bearerAuth: [] }] } : {}),
        } as FastifySchema,
        ...(PROTECTED_OPS.has(r.op) && r.method !== 'GET' ? { onRequest: authenticateFirst(service) } : {}),
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
      if (PROTECTED_OPS.has(r.op)) entry.protected = true;
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
        if (isProtected && !(await service.authenticate(req.headers.authorization))) {
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
